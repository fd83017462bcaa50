"""Fake HTTP sessions for OKX, Bybit, Coinbase and Kraken: each serves recorded market/ticker payloads
(`tests/fixtures/ccxt/<exchange>/`) and generated candles with the exchange's own paging rules, so a real
`ccxt.<exchange>` runs its URL building, error handling, retries and parsing against them.

Candle rules (from each exchange's API docs):

- OKX `/api/v5/market/candles` and `/history-candles`: newest first; `after` = older than ts, `before` = newer than
  ts (both exclusive); `limit` <= 300 (else error 51000); `candles` serves only the latest 1440 bars.
- Bybit `/v5/market/kline`: newest first; bars with `start` <= open <= `end` (end defaults to now); the newest
  `limit` <= 1000 (default 200, else retCode 10001).
- Coinbase `/api/v3/brokerage/market/products/{id}/candles`: `start`/`end` in seconds, bars with start <= open <=
  end, newest first; more than 350 candles in the span is a 400 INVALID_ARGUMENT.
- Kraken `/0/public/OHLC`: bars with time > `since` (seconds) among the latest 720 (the forming bar included),
  oldest first, plus `last`.

Every fake has a fixed `now_ms`; the tests pin `exchange.milliseconds` to it so ccxt and the fake agree on "now".
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

import ccxt
import requests
from requests.structures import CaseInsensitiveDict

from dataflows.venues.ccxt_venue import CcxtVenue

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ccxt"
MINUTE = 60_000
HOUR = 3_600_000
DAY = 86_400_000
NOW_MS = 1_781_481_600_000 + 13 * HOUR  # 2026-06-15 13:00 UTC: the fakes' "now" (the 2026-06-15 bar is forming)
LISTED_MS = 1_640_995_200_000  # 2022-01-01: first bar of every generated series
STATUS = {200: "OK", 400: "Bad Request", 404: "Not Found", 429: "Too Many Requests", 503: "Service Unavailable"}


def bar(seed_key: str, open_ms: int, bar_ms: int) -> tuple[float, float, float, float, float]:
    """A deterministic (open, high, low, close, volume) for `seed_key` opening at `open_ms`."""
    seed = sum(map(ord, seed_key))
    i = open_ms // bar_ms

    def price(k: int) -> float:
        return 100.0 + seed % 50 + 5.0 * math.sin(k / 97.0) + 0.5 * math.sin(k * 1.3 + seed)

    o, c = price(i), price(i + 1)
    return o, max(o, c) * 1.0015, min(o, c) * 0.9985, c, 10.0 + (i * 7919 + seed) % 101


def response(url: str, status: int, body: str) -> requests.Response:
    out = requests.Response()
    out.status_code = status
    out.reason = STATUS[status]
    out._content = body.encode()
    out.headers = CaseInsensitiveDict({"Content-Type": "application/json; charset=utf-8"})
    out.url = url
    return out


class FakeSession(requests.Session):
    """Routes by URL path; records every call; plays scripted (status, body) answers for a path first."""

    exchange_id = ""
    candle_path = ""

    def __init__(self, now_ms: int = NOW_MS) -> None:
        super().__init__()
        self.now_ms = now_ms
        self.listed: dict[str, int] = {}  # series key -> first open time (default LISTED_MS)
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.scripted: dict[str, list[tuple[int, str]]] = {}
        # open time (or (series key, open time)) -> raw candle row served instead of the generated one
        self.row_overrides: dict[int | tuple[str, int], object] = {}

    def fixture(self, name: str) -> str:
        return (FIXTURES / self.exchange_id / name).read_text()

    def candle_calls(self) -> list[dict[str, str]]:
        return [q for p, q in self.calls if p.startswith(self.candle_path) and p.endswith(self.candle_suffix)]

    candle_suffix = ""

    def request(self, method: str, url: str, **kwargs: object) -> requests.Response:  # type: ignore[override]
        parts = urlsplit(url)
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        self.calls.append((parts.path, query))
        for prefix, answers in self.scripted.items():
            if parts.path.startswith(prefix) and answers:
                return response(url, *answers.pop(0))
        status, body = self.route(parts.path, query)
        return response(url, status, body)

    def route(self, path: str, query: dict[str, str]) -> tuple[int, str]:
        raise NotImplementedError

    def served(self, key: str, t: int, row: object) -> object:
        return self.row_overrides.get((key, t), self.row_overrides.get(t, row))

    def opens(self, key: str, bar_ms: int, lo: int, hi: int, *, latest: int | None = None) -> list[int]:
        """Open times of the series `key` within [lo, hi] (inclusive), the forming bar included, optionally only
        among its `latest` bars."""
        first = max(self.listed.get(key, LISTED_MS), -(-lo // bar_ms) * bar_ms)
        forming = self.now_ms // bar_ms * bar_ms
        if latest is not None:
            first = max(first, forming - (latest - 1) * bar_ms)
        last = min(hi, forming)
        return list(range(first, last + 1, bar_ms)) if last >= first else []


class FakeOkx(FakeSession):
    exchange_id = "okx"
    candle_path = "/api/v5/market/"
    candle_suffix = "candles"
    BARS: ClassVar[dict[str, int]] = {"1m": MINUTE, "1H": HOUR, "1Dutc": DAY}

    def __init__(self, now_ms: int = NOW_MS, server_cap: int = 300) -> None:
        super().__init__(now_ms)
        self.server_cap = server_cap  # rows the server really returns per page (<= 300)

    def route(self, path: str, query: dict[str, str]) -> tuple[int, str]:
        if path == "/api/v5/public/instruments":
            return 200, self.fixture(f"instruments_{query['instType']}.json")
        if path == "/api/v5/market/tickers":
            return 200, self.fixture(f"tickers_{query['instType']}.json")
        if path in ("/api/v5/market/candles", "/api/v5/market/history-candles"):
            return self.candles(query, history=path.endswith("history-candles"))
        return 404, '{"code":"50000","msg":"no recorded response for this path"}'

    def candles(self, query: dict[str, str], *, history: bool) -> tuple[int, str]:
        limit = int(query.get("limit", 100))
        if not 1 <= limit <= 300:
            return 200, '{"code":"51000","msg":"Parameter limit error","data":[]}'
        bar_ms = self.BARS[query["bar"]]
        lo = int(query["before"]) + 1 if "before" in query else 0
        hi = int(query["after"]) - 1 if "after" in query else self.now_ms
        opens = self.opens(query["instId"], bar_ms, lo, hi, latest=None if history else 1440)
        newest_first = opens[::-1][: min(limit, self.server_cap)]
        forming = self.now_ms // bar_ms * bar_ms
        rows = []
        for t in newest_first:
            o, h, lo_, c, v = bar(query["instId"], t, bar_ms)
            row = [str(t), f"{o:.4f}", f"{h:.4f}", f"{lo_:.4f}", f"{c:.4f}", f"{v:.4f}", f"{v:.4f}",
                   f"{v * c:.4f}", "0" if t == forming else "1"]  # fmt: skip
            rows.append(self.served(query["instId"], t, row))
        return 200, json.dumps({"code": "0", "msg": "", "data": rows})


class FakeBybit(FakeSession):
    exchange_id = "bybit"
    candle_path = "/v5/market/kline"
    BARS: ClassVar[dict[str, int]] = {"1": MINUTE, "60": HOUR, "D": DAY}

    def route(self, path: str, query: dict[str, str]) -> tuple[int, str]:
        if path == "/v5/market/instruments-info":
            if query.get("status") == "PreLaunch":  # ccxt also asks for pre-launch contracts: none recorded
                return 200, json.dumps(
                    {
                        "retCode": 0,
                        "retMsg": "OK",
                        "result": {"category": query["category"], "list": [], "nextPageCursor": ""},
                        "retExtInfo": {},
                        "time": self.now_ms,
                    }
                )
            return 200, self.fixture(f"instruments_{query['category']}.json")
        if path == "/v5/market/tickers":
            return 200, self.fixture(f"tickers_{query['category']}.json")
        if path == "/v5/market/kline":
            return self.kline(query)
        return 404, '{"retCode":10001,"retMsg":"no recorded response for this path"}'

    def kline(self, query: dict[str, str]) -> tuple[int, str]:
        limit = int(query.get("limit", 200))
        if not 1 <= limit <= 1000:
            return 200, '{"retCode":10001,"retMsg":"limit must be in [1, 1000]","result":{},"retExtInfo":{}}'
        bar_ms = self.BARS[query["interval"]]
        key = f"{query['category']}:{query['symbol']}"
        opens = self.opens(key, bar_ms, int(query.get("start", 0)), int(query.get("end", self.now_ms)))
        rows = []
        for t in opens[::-1][:limit]:
            o, h, lo, c, v = bar(key, t, bar_ms)
            row = [str(t), f"{o:.4f}", f"{h:.4f}", f"{lo:.4f}", f"{c:.4f}", f"{v:.4f}", f"{v * c:.4f}"]
            rows.append(self.served(key, t, row))
        result = {"symbol": query["symbol"], "category": query["category"], "list": rows}
        return 200, json.dumps({"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": self.now_ms})


class FakeCoinbase(FakeSession):
    exchange_id = "coinbase"
    candle_path = "/api/v3/brokerage/market/products/"
    candle_suffix = "/candles"
    GRANULARITY: ClassVar[dict[str, int]] = {"ONE_MINUTE": MINUTE, "ONE_HOUR": HOUR, "ONE_DAY": DAY}

    def route(self, path: str, query: dict[str, str]) -> tuple[int, str]:
        if path in ("/v2/currencies", "/v2/currencies/crypto"):
            return 200, '{"data":[]}'
        if path == "/v2/exchange-rates":
            return 200, '{"data":{"currency":"USD","rates":{}}}'
        if path == "/api/v3/brokerage/market/products":
            return 200, self.fixture(f"products_{query.get('product_type', 'SPOT')}.json")
        if path.startswith(self.candle_path) and path.endswith(self.candle_suffix):
            return self.candles(path.split("/")[-2], query)
        return 404, '{"error":"NOT_FOUND","message":"no recorded response for this path"}'

    def candles(self, product: str, query: dict[str, str]) -> tuple[int, str]:
        bar_ms = self.GRANULARITY[query["granularity"]]
        start, end = int(query["start"]) * 1000, int(query["end"]) * 1000
        if (end - start) // bar_ms > 350:
            msg = "number of candles requested should be less than 350"
            return 400, json.dumps({"error": "INVALID_ARGUMENT", "error_details": msg, "message": msg})
        rows = []
        for t in self.opens(product, bar_ms, start, end)[::-1][: int(query.get("limit", 350))]:
            o, h, lo, c, v = bar(product, t, bar_ms)
            row = {"start": str(t // 1000), "low": f"{lo:.4f}", "high": f"{h:.4f}", "open": f"{o:.4f}",
                   "close": f"{c:.4f}", "volume": f"{v:.4f}"}  # fmt: skip
            rows.append(self.served(product, t, row))
        return 200, json.dumps({"candles": rows})


class FakeKraken(FakeSession):
    exchange_id = "kraken"
    candle_path = "/0/public/OHLC"
    INTERVALS: ClassVar[dict[str, int]] = {"1": MINUTE, "60": HOUR, "1440": DAY}

    def route(self, path: str, query: dict[str, str]) -> tuple[int, str]:
        if path in ("/0/public/Assets", "/0/public/AssetPairs", "/0/public/Ticker"):
            return 200, self.fixture(path.rsplit("/", 1)[-1] + ".json")
        if path == "/0/public/OHLC":
            return self.ohlc(query)
        return 404, '{"error":["EGeneral:Unknown method"]}'

    def ohlc(self, query: dict[str, str]) -> tuple[int, str]:
        bar_ms = self.INTERVALS[query.get("interval", "1")]
        since = int(query.get("since", 0)) * 1000
        opens = self.opens(query["pair"], bar_ms, since + 1, self.now_ms, latest=720)
        rows = []
        for t in opens:
            o, h, lo, c, v = bar(query["pair"], t, bar_ms)
            row = [t // 1000, f"{o:.5f}", f"{h:.5f}", f"{lo:.5f}", f"{c:.5f}", f"{(o + c) / 2:.5f}", f"{v:.8f}", 42]
            rows.append(self.served(query["pair"], t, row))
        last = (self.now_ms // bar_ms * bar_ms - bar_ms) // 1000
        return 200, json.dumps({"error": [], "result": {query["pair"]: rows, "last": last}})


FAKES: dict[str, type[FakeSession]] = {
    "okx": FakeOkx,
    "bybit": FakeBybit,
    "coinbase": FakeCoinbase,
    "kraken": FakeKraken,
}


def make_venue(
    exchange_id: str, fake: FakeSession | None = None, *, market_types: list[str] | None = None, **options: object
) -> tuple[CcxtVenue, FakeSession]:
    """A `CcxtVenue` built the production way (`CcxtVenue(id, options=...)`) whose session is `fake`, with
    ccxt's clock pinned to the fake's "now" and no retry delay."""
    fake = fake if fake is not None else FAKES[exchange_id]()
    venue = CcxtVenue(
        exchange_id,
        options={"maxRetriesOnFailureDelay": 0, **options},
        market_types=market_types or ["spot", "swap"],
    )
    exchange: ccxt.Exchange = venue.exchange
    exchange.enableRateLimit = False
    exchange.session = fake
    now: Callable[[], int] = lambda: fake.now_ms  # noqa: E731
    exchange.milliseconds = now  # type: ignore[method-assign]
    exchange.seconds = lambda: now() // 1000  # type: ignore[method-assign]
    return venue, fake

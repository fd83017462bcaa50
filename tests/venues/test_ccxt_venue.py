"""CcxtVenue offline: a real `ccxt.binance` whose HTTP session serves recorded Binance responses.

The fake replaces `exchange.session` (the `requests.Session` ccxt's sync `fetch` calls), so everything above it runs
as in production: ccxt's request signing and URL building, its HTTP error handling (`handle_errors`, status-code
mapping), its retries (`fetch2`), its pagination and its parsers.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import ccxt
import polars as pl
import pytest
import requests
from requests.structures import CaseInsensitiveDict

from dataflows import columns as C
from dataflows.errors import BadPayload, ConfigError, RateLimited, TransientVenueError, VenueError
from dataflows.venues.base import Venue, fetch_range, market_schema, ticker_schema
from dataflows.venues.ccxt_venue import CcxtVenue, precision_to_step

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ccxt" / "binance"
MINUTE = 60_000
DAY = 86_400_000
LISTED_MS = 1_704_067_200_000  # 2024-01-01: first kline the fake exchange has
NOW_MS = LISTED_MS + 30 * DAY  # the fake exchange's "now": later klines do not exist yet
INTERVAL_MS = {"1m": MINUTE, "1h": 3_600_000, "1d": DAY}


def _generated_kline(symbol: str, open_ms: int, bar_ms: int) -> list:
    """A deterministic Binance kline (12 fields, decimals as strings) for `symbol` opening at `open_ms`."""
    seed = sum(map(ord, symbol))
    i = open_ms // bar_ms

    def price(k: int) -> float:
        return 100.0 + seed % 50 + 5.0 * math.sin(k / 97.0) + 0.5 * math.sin(k * 1.3 + seed)

    o, c = price(i), price(i + 1)
    h, lo = max(o, c) * 1.0015, min(o, c) * 0.9985
    v = 10.0 + (i * 7919 + seed) % 101
    return [
        open_ms, f"{o:.8f}", f"{h:.8f}", f"{lo:.8f}", f"{c:.8f}", f"{v:.8f}",
        open_ms + bar_ms - 1, f"{v * c:.8f}", int(v * 3), f"{v / 2:.8f}", f"{v * c / 2:.8f}", "0",
    ]  # fmt: skip


class FakeBinance(requests.Session):
    """Routes requests by URL path to recorded JSON, records every call, and plays scripted failures first."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.scripted: dict[str, list[tuple[int, str]]] = {}  # path -> [(status, body)] served before the real one
        self.kline_overrides: dict[int, list] = {}  # open time -> raw row served instead of the generated one
        self.broken: Exception | None = None  # raised by every request when set (network down)

    def klines_calls(self, path: str = "/api/v3/klines") -> list[dict[str, str]]:
        return [query for p, query in self.calls if p == path]

    def request(self, method: str, url: str, **kwargs: object) -> requests.Response:  # type: ignore[override]
        parts = urlsplit(url)
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        self.calls.append((parts.path, query))
        if self.broken is not None:
            raise self.broken
        if self.scripted.get(parts.path):
            status, body = self.scripted[parts.path].pop(0)
            return _response(url, status, body)
        if parts.path == "/api/v3/exchangeInfo":
            return _response(url, 200, (FIXTURES / "exchangeInfo.json").read_text())
        if parts.path == "/api/v3/ticker/24hr":
            return _response(url, 200, (FIXTURES / "ticker_24hr.json").read_text())
        if parts.path in ("/api/v3/klines", "/fapi/v1/klines"):
            return _response(url, 200, json.dumps(self._klines(query)))
        if parts.path == "/fapi/v1/exchangeInfo":
            return _response(url, 200, (FIXTURES / "fapi_exchangeInfo.json").read_text())
        if parts.path == "/fapi/v1/ticker/24hr":
            return _response(url, 200, (FIXTURES / "fapi_ticker_24hr.json").read_text())
        return _response(url, 404, '{"code":-1,"msg":"no recorded response for this path"}')

    def _klines(self, query: dict[str, str]) -> list[list]:
        """Binance's rules: open time >= startTime and <= endTime, at most `limit` (500 default, 1000 max)."""
        symbol, interval = query["symbol"], query["interval"]
        bar_ms = INTERVAL_MS[interval]
        limit = int(query.get("limit", 500))
        assert limit <= 1000, "binance spot klines serve at most 1000 rows"
        start, end = int(query.get("startTime", 0)), min(int(query.get("endTime", NOW_MS)), NOW_MS - 1)
        if symbol == "BTCUSDT" and interval == "1d":
            rows = json.loads((FIXTURES / "klines_BTCUSDT_1d.json").read_text())
        elif "startTime" in query:  # generate only the window asked for: the 1m history is 43 200 bars
            first = LISTED_MS + max(0, -(-(start - LISTED_MS) // bar_ms)) * bar_ms
            rows = [
                _generated_kline(symbol, t, bar_ms) for t in range(first, min(end + 1, first + limit * bar_ms), bar_ms)
            ]
        else:
            last = LISTED_MS + (end - LISTED_MS) // bar_ms * bar_ms
            rows = [
                _generated_kline(symbol, t, bar_ms)
                for t in range(max(LISTED_MS, last - (limit - 1) * bar_ms), last + 1, bar_ms)
            ]
        rows = [row for row in rows if start <= row[0] <= end]
        rows = [self.kline_overrides.get(row[0], row) for row in rows]
        return rows[:limit] if "startTime" in query else rows[-limit:]


def _response(url: str, status: int, body: str) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.reason = {200: "OK", 404: "Not Found", 429: "Too Many Requests", 503: "Service Unavailable"}[status]
    response._content = body.encode()
    response.headers = CaseInsensitiveDict({"Content-Type": "application/json;charset=UTF-8"})
    response.url = url
    return response


@pytest.fixture
def fake() -> FakeBinance:
    return FakeBinance()


@pytest.fixture
def venue(fake: FakeBinance) -> CcxtVenue:
    exchange = ccxt.binance(
        {
            "enableRateLimit": False,
            # spot only: otherwise load_markets also calls fapi/dapi exchangeInfo; 4.5.90 wants {"types": [...]}
            "options": {"fetchMarkets": {"types": ["spot"]}, "maxRetriesOnFailureDelay": 0},
        }
    )
    exchange.session = fake
    return CcxtVenue("binance", exchange=exchange)


def test_protocol_attributes(venue: CcxtVenue) -> None:
    assert isinstance(venue, Venue)
    assert venue.name == "binance"
    assert venue.page_limit == 1000
    assert venue.rate_limit_per_sec is None
    assert venue.exchange.options["maxRetriesOnFailure"] == 2  # our default, under the test's own delay of 0
    assert venue.exchange.options["maxRetriesOnFailureDelay"] == 0


def test_markets_parsed_from_exchange_info(venue: CcxtVenue, fake: FakeBinance) -> None:
    markets = venue.markets()
    assert markets.schema == pl.Schema(market_schema())
    assert [path for path, _ in fake.calls] == ["/api/v3/exchangeInfo"]  # spot only, no fapi/dapi
    rows = {row[C.SYMBOL]: row for row in markets.iter_rows(named=True)}
    assert sorted(rows) == ["BTC/USDT", "ETH/BTC", "ETH/USDT", "LUNA/USDT", "PEPE/USDT", "SOL/USDT"]
    btc = rows["BTC/USDT"]
    assert (btc[C.BASE], btc[C.QUOTE], btc["type"], btc[C.ASSET_CLASS]) == ("BTC", "USDT", "spot", "crypto")
    assert (btc[C.TICK_SIZE], btc[C.LOT_SIZE], btc[C.MIN_NOTIONAL]) == (0.01, 0.00001, 5.0)
    assert btc[C.ACTIVE] is True
    assert btc[C.LISTED_AT] is None  # spot exchangeInfo has no listing date: null, not invented
    assert rows["ETH/BTC"][C.MIN_NOTIONAL] == 0.0001  # the older MIN_NOTIONAL filter
    assert rows["PEPE/USDT"][C.TICK_SIZE] == 1e-8
    assert rows["PEPE/USDT"][C.LOT_SIZE] is None  # no LOT_SIZE filter
    assert rows["LUNA/USDT"][C.ACTIVE] is False  # status BREAK


def test_precision_to_step_modes() -> None:
    assert precision_to_step(0.01, ccxt.TICK_SIZE) == 0.01
    assert precision_to_step(2, ccxt.DECIMAL_PLACES) == pytest.approx(0.01)
    assert precision_to_step(8, ccxt.DECIMAL_PLACES) == pytest.approx(1e-8)
    assert precision_to_step(4, ccxt.SIGNIFICANT_DIGITS) is None
    assert precision_to_step(None, ccxt.TICK_SIZE) is None


def test_tickers(venue: CcxtVenue) -> None:
    tickers = venue.tickers()
    assert tickers.schema == pl.Schema(ticker_schema())
    rows = {row[C.SYMBOL]: row for row in tickers.iter_rows(named=True)}
    assert "BCC/USDT" not in rows  # not a loaded market
    assert "BCCUSDT" not in rows
    assert rows["BTC/USDT"][C.LAST] == 44179.55
    assert rows["BTC/USDT"][C.QUOTE_VOLUME] == pytest.approx(2866314785.6182291)
    assert rows["BTC/USDT"][C.CHANGE] == pytest.approx(0.04732)
    assert rows["ETH/BTC"][C.CHANGE] == pytest.approx(-0.01205)
    assert rows["LUNA/USDT"][C.LAST] == 0.4173
    assert rows["LUNA/USDT"][C.CHANGE] is None


def test_ohlcv_one_page_from_recorded_klines(venue: CcxtVenue, fake: FakeBinance) -> None:
    page = venue.ohlcv("BTC/USDT", "1d", LISTED_MS + DAY, 3)
    assert page.schema == pl.Schema(C.ohlcv_schema())
    assert page.height == 3
    assert page[C.TS].dt.epoch("ms").to_list() == [LISTED_MS + DAY, LISTED_MS + 2 * DAY, LISTED_MS + 3 * DAY]
    assert page.row(0)[1:] == (44179.55, 45879.63, 44148.34, 44946.91, 65146.40661)
    (query,) = fake.klines_calls()
    assert query == {"symbol": "BTCUSDT", "interval": "1d", "limit": "3", "startTime": str(LISTED_MS + DAY)}


def test_ohlcv_clamps_limit_to_page_limit(venue: CcxtVenue, fake: FakeBinance) -> None:
    page = venue.ohlcv("ETH/USDT", "1m", LISTED_MS, 5000)
    assert page.height == 1000
    assert fake.klines_calls()[0]["limit"] == "1000"


def test_fetch_range_pages_by_window_with_until(venue: CcxtVenue, fake: FakeBinance) -> None:
    """Our paging loop: windows of `page_limit` bars, each with its own `until` (binance `endTime`)."""
    start = LISTED_MS + 10 * MINUTE
    end = start + 2499 * MINUTE  # 2500 bars: 2.5 pages of 1000
    frame = fetch_range(venue, "ETH/USDT", "1m", start, end)
    calls = fake.klines_calls()
    assert len(calls) == 3
    assert [int(q["startTime"]) for q in calls] == [start, start + 1000 * MINUTE, start + 2000 * MINUTE]
    # window ends: the close time of the window's last bar (covers that bar and nothing after it)
    closes = [start + 1000 * MINUTE - 1, start + 2000 * MINUTE - 1, end + MINUTE - 1]
    assert [int(q["endTime"]) for q in calls] == closes
    assert all(q["limit"] == "1000" for q in calls)
    ts = frame[C.TS].dt.epoch("ms").to_list()
    assert ts == list(range(start, end + 1, MINUTE))  # complete, unique, sorted
    assert frame.null_count().sum_horizontal().item() == 0


def test_fetch_range_survives_one_429(venue: CcxtVenue, fake: FakeBinance) -> None:
    """ccxt's own retry: binance maps 429 to DDoSProtection and fetch2 retries it (`maxRetriesOnFailure`)."""
    start, end = LISTED_MS, LISTED_MS + 1999 * MINUTE
    venue.markets()
    fake.scripted["/api/v3/klines"] = [(429, '{"code":-1003,"msg":"Too many requests; please use the websocket."}')]
    frame = fetch_range(venue, "SOL/USDT", "1m", start, end)
    assert frame.height == 2000
    assert frame[C.TS].dt.epoch("ms").to_list() == list(range(start, end + 1, MINUTE))
    assert len(fake.klines_calls()) == 3  # 2 pages + the one retried after the 429


def test_range_fails_whole_when_a_page_is_not_retried(venue: CcxtVenue, fake: FakeBinance) -> None:
    """Without ccxt's per-request retries a 429 fails the range (the ingester retries it); nothing is returned."""
    venue.exchange.options["maxRetriesOnFailure"] = 0
    fake.scripted["/api/v3/klines"] = [(200, "[]"), (429, '{"code":-1003,"msg":"Too many requests."}')]
    with pytest.raises(RateLimited, match=r"binance fetch_ohlcv for 'SOL/USDT' was rate limited"):
        fetch_range(venue, "SOL/USDT", "1m", LISTED_MS, LISTED_MS + 1999 * MINUTE)
    assert len(fake.klines_calls()) == 2


def test_cursor_paging_when_the_exchange_has_no_until(venue: CcxtVenue, fake: FakeBinance) -> None:
    venue._until = False  # as for an exchange whose fetch_ohlcv has no `until` param (kraken)
    start, end = LISTED_MS, LISTED_MS + 2499 * MINUTE
    frame = fetch_range(venue, "ETH/USDT", "1m", start, end)
    assert frame[C.TS].dt.epoch("ms").to_list() == list(range(start, end + 1, MINUTE))
    starts = [int(q["startTime"]) for q in fake.klines_calls()]
    assert starts == [start, start + 999 * MINUTE + 1, start + 1999 * MINUTE + 1]
    assert all("endTime" not in q and "paginate" not in q for q in fake.klines_calls())


def test_persistent_429_is_rate_limited(venue: CcxtVenue, fake: FakeBinance) -> None:
    venue.markets()
    fake.scripted["/api/v3/klines"] = [(429, '{"code":-1003,"msg":"Too many requests."}')] * 3
    with pytest.raises(RateLimited, match=r"binance fetch_ohlcv for 'BTC/USDT' was rate limited") as info:
        venue.ohlcv("BTC/USDT", "1d", LISTED_MS, 10)
    assert isinstance(info.value.__cause__, ccxt.DDoSProtection)
    assert len(fake.klines_calls()) == 3  # 1 try + maxRetriesOnFailure=2


def test_network_failure_is_transient(venue: CcxtVenue, fake: FakeBinance) -> None:
    venue.markets()
    fake.broken = requests.ConnectionError("connection refused")
    with pytest.raises(TransientVenueError, match="binance fetch_ohlcv for 'ETH/USDT'") as info:
        venue.ohlcv("ETH/USDT", "1m", LISTED_MS, 10)
    assert isinstance(info.value.__cause__, ccxt.NetworkError)


def test_server_error_is_transient(venue: CcxtVenue, fake: FakeBinance) -> None:
    venue.markets()
    fake.scripted["/api/v3/klines"] = [(503, "")] * 3
    with pytest.raises(TransientVenueError) as info:
        venue.ohlcv("ETH/USDT", "1m", LISTED_MS, 10)
    assert isinstance(info.value.__cause__, ccxt.ExchangeNotAvailable)


def test_unknown_symbol_is_venue_error(venue: CcxtVenue) -> None:
    with pytest.raises(VenueError, match=r"binance fetch_ohlcv for 'NOPE/USDT'") as info:
        venue.ohlcv("NOPE/USDT", "1m", LISTED_MS, 10)
    assert isinstance(info.value.__cause__, ccxt.BadSymbol)


def test_unknown_timeframe_is_config_error(venue: CcxtVenue) -> None:
    with pytest.raises(ConfigError, match=r"binance has no timeframe '7m'"):
        venue.ohlcv("BTC/USDT", "7m", LISTED_MS, 10)


BAD_ROWS = {
    "non-numeric price": ([0, "abc", "2", "1", "1.5", "10", 1, "0", 1, "0", "0", "0"], "open is not a number"),
    "high below low": ([0, "1.5", "1.0", "2.0", "1.5", "10", 1, "0", 1, "0", "0", "0"], "high 1.0 < low 2.0"),
    "high below close": ([0, "1.0", "1.5", "0.9", "1.6", "10", 1, "0", 1, "0", "0", "0"], r"high 1.5 < max"),
    "low above open": ([0, "1.0", "1.5", "1.1", "1.2", "10", 1, "0", 1, "0", "0", "0"], r"low 1.1 > min"),
    "truncated row": ([0, "1.0", "1.5"], "low is not a number"),
    "NaN price": ([0, "NaN", "1.5", "0.9", "1.2", "10", 1, "0", 1, "0", "0", "0"], "open is not finite"),
    "zero price": ([0, "0", "1.5", "0", "1.2", "10", 1, "0", 1, "0", "0", "0"], "non-positive price"),
    "negative volume": ([0, "1.0", "1.5", "0.9", "1.2", "-1", 1, "0", 1, "0", "0", "0"], "negative volume"),
}


@pytest.mark.parametrize("case", sorted(BAD_ROWS))
def test_malformed_kline_is_bad_payload(venue: CcxtVenue, fake: FakeBinance, case: str) -> None:
    row, problem = BAD_ROWS[case]
    open_ms = LISTED_MS + 1200 * MINUTE  # row 200 of the second page of the range below
    fake.kline_overrides[open_ms] = [open_ms, *row[1:]]
    with pytest.raises(BadPayload, match=rf"binance returned a bad 1m kline for 'ETH/USDT' at row 200: .*{problem}"):
        fetch_range(venue, "ETH/USDT", "1m", LISTED_MS, LISTED_MS + 1999 * MINUTE)


def test_kline_in_seconds_is_bad_payload(venue: CcxtVenue, fake: FakeBinance) -> None:
    fake.kline_overrides[LISTED_MS] = [LISTED_MS // 1000, "1.0", "1.5", "0.9", "1.2", "10", 1, "0", 1, "0", "0", "0"]
    with pytest.raises(BadPayload, match=r"'ETH/USDT' at row 0: .*not epoch milliseconds"):
        venue.ohlcv("ETH/USDT", "1m", 0, 10)


def test_repeated_timestamp_is_bad_payload(venue: CcxtVenue, fake: FakeBinance) -> None:
    fake.kline_overrides[LISTED_MS + MINUTE] = _generated_kline("ETHUSDT", LISTED_MS, MINUTE)
    with pytest.raises(BadPayload, match=r"at row 1: .*does not increase"):
        venue.ohlcv("ETH/USDT", "1m", LISTED_MS, 10)


def test_truncated_json_is_retried_then_bad_payload(venue: CcxtVenue, fake: FakeBinance) -> None:
    """Plain ccxt would read a truncated body as an empty page; the venue makes it a retried `BadResponse`."""
    venue.markets()
    truncated = (200, '[[1704067200000,"42283.58","44184.1')
    fake.scripted["/api/v3/klines"] = [truncated]
    assert venue.ohlcv("BTC/USDT", "1d", LISTED_MS, 10).height == 7  # retried by ccxt's fetch2
    assert len(fake.klines_calls()) == 2
    fake.scripted["/api/v3/klines"] = [truncated] * 3
    with pytest.raises(BadPayload, match=r"binance fetch_ohlcv for 'BTC/USDT'.*does not parse") as info:
        venue.ohlcv("BTC/USDT", "1d", LISTED_MS, 10)
    assert isinstance(info.value.__cause__, ccxt.BadResponse)


def test_unknown_exchange_id() -> None:
    with pytest.raises(
        ConfigError, match=r"'binanse' is not a ccxt exchange id; did you mean binance.*ccxt\.exchanges"
    ):
        CcxtVenue("binanse")


def test_builds_a_real_exchange_offline() -> None:
    venue = CcxtVenue("kraken", options={"maxRetriesOnFailure": 5}, timeout_ms=1234)
    assert venue.name == "kraken"
    assert venue.page_limit == 720  # kraken's advertised OHLCV limit
    assert venue.exchange.enableRateLimit is True
    assert venue.exchange.timeout == 1234
    assert venue.exchange.options["maxRetriesOnFailure"] == 5
    assert venue.exchange.options["maxRetriesOnFailureDelay"] == 1000


def test_exchange_id_not_set() -> None:
    with pytest.raises(ConfigError, match=r"venue\.exchange is not set"):
        CcxtVenue(None)  # type: ignore[arg-type]  # `venue.exchange: null` in conf/venue/ccxt.yaml


def test_hydra_options_become_plain_dicts() -> None:
    from omegaconf import OmegaConf

    options = OmegaConf.create({"fetchMarkets": {"types": ["spot"]}, "maxRetriesOnFailure": 1})
    venue = CcxtVenue("binance", options=options)  # type: ignore[arg-type]
    assert venue.exchange.options["fetchMarkets"] == {"types": ["spot"], "loadAllOptions": False}
    assert type(venue.exchange.options["fetchMarkets"]["types"]) is list
    assert venue.exchange.options["maxRetriesOnFailure"] == 1


def test_exchange_object_must_match_id() -> None:
    with pytest.raises(ConfigError, match="does not match"):
        CcxtVenue("kraken", exchange=ccxt.binance())


def test_binance_spot_and_linear_perps_built_the_production_way(fake: FakeBinance) -> None:
    """`CcxtVenue("binance")` with the default market types loads spot and USD-M perps (fapi), never COIN-M."""
    venue = CcxtVenue("binance", options={"maxRetriesOnFailureDelay": 0})
    venue.exchange.enableRateLimit = False
    venue.exchange.session = fake
    assert venue.exchange.options["fetchMarkets"]["types"] == ["spot", "linear"]
    rows = {row[C.SYMBOL]: row for row in venue.markets().iter_rows(named=True)}
    assert {"BTC/USDT:USDT", "ETH/USDT:USDT", "BTC/USDT"} <= set(rows)
    perp = rows["BTC/USDT:USDT"]
    assert (perp["type"], perp[C.BASE], perp[C.QUOTE]) == ("swap", "BTC", "USDT")
    assert (perp[C.TICK_SIZE], perp[C.LOT_SIZE], perp[C.MIN_NOTIONAL]) == (0.1, 0.001, 5.0)
    assert not any("/dapi/" in path for path, _ in fake.calls)
    tickers = {row[C.SYMBOL]: row for row in venue.tickers().iter_rows(named=True)}
    assert tickers["BTC/USDT:USDT"][C.QUOTE_VOLUME] == pytest.approx(13054321987.65)
    assert tickers["BTC/USDT"][C.LAST] == 44179.55
    assert [p for p, _ in fake.calls if "ticker" in p] == ["/api/v3/ticker/24hr", "/fapi/v1/ticker/24hr"]
    start, end = LISTED_MS, LISTED_MS + 2499 * MINUTE
    frame = fetch_range(venue, "ETH/USDT:USDT", "1m", start, end)
    assert frame[C.TS].dt.epoch("ms").to_list() == list(range(start, end + 1, MINUTE))
    assert len(fake.klines_calls("/fapi/v1/klines")) == 3

"""CcxtVenue against OKX, Bybit, Coinbase and Kraken offline: real `ccxt.<exchange>` objects built the production
way, whose HTTP session (`tests/venues/ccxt_fakes.py`) serves recorded markets/tickers and candles with each
exchange's paging rules. Proves markets (types, units, contract sizes), tickers per market type, complete ranges
whatever the paging direction and page size, kraken's history cap, error mapping, and the data phase end to end."""

from __future__ import annotations

import datetime as dt
import json

import ccxt
import polars as pl
import pytest

from dataflows import columns as C
from dataflows.errors import BadPayload, ConfigError, HistoryUnavailable, RateLimited
from dataflows.lakehouse.store import Lakehouse
from dataflows.venues.base import fetch_range, market_schema, ticker_schema
from dataflows.venues.ccxt_venue import CcxtVenue
from tests.conftest import make_settings, run_data_phase
from tests.venues.ccxt_fakes import DAY, FAKES, HOUR, NOW_MS, FakeOkx, bar, make_venue

LAST_DAY = NOW_MS // DAY * DAY - DAY  # 2026-06-14: last completed daily bar
EXCHANGES = ("okx", "bybit", "coinbase", "kraken")


def _ts(frame: pl.DataFrame) -> list[int]:
    return frame[C.TS].dt.epoch("ms").to_list()


def _rows(frame: pl.DataFrame) -> dict[str, dict]:
    return {row[C.SYMBOL]: row for row in frame.iter_rows(named=True)}


# -- markets -------------------------------------------------------------------------------------------------------


MARKETS = {
    # symbol: (type, base, quote, tick, lot in base units, min notional in quote)
    "okx": {
        "BTC/USDT": ("spot", "BTC", "USDT", 0.1, 1e-8, None),  # OKX states no minimum order value: null
        "ETH/USDT": ("spot", "ETH", "USDT", 0.01, 1e-6, None),
        "BTC/USDT:USDT": ("swap", "BTC", "USDT", 0.1, 0.001, None),  # lotSz 0.1 contract x ctVal 0.01 BTC
        "ETH/USDT:USDT": ("swap", "ETH", "USDT", 0.01, 0.01, None),  # lotSz 0.1 contract x ctVal 0.1 ETH
    },
    "bybit": {
        "BTC/USDT": ("spot", "BTC", "USDT", 0.1, 1e-6, 5.0),
        "ETH/USDT": ("spot", "ETH", "USDT", 0.01, 1e-5, 5.0),
        "BTC/USDT:USDT": ("swap", "BTC", "USDT", 0.1, 0.001, 5.0),  # minNotionalValue (ccxt leaves cost.min empty)
        "ETH/USDT:USDT": ("swap", "ETH", "USDT", 0.01, 0.01, 5.0),
    },
    "coinbase": {
        "BTC/USDC": ("spot", "BTC", "USDC", 0.01, 1e-8, 1.0),
        "BTC/USDT": ("spot", "BTC", "USDT", 0.01, 1e-8, 1.0),
        "ETH/USDT": ("spot", "ETH", "USDT", 0.01, 1e-8, 1.0),
        "LTC/USDC:USDC": ("swap", "LTC", "USDC", 0.01, 0.01, 10.0),  # INTX perps: contract_size 1
        "SOL/USDC:USDC": ("swap", "SOL", "USDC", 0.001, 0.001, 10.0),
    },
    "kraken": {
        "BTC/USD": ("spot", "BTC", "USD", 0.1, 1e-8, 0.5),  # costmin (ccxt leaves cost.min empty)
        "BTC/USDT": ("spot", "BTC", "USDT", 0.1, 1e-8, 0.5),
        "ETH/USDT": ("spot", "ETH", "USDT", 0.01, 1e-8, 0.5),
    },
}


@pytest.mark.parametrize("exchange_id", EXCHANGES)
def test_markets_types_units_and_contract_sizes(exchange_id: str) -> None:
    venue, _ = make_venue(exchange_id)
    markets = venue.markets()
    assert markets.schema == pl.Schema(market_schema())
    rows = _rows(markets)
    assert sorted(rows) == sorted(MARKETS[exchange_id])  # inverse swaps (okx BTC/USD:BTC) and dated futures dropped
    for symbol, (kind, base, quote, tick, lot, min_notional) in MARKETS[exchange_id].items():
        row = rows[symbol]
        assert (row["type"], row[C.BASE], row[C.QUOTE], row[C.ACTIVE]) == (kind, base, quote, True), symbol
        assert row[C.TICK_SIZE] == pytest.approx(tick), symbol
        assert row[C.LOT_SIZE] == pytest.approx(lot), symbol
        assert row[C.MIN_NOTIONAL] == (None if min_notional is None else pytest.approx(min_notional)), symbol


def test_okx_loads_only_the_configured_types() -> None:
    venue, fake = make_venue("okx", market_types=["spot"])
    assert sorted(_rows(venue.markets())) == ["BTC/USDT", "ETH/USDT"]
    assert venue.tickers()[C.SYMBOL].to_list() == ["BTC/USDT", "ETH/USDT"]
    assert fake.calls == [
        ("/api/v5/public/instruments", {"instType": "SPOT"}),
        ("/api/v5/market/tickers", {"instType": "SPOT"}),
    ]


@pytest.mark.parametrize("exchange_id", ["okx", "bybit"])
def test_swap_only_venue_gets_linear_perps(exchange_id: str) -> None:
    """Each exchange's default ticker type (okx spot, bybit swap) must not decide what a swap-only venue gets."""
    venue, fake = make_venue(exchange_id, market_types=["swap"])
    assert sorted(_rows(venue.tickers())) == ["BTC/USDT:USDT", "ETH/USDT:USDT"]
    kinds = {q.get("category", q.get("instType")) for _, q in fake.calls}
    assert kinds == {"bybit": {"linear"}, "okx": {"SWAP"}}[exchange_id]  # never spot


def test_market_types_are_validated() -> None:
    with pytest.raises(ConfigError, match=r"venue\.market_types"):
        CcxtVenue("okx", market_types=["perp"])


def test_venue_node_wires_market_types(tmp_path) -> None:
    from dataflows.nodes.venue import venue__ccxt

    settings = make_settings(tmp_path, "venue=ccxt", "venue.exchange=okx", "venue.market_types=[swap]")
    venue = venue__ccxt(settings.venue)
    assert venue.market_types == ("swap",)
    assert venue.exchange.options["fetchMarkets"]["types"] == ["swap"]


# -- tickers -------------------------------------------------------------------------------------------------------


TICKER_PATHS = {
    "okx": [("/api/v5/market/tickers", {"instType": "SPOT"}), ("/api/v5/market/tickers", {"instType": "SWAP"})],
    "bybit": [("/v5/market/tickers", {"category": "spot"}), ("/v5/market/tickers", {"category": "linear"})],
    "coinbase": [
        ("/api/v3/brokerage/market/products", {"product_type": "SPOT"}),
        ("/api/v3/brokerage/market/products", {"product_type": "FUTURE"}),
    ],
    "kraken": [("/0/public/Ticker", {})],
}
TICKERS = {
    # symbol: (last, quote volume, change)
    "okx": {
        "BTC/USDT": (73384.8, 1519926359.597266598, 73384.8 / 72166.8 - 1),  # the recorded ticker
        "BTC/USDT:USDT": (73390.1, 15234.567 * 73390.1, 73390.1 / 72170.0 - 1),  # volCcy24h (base) x last
        "ETH/USDT:USDT": (4006.01, 208765.43 * 4006.01, 4006.01 / 3951.0 - 1),
    },
    "bybit": {
        "BTC/USDT": (66510.2, 1152301774.05, 0.0098),
        "BTC/USDT:USDT": (66530.5, 4102334455.7, 0.009874),  # turnover24h: USDT
    },
    "coinbase": {
        "BTC/USDT": (103400.79, 15279815.42, -0.0030212852365164),  # approximate_quote_24h_volume
        "SOL/USDC:USDC": (176.916, 213398908.795, 0.010561670674656),
    },
    "kraken": {"BTC/USD": (66520.1, 2411.22334455 * 66360.11111, 66520.1 / 65910.0 - 1)},  # 24h volume x vwap
}


@pytest.mark.parametrize("exchange_id", EXCHANGES)
def test_tickers_of_every_loaded_type(exchange_id: str) -> None:
    venue, fake = make_venue(exchange_id)
    tickers = venue.tickers()
    assert tickers.schema == pl.Schema(ticker_schema())
    rows = _rows(tickers)
    assert sorted(rows) == sorted(MARKETS[exchange_id])  # spot and swap, nothing else (okx inverse dropped)
    for symbol, (last, quote_volume, change) in TICKERS[exchange_id].items():
        assert rows[symbol][C.LAST] == pytest.approx(last), symbol
        assert rows[symbol][C.QUOTE_VOLUME] == pytest.approx(quote_volume), symbol
        assert rows[symbol][C.CHANGE] == pytest.approx(change, abs=1e-9), symbol
    ticker_calls = [(p, q) for p, q in fake.calls if p in {p for p, _ in TICKER_PATHS[exchange_id]}]
    assert ticker_calls[-len(TICKER_PATHS[exchange_id]) :] == TICKER_PATHS[exchange_id]


# -- ranges --------------------------------------------------------------------------------------------------------


RANGES = {
    # exchange: (symbol, bars, candle requests): page sizes okx 300, bybit 1000, coinbase 300, kraken 720
    "okx": ("BTC/USDT:USDT", 730, 3),
    "bybit": ("ETH/USDT:USDT", 730, 1),
    "coinbase": ("SOL/USDC:USDC", 730, 3),
    "kraken": ("BTC/USD", 700, 1),  # at most its latest 720 bars exist for it
}


@pytest.mark.parametrize("exchange_id", EXCHANGES)
def test_complete_daily_range(exchange_id: str) -> None:
    symbol, bars, requests = RANGES[exchange_id]
    venue, fake = make_venue(exchange_id)
    start = LAST_DAY - (bars - 1) * DAY
    frame = fetch_range(venue, symbol, "1d", start, LAST_DAY)
    assert _ts(frame) == list(range(start, LAST_DAY + 1, DAY))  # every bar once, in order
    assert frame.null_count().sum_horizontal().item() == 0
    assert len(fake.candle_calls()) == requests


@pytest.mark.parametrize("exchange_id", EXCHANGES)
def test_short_range_a_year_back(exchange_id: str) -> None:
    """Point-in-time discovery asks for the last bars before a past `as_of`."""
    symbol = RANGES[exchange_id][0]
    venue, fake = make_venue(exchange_id)
    start = LAST_DAY - 365 * DAY
    frame = fetch_range(venue, symbol, "1d", start, start + 2 * DAY)
    assert _ts(frame) == [start, start + DAY, start + 2 * DAY]
    assert len(fake.candle_calls()) == 1


def test_okx_hourly_history_pages_newest_first_with_cursors() -> None:
    """2500 hourly bars a year back: /history-candles (older than the latest 1440 bars), `after`/`before` cursors."""
    venue, fake = make_venue("okx")
    start = LAST_DAY - 365 * DAY
    end = start + 2499 * HOUR
    frame = fetch_range(venue, "ETH/USDT", "1h", start, end)
    assert _ts(frame) == list(range(start, end + 1, HOUR))
    calls = [(p, q) for p, q in fake.calls if p.endswith("candles")]
    assert [p for p, _ in calls] == ["/api/v5/market/history-candles"] * 9
    assert [int(q["before"]) for _, q in calls] == [start + k * 300 * HOUR - 1 for k in range(9)]
    assert all(int(q["limit"]) <= 300 for _, q in calls)


def test_okx_smaller_real_page_is_still_complete() -> None:
    """If the server returns only 100 rows per page (newest first), each window is re-asked for its older part."""
    venue, fake = make_venue("okx", FakeOkx(server_cap=100))
    start = LAST_DAY - 729 * DAY
    frame = fetch_range(venue, "BTC/USDT", "1d", start, LAST_DAY)
    assert _ts(frame) == list(range(start, LAST_DAY + 1, DAY))
    assert len(fake.candle_calls()) == 8  # 3 + 3 + 2 pages of 100 for windows of 300, 300, 130 bars


def test_ccxt_deterministic_pagination_is_incomplete_on_okx() -> None:
    """Why we page ourselves: ccxt 4.5.90 sends the global `until` with every page; OKX answers newest first."""
    venue, _ = make_venue("okx")
    start = LAST_DAY - 729 * DAY
    params = {"paginate": True, "until": LAST_DAY + 1, "paginationCalls": 10}
    rows = venue.exchange.fetch_ohlcv("BTC/USDT", "1d", start, None, params)
    assert len({r[0] for r in rows}) < 730


def test_bybit_hourly_range_pages_by_window() -> None:
    venue, fake = make_venue("bybit")
    start = LAST_DAY - 200 * DAY
    end = start + 2499 * HOUR
    frame = fetch_range(venue, "BTC/USDT", "1h", start, end)
    assert _ts(frame) == list(range(start, end + 1, HOUR))
    calls = fake.candle_calls()
    assert [int(q["start"]) for q in calls] == [start, start + 1000 * HOUR, start + 2000 * HOUR]
    assert [int(q["end"]) for q in calls] == [start + 1000 * HOUR - 1, start + 2000 * HOUR - 1, end + HOUR - 1]
    assert all(q["limit"] == "1000" for q in calls)


def test_late_listing_costs_one_extra_request() -> None:
    venue, fake = make_venue("coinbase")
    fake.listed["SOL-PERP-INTX"] = LAST_DAY - 99 * DAY
    start = LAST_DAY - 729 * DAY
    frame = fetch_range(venue, "SOL/USDC:USDC", "1d", start, LAST_DAY)
    assert _ts(frame) == list(range(LAST_DAY - 99 * DAY, LAST_DAY + 1, DAY))
    assert len(fake.candle_calls()) == 4  # 3 windows + one re-ask before the first bar (empty: listing confirmed)


# -- kraken's history cap ------------------------------------------------------------------------------------------


def test_kraken_history_cap() -> None:
    venue, fake = make_venue("kraken")
    assert venue.history_limit_bars("1d") == 720
    assert venue.history_floor_ms("1d") == NOW_MS // DAY * DAY - 719 * DAY
    assert make_venue("okx")[0].history_limit_bars("1d") is None
    with pytest.raises(HistoryUnavailable, match=r"kraken serves only its latest 720 1d bars \(from 2024-06-26\)"):
        fetch_range(venue, "BTC/USD", "1d", LAST_DAY - 729 * DAY, LAST_DAY)
    assert fake.candle_calls() == []  # refused before any request


# -- errors --------------------------------------------------------------------------------------------------------


RATE_LIMITED = {
    "okx": (429, '{"msg":"Too Many Requests","code":"50011"}'),
    "bybit": (200, '{"retCode":10006,"retMsg":"Too many visits!","result":{},"retExtInfo":{},"time":1}'),
    "coinbase": (429, '{"error":"rate_limit_exceeded","message":"Too many requests"}'),
}
TRUNCATED = {
    "okx": '{"code":"0","msg":"","data":[["1781395200000","105.1","106',
    "bybit": '{"retCode":0,"retMsg":"OK","result":{"symbol":"BTCUSDT","category":"spot","list":[["17813952',
    "coinbase": '{"candles":[{"start":"1781395200","low":"101.2',
}


@pytest.mark.parametrize("exchange_id", sorted(RATE_LIMITED))
def test_rate_limit_is_retried_then_rate_limited(exchange_id: str) -> None:
    symbol = RANGES[exchange_id][0]
    venue, fake = make_venue(exchange_id)
    venue.markets()
    start = LAST_DAY - 599 * DAY
    fake.scripted[fake.candle_path] = [RATE_LIMITED[exchange_id]]
    assert fetch_range(venue, symbol, "1d", start, LAST_DAY).height == 600  # ccxt's fetch2 retried the page
    fake.scripted[fake.candle_path] = [RATE_LIMITED[exchange_id]] * 3
    with pytest.raises(RateLimited, match=rf"{exchange_id} fetch_ohlcv for '{symbol}' was rate limited") as info:
        fetch_range(venue, symbol, "1d", start, LAST_DAY)
    assert isinstance(info.value.__cause__, ccxt.RateLimitExceeded | ccxt.DDoSProtection)


@pytest.mark.parametrize("exchange_id", sorted(TRUNCATED))
def test_truncated_page_is_bad_payload(exchange_id: str) -> None:
    symbol = RANGES[exchange_id][0]
    venue, fake = make_venue(exchange_id)
    venue.markets()
    fake.scripted[fake.candle_path] = [(200, TRUNCATED[exchange_id])] * 3
    with pytest.raises(BadPayload, match=rf"{exchange_id} fetch_ohlcv for '{symbol}'.*does not parse"):
        fetch_range(venue, symbol, "1d", LAST_DAY - 29 * DAY, LAST_DAY)


MISSING_FIELD = {
    "okx": lambda t: [str(t), "105.1", "106.2", "104.9"],  # close, volume gone
    "bybit": lambda t: [str(t), "105.1", "106.2", "104.9", "105.5"],  # volume gone
    "coinbase": lambda t: {"start": str(t // 1000), "low": "104.9", "high": "106.2", "open": "105.1", "volume": "9"},
    "kraken": lambda t: [t // 1000, "105.1", "106.2", "104.9"],
}


@pytest.mark.parametrize("exchange_id", EXCHANGES)
def test_candle_row_with_missing_field_is_bad_payload(exchange_id: str) -> None:
    symbol = RANGES[exchange_id][0]
    venue, fake = make_venue(exchange_id)
    bad_ms = LAST_DAY - 400 * DAY  # in the second window of 300 (okx, coinbase)
    fake.row_overrides[bad_ms] = MISSING_FIELD[exchange_id](bad_ms)
    with pytest.raises(BadPayload, match=rf"{exchange_id} returned a bad 1d kline for '{symbol}' at row \d+: .*not a"):
        fetch_range(venue, symbol, "1d", LAST_DAY - 699 * DAY, LAST_DAY)


# -- data phase ----------------------------------------------------------------------------------------------------


def _phase_args(exchange_id: str, history_days: int, types: str = "[spot,swap]") -> tuple[str, ...]:
    return (
        "venue=ccxt",
        f"venue.exchange={exchange_id}",
        "run.as_of=2026-06-14",
        f"data.history_days={history_days}",
        "scanner=crypto_liquid_long",
        f"++scanner.universe.types={types}",
        "++scanner.limit=10",
        "++scanner.filters.liquid=null",
        "health.strict=false",
    )


@pytest.mark.parametrize(
    ("exchange_id", "types", "expected"),
    [
        ("okx", "[swap]", {"BTC/USDT:USDT", "ETH/USDT:USDT"}),  # newest-first cursor paging, 3 pages per symbol
        ("bybit", "[spot,swap]", {"BTC/USDT:USDT", "ETH/USDT:USDT"}),  # one market per base: the busier perps
    ],
)
def test_data_phase_end_to_end(tmp_path, exchange_id: str, types: str, expected: set[str]) -> None:
    settings = make_settings(tmp_path / "data", *_phase_args(exchange_id, 730, types))
    venue, _ = make_venue(exchange_id)
    result = run_data_phase(settings, venue=venue)
    assert expected <= set(result["healthy_symbols"])
    lh = Lakehouse(settings.data_root)
    for symbol in expected:
        stored = lh.read(exchange_id, "1d", symbol)
        assert _ts(stored) == list(range(LAST_DAY - 729 * DAY, LAST_DAY + 1, DAY)), symbol
    meta = result["symbol_metadata"].filter(pl.col(C.SYMBOL) == "BTC/USDT:USDT")
    assert meta[C.LOT_SIZE][0] == pytest.approx(0.001)  # base units, not contracts
    # second run: nothing to fetch
    venue2, fake2 = make_venue(exchange_id)
    again = run_data_phase(settings, venue=venue2)
    assert again["repair_report"].actions == []
    assert all(int(q.get("before", q.get("start", 0))) >= LAST_DAY - 30 * DAY for q in fake2.candle_calls())


def test_data_phase_bad_page_stores_nothing(tmp_path) -> None:
    settings = make_settings(tmp_path / "data", *_phase_args("okx", 730, "[swap]"))
    venue, fake = make_venue("okx")
    bad = LAST_DAY - 400 * DAY
    fake.row_overrides[("BTC-USDT-SWAP", bad)] = [str(bad), "105.1", "106.2", "104.9"]  # close, volume missing
    result = run_data_phase(settings, venue=venue)
    after = {a.symbol: a for a in result["audit_after"]}
    btc = after["BTC/USDT:USDT"]
    assert btc.status == "UNREPAIRABLE" and "bad_payload" in btc.reason
    assert "okx returned a bad 1d kline for 'BTC/USDT:USDT'" in btc.reason
    lh = Lakehouse(settings.data_root)
    assert lh.read("okx", "1d", "BTC/USDT:USDT") is None  # nothing stored
    assert lh.read("okx", "1d", "ETH/USDT:USDT").height == 730
    assert result["healthy_symbols"] == ["ETH/USDT:USDT"]


def test_kraken_data_phase_history_cap(tmp_path) -> None:
    settings = make_settings(tmp_path / "data", *_phase_args("kraken", 730))
    venue, fake = make_venue("kraken")
    with pytest.raises(Exception) as info:
        run_data_phase(settings, venue=venue)
    error = info.value
    while not isinstance(error, HistoryUnavailable) and error.__cause__ is not None:
        error = error.__cause__  # Hamilton may wrap node errors
    assert isinstance(error, HistoryUnavailable) and error.exit_code == 2
    message = str(error)
    assert "\n" not in message
    assert message.startswith("kraken serves only its latest 720 1d bars (2024-06-26..); data.history_days=730 ")
    assert "needs bars from 2024-06-15" in message and "set data.history_days<=719" in message
    # refused before the repair fetched anything (discovery may read the last days before as_of)
    assert all(int(q["since"]) * 1000 >= LAST_DAY - 30 * DAY for q in fake.candle_calls())
    assert not list((tmp_path / "data").rglob("*.parquet"))
    ok = make_settings(tmp_path / "data", *_phase_args("kraken", 700))
    venue, fake = make_venue("kraken")
    result = run_data_phase(ok, venue=venue)
    assert {"BTC/USDT", "ETH/USDT"} <= set(result["healthy_symbols"])
    assert Lakehouse(ok.data_root).read("kraken", "1d", "ETH/USDT").height == 700


def test_fixture_files_are_json() -> None:
    from tests.venues.ccxt_fakes import FIXTURES

    for path in FIXTURES.glob("*/*.json"):
        json.loads(path.read_text())
    assert dt.datetime.fromtimestamp(NOW_MS / 1000, dt.UTC).isoformat() == "2026-06-15T13:00:00+00:00"


# -- point in time -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("exchange_id", ["okx", "bybit"])
def test_past_as_of_ignores_the_future(tmp_path, exchange_id: str) -> None:
    """A run as of 2025-06-30 against an exchange that is a year further (live tickers of 2026, bars after as_of)
    decides exactly as against the same exchange stopped at as_of: tickers come from bars completed by as_of."""
    as_of_ms = 1_751_328_000_000  # 2025-07-01T00:00Z = the end of 2025-06-30
    args = [a for a in _phase_args(exchange_id, 200, "[spot,swap]") if not a.startswith("run.as_of")]
    args.append("run.as_of=2025-06-30")
    results = {}
    for label, now_ms in (("later", NOW_MS), ("stopped", as_of_ms + 5 * HOUR)):
        settings = make_settings(tmp_path / label, *args)
        venue, _ = make_venue(exchange_id, FAKES[exchange_id](now_ms=now_ms))
        results[label] = run_data_phase(settings, venue=venue, outputs=("candidates", "healthy_symbols"))
    later, stopped = results["later"], results["stopped"]
    assert later["candidates"].equals(stopped["candidates"]) and later["candidates"].height >= 2
    assert later["healthy_symbols"] == stopped["healthy_symbols"]
    btc = later["candidates"].filter(pl.col(C.SYMBOL).str.starts_with("BTC/USDT")).row(0, named=True)
    series = {
        "okx": {"BTC/USDT": "BTC-USDT", "BTC/USDT:USDT": "BTC-USDT-SWAP"},
        "bybit": {"BTC/USDT": "spot:BTCUSDT", "BTC/USDT:USDT": "linear:BTCUSDT"},
    }[exchange_id][btc[C.SYMBOL]]
    close = bar(series, as_of_ms - DAY, DAY)[3]
    # the close of 2025-06-30 (as served, rounded), not the live ticker
    assert btc[C.LAST] == pytest.approx(close, rel=1e-4)

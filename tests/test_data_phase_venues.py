"""The data phase over the other venues: ccxt (recorded Binance responses, ccxt's own parsing) and user files."""

from __future__ import annotations

import datetime as dt

import ccxt
import numpy as np
import polars as pl

from dataflows import columns as C
from dataflows.lakehouse.store import Lakehouse
from dataflows.venues.ccxt_venue import CcxtVenue
from tests.conftest import make_settings, run_data_phase
from tests.venues.test_ccxt_venue import FakeBinance

CCXT_ARGS = (
    "venue=ccxt",
    "venue.exchange=binance",
    "run.as_of=2024-01-30",
    "data.history_days=20",
    "scanner=crypto_liquid_long",
    "++scanner.limit=10",
    "++scanner.filters.liquid=null",
    "++scanner.filters.priced=null",  # keep BTC/USDT: no bar near as_of, so no point-in-time price (tested below)
    "health.strict=false",
)


def _binance(fake: FakeBinance) -> CcxtVenue:
    exchange = ccxt.binance(
        {"enableRateLimit": False, "options": {"fetchMarkets": {"types": ["spot"]}, "maxRetriesOnFailureDelay": 0}}
    )
    exchange.session = fake
    return CcxtVenue("binance", exchange=exchange)


def test_ccxt_data_phase_end_to_end(tmp_path):
    settings = make_settings(tmp_path / "data", *CCXT_ARGS)
    fake = FakeBinance()
    result = run_data_phase(settings, venue=_binance(fake))
    after = {a.symbol: a for a in result["audit_after"]}
    assert {"ETH/USDT", "SOL/USDT", "PEPE/USDT"} <= set(result["healthy_symbols"])
    assert "LUNA/USDT" not in after  # inactive market never becomes a candidate
    # the recorded BTC klines stop on 2024-01-07, before the required window: asked twice (confirmed), not looped on
    btc = after["BTC/USDT"]
    assert btc.status == "UNREPAIRABLE" and "no bars for the required window" in btc.reason
    assert len([r for r in Lakehouse(settings.data_root).registry.fetches() if r["symbol"] == "BTC/USDT"]) == 2
    assert result["symbol_metadata"].filter(pl.col(C.SYMBOL) == "PEPE/USDT")[C.LOT_SIZE][0] is None
    stored = Lakehouse(settings.data_root).read("binance", "1d", "ETH/USDT")
    assert stored.height == 20 and stored[C.TS].max() == dt.datetime(2024, 1, 30, tzinfo=dt.UTC)
    # second run: nothing to fetch
    fake2 = FakeBinance()
    again = run_data_phase(settings, venue=_binance(fake2))
    assert again["repair_report"].actions == []
    # only BTC/USDT goes back to the venue: its stored bars end before as_of, so its point-in-time ticker is asked for
    assert {q["symbol"] for q in fake2.klines_calls()} == {"BTCUSDT"}


def test_files_venue_data_phase_end_to_end(tmp_path):
    folder = tmp_path / "ohlcv"
    folder.mkdir()
    rng = np.random.default_rng(3)
    days = pl.datetime_range(dt.datetime(2025, 1, 1), dt.datetime(2025, 12, 31), "1d", eager=True, time_zone="UTC")
    for name in ("AAA", "BBB", "CCC"):
        close = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, days.len())))
        pl.DataFrame(
            {
                "timestamp": days.dt.epoch("s"),
                "open": close,
                "high": close * 1.01,
                "low": close * 0.99,
                "close": close,
                "volume": rng.uniform(1e5, 2e5, days.len()),
            }
        ).write_csv(folder / f"{name}.csv")
    settings = make_settings(
        tmp_path / "data",
        "venue=files",
        f"venue.path={folder}",
        "run.as_of=2025-12-31",
        "data.history_days=200",
        "scanner=crypto_liquid_long",
        "+scanner.filters.liquid=null",
        "+scanner.universe.quotes=null",
        "+scanner.universe.types=null",
    )
    result = run_data_phase(settings)
    assert sorted(result["healthy_symbols"]) == ["AAA", "BBB", "CCC"]
    lh = Lakehouse(settings.data_root)
    assert lh.read(settings.venue_name, "1d", "AAA").height == 200
    gaps = result["symbol_metadata"]
    assert gaps[C.TICK_SIZE].null_count() == 3  # files do not know tick sizes: reported missing, not invented

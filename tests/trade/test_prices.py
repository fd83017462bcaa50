"""weights.csv's prices are point in time: each is the close of the symbol's last bar at or before the decision bar,
even when the lakehouse already holds later bars (a later run fetched them)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from dataflows.lakehouse.store import Lakehouse
from dataflows.timestamps import iso
from tests.conftest import make_settings, run_data_phase, synthetic_venue

UNIVERSE = ("scanner=crypto_liquid_long", "++scanner.limit=12", "profile.cluster_cap=null", "flow.skip_validation=true")


def test_prices_are_the_decision_bars_closes_not_later_ones(tmp_path: Path) -> None:
    root = tmp_path / "data"
    scan = make_settings(root, *UNIVERSE, "run.as_of=2026-06-30")
    candidates = run_data_phase(scan, venue=synthetic_venue(scan), outputs=("candidates",))["candidates"]
    later = make_settings(root, *UNIVERSE, "run.as_of=2026-07-30")  # the same symbols' bars up to 2026-07-29
    run_data_phase(
        later, venue=synthetic_venue(later), outputs=("healthy_symbols",), overrides={"candidates": candidates}
    )
    now = make_settings(root, *UNIVERSE, "run.as_of=2026-06-30", "run.id=priced")
    r = run_data_phase(now, venue=synthetic_venue(now), outputs=("weights_csv_file", "decision_ms", "priced_weights"))
    weights = pl.read_csv(r["weights_csv_file"]["path"])
    assert weights.height > 0
    assert weights.select("symbol", "weight", "net_weight").equals(r["priced_weights"].select(weights.columns[:3]))
    lh = Lakehouse(root)
    for row in weights.iter_rows(named=True):
        bars = lh.read("synthetic", "1d", row["symbol"])
        assert bars is not None and bars["ts"].max() > dt.datetime(2026, 7, 20, tzinfo=dt.UTC)  # later bars are there
        assert row["price_bar"] == iso(r["decision_ms"]) == "2026-06-30T00:00:00Z"
        at = bars.filter(pl.col("ts").dt.epoch("ms") == r["decision_ms"])
        assert row["price"] == at["close"][0]  # the decision bar's close, exactly
        assert (row["as_of"], row["run_id"]) == ("2026-07-01T00:00:00+00:00", "priced")
        assert row["lot_size"] > 0 and row["tick_size"] > 0 and row["min_notional"] > 0  # the synthetic venue's

"""Feature backfill: the features matrix is point-in-time, incremental == full, and agrees with the venue snapshot."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from dataflows import columns as C
from dataflows.errors import RatingsMismatch
from dataflows.lakehouse import atomic, features
from dataflows.lakehouse.store import Lakehouse
from dataflows.scanners import rating_category_expr
from tests.conftest import make_settings, run_data_phase, synthetic_venue

FULL_HISTORY = ("data.history_days=3000", "scanner=crypto_liquid_long", "++scanner.limit=12")


def test_backfill_matches_the_venue_snapshot_exactly_with_full_history(tmp_path):
    settings = make_settings(tmp_path / "data", *FULL_HISTORY)
    result = run_data_phase(settings, venue=synthetic_venue(settings))
    check = result["ratings_check"]
    assert check["available"] and len(check["verified"]) >= 10
    assert set(check["unverifiable"]) <= {"PURGED/USDT"}
    matrix = features.read(Lakehouse(settings.data_root))
    assert matrix.schema == features.schema()
    for col in features.RATINGS:
        values = matrix[col].drop_nulls()
        assert values.min() >= -1.0 and values.max() <= 1.0
    # every stored bar has a features row, and nothing else does
    lh = Lakehouse(settings.data_root)
    sym = check["verified"][0]
    assert matrix.filter(pl.col(C.SYMBOL) == sym)[C.TS].equals(lh.read("synthetic", "1d", sym)[C.TS])


def test_corrupted_stored_bar_is_caught_by_the_snapshot_check(tmp_path):
    settings = make_settings(tmp_path / "data", *FULL_HISTORY)
    result = run_data_phase(settings, venue=synthetic_venue(settings))
    lh = Lakehouse(settings.data_root)
    sym = result["ratings_check"]["verified"][0]
    path = lh.ohlcv_path("synthetic", "1d", sym)
    bars = pl.read_parquet(path)
    # a silently wrong close 5 bars before the end (still a valid bar), then a full recomputation
    bad = bars.with_columns(
        pl.when(pl.int_range(pl.len()) == bars.height - 5)
        .then(pl.col(C.CLOSE) * 1.3)
        .otherwise(pl.col(C.CLOSE))
        .alias(C.CLOSE)
    )
    bad = bad.with_columns(pl.max_horizontal(C.HIGH, C.CLOSE).alias(C.HIGH))
    atomic.write_parquet(path, bad)
    features.update(lh, "synthetic", "1d", [sym], force_full=True)
    again = make_settings(tmp_path / "data", *FULL_HISTORY, "run.id=again")
    with pytest.raises(RatingsMismatch, match=sym.replace("/", "/")):
        run_data_phase(again, venue=synthetic_venue(again))


def test_incremental_equals_full_and_never_rewrites_the_past(tmp_path):
    root = tmp_path / "data"
    first = make_settings(root)
    run_data_phase(first, venue=synthetic_venue(first))
    lh = Lakehouse(root)
    before = features.read(lh)
    later = make_settings(root, "run.as_of=2026-07-03")
    result = run_data_phase(later, venue=synthetic_venue(later))
    update = result["features_update"]
    assert update.appended and all(n == 3 for n in update.appended.values())
    after = features.read(lh)
    # point in time: rows that existed are unchanged by later bars
    old_keys = before.select(C.VENUE, C.SYMBOL, C.TS)
    assert (
        after.join(old_keys, on=[C.VENUE, C.SYMBOL, C.TS], how="semi")
        .sort(C.SYMBOL, C.TS)
        .equals(before.sort(C.SYMBOL, C.TS))
    )
    # incremental == full recomputation, bit for bit
    symbols = list(update.appended)
    features.update(lh, "synthetic", "1d", symbols, force_full=True)
    full = features.read(lh)
    cols = [c for c in features.schema() if c not in (C.VENUE,)]
    a = after.filter(pl.col(C.SYMBOL).is_in(symbols)).sort(C.SYMBOL, C.TS).select(cols)
    b = full.filter(pl.col(C.SYMBOL).is_in(symbols)).sort(C.SYMBOL, C.TS).select(cols)
    assert a.equals(b)


def test_rating_scanner_filters_on_the_current_rating(tmp_path):
    settings = make_settings(tmp_path / "data", "scanner=crypto_rating_long")
    venue = synthetic_venue(settings)
    result = run_data_phase(settings, venue=venue)
    import json

    cands = json.loads((result["run_dir"] / "candidates.json").read_text())["candidates"]
    assert cands and all(c["rating"] > 0.1 for c in cands)
    snap = {r[C.SYMBOL]: r["recommend_all"] for r in venue.ratings_snapshot(None).iter_rows(named=True)}
    assert all(c["rating"] == snap[c["symbol"]] for c in cands)
    ratings = [c["rating"] for c in cands]
    assert ratings == sorted(ratings, reverse=True)


@pytest.mark.parametrize(
    ("value", "category"),
    [
        (-1.0, "Strong Sell"),
        (-0.5, "Sell"),
        (-0.5000001, "Strong Sell"),
        (-0.1, "Neutral"),
        (0.1, "Neutral"),
        (0.1000001, "Buy"),
        (0.5, "Buy"),
        (0.5000001, "Strong Buy"),
        (None, None),
    ],
)
def test_category_thresholds_match_the_spec_and_the_kernel(value, category):
    from kernels.ratings import rating_category

    got = pl.DataFrame({"recommend_all": [value]}, schema={"recommend_all": pl.Float64}).select(rating_category_expr())[
        0, 0
    ]
    assert got == category
    kernel = rating_category(np.array([np.nan if value is None else value]))[0]
    assert kernel == category


def test_a_large_backfill_in_chunks_gives_the_same_rows(tmp_path, monkeypatch):
    """Symbols are rated in chunks (memory); crypto (24/7) and equities (sessions) mixed give the same rows."""
    root = tmp_path / "data"
    run_data_phase(make_settings(root, "profile=equities_trend", "data.history_days=300"))
    run_data_phase(make_settings(root, "data.history_days=300"))
    lh = Lakehouse(root)
    symbols = sorted(features.read(lh)[C.SYMBOL].unique().to_list())
    bars = {s: lh.read("synthetic", "1d", s).select(C.TS, C.HIGH, C.LOW, C.CLOSE, C.VOLUME) for s in symbols}
    since = dict.fromkeys(symbols)
    monkeypatch.setattr(features, "COMPUTE_CHUNK", len(symbols) + 1)
    whole = features._compute(bars, since, "synthetic").sort(C.SYMBOL, C.TS)
    monkeypatch.setattr(features, "COMPUTE_CHUNK", 7)
    chunked = features._compute(bars, since, "synthetic").sort(C.SYMBOL, C.TS)
    assert len(symbols) > 50 and whole.height > 10_000
    assert chunked.equals(whole)

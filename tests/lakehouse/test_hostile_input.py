"""Hostile input: bad bars are typed errors naming the input, corrupt files are moved aside, nothing stored is lost."""

from __future__ import annotations

import polars as pl
import pytest

from dataflows import columns as C
from dataflows.errors import BadPayload
from dataflows.lakehouse.audit import Candidate, audit_symbol
from dataflows.lakehouse.calendar import DAY_MS
from dataflows.lakehouse.repair import Repairer, RepairPolicy
from dataflows.lakehouse.store import Lakehouse
from dataflows.lakehouse.validate import validate_bars
from tests.conftest import make_settings, synthetic_venue

T0 = 1_767_225_600_000  # 2026-01-01


def bars(n: int = 5, **cols) -> pl.DataFrame:
    base = {
        C.TS: [T0 + i * DAY_MS for i in range(n)],
        C.OPEN: [10.0] * n,
        C.HIGH: [11.0] * n,
        C.LOW: [9.0] * n,
        C.CLOSE: [10.5] * n,
        C.VOLUME: [100.0] * n,
    }
    base.update(cols)
    return pl.DataFrame(base).with_columns(pl.col(C.TS).cast(pl.Datetime("ms", "UTC")))


@pytest.mark.parametrize(
    ("cols", "fragment"),
    [
        ({C.CLOSE: [10.5, float("nan"), 10.5, 10.5, 10.5]}, "non-finite price"),
        ({C.CLOSE: [10.5, float("inf"), 10.5, 10.5, 10.5]}, "non-finite price"),
        ({C.OPEN: [10.0, 0.0, 10.0, 10.0, 10.0]}, "non-positive price"),
        ({C.LOW: [9.0, -1.0, 9.0, 9.0, 9.0]}, "non-positive price"),
        ({C.HIGH: [11.0, 8.0, 11.0, 11.0, 11.0]}, "high below"),
        ({C.LOW: [9.0, 10.6, 9.0, 9.0, 9.0]}, "low above"),
        ({C.VOLUME: [1.0, -5.0, 1.0, 1.0, 1.0]}, "bad volume"),
        ({C.TS: [T0, T0, T0 + 2 * DAY_MS, T0 + 3 * DAY_MS, T0 + 4 * DAY_MS]}, "duplicate timestamp"),
        ({C.TS: [T0 + DAY_MS, T0, T0 + 2 * DAY_MS, T0 + 3 * DAY_MS, T0 + 4 * DAY_MS]}, "unsorted"),
        ({C.TS: [(T0 + i * DAY_MS) // 1000 for i in range(5)]}, "seconds read as milliseconds"),
        ({C.TS: [T0 + i * DAY_MS + 3_600_000 for i in range(5)]}, "off the bar grid"),
    ],
)
def test_bad_bars_are_bad_payload_naming_the_source(cols, fragment):
    with pytest.raises(BadPayload, match=fragment) as info:
        validate_bars(bars(**cols), source="venue/XYZ/USDT", bar_ms=DAY_MS)
    assert "venue/XYZ/USDT" in str(info.value)


def test_missing_columns_and_future_bars():
    with pytest.raises(BadPayload, match="lack columns"):
        validate_bars(bars().drop(C.VOLUME), source="s", bar_ms=DAY_MS)
    with pytest.raises(BadPayload, match="future"):
        validate_bars(bars(), source="s", bar_ms=DAY_MS, max_ts_ms=T0 + 2 * DAY_MS)


class _BadVenue:
    """Wraps the synthetic venue and corrupts one symbol's bars."""

    def __init__(self, inner, symbol):
        self.inner, self.symbol = inner, symbol
        self.name, self.page_limit, self.rate_limit_per_sec = inner.name, inner.page_limit, None

    def markets(self):
        return self.inner.markets()

    def tickers(self):
        return self.inner.tickers()

    def ohlcv(self, symbol, timeframe, since_ms, limit):
        page = self.inner.ohlcv(symbol, timeframe, since_ms, limit)
        if symbol == self.symbol and page.height > 3:
            page = page.with_columns(
                pl.when(pl.int_range(pl.len()) == 3).then(-1.0).otherwise(pl.col(C.LOW)).alias(C.LOW)
            )
        return page


def test_bad_venue_payload_stores_nothing_and_ends_unrepairable(tmp_path):
    settings = make_settings(tmp_path / "data")
    venue = _BadVenue(synthetic_venue(settings), "ETH/USDT")
    lh = Lakehouse(settings.data_root)
    rep = Repairer(lh, venue, RepairPolicy(history_days=60, progress=False, retry_wait_s=0.01), settings.as_of_ms)
    report = rep.run([Candidate("ETH/USDT", "crypto"), Candidate("BTC/USDT", "crypto")])
    after = {a.symbol: a for a in report.after}
    assert after["BTC/USDT"].status == "FRESH"
    assert after["ETH/USDT"].status == "UNREPAIRABLE"
    assert "bad_payload" in after["ETH/USDT"].reason and "non-positive price" in after["ETH/USDT"].reason
    assert lh.read("synthetic", "1d", "ETH/USDT") is None
    assert report.rounds == 3  # bounded


@pytest.mark.parametrize("damage", ["truncate", "garbage", "wrong_schema"])
def test_corrupt_lakehouse_file_is_moved_aside_and_refetched(tmp_path, damage):
    settings = make_settings(tmp_path / "data")
    lh = Lakehouse(settings.data_root)
    venue = synthetic_venue(settings)
    policy = RepairPolicy(history_days=60, progress=False)
    cand = Candidate("BTC/USDT", "crypto")
    Repairer(lh, venue, policy, settings.as_of_ms).run([cand])
    path = lh.ohlcv_path("synthetic", "1d", "BTC/USDT")
    good = pl.read_parquet(path)
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "garbage":
        path.write_bytes(b"not a parquet file at all")
    else:
        good.rename({C.CLOSE: "Close"}).write_parquet(path)
    audit = audit_symbol(lh, "synthetic", "1d", cand, as_of_ms=settings.as_of_ms, history_days=60)
    assert audit.status == "MISSING" and "moved to corrupt" in audit.evidence["reconciled"]
    kept = list((lh.root / "corrupt").rglob("*"))
    assert any(p.is_file() for p in kept), "the damaged file is kept for inspection"
    report = Repairer(lh, venue, policy, settings.as_of_ms).run([cand])
    assert report.after[0].status == "FRESH"
    assert lh.read("synthetic", "1d", "BTC/USDT").equals(good)


def test_merge_never_loses_stored_bars(tmp_path):
    lh = Lakehouse(tmp_path)
    lh.merge_write("v", "1d", "A/B", bars(5))
    changed = bars(5, **{C.CLOSE: [10.9] * 5})  # a "revised" refetch of the same bars plus none new
    res = lh.merge_write("v", "1d", "A/B", changed)
    assert res.added == 0 and res.conflicts == 5
    assert lh.read("v", "1d", "A/B").equals(bars(5))
    more = bars(8).tail(3)
    res = lh.merge_write("v", "1d", "A/B", more)
    assert res.added == 3 and lh.read("v", "1d", "A/B").equals(bars(8))
    row = lh.registry.series("v", "A/B", "1d")
    assert row.rows == 8 and row.content_hash is not None

"""Trading calendars: real exchange sessions (XNYS: holidays, early closes, DST, unscheduled closures), the synthetic
world's weekdays and crypto's 24/7, all answering the same questions with vectorised/bisect lookups."""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import polars as pl
import pytest

from dataflows import columns as C
from dataflows.errors import ConfigError
from dataflows.lakehouse.calendar import DAY_MS, HOUR_MS, WEEKDAYS, calendar_for


def ms(iso: str) -> int:
    """ISO date or datetime (UTC) → epoch ms."""
    return int(dt.datetime.fromisoformat(iso).replace(tzinfo=dt.UTC).timestamp() * 1000)


def days(cal, start: str, end: str) -> list[str]:
    return [dt.datetime.fromtimestamp(t / 1000, dt.UTC).date().isoformat() for t in cal.expected(ms(start), ms(end))]


@pytest.fixture(scope="module")
def xnys():
    return calendar_for(C.EQUITY, "1d")


def test_equities_default_to_xnys_built_once(xnys):
    assert xnys.name == "XNYS" and xnys.sessions
    assert calendar_for(C.EQUITY, "1d", "XNYS") is xnys  # one build per name, cached
    assert calendar_for(C.CRYPTO, "1d", "XNYS").name == "24/7"  # crypto ignores the equity calendar


def test_xnys_2012_has_250_sessions_and_its_holidays_are_not_expected(xnys):
    sessions = days(xnys, "2012-01-01", "2012-12-31")
    assert len(sessions) == 250  # 261 weekdays minus 9 holidays minus Hurricane Sandy's 2 closures
    assert len(days(calendar_for(C.EQUITY, "1d", WEEKDAYS), "2012-01-01", "2012-12-31")) == 261
    holidays = {"2012-01-02", "2012-01-16", "2012-02-20", "2012-04-06", "2012-05-28", "2012-07-04", "2012-09-03"}
    holidays |= {"2012-11-22", "2012-12-25", "2012-10-29", "2012-10-30"}
    assert holidays.isdisjoint(sessions)
    assert not xnys.is_trading(ms("2012-11-22")) and xnys.is_trading(ms("2012-11-23"))


def test_thanksgiving_2012_early_close_completes_the_bar_at_18_utc(xnys):
    assert days(xnys, "2012-11-19", "2012-11-26") == [
        "2012-11-19",
        "2012-11-20",
        "2012-11-21",
        "2012-11-23",
        "2012-11-26",
    ]
    friday = ms("2012-11-23")
    assert xnys.completes_at(friday) == ms("2012-11-23T18:00")  # 13:00 New York
    assert xnys.last_completed(ms("2012-11-23T17:59")) == ms("2012-11-21")  # Thursday was a holiday
    assert xnys.last_completed(ms("2012-11-23T18:00")) == friday
    assert xnys.step(ms("2012-11-21"), 1) == friday and xnys.step(friday, -1) == ms("2012-11-21")


def test_hurricane_sandy_closures_are_not_sessions(xnys):
    assert days(xnys, "2012-10-25", "2012-11-01") == ["2012-10-25", "2012-10-26", "2012-10-31", "2012-11-01"]
    assert xnys.step(ms("2012-10-26"), 1) == ms("2012-10-31")
    assert xnys.step(ms("2012-10-31"), -1) == ms("2012-10-26")
    assert xnys.step(ms("2012-10-29"), 1) == ms("2012-10-31")  # from a closed day too
    assert xnys.last_completed(ms("2012-10-30T23:00")) == ms("2012-10-26")


def test_dst_moves_the_close_from_21_to_20_utc(xnys):
    friday, monday = ms("2012-03-09"), ms("2012-03-12")  # US clocks went forward on 2012-03-11
    assert xnys.completes_at(friday) == friday + 21 * HOUR_MS
    assert xnys.completes_at(monday) == monday + 20 * HOUR_MS
    assert xnys.last_completed(ms("2012-03-12T20:00")) == monday
    assert xnys.last_completed(ms("2012-03-12T19:59")) == friday
    assert xnys.last_completed(ms("2012-03-09T20:30")) == ms("2012-03-08")  # winter: not yet closed at 20:30


def test_weekdays_calendar_is_the_synthetic_world():
    cal = calendar_for(C.EQUITY, "1d", WEEKDAYS)
    grid = np.arange(ms("2000-01-01"), ms("2030-01-01"), DAY_MS, dtype=np.int64)
    weekday = (grid // DAY_MS + 3) % 7 < 5
    np.testing.assert_array_equal(cal.is_trading(grid), weekday)
    np.testing.assert_array_equal(cal.expected(int(grid[0]), int(grid[-1])), grid[weekday])
    assert cal.is_trading(ms("2012-11-22"))  # no holidays in that world
    assert cal.completes_at(ms("2012-11-23")) == ms("2012-11-23T21:00")
    assert cal.last_completed(ms("2012-11-24T12:00")) == ms("2012-11-23")


@pytest.mark.parametrize(
    ("asset_class", "timeframe", "name"),
    [(C.CRYPTO, "1d", None), (C.CRYPTO, "4h", None), (C.EQUITY, "1d", WEEKDAYS), (C.EQUITY, "1d", "XNYS")],
)
def test_step_and_is_trading_agree_with_the_expected_bars(asset_class, timeframe, name):
    cal = calendar_for(asset_class, timeframe, name)
    lo, hi = ms("2011-06-01"), ms("2013-06-01")
    bars = cal.expected(lo, hi)
    probes = np.random.default_rng(1).integers(lo + 30 * DAY_MS, hi - 30 * DAY_MS, 300)
    probes = np.concatenate([probes, bars[100:130]])
    trading = np.isin(probes, bars)
    np.testing.assert_array_equal(cal.is_trading(probes), trading)
    for ts, on in zip(probes.tolist(), trading.tolist(), strict=True):
        i = int(np.searchsorted(bars, ts, side="right"))
        assert cal.step(ts, 1) == bars[i] and cal.step(ts, 3) == bars[i + 2]
        j = int(np.searchsorted(bars, ts, side="left")) - 1
        assert cal.step(ts, -1) == bars[j] and cal.step(ts, -2) == bars[j - 1]
        assert cal.is_trading(ts) is on


def test_lookups_are_fast(xnys):
    bars = xnys.expected(ms("1990-01-01"), ms("2025-12-31"))
    t0 = time.perf_counter()
    for ts in bars[:20_000:2].tolist():
        xnys.step(ts, 1)
    xnys.is_trading(bars)
    xnys.completes_at(bars)
    assert time.perf_counter() - t0 < 2.0  # bisect lookups: ~10 µs each, not a walk over days


def test_unknown_calendar_and_dates_outside_the_loaded_range_are_config_errors(xnys):
    with pytest.raises(ConfigError, match=r"venue\.calendar"):
        calendar_for(C.EQUITY, "1d", "NOT-AN-EXCHANGE")
    with pytest.raises(ConfigError, match="XNYS is loaded for 1970"):
        xnys.expected(ms("1960-01-01"), ms("1961-01-01"))
    with pytest.raises(ConfigError, match="1d timeframe only"):
        calendar_for(C.EQUITY, "4h", "XNYS")


def test_the_equity_calendar_comes_from_the_venue_then_venue_calendar_then_xnys(tmp_path):
    from types import SimpleNamespace

    from dataflows.nodes.audit import audit_candidates, equity_calendar
    from dataflows.venues.synthetic import SyntheticVenue
    from tests.conftest import make_settings

    files = ("venue=files", f"venue.path={tmp_path}")
    default, xlon = make_settings(tmp_path / "d", *files), make_settings(tmp_path / "d", *files, "venue.calendar=XLON")
    plain = SimpleNamespace(name="files-x")  # a venue without a calendar of its own
    assert equity_calendar(plain, default.venue) == "XNYS"
    assert equity_calendar(plain, xlon.venue) == "XLON"
    assert SyntheticVenue.equity_calendar == WEEKDAYS  # the synthetic world keeps its weekday sessions
    assert equity_calendar(SimpleNamespace(equity_calendar=WEEKDAYS), xlon.venue) == WEEKDAYS

    cands = pl.DataFrame(
        {C.SYMBOL: ["BTC/USDT", "ACME"], C.ASSET_CLASS: [C.CRYPTO, C.EQUITY], C.LISTED_AT: [None, None]}
    )
    assert [c.calendar for c in audit_candidates(cands, "XLON")] == [None, "XLON"]
    xlon_cal = calendar_for(C.EQUITY, "1d", "XLON")
    assert not xlon_cal.is_trading(ms("2012-08-27")) and xlon_cal.is_trading(ms("2012-11-22"))  # UK bank holiday

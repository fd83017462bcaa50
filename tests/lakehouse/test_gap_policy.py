"""The gap policy: a confirmed interior venue gap of at most `data.max_gap_bars` expected bars is accepted (FRESH, in
the evidence, spanned by returns), a longer one is UNREPAIRABLE naming the key; a source that ends before `as_of`
says so first. Unit cases on a hand-made lakehouse, then the real Bitstamp and US equities files end to end."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from dataflows import columns as C
from dataflows.errors import HealthGateError
from dataflows.lakehouse.audit import FRESH, GAPPED, UNREPAIRABLE, Candidate, SymbolAudit, audit_symbol
from dataflows.lakehouse.calendar import WEEKDAYS, calendar_for
from dataflows.lakehouse.registry import CONFIRM_AFTER
from dataflows.lakehouse.store import Lakehouse
from dataflows.returns import build_returns
from tests.conftest import make_settings, run_data_phase

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real"
FILES = ("venue=files", "scanner=files_liquid_long")


def ms(iso: str) -> int:
    return int(dt.datetime.fromisoformat(iso).replace(tzinfo=dt.UTC).timestamp() * 1000)


def write(lh: Lakehouse, symbol: str, ts: np.ndarray, close: np.ndarray | None = None) -> None:
    close = np.linspace(100.0, 200.0, ts.size) if close is None else close
    frame = pl.DataFrame(
        {
            C.TS: pl.Series(ts).cast(pl.Datetime("ms")).dt.replace_time_zone("UTC"),
            C.OPEN: close,
            C.HIGH: close,
            C.LOW: close,
            C.CLOSE: close,
            C.VOLUME: np.ones(ts.size),
        }
    )
    lh.merge_write("v", "1d", symbol, frame.cast(C.ohlcv_schema()))


def hole(lh: Lakehouse, symbol: str, start: int, end: int, kind: str = "gap", attempts: int = CONFIRM_AFTER) -> None:
    for _ in range(attempts):
        lh.registry.add_hole("v", symbol, "1d", start, end, kind)


def audit(lh: Lakehouse, cand: Candidate, as_of: str, days: int = 365, max_gap_bars: int = 14) -> SymbolAudit:
    """Audit at the instant `as_of` (an ISO date here is its 00:00 UTC: the previous day's bar is the last one)."""
    return audit_symbol(lh, "v", "1d", cand, as_of_ms=ms(as_of), history_days=days, max_gap_bars=max_gap_bars)


# --- unit cases ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bars", [14, 15])
def test_confirmed_24_7_gap_up_to_max_gap_bars_is_accepted(tmp_path, bars):
    lh = Lakehouse(tmp_path)
    grid = calendar_for(C.CRYPTO, "1d").expected(ms("2020-01-01"), ms("2020-12-31"))
    gap = grid[100 : 100 + bars]
    write(lh, "BTC", np.setdiff1d(grid, gap))
    hole(lh, "BTC", int(gap[0]), int(gap[-1]))
    a = audit(lh, Candidate("BTC", C.CRYPTO), "2021-01-01", days=366)
    if bars <= 14:
        assert a.status == FRESH and a.reason.startswith("complete but for accepted venue gap(s) 2020-04-10..")
        assert a.evidence["accepted_gaps"] == [
            {"kind": "venue_gap", "start": "2020-04-10T00:00:00Z", "end": "2020-04-23T00:00:00Z", "bars": 14}
        ]
    else:
        assert a.status == UNREPAIRABLE
        assert a.reason == (
            "the venue has no bars in 2020-04-10..2020-04-24 (15 consecutive bars, more than data.max_gap_bars=14)"
        )
        assert "accepted_gaps" not in a.evidence


def test_unconfirmed_gap_is_fetched_not_accepted(tmp_path):
    lh = Lakehouse(tmp_path)
    grid = calendar_for(C.CRYPTO, "1d").expected(ms("2020-01-01"), ms("2020-12-31"))
    write(lh, "BTC", np.delete(grid, [50, 51]))
    hole(lh, "BTC", int(grid[50]), int(grid[51]), attempts=1)  # asked once: could be one incomplete page
    a = audit(lh, Candidate("BTC", C.CRYPTO), "2021-01-01", days=366)
    assert a.status == GAPPED and [(r.kind, r.bars) for r in a.ranges] == [("gap", 2)]


def test_holidays_are_not_gaps_on_xnys_and_sessions_across_them_are_consecutive(tmp_path):
    lh = Lakehouse(tmp_path)
    sessions = calendar_for(C.EQUITY, "1d").expected(ms("2012-01-01"), ms("2012-12-31"))
    assert sessions.size == 250
    write(lh, "SPX", sessions)
    xnys = Candidate("SPX", C.EQUITY, calendar="XNYS")
    a = audit(lh, xnys, "2013-01-01", days=366)
    assert (a.status, a.reason) == (FRESH, "complete") and "venue_confirmed_missing" not in a.evidence
    # on plain weekdays the 11 holidays/closures would look like missing bars to fetch
    weekdays = audit(lh, Candidate("SPX", C.EQUITY, calendar=WEEKDAYS), "2013-01-01", days=366)
    assert weekdays.status == GAPPED and sum(r.bars for r in weekdays.ranges) == 11

    # Wednesday and Friday around Thanksgiving missing: one gap of 2 consecutive sessions
    lh2 = Lakehouse(tmp_path / "b")
    wed, fri = ms("2012-11-21"), ms("2012-11-23")
    write(lh2, "SPX", np.setdiff1d(sessions, [wed, fri]))
    hole(lh2, "SPX", wed, fri)
    a = audit(lh2, xnys, "2013-01-01", days=366)
    assert a.status == FRESH
    assert a.evidence["accepted_gaps"] == [
        {"kind": "venue_gap", "start": "2012-11-21T00:00:00Z", "end": "2012-11-23T00:00:00Z", "bars": 2}
    ]
    strict = audit(lh2, xnys, "2013-01-01", days=366, max_gap_bars=1)
    assert strict.status == UNREPAIRABLE and "(2 consecutive bars, more than data.max_gap_bars=1)" in strict.reason


def test_no_newer_data_leads_the_reason(tmp_path):
    lh = Lakehouse(tmp_path)
    cal = calendar_for(C.CRYPTO, "1d")
    grid = cal.expected(ms("2019-01-01"), ms("2020-01-17"))
    gap = grid[100:120]  # 20 bars: longer than the default 14
    write(lh, "BTC", np.setdiff1d(grid, gap))
    hole(lh, "BTC", int(gap[0]), int(gap[-1]))
    hole(lh, "BTC", ms("2020-01-18"), ms("2020-06-30"), kind="tail")
    a = audit(lh, Candidate("BTC", C.CRYPTO), "2020-07-01", days=500)
    assert a.status == UNREPAIRABLE
    newest, gap_reason = a.reason.split("; ")
    assert newest == (
        "the venue has no bars after 2020-01-17 (165 bars up to the last completed bar 2020-06-30 are missing): "
        "set run.as_of to 2020-01-17 or earlier, or update the source"
    )
    assert "20 consecutive bars, more than data.max_gap_bars=14" in gap_reason


def test_health_gate_leads_with_the_data_ending_before_as_of(tmp_path):
    from dataflows.nodes.health import healthy_symbols

    def failing(symbol: str, after: str) -> SymbolAudit:
        p = {"kind": "no_newer_data", "bars": 9, "after": after, "as_of": after, "last_completed": "2020-06-30"}
        return SymbolAudit(symbol, C.CRYPTO, UNREPAIRABLE, UNREPAIRABLE, "...", (), {"venue_confirmed_missing": [p]})

    ok = SymbolAudit("OK", C.CRYPTO, FRESH, FRESH, "complete")
    other = SymbolAudit("GAP", C.CRYPTO, UNREPAIRABLE, UNREPAIRABLE, "the venue has no bars in ...")
    audits = [ok, other, failing("A", "2020-01-17"), failing("B", "2020-01-17"), failing("C", "2020-01-10")]
    settings = make_settings(tmp_path)
    with pytest.raises(HealthGateError) as err:
        healthy_symbols(audits, {"path": str(tmp_path / "audit.json")}, settings.health)
    assert str(err.value).startswith(
        "health gate failed for 4 symbol(s): the venue has no bars after 2020-01-17 for A, B; after 2020-01-10 for "
        "C: set run.as_of to 2020-01-10 or earlier, or update the source (details in "
    )
    with pytest.raises(HealthGateError) as err:
        healthy_symbols([ok, other], {"path": str(tmp_path / "audit.json")}, settings.health)
    assert str(err.value).startswith("health gate failed for 1 symbol(s) (details in ")


def test_returns_span_an_accepted_gap(tmp_path):
    lh = Lakehouse(tmp_path)
    grid = calendar_for(C.CRYPTO, "1d").expected(ms("2020-01-01"), ms("2020-03-31"))
    close = 100.0 * 1.01 ** np.arange(grid.size)
    keep = np.ones(grid.size, dtype=bool)
    keep[40:45] = False
    write(lh, "BTC", grid[keep], close[keep])
    panel = build_returns(lh, "v", "1d", ["BTC"], {"BTC": C.CRYPTO}, end_ms=int(grid[-1]), days=80)
    r = dict(zip(panel.dates.tolist(), panel.returns[:, 0].tolist(), strict=True))
    assert not set(grid[40:45].tolist()) & set(r)  # no row is invented for the gap (no zero-filled price)
    assert r[int(grid[45])] == pytest.approx(close[45] / close[39] - 1)  # measured from the last close before it
    assert r[int(grid[46])] == pytest.approx(0.01)


# --- real data end to end ------------------------------------------------------------------------------------


def _bitstamp(tmp_path: Path, *overrides: str):
    return make_settings(
        tmp_path / "data", *FILES, f"venue.path={REAL / 'crypto_bitstamp'}", "run.as_of=2020-01-17", *overrides
    )


def _audit_json(settings) -> dict:
    (path,) = (settings.data_root / "runs").glob("*/audit.json")
    return json.loads(path.read_text())


BITSTAMP = ["BTCUSD", "ETHUSD", "LTCUSD"]
HOLE = {"kind": "venue_gap", "start": "2019-03-20T00:00:00Z", "end": "2019-03-31T00:00:00Z", "bars": 12}


def test_bitstamp_real_12_day_hole_is_accepted_and_spanned_by_returns(tmp_path):
    settings = _bitstamp(tmp_path)
    assert settings.data.history_days == 730 and settings.data.max_gap_bars == 14
    result = run_data_phase(settings)
    assert sorted(result["healthy_symbols"]) == BITSTAMP
    for a in result["audit_after"]:
        assert a.status == FRESH and a.evidence["accepted_gaps"] == [HOLE]
        assert "2019-03-20..2019-03-31 (12 bars)" in a.reason
    assert all(a["evidence"]["accepted_gaps"] == [HOLE] for a in _audit_json(settings)["after"])

    lh = Lakehouse(settings.data_root)
    venue = settings.venue_name
    panel = build_returns(lh, venue, "1d", ["BTCUSD"], {"BTCUSD": C.CRYPTO}, end_ms=ms("2020-01-17"), days=365)
    close = dict(zip(*lh.read(venue, "1d", "BTCUSD").select(pl.col(C.TS).dt.epoch("ms"), C.CLOSE), strict=True))
    returns = dict(zip(panel.dates.tolist(), panel.returns[:, 0].tolist(), strict=True))
    assert ms("2019-03-25") not in returns
    assert returns[ms("2019-04-01")] == pytest.approx(close[ms("2019-04-01")] / close[ms("2019-03-19")] - 1)


def test_bitstamp_hole_longer_than_max_gap_bars_fails_naming_the_key(tmp_path):
    settings = _bitstamp(tmp_path, "data.max_gap_bars=5")
    with pytest.raises(HealthGateError, match=r"12 consecutive bars, more than data\.max_gap_bars=5"):
        run_data_phase(settings)
    after = _audit_json(settings)["after"]
    assert [a["status"] for a in after] == [UNREPAIRABLE] * 3
    assert all(a["reason"].startswith("the venue has no bars in 2019-03-20..2019-03-31 (12 consecutive") for a in after)


def test_as_of_beyond_the_bitstamp_data_names_the_missing_newest_bars_first(tmp_path):
    settings = _bitstamp(tmp_path, "run.as_of=2020-06-30", "data.max_gap_bars=5")
    with pytest.raises(HealthGateError) as err:
        run_data_phase(settings)
    assert str(err.value).startswith(
        "health gate failed for 3 symbol(s): the venue has no bars after 2020-01-17 for BTCUSD, ETHUSD, LTCUSD: "
        "set run.as_of to 2020-01-17 or earlier, or update the source"
    )
    for a in _audit_json(settings)["after"]:
        assert a["status"] == UNREPAIRABLE
        newest, gap = a["reason"].split("; ")
        assert newest == (
            "the venue has no bars after 2020-01-17 (165 bars up to the last completed bar 2020-06-30 are missing): "
            "set run.as_of to 2020-01-17 or earlier, or update the source"
        )
        assert gap.startswith("the venue has no bars in 2019-03-20..2019-03-31")


def _equities(tmp_path: Path, symbols: tuple[str, ...], drop: str | None = None) -> Path:
    folder = tmp_path / "equities"
    folder.mkdir()
    for s in symbols:
        shutil.copy(REAL / "equities_us" / f"{s}.csv", folder)
    if drop:  # delete one session row from the copy
        path = folder / f"{symbols[0]}.csv"
        path.write_text("".join(line for line in path.read_text().splitlines(True) if not line.startswith(drop)))
    return folder


def test_real_us_equities_match_xnys_session_for_session(tmp_path):
    """2003-01-02..2018-12-31: 4027 sessions (holidays, Sandy, the mourning closures of 2004, 2007 and 2018 are
    not expected), every one of them in each file: FRESH with no confirmed gap at all."""
    folder = _equities(tmp_path, ("SPX", "IXIC", "AMZN", "NVDA"))
    settings = make_settings(
        tmp_path / "data",
        *FILES,
        f"venue.path={folder}",
        "venue.asset_class=equity",
        "run.as_of=2018-12-31",
        "data.history_days=5843",
    )
    result = run_data_phase(settings, outputs=("audit_file", "healthy_symbols"))
    assert sorted(result["healthy_symbols"]) == ["AMZN", "IXIC", "NVDA", "SPX"]
    for a in result["audit_after"]:
        assert (a.status, a.reason, a.evidence["rows"]) == (FRESH, "complete", 4027)
        assert "venue_confirmed_missing" not in a.evidence
    assert not [x for x in result["repair_report"].actions if x.pass_name != "missing"]  # one fetch, nothing more


def test_a_missing_session_in_a_real_equities_file_is_a_gap(tmp_path):
    folder = _equities(tmp_path, ("SPX",), drop="2012-07-05")
    args = (*FILES, f"venue.path={folder}", "venue.asset_class=equity", "run.as_of=2012-12-31")
    settings = make_settings(tmp_path / "data", *args, "data.history_days=366")
    result = run_data_phase(settings, outputs=("audit_file", "healthy_symbols"))
    (a,) = result["audit_after"]
    assert a.status == FRESH and a.evidence["rows"] == 249
    assert a.evidence["accepted_gaps"] == [
        {"kind": "venue_gap", "start": "2012-07-05T00:00:00Z", "end": "2012-07-05T00:00:00Z", "bars": 1}
    ]
    # fetched on purpose until the venue confirmed it does not have it
    assert [x.requested[0]["kind"] for x in result["repair_report"].actions] == ["all", "gap", "gap"]

    strict = make_settings(tmp_path / "data2", *args, "data.history_days=366", "data.max_gap_bars=0")
    with pytest.raises(HealthGateError, match=r"SPX: UNREPAIRABLE \(the venue has no bars in 2012-07-05\.\.2012-07-05"):
        run_data_phase(strict, outputs=("audit_file", "healthy_symbols"))

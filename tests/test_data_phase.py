"""End to end on the synthetic venue: empty lakehouse → full data phase → health gate; idempotence; targeted repair."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest

from dataflows import columns as C
from dataflows.errors import HealthGateError
from dataflows.lakehouse.calendar import DAY_MS
from dataflows.lakehouse.store import Lakehouse
from dataflows.venues import synthetic as syn
from tests.conftest import make_settings, run_data_phase, synthetic_venue


def _statuses(result: dict) -> dict[str, str]:
    return {a.symbol: a.status for a in result["audit_after"]}


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e") / "data"
    settings = make_settings(root)
    venue = synthetic_venue(settings)
    return settings, venue, run_data_phase(settings, venue=venue)


def test_empty_lakehouse_fills_and_gate_passes(first_run):
    settings, venue, result = first_run
    report = result["repair_report"]
    assert {a.status for a in report.before} == {"MISSING"}
    statuses = _statuses(result)
    assert set(statuses.values()) <= {"FRESH", "TOXIC"}
    assert result["healthy_symbols"] == [s for s, st in statuses.items() if st == "FRESH"]
    assert len(result["healthy_symbols"]) >= 40
    lh = Lakehouse(settings.data_root)
    for symbol in result["healthy_symbols"]:
        stored = lh.read("synthetic", "1d", symbol)
        truth = venue.truth(symbol)
        start = stored[C.TS].min()
        assert stored.equals(truth.filter(pl.col(C.TS) >= start)), symbol  # stored bars == venue truth, no forming bar


def test_run_folder_contract(first_run):
    _, _, result = first_run
    run_dir = result["run_dir"]
    cands = json.loads((run_dir / "candidates.json").read_text())
    assert cands["count"] == len(cands["candidates"]) > 0
    first = cands["candidates"][0]
    assert set(first) >= {"symbol", "venue", "asset_class", "base", "quote", "direction", "logic", "atom_id"}
    audit = json.loads((run_dir / "audit.json").read_text())
    assert audit["summary"]["before"] == {"MISSING": cands["count"]}
    assert {"before", "after", "actions", "toxic_findings", "metadata_gaps"} <= set(audit)
    bases = [c["base"] for c in cands["candidates"]]
    assert len(bases) == len(set(bases)), "one atom per base per (logic, direction)"


def test_planted_defects_end_where_they_should(first_run):
    settings, _, result = first_run
    statuses = _statuses(result)
    after = {a.symbol: a for a in result["audit_after"]}
    for symbol, rule in ((syn.PUMP, "toxic_return"), (syn.FLAT, "flat_line"), (syn.SPIKE, "volume_spike")):
        assert statuses[symbol] == "TOXIC", symbol
        assert rule in after[symbol].reason
        q = after[symbol].evidence["quarantine"]
        assert q[0]["reason"] == rule and q[0]["evidence"]
    pump = json.loads(next(q for q in after[syn.PUMP].evidence["quarantine"])["evidence"])
    assert pump["at"].startswith(syn.PUMP_DATE) and pump["value"] >= 5.0
    # quarantine keeps the data: nothing deleted
    assert Lakehouse(settings.data_root).read("synthetic", "1d", syn.PUMP).height > 0
    # the transient gap was repaired by fetching only the gap, in a later round
    gappy = [a for a in result["repair_report"].actions if a.symbol == syn.GAPPY]
    assert [a.pass_name for a in gappy] == ["missing", "sync"]
    assert gappy[1].requested == [
        {"start": f"{syn.GAP_FROM}T00:00:00Z", "end": f"{syn.GAP_TO}T00:00:00Z", "kind": "gap", "bars": 5}
    ]
    assert gappy[1].added == 5 and statuses[syn.GAPPY] == "FRESH"
    # metadata: missing lot size stays missing and is reported
    meta = result["symbol_metadata"].filter(pl.col(C.SYMBOL) == syn.NOLOT)
    assert meta.height == 1 and meta[C.LOT_SIZE][0] is None
    audit = json.loads((result["run_dir"] / "audit.json").read_text())
    assert audit["metadata_gaps"][syn.NOLOT] == ["lot_size"]


def test_second_run_same_day_fetches_nothing(first_run):
    settings, _, _ = first_run
    venue = synthetic_venue(settings)
    result = run_data_phase(settings, venue=venue)
    assert venue.calls["ohlcv"] == 0
    assert result["repair_report"].actions == []
    assert set(_statuses(result).values()) <= {"FRESH", "TOXIC"}


def test_as_of_two_days_later_fetches_only_new_bars(tmp_path):
    root = tmp_path / "data"
    settings = make_settings(root)
    run_data_phase(settings, venue=synthetic_venue(settings))
    lh = Lakehouse(root)
    before = {s.symbol: s.last_ts for s in lh.registry.all_series()}
    later = make_settings(root, "run.as_of=2026-07-02")
    venue = synthetic_venue(later)
    result = run_data_phase(later, venue=venue)
    for symbol, since, _limit, rows in venue.ohlcv_requests:
        if symbol in before:  # known symbols: one request starting right after the stored last bar, 2 new bars
            assert since == before[symbol] + DAY_MS, symbol
            assert rows >= 2
    synced = [a for a in result["repair_report"].actions if a.symbol in before]
    assert synced and all(a.added == 2 and a.requested[0]["kind"] == "tail" for a in synced)


PURGED_PROBE = (
    "scanner=crypto_liquid_long",
    f"+scanner.universe.include=[{syn.PURGED},BTC/USDT]",
    "+scanner.filters.liquid=null",
)


def test_purged_history_is_unrepairable_and_fails_strict_gate(tmp_path):
    root = tmp_path / "data"
    settings = make_settings(root, *PURGED_PROBE)
    with pytest.raises(HealthGateError, match="PURGED/USDT: UNREPAIRABLE"):
        run_data_phase(settings, venue=synthetic_venue(settings))
    # bounded: the head range came back empty twice, which confirms it, and the venue's floor was recorded
    heads = [r for r in Lakehouse(root).registry.fetches() if r["symbol"] == syn.PURGED and r["kind"] == "head"]
    assert len(heads) == 2 and all(h["rows"] == 0 for h in heads)  # asked twice (a miss is confirmed), then never
    # a rerun does not ask again; with health.strict=false the symbol is excluded, not fatal
    relaxed = make_settings(root, *PURGED_PROBE, "health.strict=false")
    venue = synthetic_venue(relaxed)
    result = run_data_phase(relaxed, venue=venue)
    assert venue.calls["ohlcv"] == 0
    purged = {a.symbol: a for a in result["audit_after"]}[syn.PURGED]
    assert purged.status == "UNREPAIRABLE" and "no bars before" in purged.reason
    assert result["healthy_symbols"] == ["BTC/USDT"]


def test_injected_rate_limits_and_network_errors_are_retried(tmp_path):
    settings = make_settings(tmp_path / "data", "venue.error_rate=0.2", "data.retries=10")
    venue = synthetic_venue(settings)
    result = run_data_phase(settings, venue=venue)
    assert set(_statuses(result).values()) <= {"FRESH", "TOXIC"}


def test_equities_profile_uses_sessions(tmp_path):
    settings = make_settings(tmp_path / "data", "profile=equities_trend")
    result = run_data_phase(settings, venue=synthetic_venue(settings))
    lh = Lakehouse(settings.data_root)
    symbol = result["healthy_symbols"][0]
    days = lh.read("synthetic", "1d", symbol)[C.TS].dt.weekday()
    assert days.max() <= 5  # Monday=1 .. Friday=5: no weekend bars, and none missing
    assert set(_statuses(result).values()) <= {"FRESH", "TOXIC"}


def test_forming_bar_never_stored(tmp_path):
    # as_of in the middle of a day: that day's bar is forming and must not be stored
    settings = make_settings(tmp_path / "data", "run.as_of=2026-06-30T13:30:00")
    result = run_data_phase(settings, venue=synthetic_venue(settings))
    lh = Lakehouse(settings.data_root)
    last = lh.read("synthetic", "1d", result["healthy_symbols"][0])[C.TS].max()
    assert last == dt.datetime(2026, 6, 29, tzinfo=dt.UTC)


def test_ingestion_respects_the_venue_rate_limit(tmp_path):
    settings = make_settings(tmp_path / "data", "venue.rate_limit_per_sec=25", "data.concurrency=8")
    venue = synthetic_venue(settings, rate_limit_per_sec=25)
    result = run_data_phase(settings, venue=venue)
    assert venue.calls["ohlcv"] >= 50
    assert venue.throttled == 0  # throttled before sending, not rejected and retried
    assert set(_statuses(result).values()) <= {"FRESH", "TOXIC"}

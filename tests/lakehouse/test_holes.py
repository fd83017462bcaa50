"""Confirmed holes: only evidence no race can produce confirms a range missing, and nothing a transient venue answer
does is permanent.

- Misses of one range by two different holders (processes) never add up to a confirmation; two misses by the same
  holder, separated in time, do (the repair re-asks in its next round, under the lease it keeps).
- A confirmation (and the venue floor a confirmed head hole sets) carries a re-check date
  (`data.hole_recheck_days`); after it the range is fetched again and re-confirmed or filled.
- `data.recheck_holes=true` forgets the candidates' holes before the audit (a poisoned lakehouse heals in one run).
- A registry written before these columns existed opens, is migrated in place, and re-asks its old confirmations.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import time
from pathlib import Path

import polars as pl
import pytest

from dataflows import columns as C
from dataflows.lakehouse.audit import FRESH, GAPPED, Candidate, audit_symbol
from dataflows.lakehouse.calendar import DAY_MS
from dataflows.lakehouse.registry import CONFIRM_AFTER, Registry
from dataflows.lakehouse.repair import Repairer, RepairPolicy
from dataflows.lakehouse.store import Lakehouse
from dataflows.venues.synthetic import GAP_FROM, GAP_TO, GAPPY, PURGED, SyntheticVenue
from tests.lakehouse.conftest import AS_OF_MS, TIMEFRAME, VENUE

GAP_START, GAP_END = (
    int(dt.datetime.fromisoformat(d).replace(tzinfo=dt.UTC).timestamp()) * 1000 for d in (GAP_FROM, GAP_TO)
)
HISTORY = 200  # the window starts before GAPPY's transient gap: the gap is interior
GAPPY_CAND = Candidate(GAPPY, C.CRYPTO, None)


def venue() -> SyntheticVenue:
    """A new process's venue connection (GAPPY's first response covering the gap omits it)."""
    return SyntheticVenue(seed=0, as_of_ms=AS_OF_MS, n_crypto=22, n_equity=0)


def policy(**kw: object) -> RepairPolicy:
    opts = dict(history_days=HISTORY, concurrency=1, progress=False, retry_wait_s=0.01, reask_delay_s=0.05)
    return RepairPolicy(**(opts | kw))


def gappy_lake(root: Path) -> Lakehouse:
    """GAPPY stored whole but for its transient gap (as a run that lost it leaves it)."""
    lh = Lakehouse(root)
    truth = venue().truth(GAPPY)
    ts = truth[C.TS].dt.epoch("ms")
    lh.merge_write(VENUE, TIMEFRAME, GAPPY, truth.filter((ts < GAP_START) | (ts > GAP_END)))
    return lh


def audit(lh: Lakehouse, cand: Candidate = GAPPY_CAND, history: int = HISTORY):
    return audit_symbol(lh, VENUE, TIMEFRAME, cand, as_of_ms=AS_OF_MS, history_days=history)


def gappy_whole(lh: Lakehouse) -> bool:
    """GAPPY's stored bars are exactly the venue's (the gap filled)."""
    return lh.read(VENUE, TIMEFRAME, GAPPY).equals(venue().truth(GAPPY))


# --- the rules, on the registry ------------------------------------------------------------------------------


def test_gap_bounds():
    assert (GAP_END - GAP_START) // DAY_MS == 4
    assert venue().truth(GAPPY).filter(pl.col(C.TS).dt.epoch("ms").is_between(GAP_START, GAP_END)).height == 5


def test_misses_by_two_holders_never_confirm(tmp_path):
    lh = gappy_lake(tmp_path)
    reg = lh.registry
    for _ in range(3):
        for holder in ("host:1:1:a", "host:2:1:b"):
            assert reg.add_hole(VENUE, GAPPY, TIMEFRAME, GAP_START, GAP_END, "gap", holder=holder) == 1
    assert reg.holes(VENUE, GAPPY, TIMEFRAME) == []
    (row,) = reg.hole_rows(VENUE, GAPPY, TIMEFRAME)
    assert row["holder"] == "host:2:1:b" and row["attempts"] == 1 and row["recheck_at"] is None
    a = audit(lh)
    assert a.status == GAPPED and [(r.start, r.end) for r in a.ranges] == [(GAP_START, GAP_END)]


def test_two_misses_by_one_holder_separated_in_time_confirm(tmp_path):
    lh = gappy_lake(tmp_path)
    reg, h = lh.registry, "host:1:1:a"
    miss = dict(holder=h, recheck_s=3600.0, min_gap_s=0.2)
    assert reg.add_hole(VENUE, GAPPY, TIMEFRAME, GAP_START, GAP_END, "gap", **miss) == 1
    assert reg.add_hole(VENUE, GAPPY, TIMEFRAME, GAP_START, GAP_END, "gap", **miss) == 1  # too soon: no evidence
    assert reg.holes(VENUE, GAPPY, TIMEFRAME) == []
    time.sleep(0.2)
    assert reg.add_hole(VENUE, GAPPY, TIMEFRAME, GAP_START, GAP_END, "gap", **miss) == CONFIRM_AFTER
    assert reg.holes(VENUE, GAPPY, TIMEFRAME) == [(GAP_START, GAP_END, "gap")]
    (row,) = reg.hole_rows(VENUE, GAPPY, TIMEFRAME)
    assert row["holder"] == h and row["confirmed_at"] - row["first_at"] >= 0.2
    assert row["recheck_at"] == pytest.approx(row["confirmed_at"] + 3600.0)
    # another holder's miss neither adds to nor undoes a confirmation in force
    assert reg.add_hole(VENUE, GAPPY, TIMEFRAME, GAP_START, GAP_END, "gap", holder="host:2:1:b") == CONFIRM_AFTER
    assert reg.hole_rows(VENUE, GAPPY, TIMEFRAME)[0]["holder"] == h
    a = audit(lh)
    assert a.status == FRESH and a.evidence["accepted_gaps"][0]["bars"] == 5


# --- the rules, in the repair --------------------------------------------------------------------------------


def test_transient_misses_of_two_processes_do_not_poison(tmp_path):
    """The measured defect: two processes each got GAPPY's gap omitted once (each one's first response) and the two
    misses added up to a confirmation, forever. Now neither confirms, and the next run fills the gap."""
    lh = gappy_lake(tmp_path)
    for _ in range(2):  # two processes, one round each: each one's only gap fetch is its first response
        report = Repairer(lh, venue(), policy(max_rounds=1), AS_OF_MS).run([GAPPY_CAND])
        assert report.after[0].data_status != FRESH
    assert lh.registry.holes(VENUE, GAPPY, TIMEFRAME) == []
    assert len({r["holder"] for r in lh.registry.fetches(VENUE)}) == 2
    report = Repairer(lh, venue(), policy(), AS_OF_MS).run([GAPPY_CAND])
    assert report.after[0].status == FRESH and report.after[0].reason == "complete"
    assert gappy_whole(lh)
    assert lh.registry.hole_rows(VENUE, GAPPY, TIMEFRAME) == []  # the delivered miss is dropped


def test_a_real_hole_is_confirmed_by_one_holder_in_two_rounds(tmp_path):
    """PURGED has no bars before 2025-06-01: the head is missed in round 2, re-asked by the same holder in round 3
    no sooner than `reask_delay_s` later, and confirmed with the venue floor, both until the re-check date."""
    lh = Lakehouse(tmp_path)
    cand = Candidate(PURGED, C.CRYPTO, None)
    t0 = time.time()
    report = Repairer(lh, venue(), policy(history_days=400, reask_delay_s=0.3), AS_OF_MS).run([cand])
    assert report.after[0].status == "UNREPAIRABLE" and "lower data.history_days" in report.after[0].reason
    head = [f for f in lh.registry.fetches(VENUE) if f["kind"] == "head"]
    assert [(f["reask"], f["rows"]) for f in head] == [(0, 0), (1, 0)]
    assert head[0]["holder"] == head[1]["holder"] and head[1]["at"] - head[0]["at"] >= 0.3
    (row,) = lh.registry.hole_rows(VENUE, PURGED, TIMEFRAME)
    assert row["holder"] == head[0]["holder"] and row["attempts"] == CONFIRM_AFTER
    assert row["recheck_at"] == pytest.approx(row["confirmed_at"] + 7 * 86400.0)
    series = lh.registry.series(VENUE, PURGED, TIMEFRAME)
    assert series.floor_ts == series.first_ts and series.floor_recheck_at == row["recheck_at"]
    assert series.active_floor() == series.first_ts and series.active_floor(row["recheck_at"]) is None
    # the next run asks nothing (confirmed), within the re-check period
    again = venue()
    Repairer(lh, again, policy(history_days=400), AS_OF_MS).run([cand])
    assert again.ohlcv_requests == [] and time.time() - t0 < 30


def test_a_confirmed_hole_past_its_recheck_date_is_fetched_again(tmp_path):
    """A (wrongly) confirmed gap stops being fetched while in force; after its re-check date the audit asks for it
    again and the venue fills it. A real hole past its date is re-confirmed with a new date."""
    lh = gappy_lake(tmp_path)
    h = "host:1:1:a"
    recheck_s = 0.3
    for _ in range(CONFIRM_AFTER):
        lh.registry.add_hole(VENUE, GAPPY, TIMEFRAME, GAP_START, GAP_END, "gap", holder=h, recheck_s=recheck_s)
    v = venue()
    v.ohlcv(GAPPY, TIMEFRAME, GAP_START, 10)  # spend this connection's transient omission
    report = Repairer(lh, v, policy(), AS_OF_MS).run([GAPPY_CAND])
    assert report.actions == [] and report.after[0].evidence["accepted_gaps"]  # in force: not asked
    time.sleep(recheck_s)
    assert audit(lh).status == GAPPED  # due: unconfirmed again
    report = Repairer(lh, v, policy(), AS_OF_MS).run([GAPPY_CAND])
    assert report.after[0].reason == "complete" and gappy_whole(lh)
    assert lh.registry.hole_rows(VENUE, GAPPY, TIMEFRAME) == []

    purged = Candidate(PURGED, C.CRYPTO, None)
    p = policy(history_days=400, hole_recheck_days=0.3 / 86400)
    Repairer(lh, venue(), p, AS_OF_MS).run([purged])
    first = lh.registry.hole_rows(VENUE, PURGED, TIMEFRAME)[0]
    time.sleep(0.3)
    assert audit(lh, purged, 400).status == GAPPED  # hole and floor both due
    Repairer(lh, venue(), policy(history_days=400), AS_OF_MS).run([purged])
    (row,) = lh.registry.hole_rows(VENUE, PURGED, TIMEFRAME)
    assert row["recheck_at"] > first["recheck_at"] + 86400 and row["holder"] != first["holder"]
    assert audit(lh, purged, 400).status == "UNREPAIRABLE"


def test_recheck_holes_forgets_the_candidates_holes_before_the_audit(tmp_path):
    """A lakehouse poisoned by the old rule (gap confirmed for a week) heals in one run with data.recheck_holes."""
    from dataflows.nodes.audit import audit_before, repair_policy
    from tests.conftest import make_settings

    settings = make_settings(tmp_path / "cfg", "data.recheck_holes=true", "data.hole_recheck_days=2.5")
    mapped = repair_policy(settings.data)
    assert (mapped.recheck_holes, mapped.hole_recheck_days) == (True, 2.5)
    lh = gappy_lake(tmp_path)
    for _ in range(CONFIRM_AFTER):
        lh.registry.add_hole(VENUE, GAPPY, TIMEFRAME, GAP_START, GAP_END, "gap", holder="h")
    other = Candidate("BTC/USDT", C.CRYPTO, None)
    lh.registry.add_hole(VENUE, "BTC/USDT", TIMEFRAME, GAP_START, GAP_END, "gap", holder="h")
    plain = Repairer(lh, venue(), policy(), AS_OF_MS)
    assert audit_before(plain, [GAPPY_CAND], {})[0].status == FRESH  # the poisoned gap is "accepted"
    repairer = Repairer(lh, venue(), policy(recheck_holes=True), AS_OF_MS)
    before = audit_before(repairer, [GAPPY_CAND], {})
    assert before[0].status == GAPPED
    assert lh.registry.hole_rows(VENUE, GAPPY, TIMEFRAME) == []
    assert len(lh.registry.hole_rows(VENUE, "BTC/USDT", TIMEFRAME)) == 1  # not a candidate: kept
    report = repairer.run([GAPPY_CAND], before=before)
    assert report.after[0].reason == "complete" and gappy_whole(lh)
    assert other.symbol not in {a.symbol for a in report.actions}


# --- migration -----------------------------------------------------------------------------------------------

OLD_SCHEMA = """
CREATE TABLE series (
    venue TEXT NOT NULL, symbol TEXT NOT NULL, timeframe TEXT NOT NULL,
    first_ts INTEGER, last_ts INTEGER, rows INTEGER NOT NULL DEFAULT 0, content_hash TEXT,
    floor_ts INTEGER, last_fetch_at REAL, last_outcome TEXT, failures INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (venue, symbol, timeframe)
);
CREATE TABLE holes (
    venue TEXT NOT NULL, symbol TEXT NOT NULL, timeframe TEXT NOT NULL,
    start_ts INTEGER NOT NULL, end_ts INTEGER NOT NULL, kind TEXT NOT NULL, confirmed_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (venue, symbol, timeframe, start_ts, end_ts)
);
CREATE TABLE leases (
    venue TEXT NOT NULL, symbol TEXT NOT NULL, timeframe TEXT NOT NULL,
    holder TEXT NOT NULL, expires_at REAL NOT NULL,
    PRIMARY KEY (venue, symbol, timeframe)
);
CREATE TABLE fetches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    venue TEXT NOT NULL, symbol TEXT NOT NULL, timeframe TEXT NOT NULL,
    start_ts INTEGER NOT NULL, end_ts INTEGER NOT NULL, kind TEXT NOT NULL,
    rows INTEGER NOT NULL, outcome TEXT NOT NULL, holder TEXT NOT NULL, at REAL NOT NULL, detail TEXT
);
"""


def old_registry(root: Path) -> Path:
    """GAPPY without its gap, recorded by the previous release: the gap confirmed by two (racing) misses, a floor."""
    lh = gappy_lake(root)
    row = lh.registry.series(VENUE, GAPPY, TIMEFRAME)
    lh.registry.close()
    path = root / "lakehouse" / "registry.sqlite"
    path.unlink()
    for extra in ("-wal", "-shm"):
        Path(f"{path}{extra}").unlink(missing_ok=True)
    db = sqlite3.connect(path)
    db.executescript(OLD_SCHEMA)
    db.execute(
        "INSERT INTO series VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, 0)",
        (VENUE, GAPPY, TIMEFRAME, row.first_ts, row.last_ts, row.rows, row.content_hash, row.first_ts),
    )
    db.execute(
        "INSERT INTO holes VALUES (?, ?, ?, ?, ?, 'gap', ?, 2)", (VENUE, GAPPY, TIMEFRAME, GAP_START, GAP_END, 1.0)
    )
    db.execute("INSERT INTO fetches VALUES (1, ?, ?, ?, 0, 1, 'all', 10, 'ok', 'old', 1.0, NULL)", (VENUE, GAPPY, "1d"))
    db.commit()
    db.close()
    return path


def old_lakehouse(root: Path) -> Lakehouse:
    old_registry(root)
    return Lakehouse(root)


def test_an_old_registry_is_migrated_in_place_and_reasks_its_confirmations(tmp_path):
    lh = old_lakehouse(tmp_path)
    cols = {r[1] for r in sqlite3.connect(lh.registry.path).execute("PRAGMA table_info(holes)")}
    assert {"holder", "first_at", "recheck_at"} <= cols
    (row,) = lh.registry.hole_rows(VENUE, GAPPY, TIMEFRAME)
    assert (row["attempts"], row["holder"], row["recheck_at"]) == (2, "", None)
    assert lh.registry.holes(VENUE, GAPPY, TIMEFRAME) == []  # racy old evidence: not in force
    series = lh.registry.series(VENUE, GAPPY, TIMEFRAME)
    assert series.floor_ts is not None and series.active_floor() is None
    assert lh.registry.fetches(VENUE)[0]["reask"] == 0
    assert audit(lh).status == GAPPED
    report = Repairer(lh, venue(), policy(), AS_OF_MS).run([GAPPY_CAND])
    assert report.after[0].reason == "complete" and gappy_whole(lh)


def test_an_old_registry_opened_by_several_holders_at_once(tmp_path):
    path = old_registry(tmp_path)
    errors: list[BaseException] = []
    gate = threading.Barrier(4)

    def open_it() -> None:
        try:
            gate.wait(timeout=30)
            Registry(path).close()
        except BaseException as exc:  # re-raised in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    cols = {r[1] for r in sqlite3.connect(path).execute("PRAGMA table_info(fetches)")}
    assert "reask" in cols

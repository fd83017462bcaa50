"""Crash safety: an ingest process SIGKILLed at random points never tears a file, never loses a committed bar,
never leaves the registry claiming more than the files hold, and a rerun converges to the uninterrupted result.

A campaign: one uninterrupted reference run (which also calibrates the kill delays), then episodes on fresh data
roots. In an episode the worker is started and SIGKILLed after a random delay, again and again on the same data
root (kills accumulate: each restart begins from the previous crash's state), until a worker happens to finish
before its kill; a last rerun then completes the episode and the lakehouse must equal the reference. Delays are
stratified over [0, 1.1 × the reference runtime], so kills land during interpreter start-up and imports, in the
first fetches, between a file rename and its registry update, in later head/tail merges, and near the end.

After every kill (the crashed state itself is never modified by the checks; registry inspection and `reconcile`
run on a copy):
- every file under `ohlcv/` is either a readable Parquet file with the canonical schema, sorted unique timestamps
  and a key that decodes to a requested symbol, or a hidden `.tmp` file of an interrupted write (never `*.parquet`);
  nothing was moved to `corrupt/`;
- no bar is lost: each file holds every bar it held after the previous kill, with identical values, and every bar
  is one the uninterrupted run stores (nothing invented, nothing forming);
- the registry never claims more than the file: a series row with a content hash either matches the file's sha256
  and its (first, last, rows), or — the crash window between rename and registry update — the file holds strictly
  more bars spanning the claimed range; every successful fetch in the fetch log has its bars in the file;
- `reconcile` (on the copy) then makes the registry agree with every file exactly, with no file moved aside.
"""

from __future__ import annotations

import contextlib
import random
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pytest

from dataflows import columns as C
from dataflows.lakehouse.store import Lakehouse
from tests.lakehouse.conftest import (
    MORE_SYMBOLS,
    SYMBOLS,
    TIMEFRAME,
    VENUE,
    LakeState,
    Workers,
    assert_contains,
    frames_equal,
    lake_state,
    scratch_copy,
    ts_ms,
)

STARTUP_SHARE = 0.25  # of the kills aimed at interpreter start-up and imports
# Each symbol is written ~5 times per uninterrupted run: the first fetch, then a head and a tail merge in each of
# the two later stages. A short lease so a restarted worker does not wait long for its killed predecessor's leases.
WORKER_OPTS = dict(stages=3, stage_step_days=30, history_days=400, page_limit=100, concurrency=2, lease_s=0.5)


@dataclass
class Stats:
    kills: int = 0
    episodes: int = 0
    completed_before_kill: int = 0  # workers that finished before their kill (each ends an episode)
    max_kills_per_episode: int = 0
    kills_before_lakehouse: int = 0  # the kill landed before the worker created the lakehouse (start-up, imports)
    kills_after_progress: int = 0  # the killed worker had logged at least one fetch (it was ingesting)
    kills_with_partial_data: int = 0  # some but not all of the reference bars stored
    kills_with_temp_files: int = 0  # the kill interrupted a write before its rename (left a new temp file)
    kills_with_registry_behind: int = 0  # the kill landed between a file rename and its registry update
    reference_s: float = 0.0
    check_s: float = 0.0  # time spent checking crashed states
    phases: dict[str, int] = field(default_factory=dict)  # the last phase the killed worker reached
    delays: list[float] = field(default_factory=list)


def stratified_delays(rng: random.Random, horizon_s: float, batch: int) -> Iterator[float]:
    """Delays spread evenly over [0, horizon_s] in shuffled batches (each batch covers every stratum once)."""
    while True:
        batch_delays = [(i + rng.random()) / batch * horizon_s for i in range(batch)]
        rng.shuffle(batch_delays)
        yield from batch_delays


def read_trace(path: Path) -> dict[str, float]:
    """Phases a worker reached (ready, stage0.., done) and when, in seconds since its module started."""
    if not path.exists():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        t, _, event = line.partition(" ")
        out[event] = float(t)
    return out


def check_registry(state: LakeState) -> int:
    """The registry never claims more than the files hold; returns how many series it is behind on."""
    behind = 0
    for symbol, row in state.series.items():
        frame = state.frames.get(symbol)
        if row["content_hash"] is None:
            assert row["rows"] == 0 and row["first_ts"] is None, (symbol, row)
            behind += frame is not None  # first write renamed, registry not yet updated
            continue
        assert frame is not None, f"registry describes {symbol} ({row['rows']} rows) but there is no file"
        ts = ts_ms(frame)
        first, last = int(ts.min()), int(ts.max())
        if row["content_hash"] == state.hashes[symbol]:
            assert (row["first_ts"], row["last_ts"], row["rows"]) == (first, last, frame.height), (symbol, row)
        else:  # crash between the file's rename and the registry update: the file holds more, never less
            assert first <= row["first_ts"] and last >= row["last_ts"] and frame.height > row["rows"], (
                f"registry row of {symbol} {row} claims bars the file ({first}..{last}, {frame.height}) lacks"
            )
            behind += 1
    behind += sum(1 for s in state.frames if s not in state.series)
    for f in state.fetches:  # a fetch logged as stored has its bars on disk
        if f["outcome"] == "ok" and f["rows"] > 0:
            frame = state.frames.get(f["symbol"])
            assert frame is not None, f"fetch log says {f} was stored, but there is no file"
            ts = ts_ms(frame)
            held = int(((ts >= f["start_ts"]) & (ts <= f["end_ts"])).sum())
            assert held >= f["rows"], f"fetch log says {f} was stored, the file holds {held} bars of that range"
    return behind


def check_reconcile(data_root: Path, scratch: Path, symbols: tuple[str, ...], state: LakeState) -> None:
    """On a copy of the crashed lakehouse, `reconcile` makes the registry agree with every file exactly."""
    lh = Lakehouse(scratch_copy(data_root, scratch))
    try:
        for symbol in symbols:
            row, note = lh.reconcile(VENUE, TIMEFRAME, symbol)
            assert note is None or "unreadable" not in note, note
            frame = state.frames.get(symbol)
            if frame is None:
                assert row is None or (row.content_hash is None and row.rows == 0), (symbol, row)
                continue
            ts = ts_ms(frame)
            assert row is not None
            assert (row.content_hash, row.first_ts, row.last_ts, row.rows) == (
                state.hashes[symbol],
                int(ts.min()),
                int(ts.max()),
                frame.height,
            ), (symbol, row, note)
        assert not (lh.root / "corrupt").exists()
    finally:
        lh.registry.close()


def check_crashed_state(
    data_root: Path, scratch: Path, symbols: tuple[str, ...], prev: LakeState | None, ref: LakeState
) -> tuple[LakeState, int]:
    state = lake_state(data_root, symbols)  # asserts every data file is readable and canonical
    assert not (data_root / "lakehouse" / "corrupt").exists(), "a file was found unreadable and moved aside"
    if prev is not None:
        for symbol, frame in prev.frames.items():
            assert symbol in state.frames, f"{symbol}'s file disappeared"
            assert_contains(state.frames[symbol], frame, f"{symbol} after a kill")
        assert len(state.fetches) >= len(prev.fetches)
    for symbol, frame in state.frames.items():
        assert_contains(ref.frames[symbol], frame, f"{symbol} against the uninterrupted run")
    behind = check_registry(state)
    check_reconcile(data_root, scratch, symbols, state)
    return state, behind


def assert_same_lakehouse(state: LakeState, ref: LakeState) -> None:
    """A completed lakehouse equals the uninterrupted one: identical frames, registry rows and confirmed holes."""
    differ = frames_equal(state.frames, ref.frames)
    assert not differ, f"frames differ from the uninterrupted run: {differ}"

    def summary(s: LakeState) -> dict:
        return {k: (r["first_ts"], r["last_ts"], r["rows"], r["floor_ts"]) for k, r in s.series.items()}

    assert summary(state) == summary(ref)
    for symbol, row in state.series.items():
        assert row["content_hash"] == state.hashes.get(symbol), f"registry out of sync for {symbol} after a rerun"
    assert state.holes == ref.holes


def crash_campaign(
    tmp_path: Path, workers: Workers, *, kills: int, seed: int, symbols: tuple[str, ...], **opts: object
) -> Stats:
    opts = WORKER_OPTS | opts
    stats = Stats()
    ref_root = tmp_path / "reference"
    t0 = time.perf_counter()
    traces = tmp_path / "traces"
    traces.mkdir()
    ref_summary = workers.run(ref_root, symbols, trace=traces / "reference", **opts)
    stats.reference_s = time.perf_counter() - t0
    ref_trace = read_trace(traces / "reference")
    ref = lake_state(ref_root, symbols)
    assert set(ref.frames) >= set(symbols) - {"GONE/USDT"}, sorted(ref.frames)
    total_bars = ref.bars()

    # A worker's runtime: start-up (interpreter, imports, setup), then ingestion, which shrinks as the data root
    # fills. A quarter of the kills land in start-up, the rest over [0, 1.15) of the ingestion expected for the
    # current root (stratified, so both ends are always covered: the first fetch and the last merges).
    t_work = ref_summary["total_s"] - ref_trace["ready"]
    t_startup = max(stats.reference_s - t_work, 0.05)
    fractions = stratified_delays(random.Random(seed), 1.0, batch=min(kills, 20))

    def next_delay(remaining: float) -> float:
        u = next(fractions)
        if u < STARTUP_SHARE:
            return u / STARTUP_SHARE * t_startup
        return t_startup + (u - STARTUP_SHARE) / (1 - STARTUP_SHARE) * 1.15 * t_work * max(remaining, 0.15)

    scratch = tmp_path / "scratch"
    while stats.kills < kills:
        root = tmp_path / f"episode{stats.episodes}"
        stats.episodes += 1
        prev: LakeState | None = None
        in_episode, completed = 0, False
        while stats.kills < kills:
            remaining = 1.0 if prev is None else 1.0 - prev.bars() / total_bars
            delay = next_delay(remaining)
            trace = traces / f"run{len(workers.procs)}"
            proc = workers.start(root, symbols, trace=trace, **opts)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=delay)
            rc = workers.kill(proc)
            if rc == 0:  # finished before the kill: this run was the rerun to completion
                stats.completed_before_kill += 1
                completed = True
                break
            assert rc == -9, f"worker died on its own with {rc}:\n{workers.stderr(proc)}"
            stats.kills += 1
            in_episode += 1
            stats.delays.append(round(delay, 3))
            phase = max(read_trace(trace).items(), key=lambda kv: kv[1], default=("startup", 0.0))[0]
            stats.phases[phase] = stats.phases.get(phase, 0) + 1
            stats.kills_before_lakehouse += not (root / "lakehouse").exists()
            before, t_check = prev, time.perf_counter()
            prev, behind = check_crashed_state(root, scratch, symbols, prev, ref)
            stats.check_s += time.perf_counter() - t_check
            progressed = len(prev.fetches) > (0 if before is None else len(before.fetches))
            stats.kills_after_progress += progressed
            stats.kills_with_registry_behind += behind > 0
            stats.kills_with_temp_files += len(prev.temps) > (0 if before is None else len(before.temps))
            stats.kills_with_partial_data += 0 < prev.bars() < total_bars
        stats.max_kills_per_episode = max(stats.max_kills_per_episode, in_episode)
        if not completed:
            workers.run(root, symbols, **opts)  # rerun to completion
        state, _ = check_crashed_state(root, scratch, symbols, prev, ref)
        assert_same_lakehouse(state, ref)
    print(stats)
    return stats


def test_sigkill_at_random_points_20_times(tmp_path, workers):
    stats = crash_campaign(tmp_path, workers, kills=20, seed=20260630, symbols=SYMBOLS)
    assert stats.kills >= 20
    # The kills must have exercised the interesting windows (not all at start-up or after the end).
    assert stats.kills_with_partial_data >= 3, stats


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_sigkill_at_random_points_100_times(tmp_path, workers):
    stats = crash_campaign(tmp_path, workers, kills=100, seed=7, symbols=SYMBOLS + MORE_SYMBOLS[:4])
    assert stats.kills >= 100
    assert stats.kills_with_partial_data >= 20, stats
    assert stats.kills_with_registry_behind + stats.kills_with_temp_files >= 1, stats


def test_registry_behind_file_is_reconciled(tmp_path):
    """The exact crash window between the rename and the registry update, produced deterministically: the next
    audit re-records from the file (nothing lost, nothing refetched)."""
    from dataflows.lakehouse import atomic
    from dataflows.lakehouse.audit import FRESH, Candidate, audit_symbol
    from dataflows.venues.synthetic import SyntheticVenue
    from tests.lakehouse.conftest import AS_OF_MS

    venue = SyntheticVenue(seed=0, as_of_ms=AS_OF_MS, n_crypto=22, n_equity=0, defects=False)
    truth = venue.truth("BTC/USDT")
    lh = Lakehouse(tmp_path / "data")
    old, new = truth.head(truth.height - 10), truth
    lh.merge_write(VENUE, TIMEFRAME, "BTC/USDT", old.filter(pl.col(C.TS) >= old[C.TS][-300]))
    before = lh.registry.series(VENUE, "BTC/USDT", TIMEFRAME)
    # The crash: the merged file is renamed into place, the process dies before `record_file`.
    atomic.write_parquet(lh.ohlcv_path(VENUE, TIMEFRAME, "BTC/USDT"), new.filter(pl.col(C.TS) >= old[C.TS][-300]))
    assert lh.registry.series(VENUE, "BTC/USDT", TIMEFRAME) == before
    cand = Candidate("BTC/USDT", C.CRYPTO, None)
    audit = audit_symbol(lh, VENUE, TIMEFRAME, cand, as_of_ms=AS_OF_MS, history_days=300)
    assert audit.status == FRESH
    assert "interrupted write" in audit.evidence["reconciled"]
    row = lh.registry.series(VENUE, "BTC/USDT", TIMEFRAME)
    assert row.rows == 310 and row.last_ts == int(ts_ms(truth).max())
    lh.registry.close()


def test_restart_between_rounds_converges_with_transient_gap(tmp_path):
    """The planted GAPPY defect: the first response of a venue connection that covers 2026-02-01..05 omits those
    bars; later responses have them. Uninterrupted, round 2 fetches the gap and the series is FRESH. Killed after
    round 1 (emulated by `max_rounds=1`) and rerun in a new process (a new venue connection), the rerun must
    converge to the same lakehouse."""
    from dataflows.lakehouse.audit import Candidate
    from dataflows.lakehouse.repair import Repairer, RepairPolicy
    from dataflows.venues.synthetic import GAPPY, SyntheticVenue
    from tests.lakehouse.conftest import AS_OF_MS

    def policy(rounds: int) -> RepairPolicy:
        return RepairPolicy(history_days=400, max_rounds=rounds, concurrency=1, progress=False, retry_wait_s=0.01)

    def venue() -> SyntheticVenue:  # a new process's venue connection
        return SyntheticVenue(seed=0, as_of_ms=AS_OF_MS, n_crypto=22, n_equity=0, page_limit=100)

    cand = Candidate(GAPPY, C.CRYPTO, None)
    uninterrupted = Lakehouse(tmp_path / "uninterrupted")
    report = Repairer(uninterrupted, venue(), policy(3), AS_OF_MS).run([cand])
    assert report.after[0].data_status == "FRESH"

    crashed = Lakehouse(tmp_path / "crashed")
    Repairer(crashed, venue(), policy(1), AS_OF_MS).run([cand])  # the process dies here, before round 2
    rerun = Repairer(crashed, venue(), policy(3), AS_OF_MS).run([cand])
    assert rerun.after[0].data_status == "FRESH", rerun.after[0].reason
    assert crashed.read(VENUE, TIMEFRAME, GAPPY).equals(uninterrupted.read(VENUE, TIMEFRAME, GAPPY))

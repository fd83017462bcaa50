"""Concurrency: two ingests of the same candidates into one lakehouse at the same moment must fetch each
(symbol, range) exactly once between them (the fetch lease: the loser waits, then re-audits and finds the work
done) and leave exactly the lakehouse a single serial run leaves.

- Two processes (the real case: two runs on one machine) released together by a barrier file after their imports,
  and two threads in one process (separate `Lakehouse` objects, registry connections and venue connections).
- The lease itself: mutual exclusion between holders with separate registry connections; a repair keeps it across
  passes and rounds and renews it while a fetch outlasts `lease_s`; a dead holder's lease on this host is taken over
  at once, another host's only when it expires; two repairs wanting each other's symbols never wait for each other.
- Deterministic reproductions of defects the end-to-end tests once ran into (regression tests; reasons below).
(The real CLI, several processes at once: `test_multiprocess.py`.)
"""

from __future__ import annotations

import collections
import itertools
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import polars as pl
import pytest

from dataflows import columns as C
from dataflows.lakehouse.audit import Candidate, SymbolAudit, audit_symbol
from dataflows.lakehouse.repair import Repairer, RepairPolicy
from dataflows.lakehouse.store import Lakehouse, file_hash
from dataflows.venues.synthetic import GAPPY, SyntheticVenue
from tests.lakehouse._fetchlog import duplicate_fetches, split_symbols
from tests.lakehouse.conftest import (
    AS_OF_MS,
    MORE_SYMBOLS,
    SYMBOLS,
    TIMEFRAME,
    VENUE,
    LakeState,
    Workers,
    frames_equal,
    lake_state,
)

CONCURRENT_SYMBOLS = SYMBOLS + MORE_SYMBOLS
OPTS = dict(stages=3, stage_step_days=30, history_days=400, page_limit=100, concurrency=2, lease_s=60)

STALE_AUDIT = (
    "repair_fetch.py Repairer._repair_one re-audits only when it had to wait for the lease; a process whose audit "
    "predates another process's completed fetch gets the (released) lease at once and refetches every range of its "
    "stale audit"
)
TORN_READ = (
    "lakehouse files are read by path (store.py _read_path, audit.py audit_symbol): polars opens the path more than "
    "once, so a read racing another process's atomic rename mixes two versions (ComputeError / Rust panic); "
    "reconcile then moves a good file to corrupt/"
)
RECONCILE_MIX = (
    "reconcile.py Lakehouse.reconcile hashes the file, reads it, then hashes it again (_describe) through separate "
    "opens; a writer's rename in between makes it record one version's (first, last, rows) under the next version's "
    "hash, overwriting the writer's correct row, and later reconciles trust the matching hash"
)
INIT_RACE = (
    "registry.py Registry._conn: two connections opening a fresh registry at once fail 'PRAGMA journal_mode=WAL' "
    "with 'database is locked' (no busy wait), reported as 'registry is unreadable'"
)


def stored_fetches(state: LakeState) -> collections.Counter:
    """(symbol, start, end, kind) of each fetch that delivered bars, with how often it was fetched."""
    return collections.Counter(
        (f["symbol"], f["start_ts"], f["end_ts"], f["kind"])
        for f in state.fetches
        if f["outcome"] == "ok" and f["rows"] and not f["reask"]
    )


def fetch_multiset(state: LakeState) -> collections.Counter:
    """Every fetch (including the ones the venue answered with nothing), without who made it or when."""
    return collections.Counter(
        (f["symbol"], f["start_ts"], f["end_ts"], f["kind"], f["rows"], f["outcome"], f["reask"]) for f in state.fetches
    )


def assert_like_serial(state: LakeState, serial: LakeState) -> None:
    differ = frames_equal(state.frames, serial.frames)
    assert not differ, f"stored frames differ from a serial run's: {differ}"

    def summary(s: LakeState) -> dict:
        return {
            k: (r["first_ts"], r["last_ts"], r["rows"], r["floor_ts"], r["content_hash"] is not None)
            for k, r in s.series.items()
        }

    assert summary(state) == summary(serial)
    for symbol, row in state.series.items():
        assert row["content_hash"] == state.hashes.get(symbol), f"registry out of sync for {symbol}"
    assert state.holes == serial.holes
    assert not state.temps
    twice = {k: n for k, n in stored_fetches(state).items() if n > 1}
    assert not twice, f"{len(twice)} ranges fetched more than once, e.g. {list(twice.items())[:3]}"
    twice = duplicate_fetches(state.fetches)
    assert not twice, f"{len(twice)} ranges asked more than once, e.g. {list(twice.items())[:3]}"
    assert fetch_multiset(state) == fetch_multiset(serial), "the fetches differ from a serial run's"


@pytest.fixture(scope="module")
def serial_state(tmp_path_factory) -> LakeState:
    """One uninterrupted, single-process ingest of the same candidates."""
    base = tmp_path_factory.mktemp("serial")
    (base / "logs").mkdir()
    w = Workers(base / "logs")
    try:
        w.run(base / "data", CONCURRENT_SYMBOLS, **OPTS)
    finally:
        w.close()
    state = lake_state(base / "data", CONCURRENT_SYMBOLS)
    assert not [k for k, n in stored_fetches(state).items() if n > 1], "a serial run fetched a range twice"
    return state


def release_together(tmp_path: Path, ready: list[Path], alive) -> Path:
    """Wait until every participant touched its ready file, then create the barrier file they wait for."""
    barrier = tmp_path / "go"
    deadline = time.monotonic() + 60
    while not all(r.exists() for r in ready):
        alive()
        assert time.monotonic() < deadline, "participants did not get ready"
        time.sleep(0.002)
    barrier.touch()
    return barrier


# --- the lease -----------------------------------------------------------------------------------------------


def test_lease_is_mutually_exclusive(tmp_path):
    """Four holders with their own `Lakehouse` (own SQLite connections) hammer one series' lease; an unprotected
    read-modify-write of a counter inside it must never lose an update, and critical sections never overlap."""
    root = tmp_path / "data"
    Lakehouse(root).registry.close()  # a fresh registry is created once (see test_fresh_registry_opened_at_once)
    counter = tmp_path / "counter"
    counter.write_text("0")
    spans: list[tuple[float, float, str]] = []
    errors: list[BaseException] = []
    gate = threading.Barrier(4)

    def contend() -> None:
        try:
            lh = Lakehouse(root)
            gate.wait(timeout=30)
            for _ in range(15):
                with lh.lease(VENUE, TIMEFRAME, "BTC/USDT", lease_s=30, wait_s=60) as (holder, _):
                    t0 = time.monotonic()
                    n = int(counter.read_text())
                    time.sleep(0.002)
                    counter.write_text(str(n + 1))
                    spans.append((t0, time.monotonic(), holder))
            lh.registry.close()
        except BaseException as exc:  # re-raised in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=contend) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert int(counter.read_text()) == 60
    spans.sort()
    for (_, end, a), (start, _, b) in itertools.pairwise(spans):
        assert end <= start, f"leases of {a} and {b} overlapped"
    lh = Lakehouse(root)
    assert lh.registry.lease_holder(VENUE, "BTC/USDT", TIMEFRAME) is None  # every holder released it
    lh.registry.close()


GAPPY_CAND = Candidate(GAPPY, C.CRYPTO, None)


def _venue(**kw: object) -> SyntheticVenue:
    return SyntheticVenue(seed=0, as_of_ms=AS_OF_MS, n_crypto=22, n_equity=0, **kw)


def _policy(**kw: object) -> RepairPolicy:
    opts = dict(history_days=200, concurrency=1, progress=False, retry_wait_s=0.01, reask_delay_s=0.05, lease_s=30)
    return RepairPolicy(**(opts | kw))


class SlowVenue(SyntheticVenue):
    """A venue whose candle calls take `delay_s` (a slow exchange)."""

    def __init__(self, delay_s: float, **kw: object) -> None:
        super().__init__(seed=0, as_of_ms=AS_OF_MS, n_crypto=22, n_equity=0, **kw)
        self.delay_s = delay_s

    def ohlcv(self, symbol: str, timeframe: str, since_ms: int, limit: int) -> pl.DataFrame:
        time.sleep(self.delay_s)
        return super().ohlcv(symbol, timeframe, since_ms, limit)


def test_lease_is_kept_across_passes_and_rounds(tmp_path):
    """GAPPY takes two rounds (the whole series, then its transient gap). The measured defect: the lease covered
    one pass, so another process took the symbol between rounds and fetched the gap too. Between the rounds of one
    repair no other holder can take it now; afterwards it is free."""
    lh, other = Lakehouse(tmp_path), Lakehouse(tmp_path)
    free_between: list[bool] = []

    class Watched(Repairer):
        def audit_all(self, cands: list[Candidate], quarantine: dict) -> list[SymbolAudit]:
            out = super().audit_all(cands, quarantine)
            took = other.registry.try_lease(VENUE, GAPPY, TIMEFRAME, "intruder", 30)
            if took:
                other.registry.release(VENUE, GAPPY, TIMEFRAME, "intruder")
            free_between.append(took)
            return out

    report = Watched(lh, _venue(), _policy(), AS_OF_MS).run([GAPPY_CAND])
    assert [a.pass_name for a in report.actions] == ["missing", "sync"] and report.after[0].reason == "complete"
    assert free_between == [True, False, False]  # before the repair; after round 1; after round 2 (still held)
    assert lh.registry.lease_holder(VENUE, GAPPY, TIMEFRAME) is None
    assert len({f["holder"] for f in lh.registry.fetches(VENUE)}) == 1


def test_lease_is_renewed_while_a_fetch_outlasts_lease_s(tmp_path):
    """`lease_s` is the expiry if the holder dies; a live holder renews it, so a slow fetch keeps it."""
    lh, other = Lakehouse(tmp_path), Lakehouse(tmp_path)
    stop, stolen, seen = threading.Event(), [], []

    def intrude() -> None:
        while not stop.is_set():
            row = other.registry.lease_holder(VENUE, "BTC/USDT", TIMEFRAME)
            if row is not None:
                seen.append(row[0])
                if other.registry.try_lease(VENUE, "BTC/USDT", TIMEFRAME, "intruder", 30):
                    stolen.append(time.monotonic())
                    other.registry.release(VENUE, "BTC/USDT", TIMEFRAME, "intruder")
            time.sleep(0.02)
        other.registry.close()

    released: list[float] = []  # when the repair let the lease go: taking it after that is no steal
    release = lh.registry.release

    def recorded_release(*args: object) -> None:
        release(*args)
        released.append(time.monotonic())

    lh.registry.release = recorded_release  # type: ignore[method-assign]
    t = threading.Thread(target=intrude)
    t.start()
    try:
        # a fetch 3x longer than the lease; the heartbeat (every lease_s / 4) may be late by up to 0.75 s under load
        report = Repairer(lh, SlowVenue(3.0), _policy(lease_s=1.0), AS_OF_MS).run([Candidate("BTC/USDT", C.CRYPTO)])
    finally:
        stop.set()
        t.join(timeout=30)
    assert report.after[0].reason == "complete" and released
    during = [at for at in stolen if at < released[0]]
    assert seen and not during, f"another holder took the lease {len(during)} times during a 3 s fetch"


def test_a_released_lease_stays_released_while_the_heartbeat_beats(tmp_path):
    """The heartbeat renews only leases that are still ours: it never re-creates one just released."""
    from dataflows.lakehouse.repair import Leases

    lh = Lakehouse(tmp_path)
    leases = Leases(lh, VENUE, TIMEFRAME, lease_s=0.04)  # beats every 10 ms
    try:
        for _ in range(30):
            assert leases.take("BTC/USDT") and leases.take("ETH/USDT")
            time.sleep(0.012)
            leases.release("BTC/USDT")
            time.sleep(0.012)
            assert lh.registry.lease_holder(VENUE, "BTC/USDT", TIMEFRAME) is None
            assert lh.registry.lease_holder(VENUE, "ETH/USDT", TIMEFRAME)[0] == leases.holder
    finally:
        leases.close()
    assert lh.registry.lease_holder(VENUE, "ETH/USDT", TIMEFRAME) is None


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_dead_holders_lease_on_this_host_is_taken_over_at_once(tmp_path):
    lh = Lakehouse(tmp_path)
    dead = f"{socket.gethostname()}:{_dead_pid()}:1:crashed"
    assert lh.registry.try_lease(VENUE, GAPPY, TIMEFRAME, dead, 3600)
    t0 = time.monotonic()
    report = Repairer(lh, _venue(), _policy(lease_wait_s=60), AS_OF_MS).run([GAPPY_CAND])
    assert time.monotonic() - t0 < 10 and report.after[0].reason == "complete"
    assert [a.outcome for a in report.actions] == ["ok", "ok"]


def test_another_hosts_lease_is_waited_for_until_it_expires(tmp_path):
    """A holder on another host cannot be checked for life: its lease counts until `lease_s` expires it. The
    loser waits (bounded by `lease_wait_s`), then repairs; if it would wait longer, the symbol ends naming the key."""
    lh = Lakehouse(tmp_path)
    assert lh.registry.try_lease(VENUE, GAPPY, TIMEFRAME, "elsewhere.example:1:1:x", 1.0)
    t0 = time.monotonic()
    report = Repairer(lh, _venue(), _policy(lease_wait_s=30), AS_OF_MS).run([GAPPY_CAND])
    assert time.monotonic() - t0 >= 0.8 and report.after[0].reason == "complete"

    lh2 = Lakehouse(tmp_path / "b")
    assert lh2.registry.try_lease(VENUE, GAPPY, TIMEFRAME, "elsewhere.example:1:1:x", 3600)
    venue = _venue()
    report = Repairer(lh2, venue, _policy(lease_wait_s=0.3), AS_OF_MS).run([GAPPY_CAND])
    assert report.after[0].status == "UNREPAIRABLE" and "data.lease_wait_s" in report.after[0].reason
    assert "elsewhere.example" in report.after[0].reason and venue.ohlcv_requests == []


def test_two_repairs_wanting_each_others_symbols_do_not_wait_for_each_other(tmp_path):
    """A keeps its leases across rounds, so a repair that *waited* for a lease while holding others could wait for
    one that waits for it. Repairs never wait while holding a lease: each does what it can take, then waits."""
    root = tmp_path / "data"
    Lakehouse(root).registry.close()
    symbols = ["BTC/USDT", "ETH/USDT", GAPPY, "SOL/USDT"]
    orders = [symbols, symbols[::-1]]
    gate, errors, reports = threading.Barrier(2), [], []

    def repair(order: list[str]) -> None:
        try:
            lh = Lakehouse(root)
            venue = SlowVenue(0.1)
            cands = _candidates(venue, tuple(order))
            cands.sort(key=lambda c: order.index(c.symbol))
            gate.wait(timeout=30)
            reports.append(Repairer(lh, venue, _policy(lease_wait_s=60), AS_OF_MS).run(cands))
            lh.registry.close()
        except BaseException as exc:  # re-raised in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=repair, args=(o,)) for o in orders]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert time.monotonic() - t0 < 30
    for report in reports:
        assert {a.data_status for a in report.after} == {"FRESH"}
    fetches = Lakehouse(root).registry.fetches(VENUE)
    assert not duplicate_fetches(fetches) and not split_symbols(fetches)


# --- two ingests at once -------------------------------------------------------------------------------------


def test_two_processes_ingest_like_a_serial_run(tmp_path, workers, serial_state):
    root = tmp_path / "data"
    ready = [tmp_path / f"ready{i}" for i in range(2)]
    barrier = tmp_path / "go"
    procs = [workers.start(root, CONCURRENT_SYMBOLS, ready=r, barrier=barrier, **OPTS) for r in ready]

    def alive() -> None:
        for p in procs:
            assert p.poll() is None, f"worker exited early with {p.returncode}:\n{workers.stderr(p)}"

    release_together(tmp_path, ready, alive)
    for p in procs:
        workers.finish(p)
    state = lake_state(root, CONCURRENT_SYMBOLS)
    assert_like_serial(state, serial_state)


def test_two_threads_ingest_like_a_serial_run(tmp_path, serial_state):
    from tests.lakehouse import _ingest_worker

    root = tmp_path / "data"
    Lakehouse(root).registry.close()  # created up front: this variant is about the fetches, not registry creation
    ready = [tmp_path / f"ready{i}" for i in range(2)]
    barrier = tmp_path / "go"
    errors: list[BaseException] = []

    def ingest(ready_file: Path) -> None:
        argv = _ingest_worker_argv(root, ready_file, barrier)
        try:
            _ingest_worker.main(argv)
        except BaseException as exc:  # re-raised in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=ingest, args=(r,)) for r in ready]
    for t in threads:
        t.start()

    def alive() -> None:
        assert not errors, errors

    try:
        release_together(tmp_path, ready, alive)
    finally:
        barrier.touch()
        for t in threads:
            t.join(timeout=120)
    assert not errors, errors
    assert_like_serial(lake_state(root, CONCURRENT_SYMBOLS), serial_state)


def _ingest_worker_argv(root: Path, ready: Path, barrier: Path) -> list[str]:
    return Workers.command(root, CONCURRENT_SYMBOLS, ready=ready, barrier=barrier, **OPTS)[2:]


# --- deterministic reproductions -----------------------------------------------------------------------------


def _candidates(venue: SyntheticVenue, symbols: tuple[str, ...]) -> list[Candidate]:
    markets = venue.markets().filter(pl.col(C.SYMBOL).is_in(symbols))
    return [
        Candidate(r[C.SYMBOL], r[C.ASSET_CLASS], int(r[C.LISTED_AT].timestamp() * 1000))
        for r in markets.iter_rows(named=True)
    ]


def test_repair_does_not_refetch_what_another_process_just_stored(tmp_path):
    """Process B audits (everything MISSING), process A then ingests everything and releases its leases, then B
    runs its fetch pass. The data phase does exactly this: `audit_before` is a separate DAG node, and within
    `Repairer.run` the audit of the round precedes every fetch. B must find the work done (done_by_other)."""
    root = tmp_path / "data"
    symbols = ("BTC/USDT", "ETH/USDT", "ACME")
    policy = RepairPolicy(history_days=200, concurrency=2, progress=False, retry_wait_s=0.01, lease_s=30)
    venue_a, venue_b = (SyntheticVenue(seed=0, as_of_ms=AS_OF_MS, n_crypto=22, n_equity=5) for _ in range(2))
    lh_a, lh_b = Lakehouse(root), Lakehouse(root)
    cands = _candidates(venue_b, symbols)
    repairer_b = Repairer(lh_b, venue_b, policy, AS_OF_MS)
    before_b = repairer_b.audit_all(cands, {})
    assert {a.status for a in before_b} == {"MISSING"}
    Repairer(lh_a, venue_a, policy, AS_OF_MS).run(cands)
    report_b = repairer_b.run(cands, before=before_b)
    assert {a.outcome for a in report_b.actions} == {"done_by_other"}
    assert venue_b.ohlcv_requests == []


def test_reading_while_another_holder_writes(tmp_path):
    """A writer merges new bars under the lease (as a fetch does) while another `Lakehouse` reads, reconciles and
    audits the same series (as a concurrent run's audit does, without the lease). Every read must see a whole
    file, and nothing may be moved to corrupt/."""
    root = tmp_path / "data"
    truth = SyntheticVenue(seed=0, as_of_ms=AS_OF_MS, n_crypto=22, n_equity=0, defects=False).truth("BTC/USDT")
    writer_lh, reader_lh = Lakehouse(root), Lakehouse(root)
    writer_lh.merge_write(VENUE, TIMEFRAME, "BTC/USDT", truth.head(10))
    stop, errors = threading.Event(), []

    def write() -> None:
        try:
            for n in range(11, truth.height + 1):
                if stop.is_set():
                    break
                with writer_lh.lease(VENUE, TIMEFRAME, "BTC/USDT", lease_s=30, wait_s=30):
                    writer_lh.merge_write(VENUE, TIMEFRAME, "BTC/USDT", truth.slice(n - 1, 1))
        except BaseException as exc:  # re-raised in the test thread
            errors.append(exc)

    cand = Candidate("BTC/USDT", C.CRYPTO, None)
    writer = threading.Thread(target=write)
    writer.start()
    failure = None
    try:
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline and writer.is_alive() and failure is None:
            try:
                frame = reader_lh.read(VENUE, TIMEFRAME, "BTC/USDT")
                assert frame is not None and frame.height >= 10
                reader_lh.reconcile(VENUE, TIMEFRAME, "BTC/USDT")
                audit_symbol(reader_lh, VENUE, TIMEFRAME, cand, as_of_ms=AS_OF_MS, history_days=30)
                if (reader_lh.root / "corrupt").exists():
                    failure = "reconcile moved the (good) file to corrupt/"
            except BaseException as exc:  # polars can raise a Rust panic (a BaseException)
                failure = f"{exc.__class__.__name__}: {str(exc)[:300]}"
    finally:
        stop.set()
        writer.join(timeout=60)
    assert not errors, errors
    assert failure is None, failure


def test_reconcile_racing_a_write_records_one_version(tmp_path, monkeypatch):
    """A concurrent run's audit reconciles a series while the lease holder is writing it. Interleaving, made
    deterministic: the holder has renamed version 2 in (registry still at 1); the reconcile reads version 2; the
    holder then writes version 3 and records it; the reconcile records. The registry must describe the file."""
    from dataflows.lakehouse import atomic

    truth = SyntheticVenue(seed=0, as_of_ms=AS_OF_MS, n_crypto=22, n_equity=0, defects=False).truth("BTC/USDT")
    root = tmp_path / "data"
    writer, reader = Lakehouse(root), Lakehouse(root)
    path = writer.ohlcv_path(VENUE, TIMEFRAME, "BTC/USDT")
    writer.merge_write(VENUE, TIMEFRAME, "BTC/USDT", truth.head(10))  # version 1, recorded
    atomic.write_parquet(path, truth.head(20))  # version 2 renamed in, its registry update not yet made
    from dataflows.lakehouse import bars

    original = bars.parse_parquet
    interleaved = []

    def read_then_writer_moves_on(*args: object, **kwargs: object) -> pl.DataFrame:
        frame = original(*args, **kwargs)
        if not interleaved:  # the reconcile has read version 2; the holder now finishes version 3
            interleaved.append(frame.height)
            writer.merge_write(VENUE, TIMEFRAME, "BTC/USDT", truth.head(30))
        return frame

    monkeypatch.setattr(bars, "parse_parquet", read_then_writer_moves_on)
    reader.reconcile(VENUE, TIMEFRAME, "BTC/USDT")
    monkeypatch.undo()
    assert interleaved == [20]
    file_rows = pl.read_parquet(path).height
    row = reader.registry.series(VENUE, "BTC/USDT", TIMEFRAME)
    assert file_rows == 30
    if row.content_hash == file_hash(path):  # the registry claims to describe this very file ...
        assert row.rows == file_rows, f"registry says {row.rows} rows under the hash of a {file_rows}-row file"
    row_after, _ = reader.reconcile(VENUE, TIMEFRAME, "BTC/USDT")  # ... and a later reconcile must fix it
    assert row_after.rows == file_rows


def test_fresh_registry_opened_at_once(tmp_path):
    """Two runs starting together on an empty data root both create the registry. Tried on up to 400 fresh roots
    (the race loses about once in 40 on a 2-core machine; a fixed registry passes all of them in ~3 s)."""
    for attempt in range(400):
        root = tmp_path / f"data{attempt}"
        gate, errors = threading.Barrier(2), []

        def open_lakehouse(root: Path = root, gate: threading.Barrier = gate, errors: list = errors) -> None:
            try:
                gate.wait(timeout=30)
                Lakehouse(root).registry.close()
            except BaseException as exc:  # re-raised in the test thread
                errors.append(exc)

        threads = [threading.Thread(target=open_lakehouse) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors, f"attempt {attempt}: {errors[0]}"

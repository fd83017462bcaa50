"""Smart fetch: repair only what the audit found broken, under per-series leases, with bounded rounds.

Each round: pass 1 fetches MISSING series whole; pass 2 force-syncs only the missing ranges of STALE and GAPPED
series (never whole histories); then everything is re-audited. A symbol gets at most `max_rounds` rounds; what is
still broken is marked UNREPAIRABLE with its reason. Venue calls are rate-limited and retried with exponential
backoff; fetches run on a bounded thread pool; a rich progress bar shows them when stderr is a terminal.

Leases: a repair takes a symbol's lease once (without waiting) and keeps it, renewed by a heartbeat, across every
pass and round until the symbol needs nothing more, so no other process fetches that symbol in between. A symbol
whose lease another holder has is left to it; only when every remaining symbol is busy does the repair wait (holding
no lease, so two processes never wait for each other; bounded by `lease_wait_s`), then re-audits and reads what the
other holder stored. `lease_s` is the lease's expiry if the process dies without releasing it (a dead holder on this
host is taken over at once; one on another host only once its lease expires).

Holes: a targeted range (head, gap, tail; an `all` fetch that came back empty) the venue does not deliver is a miss
by this repair's holder; the next round asks it again (no sooner than `reask_delay_s` after the first miss), and only
this second miss by the same holder confirms it missing (misses of different processes never add up), until
`hole_recheck_days` later, when audits ask for it again.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np
import polars as pl

from dataflows import columns as C
from dataflows.errors import BadPayload, LakehouseError, RateLimited, TransientVenueError, VenueError
from dataflows.lakehouse.audit import (
    GAPPED,
    MISSING,
    STALE,
    UNREPAIRABLE,
    BarRange,
    Candidate,
    SymbolAudit,
    audit_symbol,
    iso,
    no_newer_data,
    no_newer_data_reason,
)
from dataflows.lakehouse.calendar import calendar_for, timeframe_ms
from dataflows.lakehouse.registry import holder_dead, holder_id
from dataflows.lakehouse.store import Lakehouse
from dataflows.lakehouse.validate import validate_bars
from dataflows.venues.base import Venue, fetch_range

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RepairPolicy:
    """The knobs of the repair loop (from `DataConfig`)."""

    timeframe: str = "1d"
    history_days: int = 730
    max_gap_bars: int = 14  # longest confirmed interior venue gap accepted (consecutive expected bars)
    max_rounds: int = 3
    concurrency: int = 4
    retries: int = 5
    retry_wait_s: float = 0.5
    retry_wait_max_s: float = 8.0
    lease_s: float = 120.0  # a lease's expiry if its holder dies; renewed every lease_s / 4 while working
    lease_wait_s: float = 300.0  # longest wait for leases other holders keep
    hole_recheck_days: float = 7.0  # a confirmed-missing range is asked again after this
    reask_delay_s: float = 1.0  # a missed range is asked again (next round) no sooner than this after the miss
    recheck_holes: bool = False  # forget the candidates' confirmed holes before auditing
    progress: bool = True


@dataclass
class Action:
    """One symbol's repair in one pass of one round."""

    symbol: str
    round: int
    pass_name: str  # missing | sync | wait (another holder had the lease)
    requested: list[dict]
    outcome: str = "ok"  # ok | bad_payload | venue_error | lakehouse_error | done_by_other
    rows_fetched: int = 0
    added: int = 0
    conflicts: int = 0
    seconds: float = 0.0
    detail: str = ""

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class RepairReport:
    """Before and after audits and every action taken."""

    before: list[SymbolAudit]
    after: list[SymbolAudit]
    actions: list[Action] = field(default_factory=list)
    rounds: int = 0

    def as_dict(self) -> dict:
        return {
            "rounds": self.rounds,
            "before": [a.as_dict() for a in self.before],
            "after": [a.as_dict() for a in self.after],
            "actions": [a.as_dict() for a in self.actions],
        }


def retrying(policy: RepairPolicy, fn: Callable[[], pl.DataFrame]) -> pl.DataFrame:
    """`fn()` retried on 429s and network errors with exponential backoff (`policy.retries`, `retry_wait_s`,
    `retry_wait_max_s`); the last failure is re-raised. Every venue call of the data phase goes through it."""
    from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

    for attempt in Retrying(
        retry=retry_if_exception_type((RateLimited, TransientVenueError)),
        wait=wait_exponential_jitter(multiplier=policy.retry_wait_s, max=policy.retry_wait_max_s),
        stop=stop_after_attempt(policy.retries),
        reraise=True,
    ):
        with attempt:
            return fn()
    raise AssertionError("unreachable")


WAITED = "handled by another process under its lease (repaired, or the venue's holes confirmed); re-audited after it"


class Leases:
    """The fetch leases one repair holds (one holder id): taken without waiting, kept across passes and rounds,
    renewed every `lease_s / 4` by a heartbeat thread, released when a symbol needs nothing more or at `close`."""

    def __init__(self, lh: Lakehouse, venue: str, timeframe: str, lease_s: float) -> None:
        self.lh, self.venue, self.timeframe, self.lease_s = lh, venue, timeframe, lease_s
        self.holder = holder_id()
        self._held: set[str] = set()
        self._lost: dict[str, str] = {}  # symbol -> why (our lease expired and another holder took it)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def held(self) -> set[str]:
        with self._lock:
            return set(self._held)

    def take(self, symbol: str) -> bool:
        """Hold `symbol`'s lease (True), or False at once when another live holder has it."""
        with self._lock:
            if symbol in self._held:
                return True
        if not self.lh.registry.try_lease(self.venue, symbol, self.timeframe, self.holder, self.lease_s):
            return False
        with self._lock:
            self._held.add(symbol)
            self._lost.pop(symbol, None)
            if self._beat is None:
                self._beat = threading.Thread(target=self._heartbeat, name="lease-heartbeat", daemon=True)
                self._beat.start()
        return True

    def check(self, symbol: str) -> None:
        """Raise `LakehouseError` unless we still hold `symbol`'s lease (call before every fetch and write)."""
        with self._lock:
            if symbol in self._held:
                return
            why = self._lost.get(symbol, "not taken")
        msg = f"lost the fetch lease of {self.venue}/{symbol}: {why}"
        raise LakehouseError(msg)

    def release(self, symbol: str) -> None:
        with self._lock:
            if symbol not in self._held:
                return
            self._held.discard(symbol)
        self.lh.registry.release(self.venue, symbol, self.timeframe, self.holder)

    def close(self) -> None:
        """Stop the heartbeat and release every lease still held."""
        self._stop.set()
        if self._beat is not None:
            self._beat.join()
        for symbol in self.held():
            self.release(symbol)

    def wait_any(self, symbols: Iterable[str], wait_s: float) -> bool:
        """Wait (holding nothing new) until one of `symbols` has no live lease; False after `wait_s`."""
        reg, deadline, pause = self.lh.registry, time.monotonic() + wait_s, 0.05
        while True:
            now = time.time()
            for symbol in symbols:
                row = reg.lease_holder(self.venue, symbol, self.timeframe)
                if row is None or row[1] <= now or holder_dead(row[0]):
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, 1.0)

    @contextlib.contextmanager
    def adopted(self, symbols: Iterable[str]) -> Iterator[None]:
        """Make `Lakehouse.lease` re-entrant for these held series in the calling thread (a reconcile inside our
        own audit must not wait for our own lease)."""
        keys = self.lh._held.__dict__.setdefault("keys", {})  # store.Lakehouse.lease's per-thread record
        added = [(self.venue, self.timeframe, s) for s in symbols if (self.venue, self.timeframe, s) not in keys]
        for key in added:
            keys[key] = self.holder
        try:
            yield
        finally:
            for key in added:
                keys.pop(key, None)

    def _heartbeat(self) -> None:
        reg, every = self.lh.registry, max(self.lease_s / 4, 0.01)
        try:
            while not self._stop.wait(every):
                for symbol in self.held():
                    try:
                        ok = reg.renew_lease(self.venue, symbol, self.timeframe, self.holder, self.lease_s)
                        who = None if ok else reg.lease_holder(self.venue, symbol, self.timeframe)
                    except (LakehouseError, sqlite3.Error, OSError) as exc:  # retried on the next beat
                        log.warning("could not renew the fetch lease of %s: %s", symbol, exc)
                        continue
                    if not ok:
                        with self._lock:
                            if symbol not in self._held:  # released meanwhile
                                continue
                            self._held.discard(symbol)
                            self._lost[symbol] = f"it expired (data.lease_s={self.lease_s:g})" + (
                                f" and {who[0]} took it over" if who else ""
                            )
        finally:
            reg.close()  # this thread's connection


class Repairer:
    """Runs the audit → fetch → re-audit loop for one venue and timeframe."""

    def __init__(self, lh: Lakehouse, venue: Venue, policy: RepairPolicy, as_of_ms: int) -> None:
        self.lh, self.venue, self.policy, self.as_of_ms = lh, venue, policy, as_of_ms
        self.bar_ms = timeframe_ms(policy.timeframe)

    def audit(self, cand: Candidate, quarantine: dict | None = None) -> SymbolAudit:
        return audit_symbol(
            self.lh,
            self.venue.name,
            self.policy.timeframe,
            cand,
            as_of_ms=self.as_of_ms,
            history_days=self.policy.history_days,
            quarantine=quarantine,
            max_gap_bars=self.policy.max_gap_bars,
        )

    def audit_all(self, cands: list[Candidate], quarantine: dict[str, dict]) -> list[SymbolAudit]:
        self.lh.sweep()
        return [self.audit(c, quarantine.get(c.symbol)) for c in cands]

    def forget_holes(self, cands: list[Candidate]) -> int:
        """Forget the candidates' recorded holes and venue floors (`data.recheck_holes`), each under its series
        lease so no repair in progress loses a confirmation halfway; returns the hole rows removed."""
        venue, tf, removed = self.venue.name, self.policy.timeframe, 0
        for cand in {c.symbol: c for c in cands}.values():
            with self.lh.lease(venue, tf, cand.symbol, lease_s=self.policy.lease_s, wait_s=self.policy.lease_wait_s):
                removed += self.lh.registry.forget_holes(venue, tf, [cand.symbol])
        return removed

    def run(
        self,
        cands: list[Candidate],
        quarantine: dict[str, dict] | None = None,
        before: list[SymbolAudit] | None = None,
    ) -> RepairReport:
        """Audit (unless `before` is given), repair in bounded rounds, re-audit; returns the full report."""
        quarantine = quarantine or {}
        cands = list({c.symbol: c for c in cands}.values())  # one repair per series
        before = before if before is not None else self.audit_all(cands, quarantine)
        report = RepairReport(before=before, after=before)
        leases = Leases(self.lh, self.venue.name, self.policy.timeframe, self.policy.lease_s)
        try:
            current = self._rounds(cands, quarantine, report, leases)
        finally:
            leases.close()
        last_action = {a.symbol: a for a in report.actions}
        final = []
        for a in current:
            if a.data_status in (MISSING, STALE, GAPPED):
                act = last_action.get(a.symbol)
                why = f"still {a.data_status} after {report.rounds} repair round(s): {a.reason}"
                if (newest := no_newer_data(a)) is not None:  # the cause the user can act on comes first
                    why = f"{no_newer_data_reason(newest)}; {why}"
                if act is not None and act.outcome not in ("ok", "done_by_other"):
                    why += f"; last fetch {act.outcome}: {act.detail}"
                a = replace(
                    a,
                    status=UNREPAIRABLE if a.status != "TOXIC" else a.status,
                    data_status=UNREPAIRABLE,
                    reason=why,
                )
            final.append(a)
        report.after = final
        return report

    def _rounds(
        self, cands: list[Candidate], quarantine: dict[str, dict], report: RepairReport, leases: Leases
    ) -> list[SymbolAudit]:
        """Rounds over the symbols whose leases this repair holds; symbols other holders have are re-audited once
        they are free (waiting only when nothing else is left). Returns the last audit."""
        by_symbol = {c.symbol: c for c in cands}
        tries: collections.Counter[str] = collections.Counter()
        others: set[str] = set()  # symbols seen under another holder's lease
        current = report.before
        while True:
            todo = [
                a
                for a in current
                if a.data_status in (MISSING, STALE, GAPPED) and tries[a.symbol] < self.policy.max_rounds
            ]
            wanted = {a.symbol for a in todo}
            for symbol in leases.held() - wanted:  # repaired, or out of rounds: others may have it now
                leases.release(symbol)
            for symbol in sorted(others - wanted):
                if tries[symbol] == 0:
                    report.actions.append(Action(symbol, 0, "wait", [], "done_by_other", detail=WAITED))
            others &= wanted
            if not todo:
                return current
            mine = [a for a in todo if leases.take(a.symbol)]
            busy = sorted(wanted - {a.symbol for a in mine})
            others |= set(busy)
            if not mine:  # everything left is another holder's: wait holding nothing, then re-audit and read
                if not leases.wait_any(busy, self.policy.lease_wait_s):
                    for symbol in busy:
                        who = self.lh.registry.lease_holder(self.venue.name, symbol, self.policy.timeframe)
                        detail = (
                            f"timed out after {self.policy.lease_wait_s:g}s (data.lease_wait_s) waiting for the "
                            f"fetch lease of {self.venue.name}/{symbol} held by {who[0] if who else 'another holder'}"
                        )
                        report.actions.append(
                            Action(symbol, tries[symbol], "wait", [], "lakehouse_error", detail=detail)
                        )
                        tries[symbol] = self.policy.max_rounds
                        others.discard(symbol)
                    continue
                current = self.audit_all(cands, quarantine)
                continue
            for a in mine:
                tries[a.symbol] += 1
            rnd = max(tries[a.symbol] for a in mine)
            report.rounds = max(report.rounds, rnd)
            missing = [a for a in mine if a.data_status == MISSING]
            sync = [a for a in mine if a.data_status in (STALE, GAPPED)]
            for pass_name, items in (("missing", missing), ("sync", sync)):
                todo_pass = [(by_symbol[a.symbol], a, tries[a.symbol]) for a in items]
                report.actions += self._pass(pass_name, rnd, todo_pass, leases, others)
            with leases.adopted(leases.held()):
                current = self.audit_all(cands, quarantine)

    def _pass(
        self,
        pass_name: str,
        rnd: int,
        todo: list[tuple[Candidate, SymbolAudit, int]],
        leases: Leases,
        others: set[str],
    ) -> list[Action]:
        if not todo:
            return []
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        console = Console(stderr=True)
        progress = Progress(
            TextColumn(f"[bold]round {rnd} {pass_name}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=not (self.policy.progress and console.is_terminal),
            transient=True,
        )
        actions: list[Action] = []
        with progress, ThreadPoolExecutor(max_workers=self.policy.concurrency) as pool:
            task = progress.add_task(pass_name, total=len(todo))
            futures = [
                pool.submit(self._repair_one, cand, audit, pass_name, r, leases, cand.symbol in others)
                for cand, audit, r in todo
            ]
            for fut in futures:
                actions.append(fut.result())
                progress.advance(task)
        return actions

    def _repair_one(
        self, cand: Candidate, audit: SymbolAudit, pass_name: str, rnd: int, leases: Leases, waited: bool
    ) -> Action:
        t0 = time.perf_counter()
        action = Action(cand.symbol, rnd, pass_name, [r.as_dict() for r in audit.ranges])
        venue, tf = self.venue.name, self.policy.timeframe
        try:
            leases.check(cand.symbol)
            with leases.adopted([cand.symbol]):
                # always re-audit under the lease: another process may have repaired it since our audit
                audit = self.audit(cand)
                if not audit.ranges:
                    action.outcome = "done_by_other"
                    action.detail = "already repaired by another process" + (
                        " (waited for its lease)" if waited else ""
                    )
                    action.requested = []
                    return action
                action.requested = [r.as_dict() for r in audit.ranges]
                for rng in audit.ranges:
                    self._fetch_and_confirm(cand, rng, leases, action)
                    if action.outcome != "ok":
                        break
        except LakehouseError as exc:
            action.outcome, action.detail = "lakehouse_error", str(exc)
        self.lh.registry.record_outcome(venue, cand.symbol, tf, action.outcome, failed=action.outcome != "ok")
        action.seconds = round(time.perf_counter() - t0, 4)
        return action

    def _fetch_and_confirm(self, cand: Candidate, rng: BarRange, leases: Leases, action: Action) -> None:
        """Fetch one range and record what the venue did not deliver as a miss by this repair's holder. A range
        this holder missed before (in an earlier round: the lease is kept across rounds) is re-asked no sooner
        than `reask_delay_s` after that first miss; only this second miss by the same holder confirms it."""
        venue, tf, reg = self.venue.name, self.policy.timeframe, self.lh.registry
        prior = reg.miss(venue, cand.symbol, tf, rng.start, rng.end)
        reask = prior is not None and prior["holder"] == leases.holder and prior["recheck_at"] is None
        if reask and prior["first_at"] is not None:
            while (left := prior["first_at"] + self.policy.reask_delay_s - time.time()) > 0:
                time.sleep(left)
        got = self._fetch_range(cand, rng, leases, action, reask=reask)
        if got is None:  # the venue failed: nothing learnt about the range
            return
        still = self._undelivered(cand, rng, got)
        if prior is not None and (still is None or (still.start, still.end) != (rng.start, rng.end)):
            reg.drop_miss(venue, cand.symbol, tf, rng.start, rng.end)  # (partly) delivered after all
        if still is not None:
            self._note_miss(cand, still, leases)

    def _undelivered(self, cand: Candidate, rng: BarRange, got: np.ndarray) -> BarRange | None:
        """The span of `rng`'s expected bars a fetch did not deliver (an `all` range counts only when empty)."""
        if rng.kind == "all":
            return rng if got.size == 0 else None
        expected = calendar_for(cand.asset_class, self.policy.timeframe, cand.calendar).expected(rng.start, rng.end)
        still = np.setdiff1d(expected, got)
        if still.size == 0:
            return None
        return BarRange(int(still.min()), int(still.max()), rng.kind, int(still.size))

    def _note_miss(self, cand: Candidate, rng: BarRange, leases: Leases) -> int:
        """Record one miss of `rng` by this repair's holder; returns its misses so far. A confirmed head miss also
        records the venue floor (no bars before the stored first bar) with the same re-check date."""
        venue, tf, reg = self.venue.name, self.policy.timeframe, self.lh.registry
        floor = None
        if rng.kind == "head":
            row = reg.series(venue, cand.symbol, tf)
            floor = row.first_ts if row is not None else None
        return reg.add_hole(
            venue,
            cand.symbol,
            tf,
            rng.start,
            rng.end,
            rng.kind,
            floor_if_confirmed=floor,
            holder=leases.holder,
            recheck_s=self.policy.hole_recheck_days * 86400.0,
            min_gap_s=self.policy.reask_delay_s,
        )

    def _fetch_range(
        self, cand: Candidate, rng: BarRange, leases: Leases, action: Action, *, reask: bool = False
    ) -> np.ndarray | None:
        """Fetch, validate and store one range under our lease; returns the stored open times it delivered, or
        None when the venue failed (recorded on `action`)."""
        venue, tf, reg = self.venue.name, self.policy.timeframe, self.lh.registry
        cal = calendar_for(cand.asset_class, tf, cand.calendar)
        source = f"{venue}/{cand.symbol} {iso(rng.start)}..{iso(rng.end)}"
        leases.check(cand.symbol)

        def log_fetch(rows: int, outcome: str, detail: dict | None = None) -> None:
            reg.log_fetch(
                venue, cand.symbol, tf, rng.start, rng.end, rng.kind, rows, outcome, leases.holder, detail, reask=reask
            )

        try:
            raw = retrying(self.policy, lambda: fetch_range(self.venue, cand.symbol, tf, rng.start, rng.end))
            bars = validate_bars(raw, source=source, bar_ms=self.bar_ms, max_ts_ms=self.as_of_ms)
        except VenueError as exc:  # BadPayload included: nothing is stored for this range
            bad = isinstance(exc, BadPayload)
            action.outcome = "bad_payload" if bad else "venue_error"
            action.detail = str(exc) if bad else f"{exc.__class__.__name__}: {exc}"
            log_fetch(0, action.outcome, {"error": str(exc)})
            return None
        ts = bars[C.TS].dt.epoch("ms").to_numpy()
        keep = (np.asarray(cal.completes_at(ts)) <= self.as_of_ms) & np.asarray(cal.is_trading(ts), dtype=bool)
        bars, ts = bars.filter(pl.Series(keep)), ts[keep]  # never store a forming or off-calendar bar as final
        action.rows_fetched += bars.height
        if bars.height:
            leases.check(cand.symbol)
            res = self.lh.merge_write(venue, tf, cand.symbol, bars)
            action.added += res.added
            action.conflicts += res.conflicts
        log_fetch(bars.height, "ok" if bars.height else "no_data")
        return ts

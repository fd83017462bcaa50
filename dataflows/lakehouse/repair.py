"""Smart fetch: repair only what the audit found broken, under per-series leases, with bounded rounds.

Each round: pass 1 fetches MISSING series whole; pass 2 force-syncs only the missing ranges of STALE and GAPPED
series (never whole histories); then everything is re-audited. Rounds stop when nothing is left to fetch or after
`max_rounds`; what is still broken is marked UNREPAIRABLE with its reason. A range fetched on purpose (head, gap,
tail) that the venue does not deliver is recorded in the registry as confirmed-missing, so later audits do not
ask again (no endless loops). Venue calls are rate-limited and retried with exponential backoff; fetches run on a
bounded thread pool; a rich progress bar shows them when stderr is a terminal.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
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
    lease_s: float = 120.0
    lease_wait_s: float = 300.0
    progress: bool = True


@dataclass
class Action:
    """One symbol's repair in one pass of one round."""

    symbol: str
    round: int
    pass_name: str  # missing | sync
    requested: list[dict]
    outcome: str = "ok"  # ok | no_data | bad_payload | venue_error | done_by_other
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


def _retrying(policy: RepairPolicy, fn: Callable[[], pl.DataFrame]) -> pl.DataFrame:
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

    def run(
        self,
        cands: list[Candidate],
        quarantine: dict[str, dict] | None = None,
        before: list[SymbolAudit] | None = None,
    ) -> RepairReport:
        """Audit (unless `before` is given), repair in bounded rounds, re-audit; returns the full report."""
        quarantine = quarantine or {}
        cands = list({c.symbol: c for c in cands}.values())  # one repair per series
        by_symbol = {c.symbol: c for c in cands}
        before = before if before is not None else self.audit_all(cands, quarantine)
        report = RepairReport(before=before, after=before)
        current = before
        for rnd in range(1, self.policy.max_rounds + 1):
            missing = [a for a in current if a.data_status == MISSING]
            sync = [a for a in current if a.data_status in (STALE, GAPPED)]
            if not missing and not sync:
                break
            report.rounds = rnd
            for pass_name, todo in (("missing", missing), ("sync", sync)):
                report.actions += self._pass(pass_name, rnd, [(by_symbol[a.symbol], a) for a in todo])
            current = self.audit_all(cands, quarantine)
        last_action = {a.symbol: a for a in report.actions}
        final = []
        for a in current:
            if a.data_status in (MISSING, STALE, GAPPED):
                act = last_action.get(a.symbol)
                why = f"still {a.data_status} after {report.rounds} repair round(s): {a.reason}"
                if (newest := no_newer_data(a)) is not None:  # the cause the user can act on comes first
                    why = f"{no_newer_data_reason(newest)}; {why}"
                if act is not None and act.outcome != "ok":
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

    def _pass(self, pass_name: str, rnd: int, todo: list[tuple[Candidate, SymbolAudit]]) -> list[Action]:
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
            futures = [pool.submit(self._repair_one, cand, audit, pass_name, rnd) for cand, audit in todo]
            for fut in futures:
                actions.append(fut.result())
                progress.advance(task)
        return actions

    def _repair_one(self, cand: Candidate, audit: SymbolAudit, pass_name: str, rnd: int) -> Action:
        t0 = time.perf_counter()
        action = Action(cand.symbol, rnd, pass_name, [r.as_dict() for r in audit.ranges])
        venue, tf = self.venue.name, self.policy.timeframe
        try:
            with self.lh.lease(
                venue, tf, cand.symbol, lease_s=self.policy.lease_s, wait_s=self.policy.lease_wait_s
            ) as (holder, waited):
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
                    self._fetch_range(cand, rng, holder, action)
                    if action.outcome != "ok":
                        break
        except LakehouseError as exc:
            action.outcome, action.detail = "lakehouse_error", str(exc)
        self.lh.registry.record_outcome(venue, cand.symbol, tf, action.outcome, failed=action.outcome != "ok")
        action.seconds = round(time.perf_counter() - t0, 4)
        return action

    def _fetch_range(self, cand: Candidate, rng: BarRange, holder: str, action: Action) -> None:
        venue, tf, reg = self.venue.name, self.policy.timeframe, self.lh.registry
        cal = calendar_for(cand.asset_class, tf, cand.calendar)
        source = f"{venue}/{cand.symbol} {iso(rng.start)}..{iso(rng.end)}"
        try:
            raw = _retrying(self.policy, lambda: fetch_range(self.venue, cand.symbol, tf, rng.start, rng.end))
            bars = validate_bars(raw, source=source, bar_ms=self.bar_ms, max_ts_ms=self.as_of_ms)
        except VenueError as exc:  # BadPayload included: nothing is stored for this range
            bad = isinstance(exc, BadPayload)
            action.outcome = "bad_payload" if bad else "venue_error"
            action.detail = str(exc) if bad else f"{exc.__class__.__name__}: {exc}"
            reg.log_fetch(
                venue, cand.symbol, tf, rng.start, rng.end, rng.kind, 0, action.outcome, holder, {"error": str(exc)}
            )
            return
        ts = bars[C.TS].dt.epoch("ms").to_numpy()
        completed = np.asarray(cal.completes_at(ts)) <= self.as_of_ms
        trading = np.asarray(cal.is_trading(ts), dtype=bool)
        bars = bars.filter(pl.Series(completed & trading))  # never store a forming or off-calendar bar as final
        action.rows_fetched += bars.height
        if bars.height:
            res = self.lh.merge_write(venue, tf, cand.symbol, bars)
            action.added += res.added
            action.conflicts += res.conflicts
        reg.log_fetch(
            venue,
            cand.symbol,
            tf,
            rng.start,
            rng.end,
            rng.kind,
            bars.height,
            "ok" if bars.height else "no_data",
            holder,
        )
        self._confirm_missing(cand, rng, bars)

    def _confirm_missing(self, cand: Candidate, rng: BarRange, bars: pl.DataFrame) -> None:
        """Note a range the venue did not (fully) deliver. It counts as confirmed missing (and is not requested
        again) once `CONFIRM_AFTER` fetches came back without it, so one incomplete page is never mistaken for a
        hole the venue really has."""
        venue, tf, reg = self.venue.name, self.policy.timeframe, self.lh.registry
        got = bars[C.TS].dt.epoch("ms").to_numpy() if bars.height else np.empty(0, dtype=np.int64)
        if rng.kind == "all":
            if got.size == 0:
                reg.add_hole(venue, cand.symbol, tf, rng.start, rng.end, "all")
            return
        expected = calendar_for(cand.asset_class, tf, cand.calendar).expected(rng.start, rng.end)
        still = np.setdiff1d(expected, got)
        if still.size == 0:
            return
        floor = None
        if rng.kind == "head":  # bars still missing before the stored first bar: the venue's floor, once confirmed
            row = reg.series(venue, cand.symbol, tf)
            floor = row.first_ts if row is not None else None
        reg.add_hole(venue, cand.symbol, tf, int(still.min()), int(still.max()), rng.kind, floor_if_confirmed=floor)

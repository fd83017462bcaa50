"""The fetch side of a repair: each pass runs its symbols on a bounded thread pool (with a progress bar on a
terminal); each symbol is re-audited under its lease, then every missing range is fetched, validated and merged,
and what the venue did not deliver is recorded as a miss by this repair's holder."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from dataflows import columns as C
from dataflows.errors import BadPayload, LakehouseError, VenueError
from dataflows.lakehouse.audit import BarRange, Candidate, SymbolAudit
from dataflows.lakehouse.calendar import calendar_for
from dataflows.lakehouse.leases import Leases
from dataflows.lakehouse.repair_policy import RepairPolicy, retrying
from dataflows.lakehouse.repair_report import Action
from dataflows.lakehouse.validate import validate_bars
from dataflows.timestamps import iso
from dataflows.venues.base import Venue, fetch_range

if TYPE_CHECKING:
    from dataflows.lakehouse.store import Lakehouse


class FetchMixin:
    """Passes and per-symbol fetches of `repair.Repairer` (uses its `lh`, `venue`, `policy`, `as_of_ms`, `bar_ms`
    and `audit`)."""

    lh: Lakehouse
    venue: Venue
    policy: RepairPolicy
    as_of_ms: int
    bar_ms: int

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

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

The loop is split by concern: `repair_policy.py` (knobs, retried venue calls), `repair_fetch.py` (passes and
fetches), `leases.py` (the leases a repair holds) and `repair_report.py` (actions and report). Method notes:
`docs/data.md`.
"""

from __future__ import annotations

import collections

from dataflows.lakehouse.audit import GAPPED, MISSING, STALE, Candidate, SymbolAudit, audit_symbol
from dataflows.lakehouse.calendar import timeframe_ms
from dataflows.lakehouse.leases import Leases
from dataflows.lakehouse.repair_fetch import FetchMixin
from dataflows.lakehouse.repair_policy import RepairPolicy, retrying
from dataflows.lakehouse.repair_report import WAITED, Action, RepairReport, final_audits
from dataflows.lakehouse.store import Lakehouse
from dataflows.venues.base import Venue

__all__ = ["WAITED", "Action", "Leases", "RepairPolicy", "RepairReport", "Repairer", "retrying"]


class Repairer(FetchMixin):
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
        report.after = final_audits(report, current)
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

"""Smart fetch: repair only what the audit found broken (missing first, then the stale and gapped ranges), after
checking that the venue can serve bars as old as the repair needs."""

from __future__ import annotations

from hamilton.function_modifiers import tag

from dataflows.errors import HistoryUnavailable
from dataflows.lakehouse.audit import GAPPED, MISSING, STALE, Candidate, SymbolAudit
from dataflows.lakehouse.calendar import DAY_MS
from dataflows.lakehouse.repair import Repairer, RepairReport
from dataflows.timestamps import iso


@tag(lakehouse="writes")
def repair_report(
    repairer: Repairer,
    audit_candidates: list[Candidate],
    audit_before: list[SymbolAudit],
    active_quarantine: dict[str, dict],
) -> RepairReport:
    """Bounded audit → fetch → re-audit rounds; every action recorded. Raises `HistoryUnavailable` before any
    fetch when a range to repair starts before the oldest bar the venue can serve."""
    _check_history_reach(repairer, audit_before)
    return repairer.run(audit_candidates, active_quarantine, before=audit_before)


def _check_history_reach(repairer: Repairer, audits: list[SymbolAudit]) -> None:
    """`HistoryUnavailable` when the venue's OHLC history is capped (`history_floor_ms`, e.g. kraken's latest 720
    bars) and a range the repair would fetch starts earlier: those bars exist, the venue just cannot serve them, so
    the symbols must not end UNREPAIRABLE for it. Ranges already stored are not fetched and do not count."""
    floor_of = getattr(repairer.venue, "history_floor_ms", None)
    tf, days = repairer.policy.timeframe, repairer.policy.history_days
    floor = floor_of(tf) if floor_of is not None else None
    if floor is None:
        return
    todo = [a for a in audits if a.data_status in (MISSING, STALE, GAPPED)]
    starts = [(r.start, a.symbol) for a in todo for r in a.ranges if r.start < floor]
    if not starts:
        return
    start, symbol = min(starts)
    cap = repairer.venue.history_limit_bars(tf)  # type: ignore[attr-defined]
    last = max(r.end for a in todo for r in a.ranges)
    more = f" and {len(starts) - 1} more range(s)" if len(starts) > 1 else ""
    fits = max(1, (last - floor) // DAY_MS + 1)  # history_days whose window starts at or after the floor
    msg = (
        f"{repairer.venue.name} serves only its latest {cap} {tf} bars ({iso(floor)[:10]}..); "
        f"data.history_days={days} needs bars from {iso(start)[:10]} ({symbol}{more}): "
        f"set data.history_days<={fits} (or run.as_of later), or use another venue"
    )
    raise HistoryUnavailable(msg)

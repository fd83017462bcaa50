"""Smart fetch: repair only what the audit found broken (missing first, then the stale and gapped ranges)."""

from __future__ import annotations

from dataflows.lakehouse.audit import Candidate, SymbolAudit
from dataflows.lakehouse.repair import Repairer, RepairReport


def repair_report(
    repairer: Repairer,
    audit_candidates: list[Candidate],
    audit_before: list[SymbolAudit],
    active_quarantine: dict[str, dict],
) -> RepairReport:
    """Bounded audit → fetch → re-audit rounds; every action recorded."""
    return repairer.run(audit_candidates, active_quarantine, before=audit_before)

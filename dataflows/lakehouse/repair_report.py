"""What a repair did: one `Action` per symbol, pass and round, and the `RepairReport` with the audits before and
after (a series still broken after its rounds ends UNREPAIRABLE, with why)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from dataflows.lakehouse.audit import (
    GAPPED,
    MISSING,
    STALE,
    UNREPAIRABLE,
    SymbolAudit,
    no_newer_data,
    no_newer_data_reason,
)


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


def final_audits(report: RepairReport, current: list[SymbolAudit]) -> list[SymbolAudit]:
    """The audits a repair ends with: a series still MISSING, STALE or GAPPED after its rounds is UNREPAIRABLE,
    with why (a venue without newer data named first, then the last failed fetch)."""
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
    return final


WAITED = "handled by another process under its lease (repaired, or the venue's holes confirmed); re-audited after it"

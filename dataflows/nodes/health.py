"""Strict health gate: the after-repair audit (with new quarantines), audit.json, and a hard pass/fail."""

from __future__ import annotations

import logging
from dataclasses import replace

import polars as pl
from hamilton.function_modifiers import source, tag, value

from dataflows import columns as C
from dataflows.artifacts import save_to
from dataflows.config import HealthConfig
from dataflows.errors import HealthGateError
from dataflows.lakehouse.audit import FRESH, TOXIC, UNREPAIRABLE, SymbolAudit, audit_table, no_newer_data
from dataflows.lakehouse.repair import RepairReport

log = logging.getLogger(__name__)


def audit_after(repair_report: RepairReport, quarantine_table: pl.DataFrame) -> list[SymbolAudit]:
    """Every candidate's status after repair, TOXIC where the guard (now or earlier) quarantined it."""
    reasons: dict[str, list[dict]] = {}
    for r in quarantine_table.iter_rows(named=True):
        reasons.setdefault(r[C.SYMBOL], []).append(
            {"reason": r[C.REASON], "evidence": r[C.EVIDENCE], "expires_at": str(r[C.EXPIRES_AT])}
        )
    out = []
    for a in repair_report.after:
        if a.symbol in reasons and a.status != TOXIC:
            why = ", ".join(q["reason"] for q in reasons[a.symbol])
            a = replace(
                a,
                status=TOXIC,
                reason=f"quarantined: {why}; data {a.data_status.lower()}: {a.reason}",
                evidence={**a.evidence, "quarantine": reasons[a.symbol]},
            )
        out.append(a)
    return out


@save_to.run_json(run_dir=source("run_dir"), file=value("audit.json"), output_name_="audit_file")
def audit_document(
    audit_after: list[SymbolAudit],
    repair_report: RepairReport,
    metadata_gaps: dict[str, list[str]],
    toxic_findings: pl.DataFrame,
) -> dict:
    """audit.json: before/after status per symbol, every repair action, toxic findings, metadata gaps."""
    counts = lambda audits: pl.Series([a.status for a in audits]).value_counts().rows() if audits else []  # noqa: E731
    body = {
        "summary": {
            "before": dict(counts(repair_report.before)),
            "after": dict(counts(audit_after)),
            "rounds": repair_report.rounds,
            "fetches": sum(a.outcome == "ok" for a in repair_report.actions),
        },
        "before": [a.as_dict() for a in repair_report.before],
        "after": [a.as_dict() for a in audit_after],
        "actions": [a.as_dict() for a in repair_report.actions],
        "toxic_findings": toxic_findings.to_dicts(),
        "metadata_gaps": metadata_gaps,
    }
    return body


@tag(manifest="healthy_symbols")
def healthy_symbols(audit_after: list[SymbolAudit], audit_file: dict, health_config: HealthConfig) -> list[str]:
    """The gate: FRESH symbols pass, TOXIC are excluded (cited), anything else fails the run when strict. It takes
    audit.json's record so the evidence is saved before the gate can fail."""
    audit_json = audit_file["path"]
    failing = [a for a in audit_after if a.status not in (FRESH, TOXIC)]
    if not health_config.strict:
        failing = [a for a in failing if a.status != UNREPAIRABLE]
    healthy = [a.symbol for a in audit_after if a.status == FRESH]
    excluded = [a for a in audit_after if a.status in (TOXIC, UNREPAIRABLE) and a not in failing]
    for a in excluded:  # the guard doing its job: recorded in audit.json and the run's summary, not a warning
        log.info("excluded %s: %s — %s", a.symbol, a.status, a.reason)
    if failing:
        lines = "; ".join(f"{a.symbol}: {a.status} ({a.reason})" for a in failing)
        cause = _beyond_the_data(failing)
        msg = f"health gate failed for {len(failing)} symbol(s){cause} (details in {audit_json}): {lines}"
        raise HealthGateError(msg)
    if len(healthy) < health_config.min_healthy:
        msg = (
            f"health gate failed: {len(healthy)} healthy symbol(s), fewer than health.min_healthy="
            f"{health_config.min_healthy} (details in {audit_json})"
        )
        raise HealthGateError(msg)
    return healthy


def _beyond_the_data(failing: list[SymbolAudit]) -> str:
    """': the venue has no bars after <date> for <symbols>: set run.as_of to ...' when run.as_of lies beyond the
    data of failing symbols (the one cause to fix first), else ''."""
    after: dict[str, list[str]] = {}
    hint: dict[str, str] = {}
    for a in failing:
        if (p := no_newer_data(a)) is not None:
            after.setdefault(p["after"], []).append(a.symbol)
            hint[p["after"]] = p["as_of"]
    if not after:
        return ""
    where = "; after ".join(f"{d} for {', '.join(syms)}" for d, syms in sorted(after.items(), reverse=True))
    return (
        f": the venue has no bars after {where}: set run.as_of to {hint[min(after)]} or earlier, or update the source"
    )


@tag(manifest="health")
def health_table(audit_after: list[SymbolAudit]) -> pl.DataFrame:
    """The after-repair audit as a table."""
    return audit_table(audit_after)

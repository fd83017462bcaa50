"""Lakehouse audit: classify every candidate (FRESH, STALE, MISSING, GAPPED, TOXIC, UNREPAIRABLE) before repair."""

from __future__ import annotations

import datetime as dt

import polars as pl
from hamilton.function_modifiers import tag

from dataflows import columns as C
from dataflows.config import DataConfig, VenueConfig
from dataflows.lakehouse import quarantine
from dataflows.lakehouse.audit import Candidate, SymbolAudit, audit_table
from dataflows.lakehouse.calendar import DEFAULT_EQUITY_CALENDAR
from dataflows.lakehouse.repair import Repairer, RepairPolicy
from dataflows.lakehouse.store import Lakehouse
from dataflows.venues.base import Venue


def repair_policy(data_config: DataConfig) -> RepairPolicy:
    """The data-phase knobs from `data.*`."""
    d = data_config
    return RepairPolicy(
        timeframe=d.timeframe,
        history_days=d.history_days,
        max_gap_bars=d.max_gap_bars,
        max_rounds=d.max_repair_rounds,
        concurrency=d.concurrency,
        retries=d.retries,
        retry_wait_s=d.retry_wait_s,
        retry_wait_max_s=d.retry_wait_max_s,
        lease_s=d.lease_s,
        lease_wait_s=d.lease_wait_s,
        hole_recheck_days=d.hole_recheck_days,
        recheck_holes=d.recheck_holes,
        progress=d.progress,
    )


def equity_calendar(venue: Venue, venue_config: VenueConfig) -> str:
    """The exchange calendar of this venue's equities: the venue's own when it has one (the synthetic world trades
    every weekday), else `venue.calendar`, else XNYS."""
    return getattr(venue, "equity_calendar", None) or venue_config.calendar or DEFAULT_EQUITY_CALENDAR


def audit_candidates(candidates: pl.DataFrame, equity_calendar: str) -> list[Candidate]:
    """Unique symbols to keep healthy (a symbol feeding several atoms is audited once)."""
    seen = candidates.unique(C.SYMBOL, keep="first", maintain_order=True)
    return [
        Candidate(
            r[C.SYMBOL],
            r[C.ASSET_CLASS],
            int(r[C.LISTED_AT].timestamp() * 1000) if r[C.LISTED_AT] is not None else None,
            equity_calendar if r[C.ASSET_CLASS] == C.EQUITY else None,
        )
        for r in seen.iter_rows(named=True)
    ]


def active_quarantine(lakehouse: Lakehouse, venue: Venue, data_config: DataConfig, as_of_ms: int) -> dict[str, dict]:
    """Quarantine entries in force at as_of, by symbol."""
    as_of = dt.datetime.fromtimestamp(as_of_ms / 1000, dt.UTC)
    return quarantine.active(lakehouse, venue.name, data_config.timeframe, as_of)


def repairer(lakehouse: Lakehouse, venue: Venue, repair_policy: RepairPolicy, as_of_ms: int) -> Repairer:
    """The audit/repair engine bound to this venue, lakehouse and clock."""
    return Repairer(lakehouse, venue, repair_policy, as_of_ms)


@tag(lakehouse="writes")  # with data.recheck_holes it forgets the candidates' confirmed holes
def audit_before(
    repairer: Repairer, audit_candidates: list[Candidate], active_quarantine: dict[str, dict]
) -> list[SymbolAudit]:
    """Every candidate's status before any repair; with `data.recheck_holes` the candidates' confirmed holes and
    venue floors are forgotten first, so their ranges are asked again."""
    if repairer.policy.recheck_holes:
        repairer.forget_holes(audit_candidates)
    return repairer.audit_all(audit_candidates, active_quarantine)


def audit_before_table(audit_before: list[SymbolAudit]) -> pl.DataFrame:
    """The before-repair audit as a table (what `python -m dataflows audit` prints)."""
    return audit_table(audit_before)

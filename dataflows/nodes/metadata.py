"""Exchange metadata: tick size, lot size and min notional per candidate, stored as-of versioned; gaps reported."""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter

import polars as pl
from hamilton.function_modifiers import tag

from dataflows import columns as C
from dataflows.lakehouse import metadata
from dataflows.lakehouse.audit import Candidate
from dataflows.lakehouse.store import Lakehouse
from dataflows.venues.base import Venue

log = logging.getLogger(__name__)


@tag(lakehouse="writes")
def symbol_metadata(
    markets: pl.DataFrame,
    audit_candidates: list[Candidate],
    lakehouse: Lakehouse,
    venue: Venue,
    as_of_ms: int,
) -> pl.DataFrame:
    """The candidates' metadata as of this run, written to metadata.parquet (nulls kept as nulls)."""
    wanted = [c.symbol for c in audit_candidates]
    rows = markets.filter(pl.col(C.SYMBOL).is_in(wanted))
    return metadata.upsert(lakehouse, venue.name, rows, dt.datetime.fromtimestamp(as_of_ms / 1000, dt.UTC))


def metadata_gaps(symbol_metadata: pl.DataFrame, metadata_required: bool) -> dict[str, list[str]]:
    """Which candidates lack which metadata fields (reported in audit.json, never filled in); one log line for all
    of them (INFO: a veto where `metadata_required` is the rule doing its job, not a fault of the run)."""
    gaps = metadata.missing_fields(symbol_metadata)
    if gaps:
        fields = Counter(f for missing in gaps.values() for f in missing)
        shown = ", ".join(sorted(gaps)[:5]) + (f" and {len(gaps) - 5} more" if len(gaps) > 5 else "")
        what = ", ".join(f"{f} ({n})" for f, n in sorted(fields.items()))
        if metadata_required:
            log.info("metadata unknown for %d candidate(s) (%s): %s — they are vetoed", len(gaps), what, shown)
        else:
            log.info("metadata unknown for %d candidate(s) (%s): %s — reported, not a veto", len(gaps), what, shown)
    return gaps

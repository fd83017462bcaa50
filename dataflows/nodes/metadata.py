"""Exchange metadata: tick size, lot size and min notional per candidate, stored as-of versioned; gaps reported."""

from __future__ import annotations

import datetime as dt
import logging

import polars as pl

from dataflows import columns as C
from dataflows.lakehouse import metadata
from dataflows.lakehouse.audit import Candidate
from dataflows.lakehouse.store import Lakehouse
from dataflows.venues.base import Venue

log = logging.getLogger(__name__)


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


def metadata_gaps(symbol_metadata: pl.DataFrame) -> dict[str, list[str]]:
    """Which candidates lack which metadata fields (reported, never filled in)."""
    gaps = metadata.missing_fields(symbol_metadata)
    for symbol, fields in gaps.items():
        log.warning("metadata for %s lacks %s (left missing)", symbol, ", ".join(fields))
    return gaps

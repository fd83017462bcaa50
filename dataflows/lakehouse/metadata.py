"""Exchange metadata (tick size, lot size, min notional, listing, active), versioned by as_of date.

`metadata.parquet` holds one row per (venue, symbol, as_of date). Missing values stay null and are reported by
`missing_fields`; nothing is ever filled with a default.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from dataflows import columns as C
from dataflows.lakehouse import atomic
from dataflows.lakehouse.store import Lakehouse

FIELDS = (C.TICK_SIZE, C.LOT_SIZE, C.MIN_NOTIONAL)
KEY = (C.VENUE, C.SYMBOL, C.AS_OF)


def schema() -> dict:
    return {
        C.VENUE: pl.String,
        C.SYMBOL: pl.String,
        C.AS_OF: pl.Date,
        C.TICK_SIZE: pl.Float64,
        C.LOT_SIZE: pl.Float64,
        C.MIN_NOTIONAL: pl.Float64,
        C.LISTED_AT: pl.Datetime("ms", "UTC"),
        C.ACTIVE: pl.Boolean,
    }


def read(lh: Lakehouse) -> pl.DataFrame:
    if not lh.metadata_path.exists():
        return pl.DataFrame(schema=schema())
    return lh.read_table(lh.metadata_path, schema(), "metadata")


def upsert(lh: Lakehouse, venue: str, markets: pl.DataFrame, as_of: dt.datetime) -> pl.DataFrame:
    """Store `markets` rows (one per symbol) as the metadata version of `as_of`'s date; returns those rows."""
    rows = markets.select(
        pl.lit(venue).alias(C.VENUE),
        C.SYMBOL,
        pl.lit(as_of.date()).alias(C.AS_OF),
        *FIELDS,
        C.LISTED_AT,
        C.ACTIVE,
    ).cast(schema())  # type: ignore[arg-type]
    with lh.lock("metadata"):
        old = read(lh)
        merged = pl.concat([old.join(rows.select(KEY), on=list(KEY), how="anti"), rows]).sort(*KEY)
        atomic.write_parquet(lh.metadata_path, merged)
    return rows


def missing_fields(rows: pl.DataFrame) -> dict[str, list[str]]:
    """{symbol: [fields that are null]} for every symbol with a gap in its metadata."""
    out = {}
    for row in rows.iter_rows(named=True):
        gaps = [f for f in FIELDS if row[f] is None]
        if gaps:
            out[row[C.SYMBOL]] = gaps
    return out

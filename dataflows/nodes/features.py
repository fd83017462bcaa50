"""Feature backfill: point-in-time technical ratings for every candidate into the features matrix, checked against
the venue's own ratings snapshot where the venue offers one."""

from __future__ import annotations

import numpy as np
import polars as pl
from hamilton.function_modifiers import tag

from dataflows import columns as C
from dataflows.config import DataConfig
from dataflows.errors import RatingsMismatch
from dataflows.lakehouse import features
from dataflows.lakehouse.audit import Candidate
from dataflows.lakehouse.repair import RepairReport
from dataflows.lakehouse.store import Lakehouse
from dataflows.timestamps import iso
from dataflows.venues.base import Venue


@tag(lakehouse="writes")
def features_update(
    repair_report: RepairReport, lakehouse: Lakehouse, venue: Venue, data_config: DataConfig
) -> features.FeaturesUpdate:
    """Ratings rows for every candidate with stored bars (incremental; full where older history changed)."""
    symbols = [a.symbol for a in repair_report.after]
    return features.update(lakehouse, venue.name, data_config.timeframe, symbols)


@tag(manifest="ratings_check")
def ratings_check(
    features_update: features.FeaturesUpdate, audit_candidates: list[Candidate], lakehouse: Lakehouse, venue: Venue
) -> dict:
    """Compare the backfill with the venue's snapshot (its ratings on the last completed bar).

    Exact agreement is required where the lakehouse holds the symbol's whole history (first stored bar at or before
    its listing): the recursive indicators (EMA200, RSI, ADX, ...) depend on every bar since the first. Elsewhere the
    comparison is reported as unverifiable, with the reason. A mismatch raises `RatingsMismatch`.
    """
    snapshot_fn = getattr(venue, "ratings_snapshot", None)
    if snapshot_fn is None:
        return {"available": False}
    symbols = [c.symbol for c in audit_candidates]
    snap = snapshot_fn(symbols)
    matrix = features.read_updated(lakehouse, features_update).filter(pl.col(C.VENUE) == venue.name)
    listed = {c.symbol: c.listed_at_ms for c in audit_candidates}
    verified, unverifiable, mismatches = [], {}, []
    for row in snap.iter_rows(named=True):
        sym = row[C.SYMBOL]
        mine = matrix.filter(pl.col(C.SYMBOL) == sym)
        if mine.height == 0:
            unverifiable[sym] = "no stored bars"
            continue
        first = int(mine[C.TS].min().timestamp() * 1000)
        if listed.get(sym) is None or first > listed[sym]:
            unverifiable[sym] = f"stored history starts {iso(first)}, after the listing {iso(listed.get(sym))}"
            continue
        at = mine.filter(pl.col(C.TS) == row[C.TS])
        if at.height == 0:
            unverifiable[sym] = f"no stored bar at the snapshot's {row[C.TS].isoformat()}"
            continue
        for col in features.RATINGS:
            a, b = at[col][0], row[col]
            same = (a is None and b is None) or (a is not None and b is not None and np.float64(a) == np.float64(b))
            if not same:
                mismatches.append(f"{sym} {col} at {row[C.TS].isoformat()}: backfill {a} vs venue {b}")
        verified.append(sym)
    if mismatches:
        msg = f"ratings backfill disagrees with the venue snapshot: {'; '.join(mismatches[:10])}"
        raise RatingsMismatch(msg)
    return {"available": True, "verified": verified, "unverifiable": unverifiable}

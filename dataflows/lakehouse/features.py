"""The features matrix: point-in-time technical ratings per (symbol, completed bar), in long format.

`features_matrix.parquet` holds one row per (venue, symbol, ts) with `recommend_ma`, `recommend_other`,
`recommend_all` (null while warming up) and the 26 component votes `vote_<component>` (Int8: −1/0/+1, null = the
component does not vote yet). Row t is computed from the symbol's stored bars up to and including t only.

Updates are incremental: when a symbol's stored bars only gained newer bars since its last features row, only the
new rows are computed and appended (the kernel recomputes each column's recursive state from its first bar and
emits rows from `start`, so the result is bit-identical to a full recomputation); when older bars changed (a head
or gap repair), the symbol is recomputed in full.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from dataflows import columns as C
from dataflows.lakehouse import atomic
from dataflows.lakehouse.panel import long_to_wide
from dataflows.lakehouse.store import Lakehouse

RATINGS = ("recommend_ma", "recommend_other", "recommend_all")


def vote_columns() -> tuple[str, ...]:
    from kernels.ratings import COMPONENTS

    return tuple(f"vote_{c}" for c in COMPONENTS)


def schema() -> dict:
    return {
        C.VENUE: pl.String,
        C.SYMBOL: pl.String,
        C.TS: pl.Datetime("ms", "UTC"),
        **{r: pl.Float64 for r in RATINGS},
        **{v: pl.Int8 for v in vote_columns()},
    }


@dataclass
class FeaturesUpdate:
    """What one update did."""

    appended: dict[str, int] = field(default_factory=dict)  # symbol → rows appended incrementally
    recomputed: dict[str, int] = field(default_factory=dict)  # symbol → rows after a full recomputation
    unchanged: list[str] = field(default_factory=list)
    rows: int = 0  # rows in the matrix afterwards
    content_hash: str | None = None

    def as_dict(self) -> dict:
        return {
            "appended": self.appended,
            "recomputed": self.recomputed,
            "unchanged": self.unchanged,
            "rows": self.rows,
            "content_hash": self.content_hash,
        }


def read(lh: Lakehouse) -> pl.DataFrame:
    """The whole features matrix (empty with the right schema when absent)."""
    if not lh.features_path.exists():
        return pl.DataFrame(schema=schema())
    return lh.read_table(lh.features_path, schema(), "features matrix")


def read_updated(lh: Lakehouse, update: FeaturesUpdate) -> pl.DataFrame:
    """The features matrix as `update` left it: what a stage reads after this run's backfill (an empty matrix when
    the update left no rows). A newer version written meanwhile by a concurrent run holds the same rows for this
    run's bars (ratings are a function of the bars; a recomputation gives identical rows), so it is read as it is."""
    if update.rows == 0:
        return pl.DataFrame(schema=schema())
    return read(lh)


COMPUTE_CHUNK = 256  # symbols rated together: bounds the (bars x symbols x 26) vote array of a large backfill


def _compute(bars: dict[str, pl.DataFrame], since: dict[str, int | None], venue: str) -> pl.DataFrame:
    """Ratings rows of each symbol from its own `since` open time (None = all rows), from its full bars; in chunks
    of `COMPUTE_CHUNK` symbols (a symbol's ratings depend only on its own bars, so chunks give the same rows)."""
    symbols = list(bars)
    if len(symbols) <= COMPUTE_CHUNK:
        return _compute_chunk(bars, since, venue)
    parts = []
    for i in range(0, len(symbols), COMPUTE_CHUNK):
        chunk = {s: bars[s] for s in symbols[i : i + COMPUTE_CHUNK]}
        parts.append(_compute_chunk(chunk, since, venue))
    return pl.concat(parts)


def _compute_chunk(bars: dict[str, pl.DataFrame], since: dict[str, int | None], venue: str) -> pl.DataFrame:
    from kernels.ratings import technical_ratings

    symbols = list(bars)
    long = pl.concat([b.with_columns(pl.lit(s).alias(C.SYMBOL)) for s, b in bars.items()])
    times, p = long_to_wide(long, symbols, (C.HIGH, C.LOW, C.CLOSE, C.VOLUME))
    firsts = [since[s] if since[s] is not None else int(times[0]) for s in symbols]
    start = int(np.searchsorted(times, min(firsts)))
    r = technical_ratings(p[C.HIGH], p[C.LOW], p[C.CLOSE], p[C.VOLUME], start=start)
    t_rows = times[start:]
    has_bar = ~np.isnan(p[C.CLOSE][start:])
    wanted = has_bar & (t_rows[:, None] >= np.asarray(firsts)[None, :])
    ri, ci = np.nonzero(wanted)
    votes = r.votes[ri, ci, :]
    cols = {
        C.VENUE: pl.Series([venue] * ri.size, dtype=pl.String),
        C.SYMBOL: pl.Series(np.asarray(symbols, dtype=object)[ci], dtype=pl.String),
        C.TS: pl.Series(t_rows[ri]).cast(pl.Datetime("ms", "UTC")),
        "recommend_ma": r.recommend_ma[ri, ci],
        "recommend_other": r.recommend_other[ri, ci],
        "recommend_all": r.recommend_all[ri, ci],
    }
    for k, name in enumerate(vote_columns()):
        cols[name] = pl.Series(votes[:, k]).fill_nan(None).cast(pl.Int8)
    return pl.DataFrame(cols).with_columns(pl.col(list(RATINGS)).fill_nan(None)).select(list(schema()))


def update(
    lh: Lakehouse, venue: str, timeframe: str, symbols: list[str], *, force_full: bool = False
) -> FeaturesUpdate:
    """Bring the features rows of `symbols` up to date with their stored bars (incrementally when possible)."""
    out = FeaturesUpdate()
    with lh.lock("features"):
        old = read(lh)
        mine = old.filter(pl.col(C.VENUE) == venue)
        last_rows = mine.group_by(C.SYMBOL).agg(
            pl.col(C.TS).min().alias("first"), pl.col(C.TS).max().alias("last"), pl.len().alias("n")
        )
        state = {r[C.SYMBOL]: r for r in last_rows.iter_rows(named=True)}
        bars: dict[str, pl.DataFrame] = {}
        since: dict[str, int | None] = {}
        for symbol in symbols:
            stored = lh.read(venue, timeframe, symbol)
            if stored is None or stored.height == 0:
                continue
            prev = state.get(symbol)
            ts = stored[C.TS]
            if prev is None or force_full:
                since[symbol] = None
            elif ts.max() == prev["last"] and stored.height == prev["n"]:
                out.unchanged.append(symbol)
                continue
            elif ts.min() == prev["first"] and int((ts <= prev["last"]).sum()) == prev["n"]:
                since[symbol] = int(ts.filter(ts > prev["last"]).dt.epoch("ms").min())  # only newer bars
            else:
                since[symbol] = None  # older history changed: recompute in full
            bars[symbol] = stored.select(C.TS, C.HIGH, C.LOW, C.CLOSE, C.VOLUME)
        if not bars:
            out.rows, out.content_hash = old.height, _hash(lh)
            return out
        new = _compute(bars, since, venue)
        full = [s for s in bars if since[s] is None]
        keep = old.filter(~((pl.col(C.VENUE) == venue) & pl.col(C.SYMBOL).is_in(full)))
        merged = pl.concat([keep, new]).sort(C.VENUE, C.SYMBOL, C.TS)
        atomic.write_parquet(lh.features_path, merged)
        counts = dict(new.group_by(C.SYMBOL).len().iter_rows())
        for s in bars:
            (out.recomputed if since[s] is None else out.appended)[s] = int(counts.get(s, 0))
        out.rows, out.content_hash = merged.height, _hash(lh)
    return out


def _hash(lh: Lakehouse) -> str | None:
    from dataflows.lakehouse.store import file_hash

    return file_hash(lh.features_path) if lh.features_path.exists() else None


def as_of_rows(frame: pl.DataFrame, venue: str, at_or_before_ms: int) -> pl.DataFrame:
    """Each symbol's latest features row with ts ≤ `at_or_before_ms` (point in time: never a later row)."""
    return (
        frame.filter((pl.col(C.VENUE) == venue) & (pl.col(C.TS).dt.epoch("ms") <= at_or_before_ms))
        .sort(C.TS)
        .group_by(C.SYMBOL, maintain_order=True)
        .last()
    )

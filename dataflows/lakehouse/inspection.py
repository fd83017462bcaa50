"""Inspection of stored bars: split a file's canonical bars into the usable ones and the rows that may not be
served (null or pre-2000 timestamps, off-calendar open times, bad prices or volume, duplicate timestamps), with the
evidence the audit reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from dataflows import columns as C
from dataflows.lakehouse.bars import MIN_TS_MS, ts_ms

if TYPE_CHECKING:
    from dataflows.lakehouse.calendar import Calendar


@dataclass(frozen=True)
class Inspection:
    """A stored file split into the bars that may be used and the rows that may not (with why)."""

    clean: pl.DataFrame  # canonical, sorted, unique timestamps, every check passed
    bad: pl.DataFrame  # rows that fail a check: the OHLCV columns (ts null if unreadable) plus `problem`
    unsorted: bool = False
    ts_type: str | None = None  # the stored timestamp type when it was not ms UTC
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.bad.height == 0 and not self.unsorted

    @property
    def ts(self) -> pl.Series:
        return ts_ms(self.clean)

    def evidence(self) -> dict:
        """What is wrong, for audit.json: counts per problem and the first offending rows."""
        out: dict = {}
        if self.bad.height:
            counts = self.bad.group_by("problem").len().sort("problem")
            out["bad_rows"] = dict(counts.iter_rows())
            out["first_bad_rows"] = [
                {k: (str(v) if k == C.TS else v) for k, v in r.items()} for r in self.bad.head(5).iter_rows(named=True)
            ]
        if self.unsorted:
            out["unsorted"] = True
        if self.ts_type is not None:
            out["timestamp_type"] = f"{self.ts_type} (read as ms UTC; rewritten in ms by the next write)"
        return out


def inspect_bars(
    frame: pl.DataFrame, *, bar_ms: int | None = None, calendar: Calendar | None = None, ts_type: str | None = None
) -> Inspection:
    """Split canonical bars into usable and unusable rows. Unusable: null or pre-2000 timestamps; open times not on
    the calendar (not a bar boundary, or no session that day; without a calendar: not a multiple of `bar_ms`);
    null, non-finite or non-positive prices; high below low/open/close or low above open/close; null, non-finite or
    negative volume; duplicate timestamps (an identical copy is set aside and one kept; copies that differ are all
    set aside, the venue is asked again)."""
    ts = pl.col(C.TS).dt.epoch("ms")
    o, h, lo, c, v = (pl.col(x) for x in (*C.PRICES, C.VOLUME))
    checks: list[tuple[str, pl.Expr]] = [
        ("null or pre-2000 timestamp", pl.col(C.TS).is_null() | (ts < MIN_TS_MS)),
        ("non-finite price", ~pl.all_horizontal(*(p.is_finite().fill_null(False) for p in (o, h, lo, c)))),
        ("non-positive price", pl.any_horizontal(*(p <= 0 for p in (o, h, lo, c)))),
        ("high < low", h < lo),
        ("high below open/close or low above them", (h < o) | (h < c) | (lo > o) | (lo > c)),
        ("bad volume", ~v.is_finite().fill_null(False) | (v < 0)),
    ]
    if calendar is None and bar_ms is not None:
        checks.append(("off-calendar bar (not a bar boundary)", (ts % bar_ms) != 0))
    rows = frame.with_row_index("__row")
    problem = pl.lit(None, pl.String)
    for name, expr in reversed(checks):
        problem = pl.when(expr.fill_null(True)).then(pl.lit(name)).otherwise(problem)
    rows = rows.with_columns(problem.alias("problem"))
    if calendar is not None:
        ts_np = rows[C.TS].dt.epoch("ms").fill_null(0).to_numpy()
        on = np.asarray(calendar.is_trading(ts_np), dtype=bool)
        label = f"off-calendar bar (not a bar open time of {calendar.name})"
        rows = rows.with_columns(
            pl.when(pl.col("problem").is_null() & ~pl.Series(on))
            .then(pl.lit(label))
            .otherwise(pl.col("problem"))
            .alias("problem")
        )
    unsorted = bool(frame.height > 1 and not frame[C.TS].drop_nulls().is_sorted())
    good = rows.filter(pl.col("problem").is_null())
    dup = good.filter(pl.col(C.TS).is_duplicated())
    if dup.height:
        values = [*C.PRICES, C.VOLUME]
        differ = dup.group_by(C.TS).agg(pl.struct(values).n_unique().alias("n")).filter(pl.col("n") > 1)[C.TS]
        first = dup.filter(~pl.col(C.TS).is_in(differ.implode())).group_by(C.TS).agg(pl.col("__row").min())["__row"]
        rows = rows.with_columns(
            pl.when(pl.col("problem").is_null() & pl.col(C.TS).is_in(differ.implode()))
            .then(pl.lit("duplicate timestamp (copies differ)"))
            .when(
                pl.col("problem").is_null()
                & pl.col("__row").is_in(dup["__row"].implode())
                & ~pl.col("__row").is_in(first.implode())
                & ~pl.col(C.TS).is_in(differ.implode())
            )
            .then(pl.lit("duplicate timestamp (identical copy)"))
            .otherwise(pl.col("problem"))
            .alias("problem")
        )
    clean = rows.filter(pl.col("problem").is_null()).drop("__row", "problem").sort(C.TS)
    bad = rows.filter(pl.col("problem").is_not_null()).drop("__row")
    return Inspection(clean=clean, bad=bad, unsorted=unsorted, ts_type=ts_type)

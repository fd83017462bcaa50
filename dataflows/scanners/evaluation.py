"""Applying a resolved scanner to a venue's joined markets+tickers frame: the universe steps, the filters,
one atom per economic base per (logic, direction) keeping the most liquid quote, the limit; each step recorded in a
funnel."""

from __future__ import annotations

import polars as pl

from dataflows import columns as C
from dataflows.scanners.schema import (
    OPS,
    Filter,
    ScannerSpec,
    candidate_rating_schema,
    candidate_schema,
    rating_category_expr,
)


def _expr(f: Filter) -> pl.Expr:
    col = pl.col(f.field)
    if f.op == "in":
        return col.is_in(list(f.value))
    if f.op == "not_in":
        return ~col.is_in(list(f.value))
    return OPS[f.op](col, f.value)


def _step(funnel: list[dict], step: str, before: pl.DataFrame, after: pl.DataFrame, field: str | None = None) -> None:
    """Record one funnel step: markets left, and how many of the removed ones had no value for `field`."""
    entry: dict = {"step": step, "left": after.height, "removed": before.height - after.height}
    if field is not None and field in before.columns and entry["removed"]:
        unknown = int(before[field].is_null().sum())
        if unknown:
            entry["unknown"] = unknown
    funnel.append(entry)


def universe_frame(
    spec: ScannerSpec, universe: pl.DataFrame, as_of_ms: int | None = None, funnel: list[dict] | None = None
) -> pl.DataFrame:
    """The markets inside a scanner's universe (listing, active flag, asset class, types, quotes, in/exclusions),
    before any ticker filter; each step is recorded in `funnel` when given."""
    funnel = [] if funnel is None else funnel
    u = spec.universe
    funnel.append({"step": "markets", "left": universe.height, "removed": 0})
    # a venue that does not know a symbol's base (user files) makes each symbol its own economic base
    frame = universe.with_columns(pl.coalesce(C.BASE, C.SYMBOL).alias(C.BASE))
    if as_of_ms is not None:
        listed = pl.col(C.LISTED_AT)
        after = frame.filter(listed.is_null() | (listed.dt.epoch("ms") <= as_of_ms))
        _step(funnel, "listed by as_of", frame, after)
        frame = after
    after = frame.filter(pl.col(C.ACTIVE).fill_null(False))
    _step(funnel, "active", frame, after, C.ACTIVE)
    frame = after
    if "asset_class" in u:
        after = frame.filter(pl.col(C.ASSET_CLASS) == u["asset_class"])
        _step(funnel, f"universe.asset_class={u['asset_class']}", frame, after, C.ASSET_CLASS)
        frame = after
    for key, col in (("types", "type"), ("quotes", C.QUOTE), ("include", C.SYMBOL)):
        if u.get(key):
            after = frame.filter(pl.col(col).is_in(list(u[key])))
            _step(funnel, f"universe.{key} in {list(u[key])}", frame, after, col)
            frame = after
    if u.get("exclude_types"):  # a market of unknown type stays (files rarely know their types)
        excluded = pl.col("type").is_in(list(u["exclude_types"])).fill_null(value=False)
        after = frame.filter(~excluded)
        _step(funnel, f"universe.exclude_types {list(u['exclude_types'])}", frame, after)
        frame = after
    if u.get("exclude"):
        after = frame.filter(~pl.col(C.SYMBOL).is_in(list(u["exclude"])))
        _step(funnel, f"universe.exclude {list(u['exclude'])}", frame, after)
        frame = after
    if u.get("exclude_bases"):
        after = frame.filter(~pl.col(C.BASE).is_in(list(u["exclude_bases"])))
        _step(funnel, f"universe.exclude_bases {list(u['exclude_bases'])}", frame, after)
        frame = after
    return frame


def scan(
    spec: ScannerSpec,
    universe: pl.DataFrame,
    venue: str,
    *,
    as_of_ms: int | None = None,
    funnel: list[dict] | None = None,
) -> pl.DataFrame:
    """Apply one scanner to the joined markets+tickers frame; returns candidates in `candidate_schema()`.

    With `as_of_ms`, markets listed after it are out. `funnel`, when given, receives one entry per step
    (`step`, markets `left`, `removed`, and `unknown`: how many removed ones had no value for the field)."""
    funnel = [] if funnel is None else funnel
    frame = universe_frame(spec, universe, as_of_ms, funnel)
    for col in candidate_rating_schema():
        if col not in frame.columns:
            frame = frame.with_columns(pl.lit(None, pl.Float64).alias(col))
    frame = frame.with_columns(rating_category_expr().alias("rating_category"))
    for f in spec.filters:
        after = frame.filter(_expr(f).fill_null(False))
        _step(funnel, f"filters.{f.name}: {f.field} {f.op} {f.value!r}", frame, after, f.field)
        frame = after
    # one atom per base per (logic, direction): keep the most liquid quote
    after = (
        frame.sort(C.QUOTE_VOLUME, descending=True, nulls_last=True)
        .unique(C.BASE, keep="first", maintain_order=True)
        .sort(spec.sort_by, descending=spec.descending, nulls_last=True, maintain_order=True)
    )
    _step(funnel, "one atom per base", frame, after)
    frame = after
    if spec.limit is not None:
        after = frame.head(spec.limit)
        _step(funnel, f"limit {spec.limit}", frame, after)
        frame = after
    return frame.select(
        C.SYMBOL,
        pl.lit(venue).alias(C.VENUE),
        C.ASSET_CLASS,
        C.BASE,
        C.QUOTE,
        pl.lit(spec.direction).alias(C.DIRECTION),
        pl.lit(spec.logic).alias(C.LOGIC),
        (pl.col(C.SYMBOL) + f"|{spec.logic}|{spec.direction}").alias(C.ATOM_ID),
        C.QUOTE_VOLUME,
        C.LAST,
        C.CHANGE,
        pl.col("recommend_all").alias(C.RATING),
        C.LISTED_AT,
        pl.lit(spec.name).alias("scanner"),
    ).cast(candidate_schema())  # type: ignore[arg-type]

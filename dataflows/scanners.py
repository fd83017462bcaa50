"""Discovery scanners: YAML specs under `conf/scanner/` that turn a venue's markets and tickers into candidates.

A spec has `universe` (asset_class, types, exclude_types, quotes, include, exclude, exclude_bases), `filters` (a mapping
`name: {field, op, value}`), `sort` ({by, descending}), `limit`, `direction` (LONG|SHORT) and `logic` (defaults to
the scanner's name). `base: other_scanner` inherits: mappings deep-merge, so a child overrides an inherited filter
by name, and removes it with `name: null`; lists and scalars are replaced.

Candidates come out in one canonical schema (`CANDIDATE_SCHEMA`), deduplicated to one atom per economic base per
(logic, direction), keeping the most liquid quote.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from dataflows import columns as C
from dataflows.errors import ConfigError
from dataflows.venues.base import MARKET_COLUMNS, TICKER_COLUMNS

OPS = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    "in": None,
    "not_in": None,
}
RATING_FIELDS = ("recommend_all", "recommend_ma", "recommend_other", "rating_category")
FIELDS = (*RATING_FIELDS, *MARKET_COLUMNS, *TICKER_COLUMNS[1:])  # what a filter or sort may name
SPEC_KEYS = {"base", "name", "universe", "filters", "sort", "limit", "direction", "logic", "description"}
UNIVERSE_KEYS = {"asset_class", "types", "exclude_types", "quotes", "include", "exclude", "exclude_bases"}
MAX_DEPTH = 8


def candidate_schema() -> dict:
    return {
        C.SYMBOL: pl.String,
        C.VENUE: pl.String,
        C.ASSET_CLASS: pl.String,
        C.BASE: pl.String,
        C.QUOTE: pl.String,
        C.DIRECTION: pl.String,
        C.LOGIC: pl.String,
        C.ATOM_ID: pl.String,
        C.QUOTE_VOLUME: pl.Float64,
        C.LAST: pl.Float64,
        C.CHANGE: pl.Float64,
        C.RATING: pl.Float64,
        C.LISTED_AT: pl.Datetime("ms", "UTC"),
        "scanner": pl.String,
    }


@dataclass(frozen=True)
class Filter:
    name: str
    field: str
    op: str
    value: Any


@dataclass(frozen=True)
class ScannerSpec:
    """A resolved scanner (inheritance applied, validated)."""

    name: str
    direction: str
    logic: str
    universe: dict = field(default_factory=dict)
    filters: tuple[Filter, ...] = ()
    sort_by: str = C.QUOTE_VOLUME
    descending: bool = True
    limit: int | None = None


def _deep_merge(parent: dict, child: dict) -> dict:
    out = dict(parent)
    for key, value in child.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _load_raw(name: str, folder: Path) -> dict:
    path = folder / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in folder.glob("*.yaml"))
        msg = f"scanner {name!r} not found in {folder}; known scanners: {known}"
        raise ConfigError(msg)
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        msg = f"scanner file {path} must hold a mapping"
        raise ConfigError(msg)
    return raw


def resolve(spec: dict, folder: Path, *, name: str, _depth: int = 0) -> dict:
    """Apply `base:` inheritance (recursively) to a raw spec."""
    if _depth > MAX_DEPTH:
        msg = f"scanner {name!r}: inheritance deeper than {MAX_DEPTH} (a cycle?)"
        raise ConfigError(msg)
    base = spec.get("base")
    if base is None:
        return dict(spec)
    parent = resolve(_load_raw(base, folder), folder, name=base, _depth=_depth + 1)
    parent.pop("name", None)
    return _deep_merge(parent, {k: v for k, v in spec.items() if k != "base"})


NUMERIC_FIELDS = {C.TICK_SIZE, C.LOT_SIZE, C.MIN_NOTIONAL, C.LAST, C.QUOTE_VOLUME, C.CHANGE, *RATING_FIELDS[:3]}
CATEGORIES = ("Strong Sell", "Sell", "Neutral", "Buy", "Strong Buy")


def candidate_rating_schema() -> dict:
    return {C.SYMBOL: pl.String, "recommend_ma": pl.Float64, "recommend_other": pl.Float64, "recommend_all": pl.Float64}


def rating_category_expr(col: str = "recommend_all") -> pl.Expr:
    """TradingView's category of a rating: Strong Sell below -0.5, Sell below -0.1, Neutral up to 0.1, Buy up to 0.5,
    Strong Buy above; null for null."""
    v = pl.col(col)
    return (
        pl.when(v.is_null())
        .then(None)
        .when(v < -0.5)
        .then(pl.lit("Strong Sell"))
        .when(v < -0.1)
        .then(pl.lit("Sell"))
        .when(v <= 0.1)
        .then(pl.lit("Neutral"))
        .when(v <= 0.5)
        .then(pl.lit("Buy"))
        .otherwise(pl.lit("Strong Buy"))
    )


def _coerce(scanner: str, fname: str, field_name: str, value: Any) -> Any:
    """Numbers for numeric fields (YAML reads `5.0e6` as a string), lists for in/not_in."""
    if field_name == "rating_category":
        items = value if isinstance(value, list) else [value]
        bad = [v for v in items if v not in CATEGORIES]
        if bad:
            msg = f"scanner {scanner!r}: filter {fname!r} uses unknown categories {bad}; use {list(CATEGORIES)}"
            raise ConfigError(msg)
        return value
    if field_name not in NUMERIC_FIELDS:
        return value
    items = value if isinstance(value, list) else [value]
    try:
        out = [float(v) for v in items if not isinstance(v, bool)]
    except (TypeError, ValueError):
        out = []
    if len(out) != len(items):
        msg = f"scanner {scanner!r}: filter {fname!r} compares numeric field {field_name!r} with {value!r}"
        raise ConfigError(msg)
    return out if isinstance(value, list) else out[0]


def build(spec: dict, *, name: str) -> ScannerSpec:
    """Validate a resolved raw spec into a `ScannerSpec`; unknown keys and bad values name the scanner."""
    unknown = set(spec) - SPEC_KEYS
    if unknown:
        msg = f"scanner {name!r}: unknown keys {sorted(unknown)}; allowed: {sorted(SPEC_KEYS)}"
        raise ConfigError(msg)
    universe = dict(spec.get("universe") or {})
    if set(universe) - UNIVERSE_KEYS:
        msg = f"scanner {name!r}: unknown universe keys {sorted(set(universe) - UNIVERSE_KEYS)}"
        raise ConfigError(msg)
    direction = str(spec.get("direction", C.LONG)).upper()
    if direction not in C.DIRECTIONS:
        msg = f"scanner {name!r}: direction {direction!r} must be LONG or SHORT"
        raise ConfigError(msg)
    filters = []
    for fname, f in (spec.get("filters") or {}).items():
        if f is None:  # removed by a child
            continue
        if not isinstance(f, dict) or set(f) != {"field", "op", "value"}:
            msg = f"scanner {name!r}: filter {fname!r} must be {{field, op, value}}, got {f!r}"
            raise ConfigError(msg)
        if f["field"] not in FIELDS or f["op"] not in OPS:
            msg = f"scanner {name!r}: filter {fname!r} uses field {f['field']!r} / op {f['op']!r}; fields: {FIELDS}, ops: {list(OPS)}"
            raise ConfigError(msg)
        filters.append(Filter(fname, f["field"], f["op"], _coerce(name, fname, f["field"], f["value"])))
    sort = spec.get("sort") or {}
    sort_by = sort.get("by", C.QUOTE_VOLUME)
    if sort_by not in FIELDS:
        msg = f"scanner {name!r}: sort.by {sort_by!r} is not one of {FIELDS}"
        raise ConfigError(msg)
    limit = spec.get("limit")
    if limit is not None and (not isinstance(limit, int) or limit <= 0):
        msg = f"scanner {name!r}: limit must be a positive integer, got {limit!r}"
        raise ConfigError(msg)
    return ScannerSpec(
        name=name,
        direction=direction,
        logic=str(spec.get("logic") or name),
        universe=universe,
        filters=tuple(filters),
        sort_by=sort_by,
        descending=bool(sort.get("descending", True)),
        limit=limit,
    )


def load(name: str, folder: Path) -> ScannerSpec:
    """Load, resolve and validate `conf/scanner/<name>.yaml`."""
    return build(resolve(_load_raw(name, folder), folder, name=name), name=name)


def from_mapping(spec: dict, folder: Path) -> ScannerSpec:
    """A scanner given inline (e.g. chosen with `scanner=NAME` and overridden on the command line)."""
    name = str(spec.get("name") or spec.get("logic") or "inline")
    return build(resolve(spec, folder, name=name), name=name)


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

"""What a scanner spec may say and what a scanner yields: filter fields and operators, the resolved `ScannerSpec`,
the canonical candidate schema and the rating categories."""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from dataflows import columns as C
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
NUMERIC_FIELDS = {C.TICK_SIZE, C.LOT_SIZE, C.MIN_NOTIONAL, C.LAST, C.QUOTE_VOLUME, C.CHANGE, *RATING_FIELDS[:3]}
CATEGORIES = ("Strong Sell", "Sell", "Neutral", "Buy", "Strong Buy")


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

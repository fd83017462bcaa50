"""Discovery scanners: YAML specs under `conf/scanner/` that turn a venue's markets and tickers into candidates.

A spec has `universe` (asset_class, types, exclude_types, quotes, include, exclude, exclude_bases), `filters` (a mapping
`name: {field, op, value}`), `sort` ({by, descending}), `limit`, `direction` (LONG|SHORT) and `logic` (defaults to
the scanner's name). `base: other_scanner` inherits (`specs`): mappings deep-merge, so a child overrides an inherited
filter by name, and removes it with `name: null`; lists and scalars are replaced.

Candidates come out in one canonical schema (`schema.candidate_schema`), deduplicated to one atom per economic base
per (logic, direction), keeping the most liquid quote (`evaluation`).
"""

from dataflows.scanners.evaluation import scan, universe_frame
from dataflows.scanners.schema import (
    CATEGORIES,
    FIELDS,
    NUMERIC_FIELDS,
    OPS,
    RATING_FIELDS,
    SPEC_KEYS,
    UNIVERSE_KEYS,
    Filter,
    ScannerSpec,
    candidate_rating_schema,
    candidate_schema,
    rating_category_expr,
)
from dataflows.scanners.specs import MAX_DEPTH, build, from_mapping, load, resolve

__all__ = [
    "CATEGORIES",
    "FIELDS",
    "MAX_DEPTH",
    "NUMERIC_FIELDS",
    "OPS",
    "RATING_FIELDS",
    "SPEC_KEYS",
    "UNIVERSE_KEYS",
    "Filter",
    "ScannerSpec",
    "build",
    "candidate_rating_schema",
    "candidate_schema",
    "from_mapping",
    "load",
    "rating_category_expr",
    "resolve",
    "scan",
    "universe_frame",
]

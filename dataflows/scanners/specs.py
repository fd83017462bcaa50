"""Scanner specs from YAML: `base:` inheritance and validation into a `ScannerSpec`.

`base: other_scanner` inherits: mappings deep-merge, so a child overrides an inherited filter by name, and removes it
with `name: null`; lists and scalars are replaced. Unknown keys and bad values are one `ConfigError` naming the
scanner.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from dataflows import columns as C
from dataflows.errors import ConfigError
from dataflows.scanners.schema import (
    CATEGORIES,
    FIELDS,
    NUMERIC_FIELDS,
    OPS,
    SPEC_KEYS,
    UNIVERSE_KEYS,
    Filter,
    ScannerSpec,
)

MAX_DEPTH = 8


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

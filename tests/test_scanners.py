"""Scanners: inheritance overrides and removes filters; candidates are deduplicated per base; bad specs are errors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from dataflows import columns as C
from dataflows import scanners
from dataflows.errors import ConfigError


def _write(folder: Path, name: str, text: str) -> None:
    (folder / f"{name}.yaml").write_text(text)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    _write(
        tmp_path,
        "parent",
        """
universe: {asset_class: crypto, quotes: [USDT, USDC]}
filters:
  liquid: {field: quote_volume, op: ">=", value: 1000}
  rising: {field: change, op: ">", value: 0}
limit: 10
""",
    )
    _write(tmp_path, "child_override", "base: parent\nfilters:\n  liquid: {field: quote_volume, op: '>=', value: 5}\n")
    _write(tmp_path, "child_remove", "base: parent\nfilters:\n  rising: null\ndirection: SHORT\n")
    _write(tmp_path, "grandchild", "base: child_remove\nlimit: 2\nlogic: gc\n")
    _write(tmp_path, "cycle_a", "base: cycle_b\n")
    _write(tmp_path, "cycle_b", "base: cycle_a\n")
    _write(tmp_path, "bad_key", "universe: {asset_class: crypto}\nfliters: {}\n")
    _write(tmp_path, "bad_value", "filters:\n  x: {field: quote_volume, op: '>', value: lots}\n")
    return tmp_path


def universe() -> pl.DataFrame:
    rows = [
        ("BTC/USDT", "BTC", "USDT", 5e9, 0.02),
        ("BTC/USDC", "BTC", "USDC", 1e8, 0.02),
        ("ETH/USDT", "ETH", "USDT", 2e9, -0.01),
        ("DOGE/USDT", "DOGE", "USDT", 500.0, 0.05),
        ("TINY/USDT", "TINY", "USDT", 10.0, -0.2),
    ]
    return pl.DataFrame(
        {
            C.SYMBOL: [r[0] for r in rows],
            C.BASE: [r[1] for r in rows],
            C.QUOTE: [r[2] for r in rows],
            "type": ["spot"] * len(rows),
            C.ASSET_CLASS: ["crypto"] * len(rows),
            C.TICK_SIZE: [0.01] * len(rows),
            C.LOT_SIZE: [0.001] * len(rows),
            C.MIN_NOTIONAL: [5.0] * len(rows),
            C.LISTED_AT: [dt.datetime(2020, 1, 1, tzinfo=dt.UTC)] * len(rows),
            C.ACTIVE: [True] * len(rows),
            C.LAST: [1.0] * len(rows),
            C.QUOTE_VOLUME: [r[3] for r in rows],
            C.CHANGE: [r[4] for r in rows],
        },
    ).with_columns(pl.col(C.LISTED_AT).cast(pl.Datetime("ms", "UTC")))


def test_child_overrides_inherited_filter(folder):
    spec = scanners.load("child_override", folder)
    assert {f.name: f.value for f in spec.filters} == {"liquid": 5.0, "rising": 0.0}
    assert set(scanners.scan(spec, universe(), "v")[C.SYMBOL]) == {"BTC/USDT", "DOGE/USDT"}


def test_child_removes_inherited_filter(folder):
    spec = scanners.load("child_remove", folder)
    assert [f.name for f in spec.filters] == ["liquid"]
    out = scanners.scan(spec, universe(), "v")
    assert out[C.SYMBOL].to_list() == ["BTC/USDT", "ETH/USDT"]  # TINY below liquidity; DOGE 500 < 1000
    assert set(out[C.DIRECTION]) == {"SHORT"}


def test_grandchild_inherits_through_chain(folder):
    spec = scanners.load("grandchild", folder)
    assert spec.limit == 2 and spec.logic == "gc" and spec.direction == "SHORT"
    out = scanners.scan(spec, universe(), "v")
    assert out[C.ATOM_ID].to_list() == ["BTC/USDT|gc|SHORT", "ETH/USDT|gc|SHORT"]


def test_dedupe_keeps_most_liquid_quote(folder):
    out = scanners.scan(scanners.load("child_override", folder), universe(), "v")
    assert "BTC/USDC" not in out[C.SYMBOL].to_list()
    assert out.schema == scanners.candidate_schema()


@pytest.mark.parametrize(
    ("name", "fragment"), [("cycle_a", "cycle"), ("bad_key", "fliters"), ("bad_value", "lots"), ("nope", "not found")]
)
def test_bad_specs_are_config_errors(folder, name, fragment):
    with pytest.raises(ConfigError, match=fragment):
        scanners.load(name, folder)


def test_shipped_scanners_all_load():
    from dataflows.config import conf_dir

    folder = conf_dir() / "scanner"
    paths = sorted(folder.glob("*.yaml"))
    assert paths, f"no scanner configs in {folder}"
    for path in paths:
        scanners.load(path.stem, folder)


def test_funnel_counts_each_step_and_listing_is_point_in_time(folder):
    frame = universe().with_columns(
        pl.when(pl.col(C.SYMBOL) == "DOGE/USDT")
        .then(pl.lit(dt.datetime(2024, 6, 1, tzinfo=dt.UTC)))
        .otherwise(pl.col(C.LISTED_AT))
        .alias(C.LISTED_AT),
        pl.when(pl.col(C.SYMBOL) == "TINY/USDT").then(None).otherwise(pl.col(C.CHANGE)).alias(C.CHANGE),
    )
    funnel: list[dict] = []
    as_of = int(dt.datetime(2024, 1, 1, tzinfo=dt.UTC).timestamp() * 1000)
    out = scanners.scan(scanners.load("parent", folder), frame, "v", as_of_ms=as_of, funnel=funnel)
    assert out[C.SYMBOL].to_list() == ["BTC/USDT"]
    steps = {e["step"]: (e["left"], e["removed"], e.get("unknown", 0)) for e in funnel}
    assert steps["markets"] == (5, 0, 0)
    assert steps["listed by as_of"] == (4, 1, 0)  # DOGE lists in June 2024
    assert steps["filters.liquid: quote_volume >= 1000.0"] == (3, 1, 0)  # TINY
    assert steps["filters.rising: change > 0.0"] == (2, 1, 0)  # ETH falls
    assert steps["one atom per base"] == (1, 1, 0)  # BTC/USDC folds into BTC/USDT


def test_unknown_values_are_counted_in_the_funnel(folder):
    frame = universe().with_columns(pl.lit(None, pl.String).alias("type"))
    funnel: list[dict] = []
    spec = scanners.build({"universe": {"types": ["spot"]}}, name="typed")
    assert scanners.scan(spec, frame, "v", funnel=funnel).height == 0
    assert {"step": "universe.types in ['spot']", "left": 0, "removed": 5, "unknown": 5} in funnel


def test_exclude_types_keeps_unknown_types():
    frame = universe().with_columns(
        pl.Series("type", ["index", None, "spot", None, "spot"], dtype=pl.String),
    )
    spec = scanners.build({"universe": {"exclude_types": ["index"]}}, name="no_index")
    # BTC/USDT is an index: out; BTC/USDC (type unknown) stays and now represents BTC
    assert scanners.scan(spec, frame, "v")[C.SYMBOL].to_list() == ["ETH/USDT", "BTC/USDC", "DOGE/USDT", "TINY/USDT"]

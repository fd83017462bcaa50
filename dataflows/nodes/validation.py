"""Validation backtest (optional stage): walk-forward of the sleeve, and the run's backtest/ folder.

Nodes and their inputs:
- `walk_forward_params(settings)`: windows, costs and eligibility from `profile.validation` (train/test rows, the
  step equals test; fees, slippage; an optional eligibility rule on the features row at t−1).
- `backtest_history(healthy_symbols, candidates, features_update, lakehouse, venue, settings, decision_ms)`:
  returns of the healthy symbols over `data.history_days` ending at the decision bar (`build_returns`), their
  traded value per bar and their features-matrix rows — the whole history the walk-forward may slice
  (`features_update` is taken so the ratings rows are written before they are read).
- `backtest_result(backtest_history, candidates, symbol_metadata, selection_params, walk_forward_params, settings,
  metadata_required)`:
  per window, HTR selection → synthesis → optimization (the profile's method and fallback chain) on the training
  rows only, eligibility from the features row before each rebalance; the profile, filtered-EW and raw-EW books
  simulated with vectorbt's `from_orders` accounting (a numba kernel, equal to vectorbt in the tests) with holdings
  carried across windows; metrics and the forensic report.
- `backtest_files(backtest_result, run_dir)`: `backtest/returns.parquet` (date, profile, raw_ew, filtered_ew),
  `backtest/windows.csv`, `backtest/metrics.json`, `backtest/forensic.json`, each written atomically.

"""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl

from dataflows import columns as C
from dataflows.config import Settings
from dataflows.lakehouse import atomic, features
from dataflows.lakehouse.store import Lakehouse
from dataflows.selection.htr import SelectionParams
from dataflows.validation.walkforward import (
    BacktestResult,
    History,
    SleeveDecider,
    WalkForwardParams,
    load_history,
    run_backtest,
)
from dataflows.venues.base import Venue


def walk_forward_params(settings: Settings) -> WalkForwardParams:
    """Walk-forward windows, costs and eligibility from `profile.validation`."""
    from dataflows.validation.walkforward import EligibilityRule

    v = settings.profile.validation
    rule = None
    if v.eligibility_field is not None:
        rule = EligibilityRule(v.eligibility_field, v.eligibility_op, v.eligibility_value)
    return WalkForwardParams(
        train=v.train, test=v.test, step=v.test, anchored=v.anchored, fees=v.fees, slippage=v.slippage, eligibility=rule
    )


def backtest_history(
    healthy_symbols: list[str],
    candidates: pl.DataFrame,
    features_update: features.FeaturesUpdate,
    lakehouse: Lakehouse,
    venue: Venue,
    settings: Settings,
    decision_ms: int,
) -> History:
    """Returns, traded value and features rows of the healthy symbols over `data.history_days` to the decision bar."""
    del features_update  # an ordering edge: the features matrix is up to date before it is read
    classes = dict(candidates.select(C.SYMBOL, C.ASSET_CLASS).unique(C.SYMBOL).iter_rows())
    return load_history(
        lakehouse,
        venue.name,
        settings.data.timeframe,
        healthy_symbols,
        classes,
        end_ms=decision_ms,
        days=settings.data.history_days,
    )


def backtest_result(
    backtest_history: History,
    candidates: pl.DataFrame,
    symbol_metadata: pl.DataFrame,
    selection_params: SelectionParams,
    walk_forward_params: WalkForwardParams,
    settings: Settings,
    metadata_required: bool,
) -> BacktestResult:
    """The sleeve walked forward: per-window decisions on training rows only, books simulated (vectorbt's
    accounting)."""
    decide = SleeveDecider(candidates, symbol_metadata, settings, selection_params, metadata_required)
    return run_backtest(backtest_history, decide, walk_forward_params)


def backtest_files(backtest_result: BacktestResult, run_dir: Path) -> dict[str, Path]:
    """backtest/returns.parquet, windows.csv, metrics.json and forensic.json in the run folder (atomic writes)."""
    folder = run_dir / "backtest"
    paths = {
        "returns": folder / "returns.parquet",
        "windows": folder / "windows.csv",
        "metrics": folder / "metrics.json",
        "forensic": folder / "forensic.json",
    }
    atomic.write_parquet(paths["returns"], backtest_result.returns_frame())
    atomic.write_bytes(paths["windows"], backtest_result.windows.write_csv().encode())
    atomic.write_json(paths["metrics"], _json_ready(backtest_result.metrics))
    atomic.write_json(paths["forensic"], _json_ready(backtest_result.forensic))
    return paths


def _json_ready(obj: object) -> object:
    """`obj` with every non-finite float replaced by None (JSON has no NaN or infinity)."""
    if isinstance(obj, dict):
        return {k: _json_ready(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_ready(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj

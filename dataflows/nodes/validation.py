"""Validation backtest (optional stage): the sleeve walked forward, and the run's backtest/ folder.

`backtest_history` reads the healthy symbols' returns, traded value and features rows over `data.history_days` to
the decision bar (the features matrix as this run's backfill left it); `backtest_result` decides every window on its
training rows only with the live sleeve's decision (`dataflows.sleeve.decide`, eligibility from the features row
before each rebalance) and simulates the profile, filtered-EW and raw-EW books with vectorbt's `from_orders`
accounting (a numba kernel) with holdings carried across windows; its savers write `backtest/returns.parquet`,
`windows.csv`, `metrics.json` and `forensic.json`. Method note: `docs/validation.md`.
"""

from __future__ import annotations

import polars as pl
from hamilton.function_modifiers import config, source, value

from dataflows import columns as C
from dataflows.artifacts import save_to
from dataflows.config import DataConfig, ProfileConfig
from dataflows.lakehouse import features
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


@config.when(validate=True)
def walk_forward_params(profile_config: ProfileConfig) -> WalkForwardParams:
    """Walk-forward windows, costs and eligibility from `profile.validation`."""
    from dataflows.validation.walkforward import EligibilityRule

    v = profile_config.validation
    rule = None
    if v.eligibility_field is not None:
        rule = EligibilityRule(v.eligibility_field, v.eligibility_op, v.eligibility_value)
    return WalkForwardParams(
        train=v.train, test=v.test, step=v.test, anchored=v.anchored, fees=v.fees, slippage=v.slippage, eligibility=rule
    )


@config.when(validate=True)
def backtest_history(
    healthy_symbols: list[str],
    candidates: pl.DataFrame,
    features_update: features.FeaturesUpdate,
    lakehouse: Lakehouse,
    venue: Venue,
    data_config: DataConfig,
    decision_ms: int,
) -> History:
    """Returns, traded value and features rows of the healthy symbols over `data.history_days` to the decision bar."""
    classes = dict(candidates.select(C.SYMBOL, C.ASSET_CLASS).unique(C.SYMBOL).iter_rows())
    return load_history(
        lakehouse,
        venue.name,
        data_config.timeframe,
        healthy_symbols,
        classes,
        end_ms=decision_ms,
        days=data_config.history_days,
        features_update=features_update,
    )


@config.when(validate=True)
def backtest_result(
    backtest_history: History,
    candidates: pl.DataFrame,
    symbol_metadata: pl.DataFrame,
    selection_params: SelectionParams,
    walk_forward_params: WalkForwardParams,
    profile_config: ProfileConfig,
    metadata_required: bool,
) -> BacktestResult:
    """The sleeve walked forward: per-window decisions on training rows only, books simulated (vectorbt's
    accounting)."""
    decide = SleeveDecider(candidates, symbol_metadata, profile_config, selection_params, metadata_required)
    return run_backtest(backtest_history, decide, walk_forward_params)


@config.when(validate=True)
@save_to.run_parquet(
    run_dir=source("run_dir"), file=value("backtest/returns.parquet"), output_name_="backtest_returns_file"
)
def backtest_returns(backtest_result: BacktestResult) -> pl.DataFrame:
    """backtest/returns.parquet: per test row, the date and each book's return (profile, raw_ew, filtered_ew)."""
    return backtest_result.returns_frame()


@config.when(validate=True)
@save_to.run_csv(run_dir=source("run_dir"), file=value("backtest/windows.csv"), output_name_="backtest_windows_file")
def backtest_windows(backtest_result: BacktestResult) -> pl.DataFrame:
    """backtest/windows.csv: one row per walk-forward window."""
    return backtest_result.windows


@config.when(validate=True)
@save_to.run_json(run_dir=source("run_dir"), file=value("backtest/metrics.json"), output_name_="backtest_metrics_file")
def backtest_metrics(backtest_result: BacktestResult) -> dict:
    """backtest/metrics.json: each book's out-of-sample metrics."""
    return backtest_result.metrics


@config.when(validate=True)
@save_to.run_json(
    run_dir=source("run_dir"), file=value("backtest/forensic.json"), output_name_="backtest_forensic_file"
)
def backtest_forensic(backtest_result: BacktestResult) -> dict:
    """backtest/forensic.json: per window, what was decided and why (fallbacks, exclusions, buy trims)."""
    return backtest_result.forensic

"""Reporting: the weights table (signed per symbol, priced, with the venue's lot rules; saved as weights.parquet and
weights.csv), the tearsheet (report.html) and the post-analysis figures (plots/)."""

from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl
from hamilton.function_modifiers import config, source, tag, value

from dataflows import columns as C
from dataflows.analysis import Regime
from dataflows.artifacts import save_to
from dataflows.config import FlowConfig, ProfileConfig
from dataflows.lakehouse.audit import SymbolAudit
from dataflows.report.data import IN_SAMPLE, POOL, Performance, TearsheetData
from dataflows.report.page import as_of_label
from dataflows.returns import ReturnsPanel
from dataflows.selection.htr import SelectionResult
from dataflows.sleeve import OptimizationInput, SleeveWeights
from dataflows.synthesis import flatten_weights
from dataflows.timestamps import iso, utc
from dataflows.validation import metrics as M
from dataflows.validation.walkforward import BacktestResult, History


@tag(manifest="top_weights")
def weights_table(sleeve_weights: SleeveWeights, selection_result: SelectionResult) -> pl.DataFrame:
    """One row per symbol: symbol, weight (gross), net_weight (signed), direction, cluster, optimizer, fallback,
    covariance (the estimator the optimizer saw)."""
    exposure = flatten_weights(sleeve_weights.weights)  # exactly once
    cluster = {w.symbol: w.cluster for w in selection_result.winners}
    net = np.asarray(exposure.net)
    return pl.DataFrame(
        {
            C.SYMBOL: list(exposure.symbols),
            "weight": np.asarray(exposure.gross),
            "net_weight": net,
            C.DIRECTION: [C.LONG if v > 0 else C.SHORT if v < 0 else "FLAT" for v in net],
            "cluster": [int(cluster[s]) for s in exposure.symbols],
            "optimizer": [sleeve_weights.method] * len(exposure.symbols),
            "fallback": [sleeve_weights.fallback_used] * len(exposure.symbols),
            "covariance": [sleeve_weights.covariance] * len(exposure.symbols),
        }
    ).sort("weight", descending=True)


@save_to.run_csv(
    run_dir=source("run_dir"), file=value("weights.csv"), output_name_="weights_csv_file", target_="priced_weights"
)
@save_to.run_parquet(
    run_dir=source("run_dir"),
    file=value("weights.parquet"),
    output_name_="weights_parquet_file",
    target_="priced_weights",
)
def priced_weights(
    weights_table: pl.DataFrame,
    training_returns: ReturnsPanel,
    symbol_metadata: pl.DataFrame,
    as_of_ms: int,
    run_id: str,
) -> pl.DataFrame:
    """What weights.csv holds: `weights_table` plus as_of, run_id, price (the close of each symbol's last bar at or
    before the decision bar, the one its returns end with: point in time), price_bar (that bar's open time, UTC)
    and the venue's tick_size, lot_size, min_notional as of this run (empty = unknown)."""
    panel = training_returns
    if panel.last_close is None or panel.last_close_ts is None:
        msg = "the training returns carry no last closes; weights.csv needs the decision bar's prices"
        raise ValueError(msg)
    col = {s: j for j, s in enumerate(panel.symbols)}
    symbols = weights_table[C.SYMBOL].to_list()
    price = [float(panel.last_close[col[s]]) for s in symbols]
    bar = [iso(int(panel.last_close_ts[col[s]])) for s in symbols]
    meta = symbol_metadata.select(C.SYMBOL, C.TICK_SIZE, C.LOT_SIZE, C.MIN_NOTIONAL).unique(C.SYMBOL, keep="last")
    extra = pl.DataFrame(
        {
            C.SYMBOL: symbols,
            C.AS_OF: [utc(as_of_ms).isoformat()] * len(symbols),
            "run_id": [run_id] * len(symbols),
            "price": price,
            "price_bar": bar,
        },
        schema={
            C.SYMBOL: pl.String,
            C.AS_OF: pl.String,
            "run_id": pl.String,
            "price": pl.Float64,
            "price_bar": pl.String,
        },
    )
    return weights_table.join(extra, on=C.SYMBOL, how="left", maintain_order="left").join(
        meta, on=C.SYMBOL, how="left", maintain_order="left"
    )


def in_sample(sleeve_weights: SleeveWeights, optimization_input: OptimizationInput) -> dict:
    """The chosen portfolio's in-sample daily returns, equity curve, drawdown and headline metrics (the metrics'
    one definition, `dataflows.validation.metrics`, as the walk-forward's)."""
    w = np.asarray(sleeve_weights.weights.weights)
    r = optimization_input.returns @ w
    m = M.series_metrics(r, optimization_input.periods_per_year)
    return {
        "returns": r,
        "equity": np.cumprod(1.0 + r),
        "drawdown": M.drawdown(r),
        "metrics": {k: m[k] for k in M.HEADLINE} | {"days": int(r.size), "assets": len(w)},
    }


def tearsheet_base(
    weights_table: pl.DataFrame,
    sleeve_weights: SleeveWeights,
    risk_contributions: dict[str, float],
    selection_result: SelectionResult,
    market_regime: Regime,
    in_sample: dict,
    optimization_input: OptimizationInput,
    training_returns: ReturnsPanel,
    audit_after: list[SymbolAudit],
    profile_config: ProfileConfig,
    flow_config: FlowConfig,
    as_of_ms: int,
    run_id: str,
) -> TearsheetData:
    """Everything the tearsheet shows from the sleeve's own stages (the backtest joins in `tearsheet_data`)."""
    rc: dict[str, float] = {}
    for atom, v in risk_contributions.items():
        sym = atom.rsplit("|", 2)[0]
        rc[sym] = rc.get(sym, 0.0) + v
    clusters: dict[int, list[str]] = {}
    for w in selection_result.winners:
        clusters.setdefault(int(w.cluster), []).append(w.symbol)
    order, corr = [], np.zeros((0, 0))
    if not flow_config.skip_analysis:  # no heavy visuals: the cluster heatmap is the big one
        from dataflows.report.postanalysis import dendrogram_order

        order = list(dict.fromkeys(s for c in sorted(clusters) for s in clusters[c]))
        sym_of = [a.rsplit("|", 2)[0] for a in optimization_input.atom_ids]
        x = optimization_input.returns[:, [sym_of.index(s) for s in order]]
        corr = np.corrcoef(x, rowvar=False).reshape(len(order), len(order)) if order else corr
        leaves, _ = dendrogram_order(corr, profile_config.linkage, profile_config.optimal_ordering)
        order, corr = [order[i] for i in leaves], corr[np.ix_(leaves, leaves)]
    dates = training_returns.dates[optimization_input.first_row :]
    relax = [
        f"{w.symbol} ({w.direction}): stage {w.stage}, bypassed {', '.join(w.bypassed) or 'nothing'}"
        for w in selection_result.winners
        if w.stage > 1
    ]
    notes = [f"{a.symbol}: {a.status} — {a.reason}" for a in audit_after if a.status != "FRESH"]
    funnel = selection_result.funnel.to_dict()
    flat_funnel = {k: int(v) for k, v in funnel.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    return TearsheetData(
        title=f"{profile_config.name} — {profile_config.description}".strip(" —"),
        run_id=run_id,
        as_of=as_of_label(utc(as_of_ms)),
        profile=profile_config.name,
        weights=weights_table,
        risk_contributions=rc,
        clusters=clusters,
        corr_symbols=order,
        corr=corr,
        funnel=flat_funnel,
        stage_reached=int(selection_result.stage_reached),
        relaxations=relax,
        regime=market_regime.label,
        regime_metrics={k: float(v) for k, v in market_regime.features.items()},
        dates=[(iso(int(t)) or "")[:10] for t in dates],
        equity=in_sample["equity"],
        drawdown=in_sample["drawdown"],
        attempts=list(sleeve_weights.attempts),
        notes=notes,
        metrics=in_sample["metrics"],
        linkage=profile_config.linkage,
    )


@config.when(validate=True)
def tearsheet_data__with_backtest(
    tearsheet_base: TearsheetData,
    backtest_result: BacktestResult,
    backtest_history: History,
    candidates: pl.DataFrame,
    profile_config: ProfileConfig,
) -> TearsheetData:
    """The tearsheet leading with the walk-forward, out of sample, beside the profile's benchmark."""
    from dataflows.report.backtest_view import backtest_performance, backtest_view, check_benchmark

    check_benchmark(profile_config.benchmark, candidates[C.SYMBOL].to_list())
    view = backtest_view(backtest_result, symbols=backtest_history.panel.symbols)
    lead = backtest_performance(backtest_result, backtest_history, profile_config.benchmark)
    return dataclasses.replace(tearsheet_base, backtest=view, performance=lead)


@config.when(validate=False)
def tearsheet_data__in_sample(
    tearsheet_base: TearsheetData,
    in_sample: dict,
    training_returns: ReturnsPanel,
    optimization_input: OptimizationInput,
    candidates: pl.DataFrame,
    profile_config: ProfileConfig,
) -> TearsheetData:
    """The tearsheet without a backtest (flow.skip_validation): it leads with the in-sample stream, labelled so."""
    from dataflows.report.backtest_view import benchmark_stream, check_benchmark

    check_benchmark(profile_config.benchmark, candidates[C.SYMBOL].to_list())
    panel, rows = training_returns, np.arange(optimization_input.first_row, training_returns.dates.size)
    x = panel.returns[rows]
    count = np.isfinite(x).sum(axis=1)
    pool = np.divide(np.nansum(x, axis=1), count, out=np.zeros(rows.size), where=count > 0)
    label, bench, notes = f"{POOL} (rebalanced daily)", pool, []
    if profile_config.benchmark is not None:
        label, bench, notes = benchmark_stream(profile_config.benchmark, panel, rows, "in-sample", pool, label)
    lead = Performance(
        sample=IN_SAMPLE,
        dates=tearsheet_base.dates,
        returns=np.asarray(in_sample["returns"], dtype=np.float64),
        benchmark=label,
        benchmark_returns=bench,
        periods_per_year=optimization_input.periods_per_year,
        notes=notes,
    )
    return dataclasses.replace(tearsheet_base, performance=lead)


@config.when(plots=True)
@save_to.run_files(run_dir=source("run_dir"), file=value("plots"), output_name_="plots_files")
def postanalysis_figures(
    tearsheet_data: TearsheetData, optimization_input: OptimizationInput, profile_config: ProfileConfig
) -> dict[str, bytes]:
    """plots/: clustered correlation heatmap, factor map (2-D embedding by cluster), drift monitor, index.html."""
    from dataflows.report.postanalysis import postanalysis_figures

    sym_of = [a.rsplit("|", 2)[0] for a in optimization_input.atom_ids]
    symbols = tearsheet_data.corr_symbols
    returns = optimization_input.returns[:, [sym_of.index(s) for s in symbols]] if symbols else None
    return postanalysis_figures(
        symbols=symbols,
        clusters=tearsheet_data.clusters,
        corr=tearsheet_data.corr if symbols else None,
        returns=returns,
        backtest=tearsheet_data.backtest,
        linkage=profile_config.linkage,
        optimal_ordering=profile_config.optimal_ordering,
    )


@save_to.run_text(run_dir=source("run_dir"), file=value("report.html"), output_name_="report_file")
def report_html(tearsheet_data: TearsheetData) -> str:
    """report.html: the self-contained tearsheet (no network needed to view it)."""
    from dataflows.report.tearsheet import tearsheet_html

    return tearsheet_html(tearsheet_data)


@config.when(validate=True)
@save_to.run_parquet(
    run_dir=source("run_dir"), file=value("sleeve_returns.parquet"), output_name_="sleeve_returns_file"
)
def sleeve_returns__out_of_sample(backtest_returns: pl.DataFrame) -> pl.DataFrame:
    """sleeve_returns.parquet: the sleeve's return stream as a parent meta sees it (date, returns, stream) — the
    walk-forward's out-of-sample profile book."""
    dates = backtest_returns["date"].to_numpy().astype(np.int64)
    return _stream(dates, backtest_returns["profile"].to_numpy(), OUT_OF_SAMPLE)


@config.when(validate=False)
@save_to.run_parquet(
    run_dir=source("run_dir"), file=value("sleeve_returns.parquet"), output_name_="sleeve_returns_file"
)
def sleeve_returns__in_sample(
    in_sample: dict, optimization_input: OptimizationInput, training_returns: ReturnsPanel
) -> pl.DataFrame:
    """sleeve_returns.parquet without a walk-forward (flow.skip_validation): the chosen weights' in-sample stream."""
    dates = np.asarray(training_returns.dates[optimization_input.first_row :], dtype=np.int64)
    return _stream(dates, np.asarray(in_sample["returns"], dtype=np.float64), IN_SAMPLE_STREAM)


OUT_OF_SAMPLE, IN_SAMPLE_STREAM = "out_of_sample", "in_sample"


def _stream(dates: np.ndarray, returns: np.ndarray, kind: str) -> pl.DataFrame:
    return pl.DataFrame({"date": dates, "returns": returns, "stream": [kind] * len(dates)})

"""What the tearsheet shows: one plain, serialisable structure filled by the sleeve nodes.

The renderer (`dataflows.report.tearsheet`) depends only on this module, so it can be tested on hand-built data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl


@dataclass(frozen=True)
class OptimizerAttempt:
    """One link of the fallback chain."""

    method: str  # hrp | min_variance | max_sharpe | risk_parity | equal_weight
    ok: bool
    reason: str  # why it failed, or "" when it produced the weights
    seconds: float = 0.0


BACKTEST_BOOKS = ("profile", "filtered_ew", "raw_ew")
"""The walk-forward's books, in display order: the sleeve, equal weight over the winners, equal weight over the pool."""


@dataclass(frozen=True)
class BacktestView:
    """The walk-forward backtest as the tearsheet and the post-analysis plots read it (plain values only).

    dates: ISO date of every stitched out-of-sample row. equity: book → equity after each row (1.0 before the first);
    returns: book → daily simple returns; drawdown: the profile's drawdown per row (≤ 0, from the running peak
    including the initial 1.0). windows: one dict per window, the columns of `backtest/windows.csv` (window,
    test_start, test_end, test_rows, stage, regime, primary, method, fallback_used, error, `<book>_total_return`,
    `<book>_sharpe`, `<book>_turnover`, `<book>_costs`, selection_alpha, optimization_alpha, ...); missing keys and
    None/NaN values render as n/a. metrics: book → stitched metrics (total_return, annual_return, annual_vol, sharpe,
    sortino, max_drawdown, cvar_95, ...). selection_alpha (filtered_ew − raw_ew) and optimization_alpha (profile −
    filtered_ew): metric → difference. turnover / costs: book → total over every rebalance (fractions of equity).
    flags: the forensic report's flagged entries (window, book, test_start, test_end, total_return, sharpe,
    reasons); fallback_windows / failed_windows: window indices; thresholds: abs_sharpe, total_return.
    symbols, targets, realized: for the drift monitor — book → R×N target weights at each rebalance and the drifted
    (realized) exposure on each window's last row, columns in `symbols` order (empty when unknown).
    """

    dates: list[str]
    equity: dict[str, np.ndarray]
    drawdown: np.ndarray
    windows: list[dict[str, Any]]
    metrics: dict[str, dict[str, float | None]]
    selection_alpha: dict[str, float | None]
    optimization_alpha: dict[str, float | None]
    turnover: dict[str, float]
    costs: dict[str, float]
    flags: list[dict[str, Any]] = field(default_factory=list)
    fallback_windows: list[int] = field(default_factory=list)
    failed_windows: list[int] = field(default_factory=list)
    thresholds: dict[str, float] = field(default_factory=dict)
    returns: dict[str, np.ndarray] = field(default_factory=dict)
    periods_per_year: int = 365
    params: dict[str, Any] = field(default_factory=dict)  # train, test, step, fees, slippage, eligibility, ...
    symbols: list[str] = field(default_factory=list)
    targets: dict[str, np.ndarray] = field(default_factory=dict)
    realized: dict[str, np.ndarray] = field(default_factory=dict)


OUT_OF_SAMPLE, IN_SAMPLE = "out of sample", "in-sample"
POOL = "equal-weight pool"  # the default benchmark: the walk-forward's raw EW book (every eligible atom, equal weight)


@dataclass(frozen=True)
class Performance:
    """The daily return stream a page leads with, beside its benchmark over the same rows.

    sample: OUT_OF_SAMPLE (the walk-forward's profile book) or IN_SAMPLE (the chosen weights over their own training
    window). dates: YYYY-MM-DD of every row; returns: simple returns per row; benchmark: what it is compared with, in
    words ("equal-weight pool", "BTC/USDT, bought and held"); benchmark_returns: the benchmark's returns on the same
    rows (empty = none). notes: what a reader must know about the comparison (a benchmark without data, ...).
    gross / net: the book's exposure per row (sum of |target weights| and of signed targets, held from one
    rebalance to the next; empty = unknown).
    """

    sample: str
    dates: list[str]
    returns: np.ndarray
    benchmark: str
    benchmark_returns: np.ndarray
    periods_per_year: int = 365
    notes: list[str] = field(default_factory=list)
    gross: np.ndarray = field(default_factory=lambda: np.empty(0))
    net: np.ndarray = field(default_factory=lambda: np.empty(0))


@dataclass(frozen=True)
class TearsheetData:
    """Everything `render_tearsheet` needs.

    weights: one row per symbol — symbol, weight (gross, ≥ 0), net_weight (signed), direction (LONG|SHORT),
        cluster (int), optimizer (str), fallback (bool).
    risk_contributions: symbol → share of portfolio variance (sums to 1).
    clusters: cluster id → member symbols; correlation: symbols in dendrogram order + the ordered correlation matrix.
    funnel: ordered stage name → count (the selection funnel); stage_reached: HTR stage 1–4; relaxations: one line per
        winner admitted by a relaxation (symbol, stage, vetoes bypassed).
    regime: label (QUIET|NORMAL|TURBULENT|CRISIS) and its metrics.
    dates/equity/drawdown: the chosen portfolio's in-sample equity curve (starts at 1.0) and drawdown (≤ 0).
    attempts: the fallback chain in order; notes: anything else a reader must know (quarantines, exclusions).
    backtest: the walk-forward (out of sample) when the run made one; None renders the page without that section.
    performance: the stream the page leads with (the nodes set it: the walk-forward against the profile's benchmark,
        or the in-sample stream when validation was skipped); None derives it from `backtest` (profile against the
        raw EW book) or from the in-sample equity (no benchmark).
    linkage: the hierarchical clustering that ordered `corr_symbols` (the profile's HRP linkage).
    """

    title: str
    run_id: str
    as_of: str
    profile: str
    weights: pl.DataFrame
    risk_contributions: dict[str, float]
    clusters: dict[int, list[str]]
    corr_symbols: list[str]
    corr: np.ndarray
    funnel: dict[str, int]
    stage_reached: int
    relaxations: list[str]
    regime: str
    regime_metrics: dict[str, float]
    dates: list[str]
    equity: np.ndarray
    drawdown: np.ndarray
    attempts: list[OptimizerAttempt]
    notes: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)  # in-sample return, vol, Sharpe, max drawdown, ...
    backtest: BacktestView | None = None  # walk-forward out of sample; None = no backtest section
    performance: Performance | None = None  # what the page leads with; None = derived (see above)
    linkage: str = ""

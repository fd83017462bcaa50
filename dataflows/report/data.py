"""What the tearsheet shows: one plain, serialisable structure filled by the sleeve nodes.

The renderer (`dataflows.report.tearsheet`) depends only on this module, so it can be tested on hand-built data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl


@dataclass(frozen=True)
class OptimizerAttempt:
    """One link of the fallback chain."""

    method: str  # hrp | min_variance | max_sharpe | risk_parity | equal_weight
    ok: bool
    reason: str  # why it failed, or "" when it produced the weights
    seconds: float = 0.0


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

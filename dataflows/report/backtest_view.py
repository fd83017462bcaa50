"""`BacktestResult` → `BacktestView`: the walk-forward reduced to the plain values the tearsheet and plots read."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from dataflows.lakehouse.audit import iso
from dataflows.report.data import BACKTEST_BOOKS, BacktestView
from dataflows.validation.walkforward import BacktestResult, book_targets


def equity_curve(returns: np.ndarray) -> np.ndarray:
    """Equity after each row, compounding `returns` from 1.0."""
    return np.cumprod(1.0 + np.asarray(returns, dtype=np.float64))


def drawdown_curve(equity: np.ndarray) -> np.ndarray:
    """Drawdown per row (≤ 0) from the running peak, the initial 1.0 included (as `metrics.max_drawdown`)."""
    eq = np.asarray(equity, dtype=np.float64)
    peak = np.maximum.accumulate(np.concatenate([[1.0], eq]))[1:]
    return eq / peak - 1.0


def _clean(value: Any) -> Any:
    """Non-finite floats → None, numpy scalars → Python, recursively (the view holds plain values)."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _symbols(result: BacktestResult, symbols: Sequence[str] | None) -> list[str]:
    """The simulation's column order: given, or every decision's eligible set when no eligibility rule applied."""
    n = next(iter(result.simulations.values())).exposure.shape[1] if result.simulations else 0
    if symbols is not None:
        out = [str(s) for s in symbols]
    elif result.params.eligibility is None and result.decisions:
        out = [str(s) for s in result.decisions[0].eligible]  # every panel symbol, in panel order
    else:
        return []
    return out if len(out) == n else []


def backtest_view(result: BacktestResult, symbols: Sequence[str] | None = None) -> BacktestView:
    """The view of `result`; `symbols` (the history panel's, in order) enables the drift monitor under a rule."""
    books = [b for b in BACKTEST_BOOKS if b in result.returns]
    returns = {b: np.asarray(result.returns[b], dtype=np.float64) for b in books}
    equity = {b: equity_curve(r) for b, r in returns.items()}
    profile = equity.get("profile", np.ones(len(result.dates)))
    sims = result.simulations
    cols = _symbols(result, symbols)
    targets: dict[str, np.ndarray] = {}
    realized: dict[str, np.ndarray] = {}
    if cols:
        for b in books:
            targets[b] = book_targets(result.decisions, cols, b)
            realized[b] = np.asarray(sims[b].exposure, dtype=np.float64)
    forensic = result.forensic
    return BacktestView(
        dates=[iso(int(d))[:10] for d in result.dates],
        equity=equity,
        drawdown=drawdown_curve(profile),
        windows=_clean(result.windows.to_dicts()),
        metrics=_clean({b: dict(result.metrics["books"][b]) for b in books}),
        selection_alpha=_clean(dict(result.metrics.get("selection_alpha", {}))),
        optimization_alpha=_clean(dict(result.metrics.get("optimization_alpha", {}))),
        turnover={b: float(np.sum(sims[b].turnover)) for b in books if b in sims},
        costs={b: float(np.sum(sims[b].costs)) for b in books if b in sims},
        flags=_clean(list(forensic.get("flagged", []))),
        fallback_windows=[int(w) for w in forensic.get("fallback_windows", [])],
        failed_windows=[int(w) for w in forensic.get("failed_windows", [])],
        thresholds=_clean(dict(forensic.get("thresholds", {}))),
        returns=returns,
        periods_per_year=int(result.periods_per_year),
        params=_clean(result.params.as_dict()),
        symbols=cols,
        targets=targets,
        realized=realized,
    )

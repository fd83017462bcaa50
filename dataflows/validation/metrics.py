"""Performance metrics of daily return series, annualized exactly once.

Input: a 1-D float64 array of simple returns per row (no NaN; a flat day is 0). `periods_per_year` is the asset
class's (365 crypto — any crypto in the book — else 252 equity) and is applied once, to daily statistics:
vol = std·√p, Sharpe = mean/std·√p, Sortino = mean/downside·√p, annual return = (1 + total)^(p/n) − 1. Nothing
is computed from already-annualized numbers (the origin annualized per-window figures again when stitching).

Per window the headline return is the window's total return (a 20-day return annualized is noise); Sharpe and
Sortino are annualized so that |Sharpe| > 10 means the same thing for every window length. CVaR 95 is the mean
loss of the worst 5% of rows (at least one row), as a positive number; max drawdown is positive too.
Undefined statistics (a single row, zero variance, no losing day) are None, so JSON stays valid.
"""

from __future__ import annotations

import math

import numpy as np

CVAR_ALPHA = 0.05


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def total_return(returns: np.ndarray) -> float:
    """Compounded return of the series."""
    return float(np.prod(1.0 + np.asarray(returns, dtype=np.float64)) - 1.0)


def max_drawdown(returns: np.ndarray) -> float:
    """Largest peak-to-trough loss of the equity curve starting at 1 (positive, 0 when it never falls)."""
    equity = np.concatenate([[1.0], np.cumprod(1.0 + np.asarray(returns, dtype=np.float64))])
    return float(np.max(1.0 - equity / np.maximum.accumulate(equity)))


def cvar(returns: np.ndarray, alpha: float = CVAR_ALPHA) -> float | None:
    """Mean loss of the worst ⌈alpha·n⌉ rows (positive = a loss)."""
    r = np.sort(np.asarray(returns, dtype=np.float64))
    if r.size == 0:
        return None
    k = max(1, math.ceil(alpha * r.size))
    return float(-r[:k].mean())


def series_metrics(returns: np.ndarray, periods_per_year: int) -> dict[str, float | None]:
    """total_return, annual_return, annual_vol, sharpe, sortino, max_drawdown, cvar_95 and rows of one series."""
    r = np.asarray(returns, dtype=np.float64)
    n = int(r.size)
    if n == 0:
        keys = ("total_return", "annual_return", "annual_vol", "sharpe", "sortino", "max_drawdown", "cvar_95")
        return {**dict.fromkeys(keys), "rows": 0}
    total = total_return(r)
    mean = float(r.mean())
    std = float(r.std(ddof=1)) if n > 1 else math.nan
    downside = float(np.sqrt(np.mean(np.minimum(r, 0.0) ** 2)))
    root = math.sqrt(periods_per_year)
    growth = 1.0 + total
    return {
        "total_return": total,
        "annual_return": _finite(growth ** (periods_per_year / n) - 1.0) if growth > 0 else -1.0,
        "annual_vol": _finite(std * root),
        "sharpe": _finite(mean / std * root) if std > 0 else None,
        "sortino": _finite(mean / downside * root) if downside > 0 else None,
        "max_drawdown": max_drawdown(r),
        "cvar_95": cvar(r),
        "rows": n,
    }


def difference(a: float | None, b: float | None) -> float | None:
    """a − b, None when either is undefined."""
    return None if a is None or b is None else a - b

"""The one definition of the performance metrics of a daily return series, annualized exactly once.

Every number a user compares — the walk-forward's `metrics.json`, the in-sample block of the tearsheet, the sweep's
comparison table, the tearsheet and the meta report — comes from `series_metrics`, so a Sharpe means the same
thing everywhere.

Input: a 1-D float64 array of simple returns per row (no NaN; a flat day is 0). `periods_per_year` is the asset
class's (365 crypto — any crypto in the book — else 252 equity; `periods_per_year_of` infers it from dates) and is
applied once, to daily statistics:

- total return = Π(1 + r) − 1; CAGR (also under its older key `annual_return`) = (1 + total)^(p/n) − 1 (−100% once
  the equity is gone);
- annual volatility = std(r, ddof=1)·√p; Sharpe = mean(r)/std(r)·√p (r_f = 0); Sortino = mean(r)/downside·√p with
  downside = √mean(min(r, 0)²) (target 0);
- max drawdown = the largest peak-to-trough loss of the equity curve starting at 1.0, a positive fraction;
  Calmar = CAGR / max drawdown;
- hit rate = share of rows with a positive return among the rows with a non-zero one (flat rows — cash, a market
  holiday — are not bets); CVaR 95 = the mean loss of the worst 5% of rows (at least one), positive = a loss.

Nothing is computed from already-annualized numbers: stitched figures come from the daily returns, never from
per-window ones. Per window the headline return is the window's total return (a 20-day return annualized is noise);
Sharpe and Sortino are annualized so that |Sharpe| > 10 means the same thing for every window length. Undefined
statistics (a single row, zero variance, no losing day, no drawdown) are None, so JSON stays valid.

Also here, on the same definitions: rolling Sharpe and volatility, the drawdown curve and its worst episodes, and
compounded calendar-month returns. Method notes: `docs/validation.md`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

CVAR_ALPHA = 0.05
DAY_MS = 86_400_000
# The headline metrics in display order, and how pages name them.
HEADLINE = ("cagr", "annual_vol", "sharpe", "sortino", "max_drawdown", "calmar", "hit_rate", "total_return")
LABELS = {
    "cagr": "CAGR",
    "annual_vol": "annual volatility",
    "sharpe": "Sharpe",
    "sortino": "Sortino",
    "max_drawdown": "max drawdown",
    "calmar": "Calmar",
    "hit_rate": "hit rate",
    "total_return": "total return",
}
KEYS = (  # what series_metrics returns, besides `rows`
    "total_return",
    "annual_return",
    "cagr",
    "annual_vol",
    "sharpe",
    "sortino",
    "max_drawdown",
    "calmar",
    "hit_rate",
    "cvar_95",
)


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def total_return(returns: np.ndarray) -> float:
    """Compounded return of the series."""
    return float(np.prod(1.0 + np.asarray(returns, dtype=np.float64)) - 1.0)


def drawdown(returns: np.ndarray) -> np.ndarray:
    """Drawdown after each row (≤ 0) from the running peak of the equity curve, the initial 1.0 included."""
    equity = np.cumprod(1.0 + np.asarray(returns, dtype=np.float64))
    peak = np.maximum.accumulate(np.concatenate([[1.0], equity]))[1:]
    return equity / peak - 1.0


def max_drawdown(returns: np.ndarray) -> float:
    """Largest peak-to-trough loss of the equity curve starting at 1 (positive, 0 when it never falls)."""
    dd = drawdown(returns)
    return float(-dd.min()) if dd.size and dd.min() < 0 else 0.0


def cvar(returns: np.ndarray, alpha: float = CVAR_ALPHA) -> float | None:
    """Mean loss of the worst ⌈alpha·n⌉ rows (positive = a loss)."""
    r = np.sort(np.asarray(returns, dtype=np.float64))
    if r.size == 0:
        return None
    k = max(1, math.ceil(alpha * r.size))
    return float(-r[:k].mean())


def series_metrics(returns: np.ndarray, periods_per_year: int) -> dict[str, float | None]:
    """total_return, annual_return (= cagr), cagr, annual_vol, sharpe, sortino, max_drawdown, calmar, hit_rate,
    cvar_95 and rows of one series (see the module docstring for each definition)."""
    r = np.asarray(returns, dtype=np.float64)
    n = int(r.size)
    if n == 0:
        return {**dict.fromkeys(KEYS), "rows": 0}
    total = total_return(r)
    mean = float(r.mean())
    std = float(r.std(ddof=1)) if n > 1 else math.nan
    downside = float(np.sqrt(np.mean(np.minimum(r, 0.0) ** 2)))
    root = math.sqrt(periods_per_year)
    growth = 1.0 + total
    cagr = _finite(growth ** (periods_per_year / n) - 1.0) if growth > 0 else -1.0
    mdd = max_drawdown(r)
    bets = int(np.count_nonzero(r))
    return {
        "total_return": total,
        "annual_return": cagr,
        "cagr": cagr,
        "annual_vol": _finite(std * root),
        "sharpe": _finite(mean / std * root) if std > 0 else None,
        "sortino": _finite(mean / downside * root) if downside > 0 else None,
        "max_drawdown": mdd,
        "calmar": _finite(cagr / mdd) if cagr is not None and mdd > 0 else None,
        "hit_rate": float(np.count_nonzero(r > 0) / bets) if bets else None,
        "cvar_95": cvar(r),
        "rows": n,
    }


def difference(a: float | None, b: float | None) -> float | None:
    """a − b, None when either is undefined."""
    return None if a is None or b is None else a - b


def periods_per_year_of(dates_ms: np.ndarray) -> int:
    """365 when any date (epoch ms, UTC) falls on a weekend — a 24/7 calendar — else 252."""
    days = np.asarray(dates_ms, dtype=np.int64) // DAY_MS
    return 365 if bool((((days + 3) % 7) >= 5).any()) else 252  # (days + 3) % 7: 0 = Monday


# ----------------------------------------------------------------------------------------------------- rolling


def _windows(returns: np.ndarray, window: int) -> np.ndarray | None:
    r = np.asarray(returns, dtype=np.float64)
    if window < 2 or r.size < window:
        return None
    return np.lib.stride_tricks.sliding_window_view(r, window)


def rolling_vol(returns: np.ndarray, window: int, periods_per_year: int) -> np.ndarray:
    """Annual volatility of the last `window` rows at each row (NaN before the window fills)."""
    out = np.full(np.size(returns), np.nan)
    views = _windows(returns, window)
    if views is not None:
        out[window - 1 :] = views.std(axis=1, ddof=1) * math.sqrt(periods_per_year)
    return out


def rolling_sharpe(returns: np.ndarray, window: int, periods_per_year: int) -> np.ndarray:
    """Sharpe of the last `window` rows at each row (NaN before the window fills and where they do not vary)."""
    out = np.full(np.size(returns), np.nan)
    views = _windows(returns, window)
    if views is not None:
        std = views.std(axis=1, ddof=1)
        ok = std > 0
        out[window - 1 :][ok] = views.mean(axis=1)[ok] / std[ok] * math.sqrt(periods_per_year)
    return out


# --------------------------------------------------------------------------------------------------- drawdowns


@dataclass(frozen=True)
class Drawdown:
    """One episode under water, as row indices: `peak` is the last row at the high (−1 = the initial capital before
    row 0), `trough` the lowest row, `recovery` the first row back at the high (None: not recovered by the end)."""

    peak: int
    trough: int
    recovery: int | None
    depth: float  # positive fraction, as `max_drawdown`


def drawdown_periods(returns: np.ndarray, top: int = 5) -> list[Drawdown]:
    """The `top` deepest drawdown episodes, deepest first (the first has the depth `max_drawdown` reports)."""
    dd = drawdown(returns)
    under = dd < 0
    if not under.any():
        return []
    edges = np.flatnonzero(np.diff(np.r_[0, under.astype(np.int8), 0]))
    out = []
    for s, e in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True):
        trough = s + int(np.argmin(dd[s:e]))
        out.append(Drawdown(s - 1, trough, e if e < dd.size else None, float(-dd[trough])))
    return sorted(out, key=lambda d: (-d.depth, d.peak))[:top]


# ---------------------------------------------------------------------------------------------------- calendar


def monthly_returns(days: np.ndarray, returns: np.ndarray) -> tuple[list[int], np.ndarray, np.ndarray]:
    """(years, Y×12 compounded month returns with NaN for months without rows, Y compounded year returns)."""
    d = np.asarray(days, dtype="datetime64[D]")
    r = np.asarray(returns, dtype=np.float64)
    if d.size == 0:
        return [], np.empty((0, 12)), np.empty(0)
    months = d.astype("datetime64[M]").astype(np.int64)  # months since 1970-01
    years = months // 12 + 1970
    first = int(years.min())
    span = int(years.max()) - first + 1
    growth = np.ones((span, 12))
    seen = np.zeros((span, 12), dtype=bool)
    np.multiply.at(growth, (years - first, months % 12), 1.0 + r)
    seen[years - first, months % 12] = True
    table = np.where(seen, growth - 1.0, np.nan)
    yearly = np.prod(growth, axis=1) - 1.0
    keep = seen.any(axis=1)
    return [first + i for i in np.flatnonzero(keep).tolist()], table[keep], yearly[keep]

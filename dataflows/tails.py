"""Tail statistics and antifragility of a returns panel, and the panel check every statistic starts from.

Below `analysis`, `selection` and `synthesis`, which all read it. Inputs are T×N float64 return panels (rows = time
oldest first, columns = assets, NaN = no bar); every per-asset statistic is computed on that asset's own valid rows
(see `kernels.selection`), on the rows it is given (the training window, never the full history).

- Tails (alpha = 0.05): VaR 95 = −q05, CVaR 95 = −mean(r <= q05) (both losses, positive when the tail loses),
  tail gain = mean(r >= q95), tail ratio = q95 / |q05| (NaN when q05 = 0), max drawdown on compounded wealth.
- Antifragility: score = (minmax(skew) + minmax(tail gain)) × significance with significance = min(1, N / 252),
  N = the asset's valid observations; minmax is cross-sectional over the assets with at least `min_obs`
  observations (0 for all of them when every value is equal); the others get NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from dataflows.columns import SYMBOL
from dataflows.errors import DataflowsError
from kernels.selection import max_drawdown_nb, moments_nb, tail_stats_nb

# Tail-statistics frame columns.
N_OBS = "n_obs"
VAR_95 = "var_95"
CVAR_95 = "cvar_95"
TAIL_GAIN = "tail_gain"
TAIL_RATIO = "tail_ratio"
MAX_DRAWDOWN = "max_drawdown"
SKEW = "skew"
KURTOSIS = "kurtosis"
ANTIFRAGILITY = "antifragility"


class AnalysisError(DataflowsError):
    """An analysis input is unusable (wrong shape, ±inf, too few rows, a flat market series)."""


def as_returns_panel(
    returns: np.ndarray, name: str = "returns", error: type[DataflowsError] = AnalysisError
) -> np.ndarray:
    """`returns` as a C-contiguous 2-D float64 array with no ±inf, or `error` naming the problem."""
    arr = np.asarray(returns)
    if arr.ndim != 2:
        msg = f"{name} must be a 2-D array (rows = time, columns = assets), got shape {arr.shape}"
        raise error(msg)
    if not np.issubdtype(arr.dtype, np.number):
        msg = f"{name} must be numeric, got dtype {arr.dtype}"
        raise error(msg)
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if np.isinf(arr).any():
        rows, cols = np.nonzero(np.isinf(arr))
        msg = f"{name} contains ±inf (first at row {rows[0]}, column {cols[0]}); use NaN for missing bars"
        raise error(msg)
    return arr


@dataclass(frozen=True)
class TailParams:
    """Tail probability and the observation count at which antifragility's significance reaches 1."""

    alpha: float = 0.05
    significance_obs: float = 252.0

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 0.5:
            msg = f"TailParams.alpha must be in (0, 0.5), got {self.alpha}"
            raise AnalysisError(msg)
        if not self.significance_obs > 0:
            msg = f"TailParams.significance_obs must be > 0, got {self.significance_obs}"
            raise AnalysisError(msg)


@dataclass(frozen=True, eq=False)
class TailStats:
    """Per-asset tail statistics (1-D float64 arrays of length n_assets, NaN where undefined)."""

    n_obs: np.ndarray
    var_95: np.ndarray
    cvar_95: np.ndarray
    tail_gain: np.ndarray
    tail_ratio: np.ndarray
    max_drawdown: np.ndarray
    skew: np.ndarray
    kurtosis: np.ndarray

    def to_frame(self, symbols: Sequence[str]) -> pl.DataFrame:
        """One row per asset, columns named by this module's constants."""
        return pl.DataFrame(
            {
                SYMBOL: list(symbols),
                N_OBS: self.n_obs,
                VAR_95: self.var_95,
                CVAR_95: self.cvar_95,
                TAIL_GAIN: self.tail_gain,
                TAIL_RATIO: self.tail_ratio,
                MAX_DRAWDOWN: self.max_drawdown,
                SKEW: self.skew,
                KURTOSIS: self.kurtosis,
            }
        )


def tail_stats(returns: np.ndarray, params: TailParams = TailParams()) -> TailStats:
    """VaR/CVaR, tail gain, tail ratio, max drawdown, skew and kurtosis of every column on its valid rows."""
    x = as_returns_panel(returns)
    n_obs, _, _, skew, kurt = moments_nb(x)
    q_lo, q_hi, lo_mean, hi_mean = tail_stats_nb(x, params.alpha)
    denom = np.abs(q_lo)
    ratio = np.full_like(q_hi, np.nan)
    ok = np.isfinite(denom) & (denom > 0)
    ratio[ok] = q_hi[ok] / denom[ok]
    return TailStats(
        n_obs=n_obs,
        var_95=-q_lo,
        cvar_95=-lo_mean,
        tail_gain=hi_mean,
        tail_ratio=ratio,
        max_drawdown=max_drawdown_nb(x),
        skew=skew,
        kurtosis=kurt,
    )


def minmax(values: np.ndarray) -> np.ndarray:
    """(v − min) / (max − min) over the finite entries; 0 for all of them when they are equal; NaN stays NaN."""
    v = np.asarray(values, dtype=np.float64)
    out = np.full_like(v, np.nan)
    ok = np.isfinite(v)
    if not ok.any():
        return out
    lo = v[ok].min()
    span = v[ok].max() - lo
    out[ok] = (v[ok] - lo) / span if span > 0 else 0.0
    return out


@dataclass(frozen=True, eq=False)
class Antifragility:
    """Per-asset antifragility components and score (1-D float64 arrays, NaN where not scored)."""

    n_obs: np.ndarray
    skew: np.ndarray
    tail_gain: np.ndarray
    significance: np.ndarray
    score: np.ndarray


def antifragility(returns: np.ndarray, params: TailParams = TailParams(), min_obs: int = 2) -> Antifragility:
    """(minmax(skew) + minmax(tail gain)) × min(1, N / significance_obs); assets below `min_obs` get NaN."""
    x = as_returns_panel(returns)
    n_obs, _, _, skew, _ = moments_nb(x)
    _, _, _, tail_gain = tail_stats_nb(x, params.alpha)
    scored = (n_obs >= max(min_obs, 2)) & np.isfinite(skew) & np.isfinite(tail_gain)
    skew_s = np.where(scored, skew, np.nan)
    gain_s = np.where(scored, tail_gain, np.nan)
    significance = np.minimum(1.0, n_obs / params.significance_obs)
    score = (minmax(skew_s) + minmax(gain_s)) * significance
    return Antifragility(n_obs=n_obs, skew=skew, tail_gain=tail_gain, significance=significance, score=score)

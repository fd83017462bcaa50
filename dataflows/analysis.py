"""Pre-optimization analysis on one training window: tail statistics, antifragility, market regime, atom clusters.

Everything here is computed on the rows it is given — the training window, never the full history. Inputs are
T×N float64 return panels (rows = time oldest first, columns = assets, NaN = no bar); every per-asset statistic is
computed on that asset's own valid rows (see `kernels.selection`).

Definitions:

- Tails (alpha = 0.05): VaR 95 = −q05, CVaR 95 = −mean(r <= q05) (both losses, positive when the tail loses),
  tail gain = mean(r >= q95), tail ratio = q95 / |q05| (NaN when q05 = 0), max drawdown on compounded wealth.
- Antifragility: score = (minmax(skew) + minmax(tail gain)) × significance with significance = min(1, N / 252),
  N = the asset's valid observations; minmax is cross-sectional over the assets with at least `min_obs`
  observations (0 for all of them when every value is equal); the others get NaN.
- Regime on the equal-weight market series (row mean of the valid returns; rows where no asset has a bar are
  skipped): a weighted sum of components → QUIET / NORMAL / TURBULENT / CRISIS, see `RegimeWeights` and `regime`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from dataflows.columns import SYMBOL
from dataflows.errors import DataflowsError
from kernels.selection import (
    hurst_rs_nb,
    max_drawdown_nb,
    moments_nb,
    permutation_entropy_nb,
    tail_stats_nb,
)

if TYPE_CHECKING:
    from dataflows.selection.htr import AssetClusters, ClusterParams
    from dataflows.synthesis import AtomReturns

QUIET = "QUIET"
NORMAL = "NORMAL"
TURBULENT = "TURBULENT"
CRISIS = "CRISIS"
REGIMES = (QUIET, NORMAL, TURBULENT, CRISIS)

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


# --------------------------------------------------------------------------- tails and antifragility


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


# --------------------------------------------------------------------------- regime


@dataclass(frozen=True)
class RegimeWeights:
    """Weights of the regime score = Σ weight × component (my choice; the origin's tuned set was not recorded).

    Components of the equal-weight market series m (valid rows of the window):
    - vol_ratio: std(last `vol_window` values) / std(all) — 1 for a stationary series, ≫ 1 in a vol burst;
    - vol_clustering: max(0, lag-1 autocorrelation of |m|);
    - fat_tails: clip(excess kurtosis, 0, kurtosis_cap) / kurtosis_cap, in [0, 1];
    - turbulence: Haar detail-energy share, ≈ 0.5 for white noise;
    - order: 1 − permutation entropy (≈ 0 for noise);
    - trend: |2·Hurst − 1|, 0 at a random walk.

    With these weights a stationary Gaussian market scores ≈ 0.8-0.9 (NORMAL; vol_ratio ≈ 1 carries 0.6 of it),
    a market whose last 10 days are calmer than the window ≈ 0.5 (QUIET), and a 4× fat-tailed vol burst ≈ 4
    (CRISIS, ≥ 1.8). tests/test_analysis.py pins these calibrations.
    """

    vol_ratio: float = 0.6
    vol_clustering: float = 1.0
    fat_tails: float = 1.0
    turbulence: float = 0.2
    order: float = 0.5
    trend: float = 0.3


@dataclass(frozen=True)
class RegimeParams:
    """Regime thresholds, estimator settings and cluster caps (defaults from quant-methods.md)."""

    weights: RegimeWeights = RegimeWeights()
    vol_window: int = 10
    kurtosis_cap: float = 20.0
    quiet_below: float = 0.7
    crisis_at: float = 1.8
    turbulence_max: float = 0.7
    hurst_max: float = 0.65
    crisis_cap: float = 0.15
    turbulent_cap: float = 0.20
    entropy_order: int = 5
    entropy_delay: int = 1
    entropy_window: int = 120
    hurst_min_lag: int = 8
    min_obs: int = 32

    def __post_init__(self) -> None:
        if not self.quiet_below < self.crisis_at:
            msg = f"RegimeParams: quiet_below {self.quiet_below} must be < crisis_at {self.crisis_at}"
            raise AnalysisError(msg)
        if self.vol_window < 2 or self.min_obs < max(2 * self.vol_window, 2 * self.hurst_min_lag):
            msg = (
                f"RegimeParams: need vol_window >= 2 and min_obs >= max(2 × vol_window, 2 × hurst_min_lag), "
                f"got vol_window {self.vol_window}, min_obs {self.min_obs}, hurst_min_lag {self.hurst_min_lag}"
            )
            raise AnalysisError(msg)


@dataclass(frozen=True)
class Regime:
    """The regime of one training window: label, score, raw features and weighted components."""

    label: str
    score: float
    n_obs: int
    features: Mapping[str, float] = field(default_factory=dict)
    components: Mapping[str, float] = field(default_factory=dict)

    def cluster_cap(self, base_cap: float, params: RegimeParams = RegimeParams()) -> float:
        """The cluster cap for this regime (see `regime_cluster_cap`)."""
        return regime_cluster_cap(self.label, base_cap, params)

    def to_dict(self) -> dict:
        """JSON-ready view."""
        return {
            "label": self.label,
            "score": self.score,
            "n_obs": self.n_obs,
            "features": dict(self.features),
            "components": dict(self.components),
        }


def market_series(returns: np.ndarray) -> np.ndarray:
    """Equal-weight market return per row (mean of the valid returns), rows without any bar dropped."""
    x = as_returns_panel(returns)
    valid = ~np.isnan(x)
    count = valid.sum(axis=1)
    total = np.where(valid, x, 0.0).sum(axis=1)
    keep = count > 0
    return total[keep] / count[keep]


def haar_detail_share(x: np.ndarray) -> float:
    """Share of one-level Haar detail energy in the total: Σ(a − b)² / (2 Σ(a² + b²)) over pairs (a, b).

    Pairs are taken from the end (an odd oldest value is dropped). 0 when the series has no energy.
    """
    v = np.asarray(x, dtype=np.float64)
    v = v[v.shape[0] % 2 :]
    a = v[0::2]
    b = v[1::2]
    total = 2.0 * float(np.sum(a * a + b * b))
    if total == 0.0:
        return 0.0
    return float(np.sum((a - b) ** 2)) / total


def lag1_autocorr(x: np.ndarray) -> float:
    """Pearson correlation of x[1:] with x[:-1]; 0 when either side has zero variance."""
    v = np.asarray(x, dtype=np.float64)
    a = v[1:] - v[1:].mean()
    b = v[:-1] - v[:-1].mean()
    den = math.sqrt(float(np.dot(a, a)) * float(np.dot(b, b)))
    if den == 0.0:
        return 0.0
    return float(np.dot(a, b)) / den


def regime(returns: np.ndarray, params: RegimeParams = RegimeParams()) -> Regime:
    """Classify the window: CRISIS if score >= crisis_at; else TURBULENT if turbulence > turbulence_max or
    Hurst > hurst_max; else QUIET if score < quiet_below; else NORMAL.
    """
    m = market_series(returns)
    if m.shape[0] < params.min_obs:
        msg = f"regime needs at least {params.min_obs} market rows in the window, got {m.shape[0]}"
        raise AnalysisError(msg)
    col = m[:, None]
    _, _, std_all, _, kurt = (float(v[0]) for v in moments_nb(col))
    if not std_all > 0:
        msg = "regime: the equal-weight market series has zero variance in this window; no regime is defined"
        raise AnalysisError(msg)
    std_recent = float(np.std(m[-params.vol_window :], ddof=1))
    features = {
        "vol_ratio": std_recent / std_all,
        "turbulence": haar_detail_share(m),
        "vol_clustering": lag1_autocorr(np.abs(m)),
        "entropy": float(
            permutation_entropy_nb(col, params.entropy_order, params.entropy_delay, params.entropy_window)[0]
        ),
        "hurst": float(hurst_rs_nb(col, params.hurst_min_lag)[0]),
        "kurtosis": kurt if np.isfinite(kurt) else 0.0,
    }
    w = params.weights
    components = {
        "vol_ratio": w.vol_ratio * features["vol_ratio"],
        "vol_clustering": w.vol_clustering * max(0.0, features["vol_clustering"]),
        "fat_tails": w.fat_tails * min(max(features["kurtosis"], 0.0), params.kurtosis_cap) / params.kurtosis_cap,
        "turbulence": w.turbulence * features["turbulence"],
        "order": w.order * (1.0 - features["entropy"]),
        "trend": w.trend * abs(2.0 * features["hurst"] - 1.0),
    }
    bad = sorted(k for k, v in components.items() if not math.isfinite(v))
    if bad:
        msg = f"regime: components {bad} are undefined for this window ({m.shape[0]} market rows)"
        raise AnalysisError(msg)
    score = float(sum(components.values()))
    if score >= params.crisis_at:
        label = CRISIS
    elif features["turbulence"] > params.turbulence_max or features["hurst"] > params.hurst_max:
        label = TURBULENT
    elif score < params.quiet_below:
        label = QUIET
    else:
        label = NORMAL
    return Regime(
        label=label,
        score=score,
        n_obs=int(m.shape[0]),
        features=MappingProxyType(features),
        components=MappingProxyType(components),
    )


def regime_cluster_cap(label: str, base_cap: float, params: RegimeParams = RegimeParams()) -> float:
    """min(base, crisis_cap) in CRISIS, min(base, turbulent_cap) in TURBULENT, base otherwise."""
    if label not in REGIMES:
        msg = f"unknown regime {label!r}; expected one of {REGIMES}"
        raise AnalysisError(msg)
    if label == CRISIS:
        return min(base_cap, params.crisis_cap)
    if label == TURBULENT:
        return min(base_cap, params.turbulent_cap)
    return base_cap


# --------------------------------------------------------------------------- clusters on synthesized streams


def atom_clusters(
    atoms: AtomReturns, asset_class: Mapping[str, str], params: ClusterParams | None = None
) -> AssetClusters:
    """Correlation clusters of the synthesized atom streams (same method as selection), for HRP and cluster caps.

    `asset_class` maps each atom's symbol to crypto|equity (it decides which lookbacks apply).
    """
    from dataflows.selection.htr import ClusterParams, correlation_clusters
    from dataflows.synthesis import AtomReturns

    if not isinstance(atoms, AtomReturns):
        msg = f"atom_clusters takes the AtomReturns of `synthesize_atoms`, got {type(atoms).__name__}"
        raise AnalysisError(msg)
    missing = sorted({s for s in atoms.symbols if s not in asset_class})
    if missing:
        msg = f"atom_clusters: no asset class for symbols {missing}"
        raise AnalysisError(msg)
    classes = [asset_class[s] for s in atoms.symbols]
    return correlation_clusters(atoms.values, atoms.atom_ids, classes, params or ClusterParams())

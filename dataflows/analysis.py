"""Market regime of one training window and the cluster caps it implies; re-exports the tail statistics.

The regime is read from the equal-weight market series (row mean of the valid returns; rows where no asset has a
bar are skipped): a weighted sum of components → QUIET / NORMAL / TURBULENT / CRISIS, see `RegimeWeights`,
`regime` and docs/selection.md. Everything here is computed on the rows it is given — the training window, never
the full history. Inputs are T×N float64 return panels (rows = time oldest first, columns = assets, NaN = no bar).

Tail statistics and antifragility live in `dataflows.tails` (below this module, `selection` and `synthesis`) and
are re-exported here under their usual names.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from dataflows.tails import (
    ANTIFRAGILITY,
    CVAR_95,
    KURTOSIS,
    MAX_DRAWDOWN,
    N_OBS,
    SKEW,
    TAIL_GAIN,
    TAIL_RATIO,
    VAR_95,
    AnalysisError,
    Antifragility,
    TailParams,
    TailStats,
    antifragility,
    as_returns_panel,
    minmax,
    tail_stats,
)
from kernels.selection import hurst_rs_nb, moments_nb, permutation_entropy_nb

__all__ = [
    "ANTIFRAGILITY",
    "CRISIS",
    "CVAR_95",
    "KURTOSIS",
    "MAX_DRAWDOWN",
    "NORMAL",
    "N_OBS",
    "QUIET",
    "REGIMES",
    "SKEW",
    "TAIL_GAIN",
    "TAIL_RATIO",
    "TURBULENT",
    "VAR_95",
    "AnalysisError",
    "Antifragility",
    "Regime",
    "RegimeParams",
    "RegimeWeights",
    "TailParams",
    "TailStats",
    "antifragility",
    "as_returns_panel",
    "haar_detail_share",
    "lag1_autocorr",
    "market_series",
    "minmax",
    "regime",
    "regime_cluster_cap",
    "tail_stats",
]

QUIET = "QUIET"
NORMAL = "NORMAL"
TURBULENT = "TURBULENT"
CRISIS = "CRISIS"
REGIMES = (QUIET, NORMAL, TURBULENT, CRISIS)


@dataclass(frozen=True)
class RegimeWeights:
    """Weights of the regime score = Σ weight × component (this project's calibration, docs/selection.md).

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
    """Regime thresholds, estimator settings and cluster caps."""

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

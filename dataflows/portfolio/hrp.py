"""Hierarchical Risk Parity (López de Prado 2016) from a (T, N) returns panel, in four swappable stages.

prior (sample covariance, ddof=1) -> distance (sqrt(0.5 * (1 - rho)), condensed) -> linkage (SciPy; single by
default, optimal leaf ordering opt-in) -> recursive bisection of the leaf order (`kernels.hrp`).

Conventions are pinned to PyPortfolioOpt's `HRPOpt`, which skfolio's `HierarchicalRiskParity` and riskfolio-lib's
`HCPortfolio(model="HRP")` reproduce with the same linkage and leaf ordering (see `tests/kernels/test_hrp.py`).

Speed: the covariance is one BLAS `Xc.T @ Xc` (SYRK) on a centred, pre-scaled copy, so the covariance costs what
`np.cov` costs; the correlation is never materialised (the condensed distance is built from the covariance in one
pass) and the bisection reads the upper triangle once, in memory order. At 3000 x 2520 the SciPy linkage
(minimum spanning tree) is the largest cost after the covariance, ~15-20% of `np.cov`.

Zero-variance assets (a stablecoin, a flat-lined symbol) have no correlation and an infinite inverse variance.
`zero_variance="raise"` (default) raises `ZeroVarianceAssets` naming their columns; `"exclude"` gives them weight 0,
runs HRP on the rest and lists them in `HRPResult.excluded`. A duplicated asset (singular covariance) is fine: HRP
never inverts the covariance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.cluster import hierarchy

from dataflows.errors import ConfigError
from dataflows.portfolio import (
    InvalidInput,
    ZeroVarianceAssets,
    checked_covariance,
    describe_columns,
    zero_variance_columns,
)
from kernels.hrp import bisection_weights_nb, center_scale_nb, condensed_corr_distance_nb

LINKAGE_METHODS = frozenset({"single", "complete", "average", "weighted", "ward"})
ZeroVariancePolicy = Literal["raise", "exclude"]


@dataclass(frozen=True)
class HRPResult:
    """HRP weights and the intermediate artifacts that produced them."""

    weights: np.ndarray  # (N,) float64 in input column order, sums to 1, 0 for excluded columns
    order: np.ndarray  # (K,) int64 input column indices in leaf (quasi-diagonal) order
    linkage: np.ndarray  # (K-1, 4) SciPy linkage matrix; leaf i is input column `kept[i]`
    covariance: np.ndarray  # (N, N) sample covariance (ddof=1) of all input columns
    kept: np.ndarray  # (K,) int64 input columns that were clustered
    excluded: tuple[int, ...] = ()  # zero-variance input columns left out (zero_variance="exclude")


def sample_covariance(returns: np.ndarray) -> np.ndarray:
    """Sample covariance (ddof=1) of a validated (T, N) float64 returns panel; NaN rows/columns if non-finite."""
    x = np.ascontiguousarray(returns)
    centred = np.empty_like(x)
    center_scale_nb(x, 1.0 / np.sqrt(x.shape[0] - 1.0), centred)
    return centred.T @ centred  # SYRK: both triangles filled


def hrp_weights(
    returns: np.ndarray,
    *,
    linkage: str = "single",
    optimal_ordering: bool = False,
    zero_variance: ZeroVariancePolicy = "raise",
) -> HRPResult:
    """HRP weights of a (T, N) float64 returns panel (rows = time, columns = assets, no NaN)."""
    x = _validated_returns(returns)
    _check_options(linkage, zero_variance)
    cov = sample_covariance(x)
    bad = np.flatnonzero(~np.isfinite(np.diag(cov)))
    if bad.size:
        _raise_non_finite(x, bad)
    return _hrp(cov, linkage, optimal_ordering, zero_variance)


def hrp_weights_from_covariance(
    covariance: np.ndarray,
    *,
    linkage: str = "single",
    optimal_ordering: bool = False,
    zero_variance: ZeroVariancePolicy = "raise",
) -> HRPResult:
    """HRP weights from an (N, N) covariance (e.g. shrunk); the distance uses the correlation implied by it."""
    cov = checked_covariance(covariance)
    _check_options(linkage, zero_variance)
    return _hrp(cov, linkage, optimal_ordering, zero_variance)


def _hrp(cov: np.ndarray, linkage: str, optimal_ordering: bool, zero_variance: ZeroVariancePolicy) -> HRPResult:
    """Zero-variance policy, distance, linkage, leaf order and bisection for a checked covariance."""
    n = cov.shape[0]
    zero = zero_variance_columns(np.diag(cov))
    if zero.size and zero_variance == "raise":
        msg = (
            f"zero-variance assets at columns {describe_columns(zero)}: HRP cannot risk-weight a riskless column; "
            "drop them upstream or pass zero_variance='exclude'"
        )
        raise ZeroVarianceAssets(msg, tuple(int(c) for c in zero))
    if zero.size == n:
        msg = f"all {n} assets have zero variance: nothing to cluster"
        raise ZeroVarianceAssets(msg, tuple(int(c) for c in zero))
    kept = np.arange(n, dtype=np.int64)
    if zero.size:
        kept = np.setdiff1d(kept, zero).astype(np.int64)
        cov_k = np.ascontiguousarray(cov[np.ix_(kept, kept)])
    else:
        cov_k = cov
    k = kept.size
    if k == 1:
        link = np.empty((0, 4), dtype=np.float64)
        leaves = np.zeros(1, dtype=np.int64)
    else:
        dist = np.empty(k * (k - 1) // 2)
        condensed_corr_distance_nb(cov_k, dist)
        link = hierarchy.linkage(dist, method=linkage, optimal_ordering=optimal_ordering)
        leaves = hierarchy.leaves_list(link).astype(np.int64)
    w_k = bisection_weights_nb(cov_k, leaves)
    weights = np.zeros(n, dtype=np.float64)
    weights[kept] = w_k
    return HRPResult(
        weights=weights,
        order=kept[leaves],
        linkage=link,
        covariance=cov,
        kept=kept,
        excluded=tuple(int(c) for c in zero),
    )


def _validated_returns(returns: np.ndarray) -> np.ndarray:
    """The panel as a C-contiguous (T, N) float64 array with T >= 2 and N >= 1, or `InvalidInput`."""
    if not isinstance(returns, np.ndarray):
        msg = f"returns must be a NumPy array (rows = time, columns = assets), got {type(returns).__name__}"
        raise InvalidInput(msg)
    if returns.ndim != 2 or returns.dtype != np.float64:
        msg = (
            f"returns must be a 2-D float64 array (rows = time, columns = assets), got {returns.ndim}-D {returns.dtype}"
        )
        raise InvalidInput(msg)
    t, n = returns.shape
    if t < 2 or n < 1:
        msg = f"returns need at least 2 rows and 1 column for a sample covariance, got shape {returns.shape}"
        raise InvalidInput(msg)
    return np.ascontiguousarray(returns)


def _raise_non_finite(x: np.ndarray, columns: np.ndarray) -> None:
    """Name the first non-finite entry of the offending columns (or an overflow if they are all finite)."""
    sub = x[:, columns]
    bad = np.argwhere(~np.isfinite(sub))
    if bad.size:
        row, j = bad[0]
        col = int(columns[j])
        msg = (
            f"returns[{row}, {col}] = {float(x[row, col])!r}: returns must be finite (no NaN/inf); "
            f"non-finite values in columns {describe_columns(columns)}"
        )
    else:
        msg = f"returns in columns {describe_columns(columns)} overflow the covariance: values too large"
    raise InvalidInput(msg)


def _check_options(linkage: str, zero_variance: str) -> None:
    """ConfigError for an unknown linkage method or zero-variance policy."""
    if linkage not in LINKAGE_METHODS:
        msg = f"linkage={linkage!r} is not supported; use one of {sorted(LINKAGE_METHODS)}"
        raise ConfigError(msg)
    if zero_variance not in ("raise", "exclude"):
        msg = f"zero_variance={zero_variance!r} is not supported; use 'raise' or 'exclude'"
        raise ConfigError(msg)

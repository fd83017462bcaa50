"""Input checks shared by MinVar, MaxSharpe and risk parity, and `stable_sum_ok`, the fallback chain's gate."""

from __future__ import annotations

import numpy as np

from dataflows.portfolio import (
    InvalidInput,
    ZeroVarianceAssets,
    checked_covariance,
    describe_columns,
    zero_variance_columns,
)
from dataflows.portfolio.caps import cluster_caps


def stable_sum_ok(
    w: np.ndarray,
    lower: float | np.ndarray,
    upper: float | np.ndarray,
    tol: float = 1e-6,
    groups: np.ndarray | None = None,
    cluster_cap: float | np.ndarray | None = None,
) -> tuple[bool, str]:
    """Gate of the fallback chain: (True, "") if w is finite, Σw is within tol of 1 and lower <= w <= upper.

    With `groups` and `cluster_cap` (see `dataflows.portfolio.caps`) every cluster total must also be
    <= its cap + tol; the message names the first cluster above its cap and its total.
    """
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 1 or w.size == 0:
        return False, f"weights must be a non-empty 1-D array, got shape {w.shape}"
    if not np.isfinite(w).all():
        i = int(np.flatnonzero(~np.isfinite(w))[0])
        return False, f"weight {i} is {float(w[i])!r}: weights must be finite"
    total = float(w.sum())
    if abs(total - 1.0) > tol:
        return False, f"weights sum to {total!r}, not 1 within {tol:g}"
    lo = np.broadcast_to(np.asarray(lower, dtype=np.float64), w.shape)
    hi = np.broadcast_to(np.asarray(upper, dtype=np.float64), w.shape)
    below = np.flatnonzero(w < lo - tol)
    if below.size:
        i = int(below[0])
        return (
            False,
            f"weight {i} = {float(w[i])!r} is below its lower bound {float(lo[i])!r} ({below.size} assets below)",
        )
    above = np.flatnonzero(w > hi + tol)
    if above.size:
        i = int(above[0])
        return (
            False,
            f"weight {i} = {float(w[i])!r} is above its upper bound {float(hi[i])!r} ({above.size} assets above)",
        )
    clusters = cluster_caps(groups, cluster_cap, w.size)
    if clusters is not None:
        totals = clusters.totals(w)
        over = np.flatnonzero(totals > clusters.caps + tol)
        if over.size:
            j = int(over[0])
            return (
                False,
                f"cluster {int(clusters.labels[j])} totals {float(totals[j])!r}, above its cluster cap "
                f"{float(clusters.caps[j])!r} ({over.size} clusters above)",
            )
    return True, ""


def _square(cov: np.ndarray) -> np.ndarray:
    """The input as an array if it is a non-empty square matrix (full checks happen in `solve`)."""
    cov = np.asarray(cov)
    if cov.ndim != 2 or cov.shape[0] != cov.shape[1] or cov.shape[0] < 1:
        msg = f"covariance must be a non-empty square matrix, got shape {cov.shape}"
        raise InvalidInput(msg)
    return cov


def _validated_cov(cov: np.ndarray, n: int | None) -> np.ndarray:
    """A checked covariance (`checked_covariance`) with no zero-variance asset, or a typed error."""
    cov = checked_covariance(cov, n)
    zero = zero_variance_columns(np.diag(cov))
    if zero.size:
        msg = (
            f"zero-variance assets at columns {describe_columns(zero)}: a riskless asset cannot be "
            "risk-optimized; drop it upstream (it is cash)"
        )
        raise ZeroVarianceAssets(msg, tuple(int(c) for c in zero))
    return cov

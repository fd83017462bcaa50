"""Portfolio construction: HRP (`hrp`) and MinVar / MaxSharpe / risk parity (`mvo`), with their typed errors.

The errors live here so that callers (the optimization stage and its fallback chain) can catch them without
importing the solvers. Submodules import SciPy, numba and Clarabel; import them where they are used.
"""

from __future__ import annotations

import numpy as np

from dataflows.errors import DataflowsError

ZERO_VARIANCE_RTOL = 1e-12
"""An asset whose variance is <= this times the largest variance (std ratio 1e-6) counts as zero-variance."""


class PortfolioError(DataflowsError):
    """An optimizer could not produce weights; the message names the input and the reason."""


class InvalidInput(PortfolioError):
    """Returns, covariance, expected returns or a parameter have the wrong shape, type or values (NaN, inf)."""


class ZeroVarianceAssets(InvalidInput):
    """Some assets have (numerically) zero variance: a riskless column cannot be risk-weighted.

    `columns` holds their column indices, so a caller can drop them and record why.
    """

    def __init__(self, msg: str, columns: tuple[int, ...]) -> None:
        super().__init__(msg)
        self.columns = columns


class InfeasibleCaps(PortfolioError):
    """n * cap < 1: no fully invested portfolio respects the cap. Caps are never relaxed silently."""

    def __init__(self, n: int, cap: float) -> None:
        msg = (
            f"infeasible caps: {n} assets x cap {cap:g} = {n * cap:g} < 1, so no fully invested portfolio fits; "
            f"raise the cap (profile.weight_cap) to at least 1/{n} = {1 / n:.6g} or add assets"
        )
        super().__init__(msg)
        self.n = n
        self.cap = cap


class NoPositiveExcessReturn(PortfolioError):
    """MaxSharpe needs a feasible portfolio with expected return above the risk-free rate; there is none."""


class SolverFailed(PortfolioError):
    """The solver stopped without a usable solution; `status` is the solver's own status string."""

    def __init__(self, msg: str, status: str) -> None:
        super().__init__(msg)
        self.status = status


def zero_variance_columns(variances: np.ndarray) -> np.ndarray:
    """Indices (int64) of the assets whose variance is <= ZERO_VARIANCE_RTOL x the largest variance."""
    top = float(variances.max()) if variances.size else 0.0
    return np.flatnonzero(variances <= ZERO_VARIANCE_RTOL * top).astype(np.int64)


def checked_covariance(cov: np.ndarray, n: int | None = None) -> np.ndarray:
    """`cov` as a C-contiguous, finite, symmetric (n, n) float64 matrix with variances >= 0, or `InvalidInput`.

    Symmetric means |cov - cov.T| <= 1e-10 x the largest variance (an absolute tolerance at the matrix's scale, so
    round-off in near-zero covariances is not an asymmetry). Zero variances are the caller's policy.
    """
    cov = np.asarray(cov)
    if cov.ndim != 2 or cov.shape[0] != cov.shape[1] or cov.shape[0] < 1 or cov.dtype != np.float64:
        msg = f"covariance must be a square float64 matrix, got shape {cov.shape} and dtype {cov.dtype}"
        raise InvalidInput(msg)
    if n is not None and cov.shape[0] != n:
        msg = f"covariance is {cov.shape[0]}x{cov.shape[0]} but the problem was built for n={n}"
        raise InvalidInput(msg)
    if not np.isfinite(cov).all():
        row, col = np.argwhere(~np.isfinite(cov))[0]
        msg = f"covariance[{row}, {col}] = {float(cov[row, col])!r}: the covariance must be finite"
        raise InvalidInput(msg)
    diag = np.diag(cov)
    if (diag < 0).any():
        col = int(np.flatnonzero(diag < 0)[0])
        msg = f"covariance[{col}, {col}] = {float(diag[col])!r}: variances must be >= 0"
        raise InvalidInput(msg)
    asym = cov - cov.T
    np.abs(asym, out=asym)
    if asym.max() > 1e-10 * float(diag.max()):
        msg = "covariance must be symmetric (|cov - cov.T| <= 1e-10 x the largest variance)"
        raise InvalidInput(msg)
    return np.ascontiguousarray(cov)


def describe_columns(columns: np.ndarray | tuple[int, ...], limit: int = 10) -> str:
    """'3, 17, 40' (at most `limit` indices, then '... (n in total)') for error messages."""
    cols = [int(c) for c in columns]
    text = ", ".join(str(c) for c in cols[:limit])
    return text if len(cols) <= limit else f"{text}, ... ({len(cols)} in total)"


__all__ = [
    "ZERO_VARIANCE_RTOL",
    "InfeasibleCaps",
    "InvalidInput",
    "NoPositiveExcessReturn",
    "PortfolioError",
    "SolverFailed",
    "ZeroVarianceAssets",
    "checked_covariance",
    "describe_columns",
    "zero_variance_columns",
]

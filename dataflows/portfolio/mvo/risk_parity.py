"""Risk parity (ERC): w_i (Σw)_i = b_i wᵀΣw exactly.

A damped Newton method in NumPy (Cholesky of Σ + diag(b / y²), backtracking, from the scaled inverse-volatility
portfolio; the objective is self-concordant, so it converges globally, in ~7-10 steps). Clarabel does handle the
exponential-cone form (status Solved), but at default tolerances the risk contributions are only equal to ~1e-4 and
it took 0.64 s at N=1000, against exact contributions in a few Newton steps. Risk parity takes no caps; check bounds
on its result with `stable_sum_ok`.
"""

from __future__ import annotations

import math
import time

import numpy as np
import scipy.linalg

from dataflows.portfolio import InvalidInput, SolverFailed
from dataflows.portfolio.mvo.checks import _validated_cov
from dataflows.portfolio.mvo.problem import OptimizationResult


def risk_parity_weights(covariance: np.ndarray, budgets: np.ndarray | None = None) -> OptimizationResult:
    """Risk-parity weights: w_i (Σw)_i = b_i wᵀΣw exactly, for budgets b (default 1/n, rescaled to sum 1)."""
    t0 = time.perf_counter()
    cov = _validated_cov(np.asarray(covariance), None)
    n = cov.shape[0]
    b = np.full(n, 1.0 / n) if budgets is None else np.asarray(budgets, dtype=np.float64)
    if b.shape != (n,) or not np.isfinite(b).all() or (b <= 0).any():
        msg = f"budgets must be {n} finite numbers > 0, got shape {b.shape}"
        raise InvalidInput(msg)
    b = b / b.sum()
    sc = cov * (1.0 / float(np.mean(np.diag(cov))))
    y = 1.0 / np.sqrt(np.diag(sc))
    quad = float(y @ sc @ y)
    if quad > 0:
        y *= math.sqrt(1.0 / quad)  # optimal scale: yᵀΣy = Σb = 1 at the solution

    def objective(v: np.ndarray) -> float:
        return 0.5 * float(v @ sc @ v) - float(b @ np.log(v))

    f = objective(y)
    for it in range(1, 101):
        grad = sc @ y - b / y
        hess = sc.copy()
        hess[np.diag_indices(n)] += b / (y * y)
        try:
            step = -scipy.linalg.cho_solve(scipy.linalg.cho_factor(hess, check_finite=False), grad)
        except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
            msg = (
                f"risk parity: the Newton system is not positive definite at step {it}: the covariance is not "
                "PSD, or no ERC portfolio exists (a riskless long-only combination, e.g. anti-correlated twins)"
            )
            raise SolverFailed(msg, "NotPositiveDefinite") from None
        decrement = -float(grad @ step)  # squared Newton decrement: f - f* ~ decrement / 2
        if decrement <= 1e-22:
            w = y / y.sum()
            return OptimizationResult(w, "Converged", time.perf_counter() - t0, float(w @ cov @ w), it, True)
        shrink = step < 0
        t = min(1.0, 0.99 * float(np.min(-y[shrink] / step[shrink]))) if shrink.any() else 1.0
        trial = y + t * step
        if decrement > 1e-8:  # damped phase: Armijo backtracking (below 1e-8 f cannot resolve the decrease)
            f_trial = objective(trial)
            while f_trial > f - 0.25 * t * decrement and t > 1e-12:
                t *= 0.5
                trial = y + t * step
                f_trial = objective(trial)
            if f_trial > f:
                break
        y = trial
        f = objective(y)
        if not np.isfinite(f) or y.max() > 1e12:
            break
    msg = (
        "risk parity: Newton did not converge; the covariance may be singular with a riskless long-only "
        "combination (e.g. two perfectly anti-correlated assets)"
    )
    raise SolverFailed(msg, "NotConverged")

"""MinVar: min wᵀΣw  s.t.  Σw = 1, 0 <= w <= cap [, cluster caps], as a problem built once and a function."""

from __future__ import annotations

import time

import clarabel
import numpy as np
import scipy.sparse as sp

from dataflows.portfolio.mvo.checks import _square, _validated_cov
from dataflows.portfolio.mvo.polish import _polish, _within_caps
from dataflows.portfolio.mvo.problem import OptimizationResult, SolverSettings, _CappedQP, _problem
from dataflows.portfolio.mvo.working_set import _Rows


class MinVariance(_CappedQP):
    """min wᵀΣw s.t. Σw = 1, 0 <= w <= cap [, Σ_{i in g} w_i <= cluster_cap_g]; `solve(cov)` for each new Σ.

    Built once per (n, cap, groups, cluster_cap). Holds a persistent solver: use one instance per thread
    (`min_variance_weights` keeps one per thread).
    """

    def __init__(
        self,
        n: int,
        cap: float,
        settings: SolverSettings | None = None,
        *,
        groups: np.ndarray | None = None,
        cluster_cap: float | np.ndarray | None = None,
    ) -> None:
        super().__init__(n, cap, settings or SolverSettings(), groups, cluster_cap)
        n = self.n
        # rows: 0 budget (zero cone); 1..n  -w <= 0; n+1..2n  w <= cap
        indptr = np.arange(0, 3 * n + 1, 3, dtype=np.int64)
        indices = np.empty(3 * n, dtype=np.int64)
        indices[0::3] = 0
        indices[1::3] = 1 + np.arange(n)
        indices[2::3] = 1 + n + np.arange(n)
        a = sp.csc_matrix((np.tile([1.0, -1.0, 1.0], n), indices, indptr), shape=(1 + 2 * n, n))
        b = np.concatenate([[1.0], np.zeros(n), np.full(n, self.cap)])
        ng = self._g_ids.size
        if ng:  # rows 2n+1..2n+G: Σ_{i in g} w_i <= c_g
            a = sp.vstack([a, self._group_rows(kappa_col=False)], format="csc")
            a.sort_indices()
            b = np.concatenate([b, self._g_caps])
        self._build = (a, b, [clarabel.ZeroConeT(1), clarabel.NonnegativeConeT(2 * n + ng)])
        member, neg_caps = self._cluster_rows()
        self._rows = _Rows(
            np.vstack([np.ones((1, n)), member]), np.append(0.0, neg_caps), np.append(1.0, np.zeros(ng)), 1
        )

    def solve(self, cov: np.ndarray) -> OptimizationResult:
        """Minimum-variance weights for an (n, n) covariance."""
        t0 = time.perf_counter()
        cov = _validated_cov(cov, self.n)
        if self._unique:
            w = _within_caps(np.full(self.n, 1.0 / self.n), self.cap, self.clusters)
            return OptimizationResult(w, "UniqueFeasiblePoint", time.perf_counter() - t0, float(w @ cov @ w))
        n = self.n
        scaled = cov * (1.0 / float(np.mean(np.diag(cov))))
        x, z, status, iters = self._run(self._p_data(scaled), n, None, self._build)
        w, polished = x, self.settings.polish
        if polished:
            duals = z[1 : 1 + n], z[1 + n : 1 + 2 * n], z[1 + 2 * n :]
            w = _polish(scaled, self._rows, self.cap, x, 1.0, *duals, s_free=False, rounds=self.settings.polish_rounds)
        w = _within_caps(w, self.cap, self.clusters)
        return OptimizationResult(w, status, time.perf_counter() - t0, float(w @ cov @ w), iters, polished)


def min_variance_weights(
    covariance: np.ndarray,
    cap: float,
    *,
    groups: np.ndarray | None = None,
    cluster_cap: float | np.ndarray | None = None,
) -> OptimizationResult:
    """Long-only minimum-variance weights with every weight <= cap (raises InfeasibleCaps if n·cap < 1).

    With `groups` and `cluster_cap`, every cluster total is <= its cap (InfeasibleClusterCaps if impossible).
    """
    cov = _square(covariance)
    problem = _problem(MinVariance, cov.shape[0], cap, groups, cluster_cap)
    return problem.solve(cov)  # type: ignore[attr-defined]

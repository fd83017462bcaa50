"""MaxSharpe, homogenised: min yᵀΣy  s.t.  (μ - r_f)ᵀy = 1, Σy = κ, 0 <= y <= cap·κ, κ >= 0;  w = y / κ.

What is MaxSharpe's own: the κ column and its rows, expected returns checked and scaled, the best excess return
any feasible portfolio can reach (`NoPositiveExcessReturn` when it is not positive), and `SolverFailed` (status
RisklessPortfolio) when Σ admits a long-only portfolio with zero variance and positive excess return: the ratio is
unbounded.
"""

from __future__ import annotations

import math
import time

import clarabel
import numpy as np
import scipy.sparse as sp

from dataflows.portfolio import ZERO_VARIANCE_RTOL, InvalidInput, NoPositiveExcessReturn, SolverFailed
from dataflows.portfolio.mvo.checks import _square, _validated_cov
from dataflows.portfolio.mvo.polish import _polish, _within_caps
from dataflows.portfolio.mvo.problem import _CAP_SLACK, OptimizationResult, SolverSettings, _CappedQP, _problem
from dataflows.portfolio.mvo.working_set import _Rows


class MaxSharpe(_CappedQP):
    """Max (μ - r_f)ᵀw / sqrt(wᵀΣw) s.t. Σw = 1, 0 <= w <= cap [, cluster caps] (homogenised).

    `solve(cov, mu, risk_free)`; built once per (n, cap, groups, cluster_cap), cluster rows Σ_{i in g} y_i <=
    cluster_cap_g · κ. Holds a persistent solver: use one instance per thread (`max_sharpe_weights` keeps one per
    thread).
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
        # variables (y, kappa); rows: 0 mᵀy = 1; 1 1ᵀy - kappa = 0 (zero cones);
        # 2..n+1  -y <= 0; n+2..2n+1  y - cap kappa <= 0; 2n+2  -kappa <= 0
        y_idx = np.empty(4 * n, dtype=np.int64)
        y_idx[0::4] = 0
        y_idx[1::4] = 1
        y_idx[2::4] = 2 + np.arange(n)
        y_idx[3::4] = 2 + n + np.arange(n)
        k_idx = np.concatenate([[1], 2 + n + np.arange(n), [2 + 2 * n]])
        indices = np.concatenate([y_idx, k_idx])
        indptr = np.concatenate([np.arange(0, 4 * n + 1, 4), [4 * n + n + 2]]).astype(np.int64)
        self._a_template = np.concatenate([np.tile([0.0, 1.0, -1.0, 1.0], n), [-1.0], np.full(n, -self.cap), [-1.0]])
        a = sp.csc_matrix((self._a_template.copy(), indices, indptr), shape=(3 + 2 * n, n + 1))
        b = np.zeros(3 + 2 * n)
        b[0] = 1.0
        self._m_pos: slice | np.ndarray = slice(0, 4 * n, 4)  # positions of the mᵀy row in A's data
        ng = self._g_ids.size
        if ng:  # rows 2n+3..2n+2+G: Σ_{i in g} y_i - c_g κ <= 0
            a.data[0 : 4 * n : 4] = 1.0  # placeholder, so the m entries survive the stacking as nonzeros
            a = sp.vstack([a, self._group_rows(kappa_col=True)], format="csc")
            a.sort_indices()
            self._m_pos = a.indptr[:n].copy()  # row 0 is the first entry of every y column
            self._a_template = a.data.copy()
            self._a_template[self._m_pos] = 0.0
            a.data[:] = self._a_template
            b = np.concatenate([b, np.zeros(ng)])
        cones = [clarabel.ZeroConeT(2), clarabel.NonnegativeConeT(2 * n + 1 + ng)]
        self._build = (a, b, cones)
        member, neg_caps = self._cluster_rows()  # row 0 (mᵀy = 1) is filled in by each solve
        self._rows = _Rows(
            np.vstack([np.zeros((1, n)), np.ones((1, n)), member]),
            np.concatenate([[0.0, -1.0], neg_caps]),
            np.concatenate([[1.0, 0.0], np.zeros(ng)]),
            2,
        )

    def solve(self, cov: np.ndarray, mu: np.ndarray, risk_free: float = 0.0) -> OptimizationResult:
        """Maximum-Sharpe weights for an (n, n) covariance and (n,) expected returns (same period as r_f)."""
        t0 = time.perf_counter()
        cov = _validated_cov(cov, self.n)
        excess = _validated_mu(mu, self.n, risk_free)
        best = _best_excess_return(excess, self.cap, self._group_bounds())
        if not best > 0:
            within = f"cap {self.cap:g}" + (" and the cluster caps" if self._g_ids.size else "")
            msg = (
                f"no portfolio within {within} has expected return above the risk-free rate {risk_free!r} "
                f"(best possible excess return {best:.3g}; max asset excess {excess.max():.3g}); "
                "MaxSharpe is undefined, fall back"
            )
            raise NoPositiveExcessReturn(msg)
        if self._unique:
            w = _within_caps(np.full(self.n, 1.0 / self.n), self.cap, self.clusters)
            return OptimizationResult(w, "UniqueFeasiblePoint", time.perf_counter() - t0, _sharpe(w, cov, excess))
        n = self.n
        m = excess / np.abs(excess).max()
        a_data = self._a_template.copy()
        a_data[self._m_pos] = m
        scaled = cov * (1.0 / float(np.mean(np.diag(cov))))
        x, z, status, iters = self._run(self._p_data(scaled), n + 1, a_data, self._build)
        y, kappa = x[:n], float(x[n])
        if not kappa > 0:
            msg = f"MaxSharpe solution has kappa = {kappa!r} (must be > 0)"
            raise SolverFailed(msg, status)
        w, polished = y / kappa, self.settings.polish
        if polished:
            rows = _Rows(np.vstack([m, self._rows.a[1:]]), self._rows.b, self._rows.d, self._rows.n_eq)
            duals = z[2 : 2 + n], z[2 + n : 2 + 2 * n], z[3 + 2 * n :]  # z[2 + 2n] is κ >= 0
            w = _polish(scaled, rows, self.cap, y, kappa, *duals, s_free=True, rounds=self.settings.polish_rounds)
        w = _within_caps(w, self.cap, self.clusters)
        if not float(w @ scaled @ w) > ZERO_VARIANCE_RTOL:  # Sharpe unbounded: Σ admits a riskless portfolio
            msg = (
                f"MaxSharpe is unbounded: a long-only portfolio within the caps has (numerically) zero variance "
                f"({float(w @ cov @ w):.3g}) and positive excess return {float(excess @ w):.3g}; the covariance is "
                "singular (fewer observations than assets?): use a shrinkage covariance (profile.covariance)"
            )
            raise SolverFailed(msg, "RisklessPortfolio")
        return OptimizationResult(w, status, time.perf_counter() - t0, _sharpe(w, cov, excess), iters, polished)


def max_sharpe_weights(
    covariance: np.ndarray,
    expected_returns: np.ndarray,
    cap: float,
    risk_free: float = 0.0,
    *,
    groups: np.ndarray | None = None,
    cluster_cap: float | np.ndarray | None = None,
) -> OptimizationResult:
    """Long-only maximum-Sharpe weights with every weight <= cap; NoPositiveExcessReturn if none beats r_f.

    With `groups` and `cluster_cap`, every cluster total is <= its cap (InfeasibleClusterCaps if impossible).
    """
    cov = _square(covariance)
    problem = _problem(MaxSharpe, cov.shape[0], cap, groups, cluster_cap)
    return problem.solve(cov, expected_returns, risk_free)  # type: ignore[attr-defined]


def _validated_mu(mu: np.ndarray, n: int, risk_free: float) -> np.ndarray:
    """Excess expected returns mu - r_f as a finite (n,) float64 array, or InvalidInput."""
    mu = np.asarray(mu, dtype=np.float64)
    if mu.shape != (n,):
        msg = f"expected returns must have shape ({n},), got {mu.shape}"
        raise InvalidInput(msg)
    if not np.isfinite(mu).all():
        i = int(np.flatnonzero(~np.isfinite(mu))[0])
        msg = f"expected_returns[{i}] = {float(mu[i])!r}: expected returns must be finite"
        raise InvalidInput(msg)
    if not math.isfinite(risk_free):
        msg = f"risk_free must be finite, got {risk_free!r}"
        raise InvalidInput(msg)
    return mu - risk_free


def _best_excess_return(excess: np.ndarray, cap: float, groups: tuple[np.ndarray, np.ndarray] | None = None) -> float:
    """Largest (μ - r_f)ᵀw over 0 <= w <= cap, Σw = 1 [, cluster caps]: fill the best assets up to the cap.

    `groups` = (row of each asset's binding cluster or -1, the rows' caps). The caps form a laminar family, so
    the feasible set is the base polytope of a polymatroid and the greedy fill (best asset first, each up to
    min(cap, its cluster's room, the budget left)) is optimal.
    """
    if groups is not None:
        row, room = groups[0], groups[1].copy()
        total, left = 0.0, 1.0
        for i in np.argsort(-excess, kind="stable"):
            take = min(cap, left) if row[i] < 0 else min(cap, left, room[row[i]])
            if take <= 0:
                continue
            total += take * float(excess[i])
            left -= take
            if row[i] >= 0:
                room[row[i]] -= take
            if left <= _CAP_SLACK:
                break
        return total
    ranked = np.sort(excess)[::-1]
    full = math.floor(1.0 / cap + _CAP_SLACK)
    full = min(full, ranked.size)
    total = cap * float(ranked[:full].sum())
    rest = 1.0 - cap * full
    if full < ranked.size and rest > _CAP_SLACK:
        total += rest * float(ranked[full])
    return total


def _sharpe(w: np.ndarray, cov: np.ndarray, excess: np.ndarray) -> float:
    """(μ - r_f)ᵀw / sqrt(wᵀΣw)."""
    return float(excess @ w) / math.sqrt(float(w @ cov @ w))

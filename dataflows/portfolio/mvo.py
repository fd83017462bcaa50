"""Long-only MinVar, MaxSharpe and risk parity (ERC) weights, plus the stable-sum gate of the fallback chain.

- MinVar: min wᵀΣw  s.t.  Σw = 1, 0 <= w <= cap.
- MaxSharpe (the true ratio, homogenised): min yᵀΣy  s.t.  (μ - r_f)ᵀy = 1, Σy = κ, 0 <= y <= cap·κ, κ >= 0;
  w = y / κ. Needs a feasible portfolio with (μ - r_f)ᵀw > 0, else `NoPositiveExcessReturn`.
- Risk parity: min ½ yᵀΣy - Σ b_i log y_i, w = y / Σy, which gives exactly w_i (Σw)_i = b_i wᵀΣw.

Cluster caps (optional, `groups=` int labels per asset, `cluster_cap=` scalar or one per cluster aligned with
`np.unique(groups)`, see `dataflows.portfolio.caps`): MinVar adds Σ_{i in g} w_i <= cluster_cap_g, MaxSharpe the
homogenised Σ_{i in g} y_i <= cluster_cap_g · κ. Only clusters whose cap can bind (cluster_cap_g < min(1, n_g·cap))
become rows; `InfeasibleClusterCaps` if Σ_g min(cluster_cap_g, n_g·cap) < 1. The problem is still built once per
(n, cap, groups, cluster caps) and re-solved with new Σ / μ; with `groups=None` (default) nothing changes (same
matrices, same solver path, bit-identical weights). Methods without constraints are projected with
`caps.cap_weights`.

How MinVar / MaxSharpe are solved. `MinVariance(n, cap)` / `MaxSharpe(n, cap)` build the Clarabel problem once
(dense upper-triangular P pattern, constraint matrix, cones) and `solve()` pushes new Σ / μ into the same solver
with `DefaultSolver.update` (no re-canonicalisation, no new symbolic factorisation). Measured here at N=1000,
cap 10%: cvxpy `quad_form(w, psd_wrap(S))` + Clarabel built fresh 0.78 s (0.25-0.3 s of it canonicalisation);
a cvxpy DPP problem with a Cholesky-factor Parameter (`sum_squares(Lᵀw)`, the only DPP form of a variable Σ)
re-solved 1.09 s (the SOC/factor form makes Clarabel's KKT solve slower); the direct, updated Clarabel QP is the
fastest, so that is what this module does (also when T < N: a factor form, t = Fw with F the T x N scaled
returns, was 2x slower than dense P at T=252, N=1000). Σ is divided by its mean variance and μ - r_f by its largest absolute
value before solving (the argmin is unchanged), so fixed tolerances mean the same thing for daily or annual data.

Clarabel settings (`SolverSettings`): tol_gap_abs = tol_gap_rel = tol_feas = 1e-7 on the normalised problem,
presolve off and structural zeros kept (both required for data updates), iterative refinement off (about 30%
faster here). The interior point is then polished: the active set (assets at 0, at the cap, free) read off it is
refined by a primal-dual active-set iteration, each step an exact solve of the KKT system on the free assets
(Cholesky of Σ_FF and a small Schur complement), until the sets stop changing; the result is accepted only if it
passes the full KKT check (bounds, dual signs, residual). With cluster caps the active set also holds the cluster
rows at their cap: each contributes one more border column (its members among the free assets; for MaxSharpe also
the entry cap·|g∩U| - cluster_cap_g in the κ row) and a multiplier that must stay >= 0, and an inactive row whose
total exceeds its cap enters; so the polish stays exact with cluster constraints active. Polished weights are exact to ~1e-12 whatever the
interior-point tolerance: at N=1000 they came out bit-identical for tolerances 1e-5 to 1e-8, so the interior point
only has to find the active set, and 1e-7 saves an iteration over Clarabel's default 1e-8. If the polish declines,
the interior-point solution is returned with `polished=False` (weights then accurate to ~1e-4).

Risk parity uses a damped Newton method in NumPy (Cholesky of Σ + diag(b / y²), backtracking, from the scaled
inverse-volatility portfolio; the objective is self-concordant, so it converges globally, in ~7-10 steps).
Clarabel does handle the exponential-cone form (status Solved), but at default tolerances the risk contributions
are only equal to ~1e-4 and it took 0.64 s at N=1000, against exact contributions in a few Newton steps.
Risk parity takes no caps; check bounds on its result with `stable_sum_ok`.

Zero-variance assets (variance <= ZERO_VARIANCE_RTOL x the largest) are rejected by all three with
`ZeroVarianceAssets` naming their columns: a riskless asset is cash, not something to risk-weight (MinVar would
pile into it, ERC has no solution). A duplicated asset (singular Σ) is solved: MinVar / MaxSharpe then have a
continuum of optima (same objective), and the polish's minimum-norm solve returns the one that splits the twins
equally; risk parity stays strictly convex and also splits them equally.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import clarabel
import numpy as np
import scipy.linalg
import scipy.sparse as sp

from dataflows.portfolio import (
    InfeasibleCaps,
    InvalidInput,
    NoPositiveExcessReturn,
    SolverFailed,
    ZeroVarianceAssets,
    checked_covariance,
    describe_columns,
    zero_variance_columns,
)
from dataflows.portfolio.caps import ClusterCaps, InfeasibleClusterCaps, cluster_caps

__all__ = [
    "InfeasibleClusterCaps",
    "MaxSharpe",
    "MinVariance",
    "OptimizationResult",
    "SolverSettings",
    "max_sharpe_weights",
    "min_variance_weights",
    "risk_parity_weights",
    "stable_sum_ok",
]

_OK_STATUSES = frozenset({"Solved", "AlmostSolved"})
_CAP_SLACK = 1e-12  # n * cap within this of 1: the equal-weight portfolio is the only feasible point


@dataclass(frozen=True)
class SolverSettings:
    """Clarabel settings for MinVar / MaxSharpe (on the normalised problem) and the polish switch."""

    tol_gap_abs: float = 1e-7
    tol_gap_rel: float = 1e-7
    tol_feas: float = 1e-7
    max_iter: int = 200
    iterative_refinement: bool = False
    polish: bool = True
    polish_rounds: int = 10


@dataclass(frozen=True)
class OptimizationResult:
    """Weights of one optimizer run and how it went.

    `objective` is in the input's units: MinVar and risk parity the portfolio variance wᵀΣw, MaxSharpe the
    ratio (μ - r_f)ᵀw / sqrt(wᵀΣw). `status` is Clarabel's status string ("Solved", ...), "Converged" for
    risk parity, or "UniqueFeasiblePoint" when n·cap = 1 leaves only equal weights.
    """

    weights: np.ndarray
    status: str
    solve_time: float  # seconds, wall time of solve() (data update + solver + polish)
    objective: float
    iterations: int = 0  # interior-point or Newton iterations
    polished: bool = False


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


# ----------------------------------------------------------------------------------------------- problems


class _CappedQP:
    """Shared plumbing: cap checks, the dense upper-triangular P pattern, a persistent Clarabel solver."""

    def __init__(
        self,
        n: int,
        cap: float,
        settings: SolverSettings,
        groups: np.ndarray | None = None,
        cluster_cap: float | np.ndarray | None = None,
    ) -> None:
        if int(n) != n or n < 1:
            msg = f"n must be a positive integer, got {n!r}"
            raise InvalidInput(msg)
        if not (math.isfinite(cap) and cap > 0):
            msg = f"cap must be a finite number > 0, got {cap!r}"
            raise InvalidInput(msg)
        if n * cap < 1.0 - _CAP_SLACK:
            raise InfeasibleCaps(int(n), float(cap))
        self.n = int(n)
        self.cap = float(min(cap, 1.0))
        self.settings = settings
        self.clusters: ClusterCaps | None = cluster_caps(groups, cluster_cap, self.n)
        # the cluster rows of the problem: only clusters whose cap can bind (cluster_cap_g < min(1, n_g cap))
        self._g_ids = np.zeros(0, dtype=np.int64)
        self._g_caps = np.zeros(0)
        self._g_member = np.zeros((0, self.n), dtype=bool)
        if self.clusters is not None:
            self.clusters.check_feasible(self.cap)
            self._g_ids = self.clusters.binding(self.cap)
            self._g_caps = self.clusters.caps[self._g_ids]
            self._g_member = self.clusters.index[None, :] == self._g_ids[:, None]
        self._unique = self.n * self.cap <= 1.0 + _CAP_SLACK  # only w = 1/n is feasible
        self._lower_mask = np.tri(self.n, dtype=bool)  # lower triangle row-major == upper triangle column-major
        counts = np.arange(1, self.n + 1, dtype=np.int64)
        self._p_indptr = np.zeros(self.n + 1, dtype=np.int64)
        self._p_indptr[1:] = np.cumsum(counts)
        self._p_indices = np.arange(self._p_indptr[-1], dtype=np.int64) - np.repeat(self._p_indptr[:-1], counts)
        self._solver: clarabel.DefaultSolver | None = None

    def _group_rows(self, kappa_col: bool) -> sp.csc_matrix:
        """The rows Σ_{i in g} w_i <= c_g (or Σ_{i in g} y_i - c_g κ <= 0 with a κ column) of the binding clusters."""
        rows, cols = np.nonzero(self._g_member)
        data = np.ones(rows.size)
        width = self.n + 1 if kappa_col else self.n
        if kappa_col:
            ng = self._g_ids.size
            rows = np.concatenate([rows, np.arange(ng)])
            cols = np.concatenate([cols, np.full(ng, self.n)])
            data = np.concatenate([data, -self._g_caps])
        return sp.csc_matrix((data, (rows, cols)), shape=(self._g_ids.size, width))

    def _group_bounds(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(binding-cluster row of each asset or -1, the rows' caps), or None without binding cluster rows."""
        if not self._g_ids.size:
            return None
        row = np.full(self.n, -1, dtype=np.int64)
        for j in range(self._g_ids.size):
            row[self._g_member[j]] = j
        return row, self._g_caps

    def _p_data(self, cov: np.ndarray, scale: float) -> np.ndarray:
        """Nonzeros of the upper triangle of cov / scale in CSC order."""
        return cov[self._lower_mask] * (1.0 / scale)

    def _clarabel_settings(self) -> clarabel.DefaultSettings:
        s = self.settings
        st = clarabel.DefaultSettings()
        st.verbose = False
        st.presolve_enable = False  # data updates need the problem as given
        st.input_sparse_dropzeros = False  # keep structural zeros (e.g. mu_i = r_f) for updates
        st.tol_gap_abs = s.tol_gap_abs
        st.tol_gap_rel = s.tol_gap_rel
        st.tol_feas = s.tol_feas
        st.max_iter = s.max_iter
        st.iterative_refinement_enable = s.iterative_refinement
        return st

    def _run(
        self, p_data: np.ndarray, n_vars: int, a_data: np.ndarray | None, build: tuple
    ) -> tuple[np.ndarray, np.ndarray, str, int]:
        """Update (or build) the persistent solver and solve; (x, z, status, iterations)."""
        if self._solver is None:
            a, b, cones = build
            indptr = np.concatenate([self._p_indptr, np.full(n_vars - self.n, self._p_indptr[-1])])
            p = sp.csc_matrix((p_data, self._p_indices, indptr), shape=(n_vars, n_vars))
            if a_data is not None:
                a = sp.csc_matrix((a_data, a.indices, a.indptr), shape=a.shape)
            self._solver = clarabel.DefaultSolver(p, np.zeros(n_vars), a, b, cones, self._clarabel_settings())
        elif a_data is None:
            self._solver.update(P=p_data)
        else:
            self._solver.update(P=p_data, A=a_data)
        sol = self._solver.solve()
        status = str(sol.status)
        if status not in _OK_STATUSES:
            msg = (
                f"{type(self).__name__}: Clarabel stopped with status {status} after {sol.iterations} iterations "
                "(is the covariance positive semidefinite?)"
            )
            raise SolverFailed(msg, status)
        return np.asarray(sol.x), np.asarray(sol.z), status, int(sol.iterations)


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

    def solve(self, cov: np.ndarray) -> OptimizationResult:
        """Minimum-variance weights for an (n, n) covariance."""
        t0 = time.perf_counter()
        cov = _validated_cov(cov, self.n)
        if self._unique:
            w = np.full(self.n, 1.0 / self.n)
            return OptimizationResult(w, "UniqueFeasiblePoint", time.perf_counter() - t0, float(w @ cov @ w))
        scale = float(np.mean(np.diag(cov)))
        x, z, status, iters = self._run(self._p_data(cov, scale), self.n, None, self._build)
        w, polished = x, False
        if self.settings.polish:
            pw = _polish_min_variance(
                cov, x, z[1 : 1 + self.n], z[1 + self.n : 1 + 2 * self.n], z[1 + 2 * self.n :], self
            )
            if pw is not None:
                w, polished = pw, True
        w = np.clip(w, 0.0, self.cap)
        return OptimizationResult(w, status, time.perf_counter() - t0, float(w @ cov @ w), iters, polished)


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
            w = np.full(self.n, 1.0 / self.n)
            return OptimizationResult(w, "UniqueFeasiblePoint", time.perf_counter() - t0, _sharpe(w, cov, excess))
        m = excess / np.abs(excess).max()
        a_data = self._a_template.copy()
        a_data[self._m_pos] = m
        scale = float(np.mean(np.diag(cov)))
        x, z, status, iters = self._run(self._p_data(cov, scale), self.n + 1, a_data, self._build)
        y, kappa = x[: self.n], x[self.n]
        if not kappa > 0:
            msg = f"MaxSharpe solution has kappa = {float(kappa)!r} (must be > 0)"
            raise SolverFailed(msg, status)
        w, polished = y / kappa, False
        if self.settings.polish:
            n = self.n
            pw = _polish_max_sharpe(cov, m, y, kappa, z[2 : 2 + n], z[2 + n : 2 + 2 * n], z[3 + 2 * n :], self)
            if pw is not None:
                w, polished = pw, True
        w = np.clip(w, 0.0, self.cap)
        return OptimizationResult(w, status, time.perf_counter() - t0, _sharpe(w, cov, excess), iters, polished)


# ----------------------------------------------------------------------------------------------- polish


def _active_sets(
    x: np.ndarray, upper: np.ndarray, z_lower: np.ndarray, z_upper: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Initial (at_lower, at_upper) masks from an interior point: a bound is active when its dual exceeds its slack."""
    at_lower = z_lower > x
    at_upper = (z_upper > upper - x) & ~at_lower
    return at_lower, at_upper


def _pdas_update(
    v: np.ndarray, r: np.ndarray, ub: float, lo_m: np.ndarray, up_m: np.ndarray, tol_v: float, tol_r: float
) -> tuple[np.ndarray, np.ndarray]:
    """One primal-dual active-set update: free variables out of bounds become active, wrong-signed duals free."""
    free = ~(lo_m | up_m)
    new_lo = (free & (v < -tol_v)) | (lo_m & (r >= -tol_r))
    new_up = (free & (v > ub + tol_v)) | (up_m & (r <= tol_r))
    return new_lo, new_up & ~new_lo


def _group_update(
    act_m: np.ndarray, lam: np.ndarray, totals: np.ndarray, limits: np.ndarray, tol_v: float, tol_r: float
) -> np.ndarray:
    """Active-set update of the cluster rows: an inactive row over its limit enters, a negative multiplier leaves."""
    new = ~act_m & (totals > limits + tol_v)
    new[np.flatnonzero(act_m)[lam >= -tol_r]] = True
    return new


def _polish_min_variance(
    cov: np.ndarray,
    w: np.ndarray,
    z_lower: np.ndarray,
    z_upper: np.ndarray,
    z_group: np.ndarray,
    problem: MinVariance,
) -> np.ndarray | None:
    """Exact MinVar weights on the active set read off the interior point, or None if the KKT check fails.

    The active set is (assets at 0, assets at the cap, cluster rows at their cap); each round solves the KKT
    system on the free assets with one border column for the budget and one per active cluster row.
    """
    n, cap, s = w.size, problem.cap, problem.settings
    member, gcap = problem._g_member, problem._g_caps
    lo_m, up_m = _active_sets(w, np.full(n, cap), z_lower, z_upper)
    act_m = z_group > gcap - member @ w
    for _ in range(s.polish_rounds):
        free = np.flatnonzero(~(lo_m | up_m))
        up = np.flatnonzero(up_m)
        act = np.flatnonzero(act_m)
        k = free.size
        # Σ_FF w_F + cap Σ_FU 1 + ζ 1 + Σ_g λ_g 1_(g∩F) = 0,  1ᵀw_F = 1 - cap |U|,  1_(g∩F)ᵀw_F = c_g - cap |g∩U|
        # (unknowns w_F, ζ = -ν and λ_g for the active cluster rows)
        border, r2 = np.ones((k, 1)), np.array([1.0 - cap * up.size])
        if act.size:
            rows = member[act]
            border = np.column_stack([border, rows[:, free].T.astype(np.float64)])
            r2 = np.concatenate([r2, gcap[act] - cap * rows[:, up].sum(axis=1)])
        solved = _bordered_solve(
            cov[np.ix_(free, free)],
            border,
            np.zeros((1 + act.size, 1 + act.size)),
            -cap * cov[np.ix_(free, up)].sum(axis=1),
            r2,
        )
        if solved is None:
            return None
        v = np.zeros(n)
        v[free] = solved[0]
        v[up] = cap
        nu = -solved[1][0]
        lam = solved[1][1:]
        r = cov @ v - nu  # reduced costs: >= 0 at the lower bound, <= 0 at the cap
        scale = abs(nu)
        if act.size:
            r += lam @ member[act]
            scale = max(scale, np.abs(lam).max())
        tol_r = 1e-9 * max(scale, np.finfo(float).tiny)
        new_lo, new_up = _pdas_update(v, r, cap, lo_m, up_m, 1e-12, tol_r)
        new_act = _group_update(act_m, lam, member @ v, gcap, 1e-12, tol_r) if gcap.size else act_m
        if np.array_equal(new_lo, lo_m) and np.array_equal(new_up, up_m) and np.array_equal(new_act, act_m):
            return v
        lo_m, up_m, act_m = new_lo, new_up, new_act
    return None


def _polish_max_sharpe(
    cov: np.ndarray,
    m: np.ndarray,
    y: np.ndarray,
    kappa: float,
    z_lower: np.ndarray,
    z_upper: np.ndarray,
    z_group: np.ndarray,
    problem: MaxSharpe,
) -> np.ndarray | None:
    """Exact MaxSharpe weights on the active set read off the interior point, or None if the KKT check fails.

    As for MinVar, with κ among the unknowns; an active cluster row Σ_{i in g} y_i = c_g κ adds a border column
    1_(g∩F) with the entry cap |g∩U| - c_g in the κ row.
    """
    n, cap = y.size, problem.cap
    member, gcap = problem._g_member, problem._g_caps
    lo_m, up_m = _active_sets(y, np.full(n, cap * kappa), z_lower, z_upper)
    act_m = z_group > gcap * kappa - member @ y
    for _ in range(problem.settings.polish_rounds):
        free = np.flatnonzero(~(lo_m | up_m))
        up = np.flatnonzero(up_m)
        act = np.flatnonzero(act_m)
        k, na = free.size, act.size
        # Unknowns y_F, then (kappa, ζ1, ζ2, λ_g...) with y_U = cap kappa, y_L = 0 and ζ = -(z1, z2), the
        # multipliers of mᵀy = 1 and 1ᵀy - kappa = 0, λ_g those of the active cluster rows 1_gᵀy - c_g kappa = 0:
        # Σy - z1 m - z2 1 + Σ_g λ_g 1_g = 0 on F, its cap-weighted sum over U (kappa), constraints.
        h = cap * cov[np.ix_(free, up)].sum(axis=1)
        m_up = cap * m[up].sum()
        b_up = cap * up.size - 1.0
        corner = np.zeros((3 + na, 3 + na))
        corner[:3, :3] = [[cap * cap * cov[np.ix_(up, up)].sum(), m_up, b_up], [m_up, 0.0, 0.0], [b_up, 0.0, 0.0]]
        border = np.column_stack([h, m[free], np.ones(k)])
        if na:
            rows = member[act]
            d = cap * rows[:, up].sum(axis=1) - gcap[act]
            corner[0, 3:] = d
            corner[3:, 0] = d
            border = np.column_stack([border, rows[:, free].T.astype(np.float64)])
        solved = _bordered_solve(
            cov[np.ix_(free, free)],
            border,
            corner,
            np.zeros(k),
            np.concatenate([[0.0, 1.0, 0.0], np.zeros(na)]),
        )
        if solved is None or not solved[1][0] > 0:
            return None
        kap = solved[1][0]
        v = np.zeros(n)
        v[free] = solved[0]
        v[up] = cap * kap
        z1, z2 = -solved[1][1], -solved[1][2]
        lam = solved[1][3:]
        g = cov @ v
        r = g - z1 * m - z2  # reduced costs: >= 0 at zero, <= 0 at the cap
        scale = max(np.abs(g).max(), abs(z1) * np.abs(m).max(), abs(z2))
        if na:
            r += lam @ member[act]
            scale = max(scale, np.abs(lam).max())
        tol_r = 1e-9 * max(scale, np.finfo(float).tiny)
        new_lo, new_up = _pdas_update(v, r, cap * kap, lo_m, up_m, 1e-12 * kap, tol_r)
        new_act = _group_update(act_m, lam, member @ v, gcap * kap, 1e-12 * kap, tol_r) if gcap.size else act_m
        if np.array_equal(new_lo, lo_m) and np.array_equal(new_up, up_m) and np.array_equal(new_act, act_m):
            return v / kap
        lo_m, up_m, act_m = new_lo, new_up, new_act
    return None


def _bordered_solve(
    a: np.ndarray, border: np.ndarray, corner: np.ndarray, r1: np.ndarray, r2: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """Solve [[A, B], [Bᵀ, D]] [u; v] = [r1; r2] (A = Σ_FF, a few border columns); None if singular.

    Cholesky of A and a small Schur complement; if A is not positive definite (duplicated free assets) a
    minimum-norm least-squares solve of the whole system. Accepted only with a small residual.
    """
    k, p = border.shape
    try:
        factor = scipy.linalg.cho_factor(a, check_finite=False)
        solves = scipy.linalg.cho_solve(factor, np.column_stack([r1, border]), check_finite=False)
        schur = corner - border.T @ solves[:, 1:]
        v = np.linalg.solve(schur, r2 - border.T @ solves[:, 0])
        u = solves[:, 0] - solves[:, 1:] @ v
    except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
        full = np.empty((k + p, k + p))
        full[:k, :k] = a
        full[:k, k:] = border
        full[k:, :k] = border.T
        full[k:, k:] = corner
        try:  # minimum-norm solution: consistent but singular systems (twins) still give a KKT point
            sol = scipy.linalg.lstsq(full, np.concatenate([r1, r2]), lapack_driver="gelsy", check_finite=False)[0]
        except (np.linalg.LinAlgError, scipy.linalg.LinAlgError, ValueError):
            return None
        u, v = sol[:k], sol[k:]
    if not (np.isfinite(u).all() and np.isfinite(v).all()):
        return None
    resid = max(
        np.abs(a @ u + border @ v - r1).max(initial=0.0), np.abs(border.T @ u + corner @ v - r2).max(initial=0.0)
    )
    size = max(1.0, np.abs(a).max(initial=0.0)) * max(1.0, np.abs(u).max(initial=0.0), np.abs(v).max())
    if resid > 1e-9 * size:
        return None
    return u, v


# ----------------------------------------------------------------------------------------------- risk parity


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


# ----------------------------------------------------------------------------------------------- functions


_CACHE_SIZE = 8
_local = threading.local()


def _problem(
    kind: type[_CappedQP],
    n: int,
    cap: float,
    groups: np.ndarray | None = None,
    cluster_cap: float | np.ndarray | None = None,
) -> _CappedQP:
    """Per-thread cache of built problems keyed by (kind, n, cap, groups, cluster caps): re-solve, never rebuild."""
    cache: OrderedDict | None = getattr(_local, "problems", None)
    if cache is None:
        cache = _local.problems = OrderedDict()
    clusters = cluster_caps(groups, cluster_cap, int(n))
    key = (kind, int(n), float(cap), None if clusters is None else clusters.key())
    problem = cache.get(key)
    if problem is None:
        problem = kind(n, cap, groups=groups, cluster_cap=cluster_cap)  # type: ignore[call-arg]
        cache[key] = problem
        if len(cache) > _CACHE_SIZE:
            cache.popitem(last=False)
    else:
        cache.move_to_end(key)
    return problem


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


# ----------------------------------------------------------------------------------------------- helpers


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

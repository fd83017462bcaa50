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
faster here). The interior point only has to find the active set; the polish then lands on the exact KKT point
(method note: docs/mvo.md):

- Working set: assets at 0, assets at the cap, free assets, cluster rows at their cap, read off the interior point
  (active when the dual exceeds the slack). Each round solves the QP with the working set as equalities exactly
  (unknowns the free weights, and κ; Cholesky of Σ_FF and a small Schur complement) and recovers the multipliers
  (budget rows, λ_g >= 0 of the cluster rows, the bounds' reduced costs). Primal-dual active-set updates (a free
  asset out of bounds or a row over its cap enters; a wrong-signed multiplier leaves) repeat until nothing
  changes: then every KKT condition holds (bounds and rows to 1e-12, signs to 1e-9 of the gradient's scale).
- Dependent active constraints (a cluster cap that is a whole number of asset caps with those members at the cap,
  cluster caps summing to exactly 1, every asset at a bound) make the working rows linearly dependent. The solve
  keeps a maximal independent subset (equalities first) and checks that the dropped rows hold too; a cluster row
  without free members is decided by its members' bounds. The weights are then unique, the multipliers are not:
  they form η_0 + N t, and t is chosen to meet the sign conditions (one t exactly; several coupled ones by an LP,
  HiGHS), so a degenerate optimum is recognised instead of cycling.
- Should the simultaneous updates cycle, the search restarts flipping only the largest violation per round; a
  singular Σ_FF (twins, T < N) goes to a null-space solve (minimum norm: twins split equally) and, if the active set
  still does not settle on a face of optima, to Σ + 1e-10·I (objective within 1e-10·cap of the optimum, in units
  of the mean variance). A polish that cannot finish raises `PolishFailed` (a `SolverFailed`, so the fallback chain
  records it; the message names a singular covariance): the interior point is never returned clipped.
- Caps hold in floating point: weights at a bound are exactly 0 or cap, and a cluster whose exact total is within
  n_g·ε/2 of its cap is scaled down by a few ulps, so that w <= cap and every cluster total <= its cap whatever the
  summation order (0.1 + 0.1 + 0.1 = 0.30000000000000004 > 0.3); Σw stays within 1e-12 of 1.

Polished weights do not depend on the interior-point tolerance (identical to ~1e-13 for 1e-5 to 1e-8), so 1e-7
saves an iteration over Clarabel's default 1e-8. `polished=False` only with `SolverSettings(polish=False)` (the
interior point, clipped to the caps: weights accurate to ~1e-4) and for the unique feasible point n·cap = 1.
MaxSharpe raises `SolverFailed` (status RisklessPortfolio) when Σ admits a long-only portfolio with zero variance
and positive excess return: the ratio is unbounded.

Risk parity uses a damped Newton method in NumPy (Cholesky of Σ + diag(b / y²), backtracking, from the scaled
inverse-volatility portfolio; the objective is self-concordant, so it converges globally, in ~7-10 steps).
Clarabel does handle the exponential-cone form (status Solved), but at default tolerances the risk contributions
are only equal to ~1e-4 and it took 0.64 s at N=1000, against exact contributions in a few Newton steps.
Risk parity takes no caps; check bounds on its result with `stable_sum_ok`.

Zero-variance assets (variance <= ZERO_VARIANCE_RTOL x the largest) are rejected by all three with
`ZeroVarianceAssets` naming their columns: a riskless asset is cash, not something to risk-weight (MinVar would
pile into it, ERC has no solution). A duplicated asset (singular Σ) is solved: MinVar / MaxSharpe then have a
continuum of optima (same objective), and the polish's minimum-norm solve returns the one that splits the twins
equally; risk parity stays strictly convex and also splits them equally. Exactness is guaranteed for a positive
definite Σ; with fewer observations than assets, use a shrinkage covariance.
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
import scipy.optimize
import scipy.sparse as sp

from dataflows.portfolio import (
    ZERO_VARIANCE_RTOL,
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
_RIDGE = 1e-10  # the polish's fallback Σ + δI for a singular Σ, δ in units of the mean variance


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

    def _p_data(self, scaled: np.ndarray) -> np.ndarray:
        """Nonzeros of the upper triangle of the (scaled) covariance in CSC order."""
        return scaled[self._lower_mask]

    def _cluster_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """The binding cluster rows as (members 0/1, -cluster caps): 1_gᵀy - c_g s <= 0."""
        return self._g_member.astype(np.float64), -self._g_caps

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


# ----------------------------------------------------------------------------------------------- polish


class PolishFailed(SolverFailed):
    """The active-set polish found no exact KKT point: an error the fallback chain records, never a rough answer."""


@dataclass(frozen=True)
class _Rows:
    """General rows a_rᵀy + b_r s (=, <=) d_r of a problem in (y, s), s = κ (MaxSharpe) or fixed at 1 (MinVar).

    The first `n_eq` rows are equalities (MinVar 1ᵀy = 1; MaxSharpe mᵀy = 1 and 1ᵀy - κ = 0), the others the
    binding cluster rows 1_gᵀy - c_g s <= 0. The bounds 0 <= y_i <= cap s are not rows: assets at a bound are
    eliminated from each solve.
    """

    a: np.ndarray  # (p, n)
    b: np.ndarray  # (p,)
    d: np.ndarray  # (p,)
    n_eq: int


@dataclass(frozen=True)
class _Step:
    """The exact solution on one working set: primal y, s; reduced costs r = g - aᵀη; cluster multipliers λ."""

    y: np.ndarray
    s: float
    r: np.ndarray
    lam: np.ndarray  # (G,), 0 for inactive cluster rows
    scale: float  # of the gradient and prices: dual tolerances are relative to it


def _polish(
    cov: np.ndarray,
    rows: _Rows,
    cap: float,
    x: np.ndarray,
    s: float,
    z_lower: np.ndarray,
    z_upper: np.ndarray,
    z_group: np.ndarray,
    *,
    s_free: bool,
    rounds: int,
) -> np.ndarray:
    """Exact KKT weights from an interior point, or `PolishFailed`.

    The active set (assets at 0, at the cap, cluster rows at their cap) read off the interior point is refined
    by primal-dual active-set rounds (every violated bound or sign flips at once); should they cycle, a second
    search from the same start flips only the largest violation per round. A singular Σ (T < N) can leave a
    face of optima on which neither settles: then both run again on Σ + δI (δ = RIDGE in units of the mean
    variance; strictly convex, objective within δ·|w|² <= δ·cap of the optimum, twins still split equally).
    """
    lo_m, up_m = _active_sets(x, np.full(x.size, cap * s), z_lower, z_upper)
    ne = rows.n_eq
    act_m = z_group > rows.d[ne:] - rows.a[ne:] @ x - rows.b[ne:] * s  # dual above slack
    for ridge in (0.0, _RIDGE):
        c = cov if not ridge else cov + ridge * np.eye(x.size)
        for greedy, limit in ((False, rounds), (True, 10 * rounds)):
            found = _active_set_search(c, rows, cap, s_free, lo_m.copy(), up_m.copy(), act_m.copy(), limit, greedy)
            if found is not None:
                return found
    eig = np.linalg.eigvalsh(cov)
    singular = (
        f"; the covariance is singular (smallest eigenvalue {eig[0]:.3g} x the mean variance: fewer observations "
        "than assets?), so the optimum is not unique: use a shrinkage covariance (profile.covariance)"
        if eig[0] <= 1e-12 * eig[-1]
        else ""
    )
    msg = (
        f"the active-set polish found no exact KKT point in {22 * rounds} rounds ({x.size} assets, cap {cap:g}, "
        f"{rows.a.shape[0] - ne} cluster rows){singular}; the interior-point answer is not returned clipped"
    )
    raise PolishFailed(msg, "PolishFailed")


def _active_set_search(
    cov: np.ndarray,
    rows: _Rows,
    cap: float,
    s_free: bool,
    lo_m: np.ndarray,
    up_m: np.ndarray,
    act_m: np.ndarray,
    limit: int,
    greedy: bool,
) -> np.ndarray | None:
    """Active-set rounds until the working-set solution is primal and dual feasible: its weights, or None."""
    ne = rows.n_eq
    a_cl, b_cl, d_cl = rows.a[ne:], rows.b[ne:], rows.d[ne:]
    for _ in range(limit):
        _settle_cluster_rows(a_cl, b_cl, cap, lo_m, up_m, act_m)
        step = _working_set_step(cov, rows, cap, s_free, lo_m, up_m, act_m)
        if step is None:
            return None
        y, s, r, lam = step.y, step.s, step.r, step.lam
        free_m, over = ~(lo_m | up_m), a_cl @ y + b_cl * s - d_cl
        tol_v, tol_r = 1e-12 * s, 1e-9 * step.scale
        masks = [  # free below 0 / above the cap, bound duals of the wrong sign, rows over their cap / λ < 0
            free_m & (y < -tol_v),
            free_m & (y > cap * s + tol_v),
            lo_m & (r < -tol_r),
            up_m & (r > tol_r),
            ~act_m & (over > tol_v),
            act_m & (lam < -tol_r),
        ]
        if not any(m.any() for m in masks):
            w = y / s
            w[up_m] = cap
            w[lo_m] = 0.0
            return w
        if greedy:  # flip only the largest violation: primal in weights, dual relative to the prices
            sizes = [-y / s, y / s - cap, -r / step.scale, r / step.scale, over / s, -lam / step.scale]
            scores = [np.where(m, v, -np.inf) for m, v in zip(masks, sizes, strict=True)]
            j = max(range(len(scores)), key=lambda j: scores[j].max(initial=-np.inf))
            masks = [np.zeros_like(m) for m in masks]
            masks[j][int(np.argmax(scores[j]))] = True
        to_lo, to_up, lo_free, up_free, enter, leave = masks
        lo_m = (lo_m & ~lo_free) | to_lo
        up_m = (up_m & ~up_free) | to_up
        act_m = (act_m & ~leave) | enter
    return None


def _active_sets(
    x: np.ndarray, upper: np.ndarray, z_lower: np.ndarray, z_upper: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Initial (at_lower, at_upper) masks from an interior point: a bound is active when its dual exceeds its slack."""
    at_lower = z_lower > x
    at_upper = (z_upper > upper - x) & ~at_lower
    return at_lower, at_upper


def _settle_cluster_rows(
    a_cl: np.ndarray, b_cl: np.ndarray, cap: float, lo_m: np.ndarray, up_m: np.ndarray, act_m: np.ndarray
) -> None:
    """An active cluster row without free members is fixed by its members' bounds (in place): below its cap it
    leaves, above it frees its members at the cap, at it stays (a dependent row, multiplier chosen later)."""
    free_m = ~(lo_m | up_m)
    for j in np.flatnonzero(act_m):
        members = a_cl[j] != 0
        if (members & free_m).any():
            continue
        value = cap * float(a_cl[j, members & up_m].sum()) + float(b_cl[j])  # row value per unit of s
        if value < -1e-12:
            act_m[j] = False
        elif value > 1e-12:
            up_m[members] = False


def _working_set_step(
    cov: np.ndarray,
    rows: _Rows,
    cap: float,
    s_free: bool,
    lo_m: np.ndarray,
    up_m: np.ndarray,
    act_m: np.ndarray,
) -> _Step | None:
    """Exact solution of the QP with the working set as equalities, and the KKT multipliers closest to their signs.

    Unknowns ζ = (y_F[, s]) with y_L = 0, y_U = cap s. The working rows restricted to ζ, C ζ = rhs, may be
    linearly dependent (a cluster cap equal to a whole number of asset caps, cluster caps summing to 1): the
    solve keeps a maximal independent subset (equalities first) and checks that the dropped rows hold too; a
    dropped cluster row that does not is left out of the working set (in place). The primal solution is then
    unique, the multipliers η (Cᵀη = ∇_ζ f) are not: they are chosen on η_0 + N t by `_best_multipliers`.
    """
    ne = rows.n_eq
    free, up = np.flatnonzero(~(lo_m | up_m)), np.flatnonzero(up_m)
    k = free.size
    h = cap * cov[np.ix_(free, up)].sum(axis=1)  # Σ_FU y_U / s
    q = cap * cap * float(cov[np.ix_(up, up)].sum())  # y_UᵀΣ_UU y_U / s²
    a_ff = cov[np.ix_(free, free)]
    while True:
        wr = np.concatenate([np.arange(ne), ne + np.flatnonzero(act_m)])
        a = rows.a[wr]
        c_s = rows.b[wr] + cap * a[:, up].sum(axis=1)
        c, rhs = a[:, free], rows.d[wr]
        if s_free:
            c = np.column_stack([c, c_s])
        else:
            rhs = rhs - c_s
        keep = _independent_rows(c)
        ck = c[keep]
        solved = _eqp_solve(a_ff, h, q, ck, rhs[keep], s_free)
        if solved is None:
            return None
        zeta, eta_k = solved
        s = float(zeta[k]) if s_free else 1.0
        if not s > 0:
            return None
        dropped = np.setdiff1d(np.arange(wr.size), keep)
        off = dropped[np.abs(c[dropped] @ zeta - rhs[dropped]) > 1e-11 * max(1.0, s)]
        if not off.size:
            break
        if (off < ne).any():
            return None
        act_m[wr[off] - ne] = False
    y = np.zeros(cov.shape[0])
    y[free] = zeta[:k]
    y[up] = cap * s
    g = cov @ y
    eta = np.zeros(wr.size)
    eta[keep] = eta_k
    if dropped.size:  # dependent rows: η_0 + N t, one null vector per dropped row
        alpha = scipy.linalg.lstsq(ck.T, c[dropped].T, check_finite=False)[0]
        null = np.zeros((wr.size, dropped.size))
        null[keep] = -alpha
        null[dropped, np.arange(dropped.size)] = 1.0
        eta = _best_multipliers(eta, null, a, g, np.flatnonzero(lo_m), up, ne)
    price = a.T @ eta
    lam = np.zeros(rows.a.shape[0] - ne)
    lam[wr[ne:] - ne] = -eta[ne:]
    scale = max(float(np.abs(g).max()), float(np.abs(price).max()), 1e-5)  # floor: Σ in units of its mean variance
    return _Step(y, s, g - price, lam, scale)


def _best_multipliers(
    eta: np.ndarray, null: np.ndarray, a: np.ndarray, g: np.ndarray, lo: np.ndarray, up: np.ndarray, ne: int
) -> np.ndarray:
    """The multipliers η + N t with the least total violation of the KKT signs (one t: exact; more: LP, HiGHS).

    Signs: reduced costs g_i - (aᵀη)_i >= 0 at the lower bound and <= 0 at the cap, η <= 0 on cluster rows.
    Each is f_k(η + N t) = f_k + e_k t >= 0; minimise Σ σ_k with f_k + e_k t + σ_k >= 0, σ >= 0.
    """
    f = np.concatenate([g[lo] - a[:, lo].T @ eta, a[:, up].T @ eta - g[up], -eta[ne:]])
    e = np.vstack([-a[:, lo].T @ null, a[:, up].T @ null, -null[ne:]])
    e[np.abs(e) <= 1e-12 * np.abs(e).max(initial=0.0)] = 0.0  # round-off of the null vectors: no dependence on t
    live = np.abs(e).max(axis=1, initial=0.0) > 0
    f, e = f[live], e[live]
    if not f.size:
        return eta
    q, m = null.shape[1], f.size
    if ((e != 0).sum(axis=1) == 1).all():  # every row moves with one t_j: q one-dimensional problems
        return eta + null @ np.array([_least_violation(f[e[:, j] != 0], e[e[:, j] != 0, j]) for j in range(q)])
    scale = max(float(np.abs(f).max()), float(np.abs(g).max()), np.finfo(float).tiny)
    res = scipy.optimize.linprog(
        np.concatenate([np.zeros(q), np.ones(m)]),
        A_ub=sp.hstack([sp.csr_matrix(-e), -sp.identity(m, format="csr")], format="csr"),
        b_ub=f / scale,
        bounds=[(None, None)] * q + [(0.0, None)] * m,
        method="highs",
    )
    return eta if res.status != 0 else eta + null @ (res.x[:q] * scale)


def _least_violation(f: np.ndarray, e: np.ndarray) -> float:
    """The t minimising Σ max(0, -(f_k + e_k t)) (e_k != 0): each row bounds t from one side; with no violation
    possible the middle of the feasible interval (or its finite end), else the weighted median of the bounds."""
    bound = -f / e
    lower, upper = bound[e > 0].max(initial=-np.inf), bound[e < 0].min(initial=np.inf)
    if lower <= upper:
        t = (lower + upper) / 2 if np.isfinite(lower + upper) else lower if np.isfinite(lower) else upper
        return float(t) if np.isfinite(t) else 0.0
    order = np.argsort(bound)  # the violation's slope is -Σ_{e>0} e_k left of every bound and grows by |e_k| at each
    return float(bound[order][np.searchsorted(np.cumsum(np.abs(e[order])), e[e > 0].sum())])


def _independent_rows(c: np.ndarray, rtol: float = 1e-10) -> np.ndarray:
    """Rows of c, in order, each linearly independent of the ones kept before it (Gram-Schmidt, twice).

    The rows' entries are O(1) (0/1 memberships, m scaled to max |m_i| = 1, cap and cluster caps), so a row is
    dependent when what is left of it is below rtol x max(1, its norm): a cluster row whose members all sit at the
    cap, 0.1 + 0.1 + 0.1 - 0.3 = 5.6e-17 on κ, is zero.
    """
    basis = np.zeros((0, c.shape[1]))
    keep = []
    for j, row in enumerate(c):
        v = row - basis.T @ (basis @ row)
        v -= basis.T @ (basis @ v)
        norm = float(np.linalg.norm(v))
        if norm > rtol * max(1.0, float(np.linalg.norm(row))):
            keep.append(j)
            basis = np.vstack([basis, v / norm])
    return np.asarray(keep, dtype=np.int64)


def _eqp_solve(
    a_ff: np.ndarray, h: np.ndarray, q: float, c: np.ndarray, rhs: np.ndarray, s_free: bool
) -> tuple[np.ndarray, np.ndarray] | None:
    """min ½ y_FᵀΣ_FF y_F + s hᵀy_F [+ ½ q s²] s.t. C ζ = rhs, ζ = (y_F[, s]), C of independent rows: (ζ, η) with
    ∇f(ζ) = Cᵀη, or None.

    Fast path: Cholesky of Σ_FF and the small Schur complement of the bordered KKT system (s in the border, so
    that no asset at the cap is needed). A singular or nearly singular Σ_FF (T < N, twins) loses that solution in
    cancellation; then the null-space method: ζ = ζ_0 + Z t with C Z = 0 and (ZᵀHZ) t = -Zᵀ∇f(ζ_0) by least
    squares (the minimum-norm t splits twins equally). Accepted only with residuals at round-off level.
    """
    k, p = a_ff.shape[0], c.shape[0]
    if k + s_free == 0:  # every asset at a bound, s fixed: nothing to solve (the rows were all dependent)
        return np.zeros(0), np.zeros(p)
    if s_free:
        hess = np.block([[a_ff, h[:, None]], [h[None, :], np.array([[q]])]])
        lin = np.zeros(k + 1)
    else:
        hess, lin = a_ff, h

    def accept(zeta: np.ndarray, eta: np.ndarray) -> bool:
        grad = hess @ zeta + lin
        ct_eta = c.T @ eta
        scale_d = max(float(np.abs(grad).max(initial=0.0)), float(np.abs(ct_eta).max(initial=0.0)), 1e-5)
        return bool(
            np.isfinite(zeta).all()
            and np.isfinite(eta).all()
            and np.abs(c @ zeta - rhs).max(initial=0.0) <= 1e-12 * max(1.0, float(np.abs(zeta).max(initial=0.0)))
            and np.abs(grad - ct_eta).max(initial=0.0) <= 1e-10 * scale_d
        )

    border = np.column_stack([h, c[:, :k].T]) if s_free else c.T
    corner = np.zeros((border.shape[1], border.shape[1]))
    if s_free:
        corner[0, 0] = q
        corner[0, 1:] = corner[1:, 0] = c[:, k]
    r1, r2 = (np.zeros(k), np.concatenate([[0.0], rhs])) if s_free else (-h, rhs)
    try:  # [[Σ_FF, B], [Bᵀ, D]] [y_F; v] = [r1; r2], v = ([s,] -η)
        if k:
            factor = scipy.linalg.cho_factor(a_ff, check_finite=False)
            solves = scipy.linalg.cho_solve(factor, np.column_stack([r1, border]), check_finite=False)
        else:
            solves = np.zeros((0, 1 + border.shape[1]))
        v = np.linalg.solve(corner - border.T @ solves[:, 1:], r2 - border.T @ solves[:, 0])
        zeta = np.append(solves[:, 0] - solves[:, 1:] @ v, v[0]) if s_free else solves[:, 0] - solves[:, 1:] @ v
        eta = -(v[1:] if s_free else v)
        if accept(zeta, eta):
            return zeta, eta
    except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
        pass
    qm, rm = scipy.linalg.qr(c.T)  # C = Rᵀ Qᵀ: range(Cᵀ) = Q[:, :p], null(C) = Q[:, p:]
    rp = rm[:p]
    zeta = qm[:, :p] @ scipy.linalg.solve_triangular(rp, rhs, trans="T") if p else np.zeros(hess.shape[0])
    z = qm[:, p:]
    if z.shape[1]:
        reduced = z.T @ hess @ z
        zeta = zeta + z @ scipy.linalg.lstsq(reduced, -z.T @ (hess @ zeta + lin), cond=1e-13, check_finite=False)[0]
    eta = scipy.linalg.solve_triangular(rp, qm[:, :p].T @ (hess @ zeta + lin)) if p else np.zeros(0)
    return (zeta, eta) if accept(zeta, eta) else None


def _within_caps(w: np.ndarray, cap: float, clusters: ClusterCaps | None) -> np.ndarray:
    """w clipped to [0, cap], every cluster total made <= its cap in floating point whatever the summation order.

    A cluster whose exact total (math.fsum) is above c_g (1 - n_g u), u = ε / 2, is scaled down to it: any order of
    summing n_g non-negative floats errs by less than (n_g - 1) u relative, so every computed total is then <= c_g.
    On a polished solution this moves weights by a few ulps (e.g. three assets at cap 0.1 in a cluster capped at
    0.3, whose float sum 0.30000000000000004 is above 0.3).
    """
    w = np.clip(w, 0.0, cap)
    if clusters is None:
        return w
    eps = np.finfo(float).eps
    limits = clusters.caps * (1.0 - 0.5 * eps * clusters.sizes)
    for j in np.flatnonzero(clusters.totals(w) > limits * (1.0 - eps * clusters.sizes)):  # bincount errs < n u
        members = np.flatnonzero(clusters.index == j)
        for nudge in range(8):  # the exact ratio, then (if round-off left it above) a few ulps less
            total = math.fsum(w[members])
            if total <= limits[j]:
                break
            w[members] *= (limits[j] / total) * (1.0 - nudge * eps)
    return w


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

"""The Clarabel problem under MinVar and MaxSharpe: settings, result, the persistent solver and its cache.

`MinVariance(n, cap)` / `MaxSharpe(n, cap)` build the Clarabel problem once (dense upper-triangular P pattern,
constraint matrix, cones) and `solve()` pushes new Σ / μ into the same solver with `DefaultSolver.update` (no
re-canonicalisation, no new symbolic factorisation). Measured at N=1000, cap 10%: cvxpy `quad_form(w, psd_wrap(S))`
+ Clarabel built fresh 0.78 s (0.25-0.3 s of it canonicalisation); a cvxpy DPP problem with a Cholesky-factor
Parameter (`sum_squares(Lᵀw)`, the only DPP form of a variable Σ) re-solved 1.09 s (the SOC/factor form makes
Clarabel's KKT solve slower); the direct, updated Clarabel QP is the fastest, so that is what this package does
(also when T < N: a factor form, t = Fw with F the T x N scaled returns, was 2x slower than dense P at T=252,
N=1000). Σ is divided by its mean variance and μ - r_f by its largest absolute value before solving (the argmin is
unchanged), so fixed tolerances mean the same thing for daily or annual data.

Clarabel settings (`SolverSettings`): tol_gap_abs = tol_gap_rel = tol_feas = 1e-7 on the normalised problem,
presolve off and structural zeros kept (both required for data updates), iterative refinement off (about 30%
faster). The interior point only has to find the active set; the polish (`polish`) lands on the exact KKT point.

`_problem` keeps the built problems per thread, keyed by (kind, n, cap, cluster structure): the functions re-solve,
never rebuild.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass

import clarabel
import numpy as np
import scipy.sparse as sp

from dataflows.portfolio import InfeasibleCaps, InvalidInput, SolverFailed
from dataflows.portfolio.caps import ClusterCaps, cluster_caps

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

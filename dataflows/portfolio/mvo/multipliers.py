"""Dependent working rows and their multipliers: which rows to keep, and η_0 + N t closest to the KKT signs.

With dependent rows the multipliers of an exact working-set solution form η_0 + N t; t is chosen to meet the sign
conditions (one t exactly; several coupled ones by an LP, HiGHS).
"""

from __future__ import annotations

import numpy as np
import scipy.optimize
import scipy.sparse as sp


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

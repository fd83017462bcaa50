"""The exact solution of the QP on one working set, and the rows it is written in.

Dependent active constraints (a cluster cap that is a whole number of asset caps with those members at the cap,
cluster caps summing to exactly 1, every asset at a bound) make the working rows linearly dependent. The solve
keeps a maximal independent subset (equalities first) and checks that the dropped rows hold too; a cluster row
without free members is decided by its members' bounds (`polish`). The weights are then unique, the multipliers
are not: they form η_0 + N t, and t is chosen to meet the sign conditions (`multipliers`), so a degenerate optimum
is recognised instead of cycling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg

from dataflows.portfolio.mvo.multipliers import _best_multipliers, _independent_rows


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

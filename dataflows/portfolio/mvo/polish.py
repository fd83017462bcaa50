"""The active-set polish: from Clarabel's interior point to the exact KKT point, and caps in floating point.

- Working set: assets at 0, assets at the cap, free assets, cluster rows at their cap, read off the interior point
  (active when the dual exceeds the slack). Each round solves the QP with the working set as equalities exactly
  (`working_set`: unknowns the free weights, and κ; Cholesky of Σ_FF and a small Schur complement) and recovers the
  multipliers (budget rows, λ_g >= 0 of the cluster rows, the bounds' reduced costs). Primal-dual active-set
  updates (a free asset out of bounds or a row over its cap enters; a wrong-signed multiplier leaves) repeat until
  nothing changes: then every KKT condition holds (bounds and rows to 1e-12, signs to 1e-9 of the gradient's scale).
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
"""

from __future__ import annotations

import math

import numpy as np

from dataflows.portfolio import SolverFailed
from dataflows.portfolio.caps import ClusterCaps
from dataflows.portfolio.mvo.working_set import _Rows, _working_set_step

_RIDGE = 1e-10  # the polish's fallback Σ + δI for a singular Σ, δ in units of the mean variance


class PolishFailed(SolverFailed):
    """The active-set polish found no exact KKT point: an error the fallback chain records, never a rough answer."""


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

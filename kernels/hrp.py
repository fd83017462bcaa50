"""Hierarchical Risk Parity kernels: centring, correlation distance and recursive bisection.

Array contract (every kernel in this module):

- float64 NumPy arrays, C-contiguous. Return panels are (T, N): rows = time (oldest first), columns = assets.
  Covariance and correlation matrices are (N, N), symmetric, both triangles filled. Orders are int64 permutations.
- No NaN policy: the kernels trust their inputs. Callers (`dataflows.portfolio.hrp`) validate shape, dtype,
  finiteness and strictly positive variances first.
- Large outputs are allocated by the caller with NumPy and passed as `out`: NumPy backs big arrays with huge
  pages, which halves the time of these memory-bound passes at 3000 x 2520.
- Kernels are serial. Every pass here is memory-bound; on this 2-core machine, shared with BLAS and other jobs,
  `prange` versions were slower and erratic, and serial kernels are safe to call from several threads.
- Condensed distances follow SciPy's `squareform` layout: entry (i, j), i < j, sits at `N*i - i*(i+1)//2 + j-i-1`.
- Correlation distance is `sqrt(clip(0.5 * (1 - rho), 0, 1))` (López de Prado 2016), the same formula as
  PyPortfolioOpt, skfolio's `PearsonDistance` and riskfolio-lib's `codependence="pearson"`.
- Recursive bisection follows PyPortfolioOpt's convention, which skfolio and riskfolio-lib share: each cluster of the
  *ordered* list is split by position into its first `len // 2` items (left) and the rest (right);
  the left half gets `alpha = 1 - V_L / (V_L + V_R)`, where V is the variance of the half's inverse-variance
  portfolio, and the right half gets `1 - alpha`.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def center_scale_nb(x: np.ndarray, scale: float, out: np.ndarray) -> None:
    """out = (x - column mean) * scale for a (T, N) panel; a non-finite column comes out non-finite."""
    t, n = x.shape
    mean = np.zeros(n, dtype=np.float64)
    for r in range(t):
        for j in range(n):
            mean[j] += x[r, j]
    for j in range(n):
        mean[j] /= t
    for r in range(t):
        for j in range(n):
            out[r, j] = (x[r, j] - mean[j]) * scale


@njit(cache=True)
def corr_distance_nb(corr: np.ndarray) -> np.ndarray:
    """Square (N, N) correlation distance `sqrt(clip(0.5 * (1 - rho), 0, 1))` from a correlation matrix."""
    n = corr.shape[0]
    out = np.empty((n, n), dtype=np.float64)
    for i in range(n):
        for j in range(n):
            out[i, j] = np.sqrt(min(1.0, max(0.0, 0.5 * (1.0 - corr[i, j]))))
    return out


@njit(cache=True)
def condensed_corr_distance_nb(cov: np.ndarray, out: np.ndarray) -> None:
    """out = condensed correlation distance (length N(N-1)/2) straight from an (N, N) covariance matrix."""
    n = cov.shape[0]
    inv_std = np.empty(n, dtype=np.float64)
    for i in range(n):
        inv_std[i] = 1.0 / np.sqrt(cov[i, i])
    k = 0
    for i in range(n):
        si = inv_std[i]
        for j in range(i + 1, n):
            rho = cov[i, j] * si * inv_std[j]
            out[k] = np.sqrt(min(1.0, max(0.0, 0.5 * (1.0 - rho))))
            k += 1


@njit(cache=True)
def _tree_depth_nb(n: int) -> int:
    """Number of bisection levels for n ordered items (the right half is the larger one)."""
    depth = 0
    while n > 1:
        n -= n // 2
        depth += 1
    return depth


@njit(cache=True)
def bisection_weights_nb(cov: np.ndarray, order: np.ndarray) -> np.ndarray:
    """HRP recursive-bisection weights (length N, input column order) for a covariance and a leaf order.

    `order` is a permutation of range(N) (the quasi-diagonal order); `cov` has a strictly positive diagonal.
    Each cluster's inverse-variance portfolio variance is `u'Σu / (Σu)^2` with u = 1/diag over the cluster, and
    u'Σu of a cluster is the sum over its two halves plus twice their cross term. Every pair (i, j) belongs to
    the cross term of exactly one split (its lowest common ancestor), so one pass over the upper triangle of the
    covariance, in memory order, gives all of them: cost N(N-1)/2 reads plus O(N log N).
    """
    n = order.shape[0]
    weights = np.empty(n, dtype=np.float64)
    if n == 1:
        weights[order[0]] = 1.0
        return weights
    depth = _tree_depth_nb(n)

    # The bisection tree, breadth first (children after their parent). A node at `level` is named by `prefix`,
    # the left(0)/right(1) path from the root; its accumulator slot is 2^level - 1 + prefix.
    n_nodes = 2 * n - 1
    lo = np.empty(n_nodes, dtype=np.int64)
    hi = np.empty(n_nodes, dtype=np.int64)
    level = np.empty(n_nodes, dtype=np.int64)
    prefix = np.empty(n_nodes, dtype=np.int64)
    left = np.full(n_nodes, -1, dtype=np.int64)
    lo[0], hi[0], level[0], prefix[0] = 0, n, 0, 0
    count = 1
    for k in range(n_nodes):
        if hi[k] - lo[k] > 1:
            mid = lo[k] + (hi[k] - lo[k]) // 2
            left[k] = count
            for c, c_lo, c_hi, bit in ((count, lo[k], mid, 0), (count + 1, mid, hi[k], 1)):
                lo[c], hi[c], level[c], prefix[c] = c_lo, c_hi, level[k] + 1, 2 * prefix[k] + bit
            count += 2

    # Per input column: inverse variance and the leaf path left-aligned to `depth` bits. Two leaves' paths
    # first differ at the bit of their lowest common ancestor's split.
    inv_var = np.empty(n, dtype=np.float64)
    path = np.zeros(n, dtype=np.int64)
    for k in range(n_nodes):
        if left[k] < 0:
            col = order[lo[k]]
            inv_var[col] = 1.0 / cov[col, col]
            path[col] = prefix[k] << (depth - level[k])
    top_bit = np.zeros(1 << depth, dtype=np.int64)  # index of the highest set bit
    for x in range(2, 1 << depth):
        top_bit[x] = top_bit[x >> 1] + 1

    cross = np.zeros((1 << depth) - 1, dtype=np.float64)  # u_L' Σ u_R per split, by slot
    for i in range(n):
        pi = path[i]
        ui = inv_var[i]
        for j in range(i + 1, n):
            lca = depth - 1 - top_bit[pi ^ path[j]]
            cross[(1 << lca) - 1 + (pi >> (depth - lca))] += ui * inv_var[j] * cov[i, j]

    # Bottom-up: u_sum = sum of inverse variances, quad = u'Σu over the node (u unnormalised).
    u_sum = np.empty(n_nodes, dtype=np.float64)
    quad = np.empty(n_nodes, dtype=np.float64)
    for k in range(n_nodes - 1, -1, -1):
        c = left[k]
        if c < 0:
            u = inv_var[order[lo[k]]]
            u_sum[k] = u
            quad[k] = u * u * cov[order[lo[k]], order[lo[k]]]
        else:
            u_sum[k] = u_sum[c] + u_sum[c + 1]
            quad[k] = quad[c] + quad[c + 1] + 2.0 * cross[(1 << level[k]) - 1 + prefix[k]]

    # Top-down: split each node's weight between its halves.
    node_w = np.empty(n_nodes, dtype=np.float64)
    node_w[0] = 1.0
    for k in range(n_nodes):
        c = left[k]
        if c < 0:
            weights[order[lo[k]]] = node_w[k]
        else:
            v_left = quad[c] / (u_sum[c] * u_sum[c])
            v_right = quad[c + 1] / (u_sum[c + 1] * u_sum[c + 1])
            alpha = 1.0 - v_left / (v_left + v_right)
            node_w[c] = node_w[k] * alpha
            node_w[c + 1] = node_w[k] * (1.0 - alpha)
    return weights

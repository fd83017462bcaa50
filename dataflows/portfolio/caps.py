"""Cluster (group) caps: validation, the feasibility test, and `cap_weights`, the capped projection.

Assets carry a cluster label (`groups`, an int array of length n, any integer labels) and each cluster's total
weight must be <= its cap. `cluster_cap` is a scalar (same cap for every cluster) or an array with one cap per
cluster, aligned with the sorted distinct labels `np.unique(groups)`. With the per-asset cap `cap`, a fully invested
portfolio exists iff Σ_g min(cluster_cap_g, n_g · cap) >= 1 (n_g = size of cluster g); otherwise
`InfeasibleClusterCaps` names every number. Caps are never relaxed.

MinVar / MaxSharpe take cluster caps as hard constraints (`dataflows.portfolio.mvo`). Methods that cannot take
constraints (HRP, risk parity, equal weight) are projected afterwards with `cap_weights`.

`cap_weights` is a two-level proportional water-filling:

1. clusters: cluster g gets total T_g = min(K_g, s · W_g), W_g its current total, K_g = min(cluster_cap_g,
   cap · #{i in g: w_i > 0}) its capacity, and s >= 1 the single scale with Σ_g T_g = 1: the clusters above
   their cap are cut to it and the excess goes to the clusters with room, in proportion to their weight;
2. assets: inside cluster g, w'_i = min(cap, s_g · w_i) with s_g the scale giving Σ_{i in g} w'_i = T_g: the
   assets above `cap` are cut to it and the excess goes to the cluster's other assets, in proportion to weight.

Each level solves its one-dimensional equation exactly (sort by the scale at which each item saturates), which is
the fixed point the "cut, redistribute, repeat" iteration converges to. Consequences, all tested:

- a feasible input is returned unchanged (a copy, bit for bit), so HRP's allocation changes only where a cap
  binds;
- within a cluster the order of the weights is kept, and the ratios among its assets below the cap are unchanged;
  in clusters where no cap binds all ratios are unchanged (every such asset is scaled by the same s);
- zero weights stay zero (an asset HRP excluded is not brought back), so capacity counts only assets with weight.
"""

from __future__ import annotations

import math

import numpy as np

from dataflows.portfolio import InfeasibleCaps, InvalidInput, PortfolioError

CAP_SLACK = 1e-12  # capacity within this of 1: treated as exactly 1 (feasible, no room to spare)
_NOOP_TOL = 1e-12  # cap_weights returns its input when every constraint holds within this


class InfeasibleClusterCaps(PortfolioError):
    """Σ_g min(cluster_cap_g, n_g · cap) < 1: no fully invested portfolio fits the cluster and asset caps.

    `labels`, `sizes`, `cluster_caps` are per cluster; `capacity` is the sum of min(cluster_cap_g, n_g · cap).
    """

    def __init__(self, labels: np.ndarray, sizes: np.ndarray, cluster_caps: np.ndarray, cap: float) -> None:
        per = np.minimum(cluster_caps, sizes * cap)
        self.labels = tuple(int(x) for x in labels)
        self.sizes = tuple(int(x) for x in sizes)
        self.cluster_caps = tuple(float(x) for x in cluster_caps)
        self.cap = float(cap)
        self.capacity = float(per.sum())
        shown = ", ".join(
            f"{lab}: min({c:g}, {s} x {cap:g}) = {p:g}"
            for lab, s, c, p in list(zip(self.labels, self.sizes, self.cluster_caps, per, strict=True))[:10]
        )
        more = "" if len(self.labels) <= 10 else f", ... ({len(self.labels)} clusters in total)"
        msg = (
            f"infeasible cluster caps: Σ_g min(cluster_cap_g, n_g x cap {cap:g}) = {self.capacity:g} < 1 over "
            f"{len(self.labels)} clusters ({shown}{more}); no fully invested portfolio fits: raise the cluster "
            "cap (profile.cluster_cap, or profile.regime_caps=false) or the asset cap (profile.weight_cap), or add clusters"
        )
        super().__init__(msg)


class ClusterCaps:
    """Validated cluster structure: distinct `labels`, each asset's cluster index `index`, per-cluster `caps`."""

    __slots__ = ("caps", "index", "labels", "sizes")

    def __init__(self, groups: np.ndarray, cluster_cap: float | np.ndarray, n: int) -> None:
        g = np.asarray(groups)
        if g.shape != (n,):
            msg = f"groups must be a 1-D array of {n} cluster labels (one per asset), got shape {g.shape}"
            raise InvalidInput(msg)
        if not (np.issubdtype(g.dtype, np.integer) and g.dtype != np.bool_):
            msg = f"groups must hold integer cluster labels, got dtype {g.dtype}"
            raise InvalidInput(msg)
        labels, index = np.unique(g, return_inverse=True)
        self.labels = labels
        self.index = index.astype(np.int64).reshape(n)
        self.sizes = np.bincount(self.index, minlength=labels.size).astype(np.int64)
        c = np.asarray(cluster_cap, dtype=np.float64)
        if c.ndim == 0:
            c = np.full(labels.size, float(c))
        elif c.shape != (labels.size,):
            msg = (
                f"cluster_cap must be a scalar or one cap per cluster ({labels.size} clusters, aligned with "
                f"np.unique(groups)), got shape {c.shape}"
            )
            raise InvalidInput(msg)
        bad = np.flatnonzero(~(np.isfinite(c) & (c > 0)))
        if bad.size:
            j = int(bad[0])
            msg = f"cluster_cap for cluster {int(labels[j])} is {float(c[j])!r}: cluster caps must be finite and > 0"
            raise InvalidInput(msg)
        self.caps = c

    def key(self) -> tuple:
        """Hashable identity (for caches of built problems)."""
        return (self.index.tobytes(), self.caps.tobytes())

    def totals(self, w: np.ndarray) -> np.ndarray:
        """Per-cluster totals of w."""
        return np.bincount(self.index, weights=w, minlength=self.labels.size)

    def check_feasible(self, cap: float) -> float:
        """Σ_g min(cluster_cap_g, n_g · cap); raises InfeasibleClusterCaps if it is below 1."""
        capacity = float(np.minimum(self.caps, self.sizes * cap).sum())
        if capacity < 1.0 - CAP_SLACK:
            raise InfeasibleClusterCaps(self.labels, self.sizes, self.caps, cap)
        return capacity

    def binding(self, cap: float) -> np.ndarray:
        """Indices of the clusters whose cap can bind: cluster_cap_g < min(1, n_g · cap)."""
        return np.flatnonzero(self.caps < np.minimum(1.0, self.sizes * cap))


def cluster_caps(groups: np.ndarray | None, cluster_cap: float | np.ndarray | None, n: int) -> ClusterCaps | None:
    """The validated cluster structure, or None when there are no cluster constraints (either argument None)."""
    if cluster_cap is None:
        return None
    if groups is None:
        msg = "cluster_cap needs groups (one cluster label per asset)"
        raise InvalidInput(msg)
    return ClusterCaps(groups, cluster_cap, n)


def _proportional_fill(a: np.ndarray, upper: np.ndarray, total: float) -> np.ndarray:
    """x_i = min(upper_i, s · a_i) with the scale s chosen so that Σx = total (a > 0, total <= Σ upper).

    Items saturate in the order of upper_i / a_i; with k saturated, s = (total - Σ_sat upper) / Σ_free a.
    """
    if total >= upper.sum():
        return upper.copy()
    with np.errstate(over="ignore", divide="ignore"):  # subnormal weights: the ratio is inf, sorted last
        order = np.argsort(upper / a, kind="stable")
    a_s, u_s = a[order], upper[order]
    rest = total - np.concatenate([[0.0], np.cumsum(u_s)[:-1]])  # left for items k.. when the first k saturate
    free_a = np.cumsum(a_s[::-1])[::-1]  # Σ a of items k..end
    # s = rest_k / free_a_k must keep item k (and so every later one) below its bound: s · a_k <= u_k
    fits = rest * a_s <= u_s * free_a
    k = int(np.argmax(fits)) if fits.any() else a.size - 1
    x = upper.copy()
    tail = order[k:]
    x[tail] = np.minimum(upper[tail], rest[k] * (a[tail] / free_a[k]))  # a / Σa <= 1: no overflow
    return x


def cap_weights(
    w: np.ndarray,
    cap: float,
    groups: np.ndarray | None = None,
    cluster_cap: float | np.ndarray | None = None,
) -> np.ndarray:
    """Project long-only weights summing to 1 onto w_i <= cap and cluster totals <= cluster_cap (water-filling).

    For HRP, risk parity and equal weight, which cannot take constraints. A feasible `w` comes back unchanged (a
    copy); otherwise clusters above their cap and assets above `cap` are cut and the excess is redistributed in
    proportion to the weights of the clusters / assets with room (see the module docstring), so HRP's allocation
    changes only where a cap binds. Zero weights stay zero. Raises `InfeasibleCaps` (no cluster caps) or
    `InfeasibleClusterCaps` when no feasible point exists on the assets with positive weight, and `InvalidInput`
    for weights that are not finite, non-negative and summing to 1 within 1e-6.
    """
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 1 or w.size == 0:
        msg = f"weights must be a non-empty 1-D array, got shape {w.shape}"
        raise InvalidInput(msg)
    if not np.isfinite(w).all() or (w < 0).any():
        i = int(np.flatnonzero(~(np.isfinite(w) & (w >= 0)))[0])
        msg = f"weight {i} is {float(w[i])!r}: weights must be finite and >= 0"
        raise InvalidInput(msg)
    total = float(w.sum())
    if abs(total - 1.0) > 1e-6:
        msg = f"weights sum to {total!r}, not 1 within 1e-6"
        raise InvalidInput(msg)
    if not (np.ndim(cap) == 0 and math.isfinite(float(cap)) and float(cap) > 0):
        msg = f"cap must be a finite number > 0, got {cap!r}"
        raise InvalidInput(msg)
    cap = min(float(cap), 1.0)
    clusters = cluster_caps(groups, cluster_cap, w.size)
    if clusters is None:
        clusters = ClusterCaps(np.zeros(w.size, dtype=np.int64), 1.0, w.size)  # one cluster, cap 1: no-op level
        one_cluster = True
    else:
        one_cluster = False
    totals = clusters.totals(w)
    if (w <= cap + _NOOP_TOL).all() and (totals <= clusters.caps + _NOOP_TOL).all():
        return w.copy()
    support = w > 0
    sizes = np.bincount(clusters.index[support], minlength=clusters.labels.size)
    capacity = np.minimum(clusters.caps, sizes * cap)
    if capacity.sum() < 1.0 - CAP_SLACK:
        if one_cluster:
            raise InfeasibleCaps(int(support.sum()), cap)
        raise InfeasibleClusterCaps(clusters.labels, sizes, clusters.caps, cap)
    w = w / total
    totals = totals / total
    live = totals > 0
    targets = np.zeros_like(totals)
    targets[live] = _proportional_fill(totals[live], capacity[live], 1.0)
    out = np.zeros_like(w)
    idx = np.flatnonzero(support)
    idx = idx[np.argsort(clusters.index[idx], kind="stable")]
    bounds = np.searchsorted(clusters.index[idx], np.arange(clusters.labels.size + 1))
    for g in np.flatnonzero(live):
        members = idx[bounds[g] : bounds[g + 1]]
        a = w[members]
        if targets[g] == totals[g] and (a <= cap).all():
            out[members] = a  # untouched cluster: exact copy
        else:
            out[members] = _proportional_fill(a, np.full(a.size, cap), float(targets[g]))
    return out

"""The geometry of the winners' correlation: the matrix (given, or computed from returns), its dendrogram order on
HRP's distance √(½(1 − ρ)) and its classical MDS on √(2(1 − ρ)); NumPy and SciPy only."""

from __future__ import annotations

from typing import Any

import numpy as np


def correlation_matrix(symbols: list[str], corr: np.ndarray | None, returns: np.ndarray | None) -> np.ndarray:
    """N×N correlation with a unit diagonal; NaN where undefined (a flat series)."""
    n = len(symbols)
    if corr is not None:
        m = np.asarray(corr, dtype=np.float64)
        if m.shape != (n, n):
            msg = f"post-analysis: corr has shape {m.shape}, expected ({n}, {n}) for {n} symbols"
            raise ValueError(msg)
        return m
    if returns is None:
        msg = "post-analysis needs corr or returns"
        raise ValueError(msg)
    r = np.nan_to_num(np.asarray(returns, dtype=np.float64).reshape(-1, n), nan=0.0)
    out = np.full((n, n), np.nan)
    if r.shape[0] >= 2:
        centred = r - r.mean(axis=0)
        norm = np.sqrt((centred**2).sum(axis=0))
        ok = norm > 0
        z = np.zeros_like(centred)
        z[:, ok] = centred[:, ok] / norm[ok]
        out = z.T @ z
        out[~ok, :] = np.nan
        out[:, ~ok] = np.nan
    np.fill_diagonal(out, 1.0)
    return np.clip(out, -1.0, 1.0, where=np.isfinite(out), out=out)


def _filled(corr: np.ndarray) -> np.ndarray:
    """Correlation with undefined pairs as 0 (uncorrelated) and a unit diagonal, symmetrised."""
    m = np.where(np.isfinite(corr), corr, 0.0)
    m = np.clip((m + m.T) / 2.0, -1.0, 1.0)
    np.fill_diagonal(m, 1.0)
    return m


def dendrogram_order(
    corr: np.ndarray, method: str = "single", optimal_ordering: bool = False
) -> tuple[np.ndarray, Any]:
    """Leaf order of a `method`-linkage tree on √(½(1 − ρ)) (HRP's distance; optimal leaf ordering when asked) and
    the linkage matrix (None below 3 assets). The one ordering of both correlation heatmaps (tearsheet, plots/)."""
    from scipy.cluster.hierarchy import leaves_list, linkage, optimal_leaf_ordering
    from scipy.spatial.distance import squareform

    n = corr.shape[0]
    if n < 3:
        return np.arange(n), None
    dist = np.sqrt(np.clip(0.5 * (1.0 - _filled(corr)), 0.0, None))
    np.fill_diagonal(dist, 0.0)
    condensed = squareform(dist, checks=False)
    tree = linkage(condensed, method=method)
    if optimal_ordering:
        tree = optimal_leaf_ordering(tree, condensed)
    return leaves_list(tree), tree


def classical_mds(corr: np.ndarray, dims: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """N×dims coordinates of the correlation distance √(2(1 − ρ)) and each axis's share of positive eigenvalues."""
    m = _filled(corr)
    n = m.shape[0]
    j = np.eye(n) - 1.0 / n
    b = j @ m @ j  # −½ J D² J with D² = 2(1 − ρ)
    values, vectors = np.linalg.eigh((b + b.T) / 2.0)
    order = np.argsort(values)[::-1]
    values, vectors = values[order], vectors[:, order]
    positive = np.clip(values, 0.0, None)
    coords = np.zeros((n, dims))
    k = min(dims, n)
    coords[:, :k] = vectors[:, :k] * np.sqrt(positive[:k])
    for c in range(k):  # a deterministic sign: the largest |loading| is positive
        if coords[np.argmax(np.abs(coords[:, c])), c] < 0:
            coords[:, c] *= -1.0
    total = positive.sum()
    share = np.zeros(dims)
    if total > 0:
        share[:k] = positive[:k] / total
    return coords, share

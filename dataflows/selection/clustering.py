"""Correlation clustering of return columns (symbols or atom streams), the grouping HTR recruits within.

`correlation_clusters`: Pearson correlation on pairwise-complete rows for each lookback in `lookbacks` that fits the
window (the whole window when none fits), plus `crypto_lookbacks` when every clustered asset is crypto; an undefined
correlation (too few common rows, zero variance) counts as 0; ridge ρ' = (1 − λ)ρ + λI; distance √(½(1 − ρ'))
averaged over the lookbacks; Ward linkage; cut at `threshold`, or into `max_clusters` clusters when the cut gives
more. Cluster ids are 0.. in order of first appearance. `atom_clusters` applies the same method to synthesized atom
streams. Method: docs/selection.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

from dataflows.columns import CRYPTO
from dataflows.selection import SelectionError
from dataflows.synthesis import AtomReturns
from dataflows.tails import AnalysisError, as_returns_panel
from kernels.correlation import pairwise_corr


@dataclass(frozen=True)
class ClusterParams:
    """Correlation clustering settings (docs/selection.md: lookbacks 60/120/200, crypto also 5; ridge 0.01)."""

    lookbacks: tuple[int, ...] = (60, 120, 200)
    crypto_lookbacks: tuple[int, ...] = (5,)
    ridge: float = 0.01
    threshold: float = 0.5
    max_clusters: int = 25
    min_periods: int = 5
    method: str = "ward"

    def __post_init__(self) -> None:
        if any(lb < 2 for lb in (*self.lookbacks, *self.crypto_lookbacks)) or not self.lookbacks:
            msg = f"ClusterParams: lookbacks must be non-empty and >= 2, got {self.lookbacks}, {self.crypto_lookbacks}"
            raise SelectionError(msg)
        if not (0.0 <= self.ridge <= 1.0 and self.threshold > 0 and self.max_clusters >= 1 and self.min_periods >= 2):
            msg = f"ClusterParams out of range: {self}"
            raise SelectionError(msg)


@dataclass(frozen=True, eq=False)
class AssetClusters:
    """Cluster labels of named columns (symbols or atom ids) and the averaged distance they were cut from."""

    names: tuple[str, ...]
    labels: np.ndarray  # int64, 0..k-1 in order of first appearance
    distance: np.ndarray  # N×N averaged correlation distance, zero diagonal
    lookbacks: tuple[int, ...]

    @property
    def n_clusters(self) -> int:
        """Number of clusters."""
        return int(self.labels.max()) + 1 if self.labels.size else 0

    def members(self) -> dict[int, tuple[str, ...]]:
        """Cluster id → member names, in input order."""
        out: dict[int, list[str]] = {}
        for name, lab in zip(self.names, self.labels.tolist(), strict=True):
            out.setdefault(int(lab), []).append(name)
        return {k: tuple(v) for k, v in out.items()}

    def label_of(self) -> dict[str, int]:
        """Name → cluster id."""
        return {n: int(lab) for n, lab in zip(self.names, self.labels.tolist(), strict=True)}


def _lookbacks_for(t_len: int, classes: Sequence[str], params: ClusterParams) -> tuple[int, ...]:
    """The lookbacks that fit `t_len` rows (the whole window if none does), plus the crypto-only ones that fit."""
    main = [lb for lb in params.lookbacks if lb <= t_len] or [t_len]
    extra = params.crypto_lookbacks if classes and all(c == CRYPTO for c in classes) else ()
    return tuple(sorted({*main, *(lb for lb in extra if lb <= t_len)}))


def correlation_distance(returns: np.ndarray, lookbacks: Sequence[int], params: ClusterParams) -> np.ndarray:
    """Average over `lookbacks` of √(½(1 − ρ')) with ρ' = (1 − ridge)·ρ + ridge·I on the last rows of `returns`."""
    x = as_returns_panel(returns, error=SelectionError)
    n = x.shape[1]
    total = np.zeros((n, n))
    for lb in lookbacks:
        rho = pairwise_corr(np.ascontiguousarray(x[-lb:]), min(params.min_periods, lb))
        rho = np.where(np.isnan(rho), 0.0, rho)
        rho = (1.0 - params.ridge) * rho + params.ridge * np.eye(n)
        total += np.sqrt(np.clip(0.5 * (1.0 - rho), 0.0, None))
    dist = total / len(lookbacks)
    np.fill_diagonal(dist, 0.0)
    return dist


def correlation_clusters(
    returns: np.ndarray, names: Sequence[str], asset_class: Sequence[str], params: ClusterParams = ClusterParams()
) -> AssetClusters:
    """Ward clusters of the columns of `returns` (named `names`, classes `asset_class`) on averaged distances."""
    x = as_returns_panel(returns, error=SelectionError)
    names_t = tuple(str(s) for s in names)
    classes = [str(c) for c in asset_class]
    if len(names_t) != x.shape[1] or len(classes) != x.shape[1]:
        msg = f"correlation_clusters: {len(names_t)} names and {len(classes)} classes for {x.shape[1]} columns"
        raise SelectionError(msg)
    if x.shape[0] < 2 and x.shape[1] > 1:
        msg = f"correlation_clusters needs at least 2 rows, got {x.shape[0]}"
        raise SelectionError(msg)
    lookbacks = _lookbacks_for(x.shape[0], classes, params)
    n = x.shape[1]
    if n <= 1:
        return AssetClusters(names_t, np.zeros(n, dtype=np.int64), np.zeros((n, n)), lookbacks)
    dist = correlation_distance(x, lookbacks, params)
    z = linkage(squareform(dist, checks=False), method=params.method)
    raw = fcluster(z, t=params.threshold, criterion="distance")
    if raw.max() > params.max_clusters:
        raw = fcluster(z, t=params.max_clusters, criterion="maxclust")
    relabel: dict[int, int] = {}
    labels = np.array([relabel.setdefault(int(r), len(relabel)) for r in raw], dtype=np.int64)
    return AssetClusters(names_t, labels, dist, lookbacks)


def atom_clusters(
    atoms: AtomReturns, asset_class: Mapping[str, str], params: ClusterParams | None = None
) -> AssetClusters:
    """Correlation clusters of the synthesized atom streams (same method as selection), for HRP and cluster caps.

    `asset_class` maps each atom's symbol to crypto|equity (it decides which lookbacks apply).
    """
    if not isinstance(atoms, AtomReturns):
        msg = f"atom_clusters takes the AtomReturns of `synthesize_atoms`, got {type(atoms).__name__}"
        raise AnalysisError(msg)
    missing = sorted({s for s in atoms.symbols if s not in asset_class})
    if missing:
        msg = f"atom_clusters: no asset class for symbols {missing}"
        raise AnalysisError(msg)
    classes = [asset_class[s] for s in atoms.symbols]
    return correlation_clusters(atoms.values, atoms.atom_ids, classes, params or ClusterParams())

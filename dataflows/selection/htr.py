"""Natural selection by Hierarchical Threshold Relaxation (HTR): score, veto, cluster and recruit atoms.

Pure functions over one training window (`dataflows.nodes.sleeve` wires them into Hamilton nodes); the method is
described in docs/selection.md. Pipeline of `select_atoms`: `asset_features` → `correlation_clusters` →
`select_from_features` (score, vetoes, recruitment) → `SelectionResult`. The pieces live in sibling modules and are
re-exported here:

- `params`: veto rule names, `VetoThresholds`, `RelaxParams`, `ScoreWeights`, `SelectionParams`;
- `clustering`: `ClusterParams`, `AssetClusters`, `correlation_clusters` (and `atom_clusters` on atom streams);
- `scoring`: `parse_atoms`, `score_atoms` (rank-based score) and `atom_vetoes` (the veto rules);
- `recruitment`: `select_from_features`, the four recruitment stages;
- `result`: `Winner`, `Funnel`, `SelectionResult` (the content of `selection.json`).

Outcomes without winners are results, not exceptions (see `result`); malformed inputs raise `SelectionError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl

from dataflows.columns import ASSET_CLASS, SYMBOL
from dataflows.selection import SelectionError
from dataflows.selection.clustering import (
    AssetClusters,
    ClusterParams,
    atom_clusters,
    correlation_clusters,
    correlation_distance,
)
from dataflows.selection.features import HAS_FEATURES, FeatureParams, asset_features
from dataflows.selection.params import (
    HEALTH_VETOES,
    SOFT_VETOES,
    VETO_ADV,
    VETO_EFFICIENCY,
    VETO_ENTROPY,
    VETO_FRICTION,
    VETO_HURST,
    VETO_KURTOSIS,
    VETO_METADATA,
    VETO_VOLATILITY,
    VETOES,
    RelaxParams,
    ScoreWeights,
    SelectionParams,
    VetoThresholds,
)
from dataflows.selection.recruitment import select_from_features
from dataflows.selection.result import (
    CLUSTER,
    EXCLUDED,
    EXCLUDED_NO_RETURNS,
    STAGE,
    VETOES_RELAXED,
    VETOES_STRICT,
    Funnel,
    SelectionResult,
    Winner,
)
from dataflows.selection.scoring import (
    ADX,
    LOG_SCORE,
    RATINGS,
    RECOMMEND_ALL,
    RECOMMEND_MA,
    SCORE,
    atom_vetoes,
    parse_atoms,
    score_atoms,
)
from dataflows.tails import as_returns_panel

__all__ = [
    "ADX",
    "CLUSTER",
    "EXCLUDED",
    "EXCLUDED_NO_RETURNS",
    "HEALTH_VETOES",
    "LOG_SCORE",
    "RATINGS",
    "RECOMMEND_ALL",
    "RECOMMEND_MA",
    "SCORE",
    "SOFT_VETOES",
    "STAGE",
    "VETOES",
    "VETOES_RELAXED",
    "VETOES_STRICT",
    "VETO_ADV",
    "VETO_EFFICIENCY",
    "VETO_ENTROPY",
    "VETO_FRICTION",
    "VETO_HURST",
    "VETO_KURTOSIS",
    "VETO_METADATA",
    "VETO_VOLATILITY",
    "AssetClusters",
    "ClusterParams",
    "FeatureParams",
    "Funnel",
    "RelaxParams",
    "ScoreWeights",
    "SelectionParams",
    "SelectionResult",
    "VetoThresholds",
    "Winner",
    "atom_clusters",
    "atom_vetoes",
    "correlation_clusters",
    "correlation_distance",
    "parse_atoms",
    "score_atoms",
    "select_atoms",
    "select_from_features",
]


def select_atoms(
    atoms: Sequence[str],
    returns: np.ndarray,
    symbols: Sequence[str],
    asset_class: Sequence[str],
    quote_volume: Sequence[float] | np.ndarray,
    metadata_ok: Mapping[str, bool],
    ratings: pl.DataFrame | None = None,
    bases: Mapping[str, str] | None = None,
    params: SelectionParams = SelectionParams(),  # noqa: B008 (frozen dataclass)
) -> SelectionResult:
    """HTR end to end on one training window: features, clusters of the scored symbols, recruitment.

    `returns` is T×N (rows = time oldest first, columns = `symbols`, NaN = no bar) for the training window only;
    `asset_class` and `quote_volume` are aligned with `symbols`.
    """
    features = asset_features(returns, symbols, asset_class, quote_volume, params.features)
    used = set(parse_atoms(atoms)[SYMBOL].to_list())
    keep = [
        j for j, (s, ok) in enumerate(zip(features[SYMBOL], features[HAS_FEATURES], strict=True)) if ok and s in used
    ]
    x = as_returns_panel(returns, error=SelectionError)
    names = [features[SYMBOL][j] for j in keep]
    classes = [features[ASSET_CLASS][j] for j in keep]
    clusters = correlation_clusters(x[:, keep], names, classes, params.clusters)
    return select_from_features(atoms, features, clusters, metadata_ok, ratings, bases, params)

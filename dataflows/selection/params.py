"""HTR parameters: veto rule names, per-asset-class veto thresholds, the stage-2 relaxation, score weights, and
`SelectionParams`, which gathers them with the feature and clustering settings. Method: docs/selection.md.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

from dataflows.columns import ASSET_CLASSES, CRYPTO, EQUITY
from dataflows.selection import SelectionError
from dataflows.selection.clustering import ClusterParams
from dataflows.selection.features import FeatureParams

# Veto rules.
VETO_METADATA = "metadata"
VETO_ADV = "adv_missing"
VETO_VOLATILITY = "volatility"
VETO_KURTOSIS = "kurtosis"
VETO_ENTROPY = "entropy"
VETO_EFFICIENCY = "efficiency"
VETO_HURST = "hurst_band"
VETO_FRICTION = "friction"
VETOES: tuple[str, ...] = (
    VETO_METADATA,
    VETO_ADV,
    VETO_VOLATILITY,
    VETO_KURTOSIS,
    VETO_ENTROPY,
    VETO_EFFICIENCY,
    VETO_HURST,
    VETO_FRICTION,
)
HEALTH_VETOES: frozenset[str] = frozenset({VETO_METADATA, VETO_ADV})
"""Never bypassable, at any stage."""
SOFT_VETOES: frozenset[str] = frozenset({VETO_ENTROPY, VETO_EFFICIENCY, VETO_HURST, VETO_FRICTION})
"""Bypassable at stages 3 and 4 by default."""


@dataclass(frozen=True)
class VetoThresholds:
    """Veto thresholds of one asset class."""

    entropy_max: float
    efficiency_min: float
    hurst_low: float = 0.48
    hurst_high: float = 0.52
    kurtosis_max: float = 20.0
    vol_max: float = 2.5
    hurdle: float = 0.0

    def __post_init__(self) -> None:
        if not self.hurst_low <= self.hurst_high:
            msg = f"VetoThresholds: hurst_low {self.hurst_low} > hurst_high {self.hurst_high}"
            raise SelectionError(msg)


@dataclass(frozen=True)
class RelaxParams:
    """Stage-2 spectral relaxation: entropy_max × entropy_mult (capped), efficiency_min × efficiency_mult."""

    entropy_mult: float = 1.2
    entropy_cap: float = 1.0
    efficiency_mult: float = 0.8

    def apply(self, t: VetoThresholds) -> VetoThresholds:
        """The relaxed thresholds."""
        return replace(
            t,
            entropy_max=min(self.entropy_cap, t.entropy_max * self.entropy_mult),
            efficiency_min=t.efficiency_min * self.efficiency_mult,
        )


@dataclass(frozen=True)
class ScoreWeights:
    """Exponents of the score Π p_i^{w_i} (the tuned set of docs/selection.md). Zero drops a metric."""

    momentum: float = 1.75
    stability: float = 0.05
    liquidity: float = 0.29
    antifragility: float = 0.63
    survival: float = 1.4
    efficiency: float = 1.53
    entropy: float = 0.03
    hurst: float = 0.35
    adx: float = 1.0
    recommend_all: float = 1.0
    recommend_ma: float = 1.0
    skew: float = 0.5
    kurtosis: float = 0.5
    cvar: float = 1.0

    def __post_init__(self) -> None:
        bad = {k: v for k, v in asdict(self).items() if not (math.isfinite(v) and v >= 0)}
        if bad:
            msg = f"ScoreWeights must be finite and >= 0, got {bad}"
            raise SelectionError(msg)


@dataclass(frozen=True)
class SelectionParams:
    """Everything HTR reads (defaults from docs/selection.md; `top_n` = 2 is this project's choice)."""

    features: FeatureParams = field(default_factory=FeatureParams)
    weights: ScoreWeights = ScoreWeights()
    crypto: VetoThresholds = VetoThresholds(entropy_max=0.999, efficiency_min=0.01)
    equity: VetoThresholds = VetoThresholds(entropy_max=0.95, efficiency_min=0.05)
    relax: RelaxParams = RelaxParams()
    clusters: ClusterParams = ClusterParams()  # noqa: RUF009 (frozen dataclass)
    top_n: int = 2
    min_winners: int = 15
    max_winners: int = 25
    bypassable: frozenset[str] = SOFT_VETOES

    def __post_init__(self) -> None:
        unknown = sorted(set(self.bypassable) - set(VETOES))
        if unknown:
            msg = f"SelectionParams.bypassable names unknown vetoes {unknown}; known: {VETOES}"
            raise SelectionError(msg)
        hard = sorted(set(self.bypassable) & HEALTH_VETOES)
        if hard:
            msg = f"SelectionParams.bypassable must not contain health vetoes {hard}: they are never bypassed"
            raise SelectionError(msg)
        if not (self.top_n >= 1 and 1 <= self.min_winners <= self.max_winners):
            msg = (
                f"SelectionParams needs top_n >= 1 and 1 <= min_winners <= max_winners, got top_n {self.top_n}, "
                f"min_winners {self.min_winners}, max_winners {self.max_winners}"
            )
            raise SelectionError(msg)

    def thresholds(self, asset_class: str, *, relaxed: bool = False) -> VetoThresholds:
        """The veto thresholds of `asset_class`, strict or after the stage-2 relaxation."""
        if asset_class == CRYPTO:
            t = self.crypto
        elif asset_class == EQUITY:
            t = self.equity
        else:
            msg = f"unknown asset class {asset_class!r}; expected one of {ASSET_CLASSES}"
            raise SelectionError(msg)
        return self.relax.apply(t) if relaxed else t

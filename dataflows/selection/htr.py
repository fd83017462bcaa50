"""Natural selection by Hierarchical Threshold Relaxation (HTR v3.4): score, veto, cluster and recruit atoms.

Pure functions over one training window (the lead wires them into Hamilton nodes). Pipeline of `select_atoms`:
`asset_features` → `correlation_clusters` → `select_from_features` (score, vetoes, recruitment) → `SelectionResult`.

Scoring (`score_atoms`). Each metric becomes p ∈ (0, 1] by rank within the atom's direction: p = rank / n with
average ranks for ties, best value → 1 (rank, not a z-score CDF: immune to the fat tails these metrics have). NaN
(missing evidence, e.g. a symbol without a rating) ranks at the bottom: missing evidence never helps. score =
Π p_i^{w_i}, computed as log_score = Σ w_i log p_i. Orientation (higher is better unless noted): momentum,
stability, liquidity, antifragility, survival, efficiency, hurst, adx, recommend_all, recommend_ma, skew; lower is
better: entropy, kurtosis, cvar. Ratings are used only when given (`ratings=None` or a missing column skips the
metric, it is never defaulted). SHORT atoms rank by the most bearish: their direction-sensitive metrics are those
of the short stream −min(r, 1) — `momentum_short`, `skew_short`, `cvar_95_short`, `antifragility_short` (see
`features`) — and recommend_all / recommend_ma are negated. Direction-neutral (same for both): stability,
liquidity, survival, efficiency, entropy, hurst, kurtosis, adx.

Vetoes (`atom_vetoes`, per asset-class thresholds `VetoThresholds`), each a named rule:
- `metadata`: tick/lot size unknown (`metadata_ok` false or absent) — health, never bypassed;
- `adv_missing`: quote volume NaN or <= 0, so friction cannot be measured — health, never bypassed;
- `volatility`: annual vol > vol_max (2.5); `kurtosis`: excess kurtosis > kurtosis_max (20) — risk, not bypassed
  by default (add them to `SelectionParams.bypassable` to change that);
- `entropy`: entropy > entropy_max; `efficiency`: efficiency < efficiency_min; `hurst_band`: hurst_low <= hurst <=
  hurst_high; `friction`: eci > expected return − hurdle, with the expected return = momentum (LONG) or
  momentum_short (SHORT) — soft, bypassable at stages 3 and 4 by default.

Clustering (`correlation_clusters`) of the symbols that have features: Pearson correlation on pairwise-complete rows
for each lookback in `lookbacks` that fits the window (the whole window when none fits), plus `crypto_lookbacks`
when every clustered asset is crypto; an undefined correlation (too few common rows, zero variance) counts as 0;
ridge ρ' = (1 − λ)ρ + λI; distance √(½(1 − ρ')) averaged over the lookbacks; Ward linkage; cut at `threshold`, or
into `max_clusters` clusters when the cut gives more. Cluster ids are 0.. in order of first appearance.

Recruitment (`select_from_features`); a stage only adds winners, and the first stage ending with >= min_winners
stops the process:
1. strict: atoms with no veto, in score order, at most `top_n` per (cluster, direction), one per (base, direction);
2. spectral relaxation: the same with entropy_max × 1.2 (capped at 1.0) and efficiency_min × 0.8, filling the slots
   stage 1 left;
3. cluster floor: every cluster without a winner gets its best member that passes the non-bypassable vetoes
   (relaxed thresholds), bypassing the others;
4. leader fallback: top up to min_winners with the best remaining atoms that pass the non-bypassable vetoes,
   across clusters and ignoring `top_n` — atoms that pass every (relaxed) veto first, then those that need a bypass.
One atom per (base, direction) holds throughout; the total is capped at `max_winners` (25) by score within the
stage that overflows. Each winner records its stage and `bypassed` = the vetoes it fails under the *strict*
thresholds (empty for stage 1; a stage-2 winner shows what the relaxation forgave).

Outcomes without winners are results, not exceptions, so `selection.json` still tells the story: an empty universe
or one where no atom has features ends at stage 0, an all-vetoed one at stage 4; both carry `reason`, and
`SelectionResult.require_winners()` raises `NoWinners` with that reason for callers that cannot proceed.
Malformed inputs raise `SelectionError`.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from types import MappingProxyType

import numpy as np
import polars as pl
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform
from scipy.stats import rankdata

from dataflows.analysis import as_returns_panel
from dataflows.columns import (
    ASSET_CLASS,
    ASSET_CLASSES,
    ATOM_ID,
    BASE,
    CRYPTO,
    DIRECTION,
    EQUITY,
    LOGIC,
    SHORT,
    SYMBOL,
    parse_atom_ids,
)
from dataflows.selection import NoWinners, SelectionError
from dataflows.selection.features import (
    ANTIFRAGILITY,
    ANTIFRAGILITY_SHORT,
    CVAR,
    CVAR_SHORT,
    ECI,
    EFFICIENCY,
    ENTROPY,
    HAS_FEATURES,
    HURST,
    KURTOSIS,
    LIQUIDITY,
    MISSING_FEATURES,
    MOMENTUM,
    MOMENTUM_SHORT,
    QUOTE_VOLUME,
    SKEW,
    SKEW_SHORT,
    STABILITY,
    SURVIVAL,
    VOL,
    FeatureParams,
    asset_features,
)
from kernels.correlation import pairwise_corr

# Ratings columns (point-in-time values as of the day before the decision).
RECOMMEND_ALL = "recommend_all"
RECOMMEND_MA = "recommend_ma"
ADX = "adx"
RATINGS = (RECOMMEND_ALL, RECOMMEND_MA, ADX)

# Per-atom table columns (besides the identity columns from `dataflows.columns`).
CLUSTER = "cluster"
SCORE = "score"
LOG_SCORE = "log_score"
VETOES_STRICT = "vetoes"
VETOES_RELAXED = "vetoes_relaxed"
STAGE = "stage"
EXCLUDED = "excluded"

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

EXCLUDED_NO_RETURNS = "no returns column"


# --------------------------------------------------------------------------- parameters


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
    """Exponents of the score Π p_i^{w_i} (the origin's tuned set, quant-methods.md). Zero drops a metric."""

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
class ClusterParams:
    """Correlation clustering settings (quant-methods.md: lookbacks 60/120/200, crypto also 5; ridge 0.01)."""

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


@dataclass(frozen=True)
class SelectionParams:
    """Everything HTR v3.4 reads (defaults from quant-methods.md; `top_n` = 2 is this module's choice)."""

    features: FeatureParams = field(default_factory=FeatureParams)
    weights: ScoreWeights = ScoreWeights()
    crypto: VetoThresholds = VetoThresholds(entropy_max=0.999, efficiency_min=0.01)
    equity: VetoThresholds = VetoThresholds(entropy_max=0.95, efficiency_min=0.05)
    relax: RelaxParams = RelaxParams()
    clusters: ClusterParams = ClusterParams()
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


# --------------------------------------------------------------------------- clustering


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


# --------------------------------------------------------------------------- atoms, scores, vetoes


def parse_atoms(atoms: Sequence[str]) -> pl.DataFrame:
    """Atom ids → frame (atom_id, symbol, logic, direction); duplicates and unknown directions are errors."""
    rows = parse_atom_ids(atoms, SelectionError)
    return pl.DataFrame(rows, schema=dict.fromkeys((ATOM_ID, SYMBOL, LOGIC, DIRECTION), pl.String), orient="row")


# (score metric, LONG column, SHORT column, +1 if higher is better, −1 if lower is better)
_FEATURE_METRICS: tuple[tuple[str, str, str, int], ...] = (
    ("momentum", MOMENTUM, MOMENTUM_SHORT, 1),
    ("stability", STABILITY, STABILITY, 1),
    ("liquidity", LIQUIDITY, LIQUIDITY, 1),
    ("antifragility", ANTIFRAGILITY, ANTIFRAGILITY_SHORT, 1),
    ("survival", SURVIVAL, SURVIVAL, 1),
    ("efficiency", EFFICIENCY, EFFICIENCY, 1),
    ("entropy", ENTROPY, ENTROPY, -1),
    ("hurst", HURST, HURST, 1),
    ("skew", SKEW, SKEW_SHORT, 1),
    ("kurtosis", KURTOSIS, KURTOSIS, -1),
    ("cvar", CVAR, CVAR_SHORT, -1),
)
# (rating, sign for LONG, sign for SHORT)
_RATING_METRICS: tuple[tuple[str, int, int], ...] = ((ADX, 1, 1), (RECOMMEND_ALL, 1, -1), (RECOMMEND_MA, 1, -1))


def _rank_p(values: np.ndarray) -> np.ndarray:
    """rank / n with average ties, best (largest) → 1; NaN ranks at the bottom."""
    filled = np.where(np.isfinite(values), values, -np.inf)
    return rankdata(filled, method="average") / values.shape[0]


def _ratings_by_symbol(ratings: pl.DataFrame | None) -> dict[str, dict[str, float]]:
    if ratings is None:
        return {}
    if SYMBOL not in ratings.columns:
        msg = f"ratings needs a {SYMBOL!r} column, got {ratings.columns}"
        raise SelectionError(msg)
    if ratings[SYMBOL].is_duplicated().any():
        dupes = sorted(ratings.filter(pl.col(SYMBOL).is_duplicated())[SYMBOL].unique().to_list())
        msg = f"ratings has several rows for symbols {dupes}; pass the single row as of the day before the decision"
        raise SelectionError(msg)
    present = [c for c in RATINGS if c in ratings.columns]
    out: dict[str, dict[str, float]] = {c: {} for c in present}
    frame = ratings.select(SYMBOL, *[pl.col(c).cast(pl.Float64) for c in present])
    for c in present:
        out[c] = {s: (float(v) if v is not None else math.nan) for s, v in zip(frame[SYMBOL], frame[c], strict=True)}
    return out


def score_atoms(
    atoms: pl.DataFrame,
    features: pl.DataFrame,
    ratings: pl.DataFrame | None = None,
    weights: ScoreWeights = ScoreWeights(),
) -> pl.DataFrame:
    """`atoms` (atom_id, symbol, direction; every symbol in `features`) + p_<metric> columns, log_score and score.

    Ranks are taken within each direction over the atoms given (callers pass the atoms that have features).
    """
    if atoms.is_empty():
        return atoms.with_columns(pl.lit(0.0).alias(LOG_SCORE), pl.lit(1.0).alias(SCORE))
    feat = features.select(SYMBOL, *dict.fromkeys(c for _, lc, sc, _ in _FEATURE_METRICS for c in (lc, sc)))
    table = atoms.join(feat, on=SYMBOL, how="left", maintain_order="left")
    rating_values = _ratings_by_symbol(ratings)
    is_short = (table[DIRECTION] == SHORT).to_numpy()
    symbols = table[SYMBOL].to_list()
    n = table.height
    log_score = np.zeros(n)
    p_cols: dict[str, np.ndarray] = {}
    metrics: list[tuple[str, np.ndarray]] = []
    for name, long_col, short_col, sign in _FEATURE_METRICS:
        w = getattr(weights, name)
        if w == 0:
            continue
        v = np.where(is_short, table[short_col].to_numpy(), table[long_col].to_numpy()) * sign
        metrics.append((name, v))
    for name, long_sign, short_sign in _RATING_METRICS:
        w = getattr(weights, name)
        if w == 0 or name not in rating_values:
            continue
        raw = np.array([rating_values[name].get(s, math.nan) for s in symbols], dtype=np.float64)
        metrics.append((name, raw * np.where(is_short, short_sign, long_sign)))
    for name, v in metrics:
        p = np.empty(n)
        for mask in (~is_short, is_short):
            if mask.any():
                p[mask] = _rank_p(v[mask])
        p_cols[f"p_{name}"] = p
        log_score += getattr(weights, name) * np.log(p)
    return atoms.with_columns(
        *[pl.Series(k, v) for k, v in p_cols.items()],
        pl.Series(LOG_SCORE, log_score),
        pl.Series(SCORE, np.exp(log_score)),
    )


def atom_vetoes(
    atoms: pl.DataFrame,
    features: pl.DataFrame,
    metadata_ok: Mapping[str, bool],
    params: SelectionParams = SelectionParams(),
    *,
    relaxed: bool = False,
) -> list[tuple[str, ...]]:
    """Per atom (in order), the veto rules that fire under the strict (or stage-2 relaxed) thresholds."""
    cols = [ASSET_CLASS, VOL, KURTOSIS, ENTROPY, EFFICIENCY, HURST, ECI, QUOTE_VOLUME, MOMENTUM, MOMENTUM_SHORT]
    table = atoms.select(SYMBOL, DIRECTION).join(
        features.select(SYMBOL, *cols), on=SYMBOL, how="left", maintain_order="left"
    )
    out: list[tuple[str, ...]] = []
    for row in table.iter_rows(named=True):
        t = params.thresholds(row[ASSET_CLASS], relaxed=relaxed)
        expected = row[MOMENTUM_SHORT] if row[DIRECTION] == SHORT else row[MOMENTUM]
        adv = row[QUOTE_VOLUME]
        adv_missing = adv is None or not math.isfinite(adv) or adv <= 0
        fired = {
            VETO_METADATA: not bool(metadata_ok.get(row[SYMBOL], False)),
            VETO_ADV: adv_missing,
            VETO_VOLATILITY: row[VOL] > t.vol_max,
            VETO_KURTOSIS: row[KURTOSIS] > t.kurtosis_max,
            VETO_ENTROPY: row[ENTROPY] > t.entropy_max,
            VETO_EFFICIENCY: row[EFFICIENCY] < t.efficiency_min,
            VETO_HURST: t.hurst_low <= row[HURST] <= t.hurst_high,
            VETO_FRICTION: (not adv_missing) and row[ECI] > expected - t.hurdle,
        }
        out.append(tuple(k for k in VETOES if fired[k]))
    return out


# --------------------------------------------------------------------------- result


@dataclass(frozen=True)
class Winner:
    """One selected atom: where it sits, how good it is, which stage admitted it and what it was forgiven."""

    atom_id: str
    symbol: str
    logic: str
    direction: str
    base: str
    cluster: int
    score: float
    log_score: float
    stage: int
    bypassed: tuple[str, ...]


@dataclass(frozen=True)
class Funnel:
    """Counts per gate. Veto counts are atoms on which a rule fired (an atom can trip several)."""

    candidates: int
    with_features: int
    vetoes: Mapping[str, int]
    vetoes_relaxed: Mapping[str, int]
    after_vetoes: int
    after_relaxed_vetoes: int
    clusters: int
    winners_per_stage: Mapping[int, int]
    winners: int

    def to_dict(self) -> dict:
        """JSON-ready view."""
        return {
            "candidates": self.candidates,
            "with_features": self.with_features,
            "vetoes": dict(self.vetoes),
            "vetoes_relaxed": dict(self.vetoes_relaxed),
            "after_vetoes": self.after_vetoes,
            "after_relaxed_vetoes": self.after_relaxed_vetoes,
            "clusters": self.clusters,
            "winners_per_stage": {str(k): v for k, v in self.winners_per_stage.items()},
            "winners": self.winners,
        }


@dataclass(frozen=True, eq=False)
class SelectionResult:
    """The outcome of HTR on one training window (`to_json` is the content of `selection.json`)."""

    winners: tuple[Winner, ...]
    funnel: Funnel
    stage_reached: int
    clusters: Mapping[int, tuple[str, ...]]
    atoms: pl.DataFrame
    excluded: Mapping[str, tuple[str, ...]]
    reason: str | None
    params: SelectionParams = field(default_factory=SelectionParams)

    @property
    def winner_ids(self) -> tuple[str, ...]:
        """Atom ids of the winners, best score first within each stage."""
        return tuple(w.atom_id for w in self.winners)

    def require_winners(self) -> SelectionResult:
        """self, or `NoWinners` with the reason and funnel when there is no winner."""
        if not self.winners:
            msg = f"natural selection produced no winner: {self.reason}; funnel {self.funnel.to_dict()}"
            raise NoWinners(msg)
        return self

    def to_dict(self) -> dict:
        """JSON-ready view: funnel, stage reached, reason, clusters, winners, exclusions, per-atom vetoes, params."""
        atoms = [
            {
                ATOM_ID: r[ATOM_ID],
                CLUSTER: r[CLUSTER],
                SCORE: r[SCORE],
                VETOES_STRICT: list(r[VETOES_STRICT] or []),
                VETOES_RELAXED: list(r[VETOES_RELAXED] or []),
                STAGE: r[STAGE],
            }
            for r in self.atoms.filter(pl.col(EXCLUDED).is_null()).iter_rows(named=True)
        ]
        params = asdict(self.params)
        params["bypassable"] = sorted(self.params.bypassable)
        return {
            "stage_reached": self.stage_reached,
            "reason": self.reason,
            "funnel": self.funnel.to_dict(),
            "clusters": {str(k): list(v) for k, v in self.clusters.items()},
            "winners": [{**asdict(w), "bypassed": list(w.bypassed)} for w in self.winners],
            "excluded": {k: list(v) for k, v in self.excluded.items()},
            "atoms": atoms,
            "params": params,
        }

    def to_json(self) -> str:
        """Deterministic JSON (sorted keys, no NaN)."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, allow_nan=False)


# --------------------------------------------------------------------------- recruitment


def _empty_table(atoms: pl.DataFrame) -> pl.DataFrame:
    return atoms.with_columns(
        pl.lit(None, dtype=pl.String).alias(BASE),
        pl.lit(None, dtype=pl.Int64).alias(CLUSTER),
        pl.lit(None, dtype=pl.Float64).alias(LOG_SCORE),
        pl.lit(None, dtype=pl.Float64).alias(SCORE),
        pl.lit(None, dtype=pl.List(pl.String)).alias(VETOES_STRICT),
        pl.lit(None, dtype=pl.List(pl.String)).alias(VETOES_RELAXED),
        pl.lit(None, dtype=pl.Int64).alias(STAGE),
        pl.lit(None, dtype=pl.String).alias(EXCLUDED),
    )


def _recruit(
    order: list[int],
    strict: list[tuple[str, ...]],
    relaxed: list[tuple[str, ...]],
    clus: list[int],
    dirs: list[str],
    base_list: list[str],
    params: SelectionParams,
) -> tuple[dict[int, tuple[int, tuple[str, ...]]], dict[int, int], int]:
    """Stages 1-4 over atoms indexed 0..n-1 (`order` = best score first): admitted index → (stage, bypassed),
    winners per stage, stage reached (0 when there is no atom)."""
    hard = set(VETOES) - set(params.bypassable)
    position = {i: k for k, i in enumerate(order)}
    admitted: dict[int, tuple[int, tuple[str, ...]]] = {}
    slots: Counter[tuple[int, str]] = Counter()
    taken: set[tuple[str, str]] = set()
    per_stage: dict[int, int] = {}

    def admit(i: int, stage: int) -> None:
        admitted[i] = (stage, strict[i])
        slots[(clus[i], dirs[i])] += 1
        taken.add((base_list[i], dirs[i]))
        per_stage[stage] += 1

    def free(i: int) -> bool:
        return i not in admitted and (base_list[i], dirs[i]) not in taken and len(admitted) < params.max_winners

    def enough() -> bool:
        return len(admitted) >= params.min_winners

    if not order:
        return admitted, per_stage, 0
    for stage, vetoes in ((1, strict), (2, relaxed)):  # strict, then spectral relaxation
        per_stage[stage] = 0
        for i in order:
            if not vetoes[i] and free(i) and slots[(clus[i], dirs[i])] < params.top_n:
                admit(i, stage)
        if enough():
            return admitted, per_stage, stage

    per_stage[3] = 0  # cluster floor: each cluster without a winner gets its best member passing the hard vetoes
    filled = {clus[i] for i in admitted}
    floor: dict[int, int] = {}
    for i in order:
        if clus[i] not in filled and clus[i] not in floor and free(i) and not hard & set(relaxed[i]):
            floor[clus[i]] = i
    for i in sorted(floor.values(), key=position.__getitem__):
        if free(i):
            admit(i, 3)
    if enough():
        return admitted, per_stage, 3

    per_stage[4] = 0  # leader fallback: clean leaders first (stable sort keeps score order), then bypasses
    for i in sorted(order, key=lambda i: bool(relaxed[i])):
        if enough():
            break
        if free(i) and not hard & set(relaxed[i]):
            admit(i, 4)
    return admitted, per_stage, 4


def select_from_features(
    atoms: Sequence[str],
    features: pl.DataFrame,
    clusters: AssetClusters,
    metadata_ok: Mapping[str, bool],
    ratings: pl.DataFrame | None = None,
    bases: Mapping[str, str] | None = None,
    params: SelectionParams = SelectionParams(),
) -> SelectionResult:
    """Score, veto and recruit `atoms` given per-symbol `features` and symbol `clusters` (see module docstring).

    `metadata_ok` maps symbol → tick and lot size known (absent = unknown); `bases` maps symbol → economic base
    (absent = the symbol is its own base); `ratings` has one row per symbol (see `score_atoms`).
    """
    table = parse_atoms(atoms)
    bases = bases or {}
    feature_rows = {r[SYMBOL]: r for r in features.select(SYMBOL, HAS_FEATURES, MISSING_FEATURES).iter_rows(named=True)}
    excluded: dict[str, tuple[str, ...]] = {}
    for a, s in zip(table[ATOM_ID], table[SYMBOL], strict=True):
        row = feature_rows.get(s)
        if row is None:
            excluded[a] = (EXCLUDED_NO_RETURNS,)
        elif not row[HAS_FEATURES]:
            excluded[a] = tuple(f"missing {m}" for m in row[MISSING_FEATURES])
    cluster_of = clusters.label_of()
    unclustered = sorted(
        {s for a, s in zip(table[ATOM_ID], table[SYMBOL], strict=True) if a not in excluded and s not in cluster_of}
    )
    if unclustered:
        msg = f"clusters do not cover symbols {unclustered} that have features; cluster every scored symbol"
        raise SelectionError(msg)

    scored = table.filter(~pl.col(ATOM_ID).is_in(list(excluded)))
    scored = score_atoms(scored, features, ratings, params.weights)
    strict = atom_vetoes(scored, features, metadata_ok, params)
    relaxed = atom_vetoes(scored, features, metadata_ok, params, relaxed=True)
    ids = scored[ATOM_ID].to_list()
    syms = scored[SYMBOL].to_list()
    dirs = scored[DIRECTION].to_list()
    logics = scored[LOGIC].to_list()
    base_list = [bases.get(s, s) for s in syms]
    clus = [cluster_of[s] for s in syms]
    logs = scored[LOG_SCORE].to_list()
    n = len(ids)
    order = sorted(range(n), key=lambda i: (-logs[i], ids[i]))
    position = {i: k for k, i in enumerate(order)}

    admitted, per_stage, stage_reached = _recruit(order, strict, relaxed, clus, dirs, base_list, params)

    winners = tuple(
        Winner(
            atom_id=ids[i],
            symbol=syms[i],
            logic=logics[i],
            direction=dirs[i],
            base=base_list[i],
            cluster=clus[i],
            score=math.exp(logs[i]),
            log_score=logs[i],
            stage=admitted[i][0],
            bypassed=admitted[i][1],
        )
        for i in sorted(admitted, key=lambda i: (admitted[i][0], position[i]))
    )
    scored_syms = set(syms)
    member_map = {k: tuple(s for s in v if s in scored_syms) for k, v in clusters.members().items()}
    member_map = {k: v for k, v in member_map.items() if v}
    funnel = Funnel(
        candidates=table.height,
        with_features=n,
        vetoes=MappingProxyType({v: sum(v in s for s in strict) for v in VETOES}),
        vetoes_relaxed=MappingProxyType({v: sum(v in s for s in relaxed) for v in VETOES}),
        after_vetoes=sum(not s for s in strict),
        after_relaxed_vetoes=sum(not s for s in relaxed),
        clusters=len(member_map),
        winners_per_stage=MappingProxyType(per_stage),
        winners=len(winners),
    )
    reason = _reason(table.height, n, winners, funnel, params, excluded, relaxed)

    stage_col = [admitted[i][0] if i in admitted else None for i in range(n)]
    full = scored.with_columns(
        pl.Series(BASE, base_list, dtype=pl.String),
        pl.Series(CLUSTER, clus, dtype=pl.Int64),
        pl.Series(VETOES_STRICT, [list(v) for v in strict], dtype=pl.List(pl.String)),
        pl.Series(VETOES_RELAXED, [list(v) for v in relaxed], dtype=pl.List(pl.String)),
        pl.Series(STAGE, stage_col, dtype=pl.Int64),
        pl.lit(None, dtype=pl.String).alias(EXCLUDED),
    )
    dropped = _empty_table(table.filter(pl.col(ATOM_ID).is_in(list(excluded))))
    dropped = dropped.with_columns(
        pl.Series(EXCLUDED, ["; ".join(excluded[a]) for a in dropped[ATOM_ID]], dtype=pl.String)
    )
    atoms_frame = pl.concat([full, dropped], how="diagonal_relaxed")
    atoms_frame = table.select(ATOM_ID).join(atoms_frame, on=ATOM_ID, how="left", maintain_order="left")
    return SelectionResult(
        winners=winners,
        funnel=funnel,
        stage_reached=stage_reached,
        clusters=MappingProxyType(member_map),
        atoms=atoms_frame,
        excluded=MappingProxyType(excluded),
        reason=reason,
        params=params,
    )


def _reason(
    candidates: int,
    with_features: int,
    winners: tuple[Winner, ...],
    funnel: Funnel,
    params: SelectionParams,
    excluded: Mapping[str, tuple[str, ...]],
    relaxed: list[tuple[str, ...]],
) -> str | None:
    """Why there are fewer than min_winners winners (None when there are enough)."""
    if candidates == 0:
        return "empty universe: no candidate atoms"
    if with_features == 0:
        causes = Counter(c for cs in excluded.values() for c in cs)
        return f"no candidate has features ({candidates} excluded: {dict(sorted(causes.items()))})"
    if len(winners) >= params.min_winners:
        return None
    hard = set(VETOES) - set(params.bypassable)
    blocked = sum(bool(hard & set(r)) for r in relaxed)
    hard_counts = {v: funnel.vetoes_relaxed[v] for v in VETOES if v in hard and funnel.vetoes_relaxed[v]}
    head = "no winners" if not winners else f"{len(winners)} winner(s), below min_winners {params.min_winners}"
    return (
        f"{head} after stage 4: {blocked} of {with_features} atoms with features fail non-bypassable vetoes "
        f"{hard_counts}, the rest are limited by one atom per base"
    )


def select_atoms(
    atoms: Sequence[str],
    returns: np.ndarray,
    symbols: Sequence[str],
    asset_class: Sequence[str],
    quote_volume: Sequence[float] | np.ndarray,
    metadata_ok: Mapping[str, bool],
    ratings: pl.DataFrame | None = None,
    bases: Mapping[str, str] | None = None,
    params: SelectionParams = SelectionParams(),
) -> SelectionResult:
    """HTR v3.4 end to end on one training window: features, clusters of the scored symbols, recruitment.

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

"""Per-atom score and veto rules of HTR (method: docs/selection.md).

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
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl
from scipy.stats import rankdata

from dataflows.columns import ASSET_CLASS, ATOM_ID, DIRECTION, LOGIC, SHORT, SYMBOL, parse_atom_ids
from dataflows.selection import SelectionError
from dataflows.selection.features import (
    ANTIFRAGILITY,
    ANTIFRAGILITY_SHORT,
    CVAR,
    CVAR_SHORT,
    ECI,
    EFFICIENCY,
    ENTROPY,
    HURST,
    KURTOSIS,
    LIQUIDITY,
    MOMENTUM,
    MOMENTUM_SHORT,
    QUOTE_VOLUME,
    SKEW,
    SKEW_SHORT,
    STABILITY,
    SURVIVAL,
    VOL,
)
from dataflows.selection.params import (
    VETO_ADV,
    VETO_EFFICIENCY,
    VETO_ENTROPY,
    VETO_FRICTION,
    VETO_HURST,
    VETO_KURTOSIS,
    VETO_METADATA,
    VETO_VOLATILITY,
    VETOES,
    ScoreWeights,
    SelectionParams,
)

# Ratings columns (point-in-time values as of the day before the decision).
RECOMMEND_ALL = "recommend_all"
RECOMMEND_MA = "recommend_ma"
ADX = "adx"
RATINGS = (RECOMMEND_ALL, RECOMMEND_MA, ADX)

# Score columns added to the per-atom table.
SCORE = "score"
LOG_SCORE = "log_score"


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
    weights: ScoreWeights = ScoreWeights(),  # noqa: B008 (frozen dataclass)
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
    params: SelectionParams = SelectionParams(),  # noqa: B008 (frozen dataclass)
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

"""Per-asset selection features on one training window: one row per symbol, each computed on its own valid rows.

Input: `returns`, T×N float64 daily simple returns of completed bars (rows = time oldest first, columns =
`symbols`, NaN = no bar), the training window only. Crypto and equity columns may sit side by side: nothing here
drops a date; every statistic uses the asset's own valid rows (see `kernels.selection`).

Columns of the frame (constants below), with ppy = periods per year of the asset's class (365 crypto, 252 equity):

- `n_obs` valid returns; `survival` = n_obs / the largest n_obs among assets of the same class in this window
  (1 for a full history; a late listing or a data hole scores lower; each class is measured against its own
  calendar, so equities are not penalised for weekends);
- `momentum` = mean × ppy; `vol` = std (ddof 1) × √ppy; `stability` = 1 / (vol + 1e-9);
- `entropy` permutation entropy (order 5, delay 1, last 120 returns, / ln 5!); `efficiency` |Σr| / Σ|r| over the
  same last 120 returns; `hurst` rescaled range (lags 8, 16, ... <= n/2), clipped to [0, 1];
- `skew`, `kurtosis` (excess), `cvar_95` = −mean of the worst 5% (returns <= q05; a positive number is a loss);
- `antifragility` (`dataflows.tails.antifragility`; cross-sectional over assets with >= min_obs returns);
- `quote_volume` the average daily quote volume given (NaN when missing or <= 0: missing data, never 0);
  `liquidity` = min(1, quote_volume / baseline) (1e7 crypto, 5e8 equity); `eci` friction = vol × √(1e6 / ADV),
  NaN when ADV is missing;
- the SHORT view: a SHORT atom's stream is s = −min(r, 1) (as in `dataflows.synthesis`); `momentum_short`,
  `skew_short`, `cvar_95_short` and `antifragility_short` are the same statistics computed on s. The other
  statistics are invariant under r → −r and serve both directions.
- `has_features` / `missing_features`: an asset has features when n_obs >= min_obs and every required statistic is
  finite (a zero-variance column has no skew, so a flat stablecoin is reported here rather than scored).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from dataflows.columns import ASSET_CLASS, ASSET_CLASSES, CRYPTO, EQUITY, QUOTE_VOLUME, SYMBOL
from dataflows.selection import SelectionError
from dataflows.tails import TailParams, antifragility, as_returns_panel
from kernels.selection import efficiency_ratio_nb, hurst_rs_nb, moments_nb, permutation_entropy_nb, tail_stats_nb

N_OBS = "n_obs"
SURVIVAL = "survival"
MOMENTUM = "momentum"
MOMENTUM_SHORT = "momentum_short"
VOL = "vol"
STABILITY = "stability"
ENTROPY = "entropy"
EFFICIENCY = "efficiency"
HURST = "hurst"
SKEW = "skew"
SKEW_SHORT = "skew_short"
KURTOSIS = "kurtosis"
CVAR = "cvar_95"
CVAR_SHORT = "cvar_95_short"
ANTIFRAGILITY = "antifragility"
ANTIFRAGILITY_SHORT = "antifragility_short"
LIQUIDITY = "liquidity"
ECI = "eci"
HAS_FEATURES = "has_features"
MISSING_FEATURES = "missing_features"

REQUIRED: tuple[str, ...] = (
    SURVIVAL,
    MOMENTUM,
    MOMENTUM_SHORT,
    VOL,
    STABILITY,
    ENTROPY,
    EFFICIENCY,
    HURST,
    SKEW,
    SKEW_SHORT,
    KURTOSIS,
    CVAR,
    CVAR_SHORT,
    ANTIFRAGILITY,
    ANTIFRAGILITY_SHORT,
)
"""Statistics an asset must have (finite) to be scored; liquidity/eci may be NaN (the ADV veto handles that)."""


@dataclass(frozen=True)
class ClassParams:
    """Per-asset-class calendar and liquidity scale."""

    periods_per_year: float
    liquidity_baseline: float

    def __post_init__(self) -> None:
        if not (self.periods_per_year > 0 and self.liquidity_baseline > 0):
            msg = f"ClassParams needs periods_per_year > 0 and liquidity_baseline > 0, got {self}"
            raise SelectionError(msg)


@dataclass(frozen=True)
class FeatureParams:
    """Feature settings (defaults of the HTR method, docs/selection.md)."""

    crypto: ClassParams = ClassParams(periods_per_year=365.0, liquidity_baseline=1e7)
    equity: ClassParams = ClassParams(periods_per_year=252.0, liquidity_baseline=5e8)
    entropy_order: int = 5
    entropy_delay: int = 1
    entropy_window: int = 120
    efficiency_window: int = 120
    hurst_min_lag: int = 8
    friction_notional: float = 1e6
    stability_eps: float = 1e-9
    short_cap: float = 1.0
    min_obs: int = 32
    tails: TailParams = field(default_factory=TailParams)

    def __post_init__(self) -> None:
        if not 2 <= self.entropy_order <= 7 or self.entropy_delay < 1:
            msg = f"FeatureParams: entropy_order must be in 2..7 and entropy_delay >= 1, got {self.entropy_order}, {self.entropy_delay}"
            raise SelectionError(msg)
        if self.hurst_min_lag < 2 or self.min_obs < 2 * self.hurst_min_lag:
            msg = (
                f"FeatureParams: need hurst_min_lag >= 2 and min_obs >= 2 × hurst_min_lag (two R/S lags), "
                f"got hurst_min_lag {self.hurst_min_lag}, min_obs {self.min_obs}"
            )
            raise SelectionError(msg)
        if not (self.friction_notional > 0 and self.short_cap > 0):
            msg = f"FeatureParams: friction_notional and short_cap must be > 0, got {self.friction_notional}, {self.short_cap}"
            raise SelectionError(msg)

    def for_class(self, asset_class: str) -> ClassParams:
        """The parameters of `asset_class` (crypto|equity)."""
        if asset_class == CRYPTO:
            return self.crypto
        if asset_class == EQUITY:
            return self.equity
        msg = f"unknown asset class {asset_class!r}; expected one of {ASSET_CLASSES}"
        raise SelectionError(msg)


def short_stream(returns: np.ndarray, cap: float = 1.0) -> np.ndarray:
    """−min(r, cap): the return of a short position per bar (loses at most `cap`); NaN stays NaN."""
    return -np.minimum(returns, cap)


def check_universe(
    returns: np.ndarray, symbols: Sequence[str], asset_class: Sequence[str], quote_volume: Sequence[float] | np.ndarray
) -> tuple[np.ndarray, list[str], list[str], np.ndarray]:
    """Validated (returns, symbols, asset classes, quote volumes); a `SelectionError` names the offending input."""
    x = as_returns_panel(returns, error=SelectionError)
    syms = [str(s) for s in symbols]
    classes = [str(c) for c in asset_class]
    qv = np.asarray(quote_volume, dtype=np.float64).reshape(-1)
    n = x.shape[1]
    for name, size in (("symbols", len(syms)), ("asset_class", len(classes)), ("quote_volume", qv.shape[0])):
        if size != n:
            msg = f"{name} has {size} entries but returns has {n} columns"
            raise SelectionError(msg)
    if len(set(syms)) != n:
        dupes = sorted({s for s in syms if syms.count(s) > 1})
        msg = f"symbols contains duplicates: {dupes}"
        raise SelectionError(msg)
    bad = sorted({c for c in classes if c not in ASSET_CLASSES})
    if bad:
        msg = f"asset_class contains unknown classes {bad}; expected one of {ASSET_CLASSES}"
        raise SelectionError(msg)
    return x, syms, classes, qv


def asset_features(
    returns: np.ndarray,
    symbols: Sequence[str],
    asset_class: Sequence[str],
    quote_volume: Sequence[float] | np.ndarray,
    params: FeatureParams = FeatureParams(),
) -> pl.DataFrame:
    """One row per symbol (in input order) with the columns described in the module docstring."""
    x, syms, classes, qv = check_universe(returns, symbols, asset_class, quote_volume)
    n = x.shape[1]
    ppy = np.array([params.for_class(c).periods_per_year for c in classes], dtype=np.float64)
    baseline = np.array([params.for_class(c).liquidity_baseline for c in classes], dtype=np.float64)
    s = short_stream(x, params.short_cap)

    n_obs, mean, std, skew, kurt = moments_nb(x)
    _, mean_s, _, skew_s, _ = moments_nb(s)
    _, _, lo_mean, _ = tail_stats_nb(x, params.tails.alpha)
    _, _, lo_mean_s, _ = tail_stats_nb(s, params.tails.alpha)
    entropy = permutation_entropy_nb(x, params.entropy_order, params.entropy_delay, params.entropy_window)
    efficiency = efficiency_ratio_nb(x, params.efficiency_window)
    hurst = hurst_rs_nb(x, params.hurst_min_lag)
    anti = antifragility(x, params.tails, min_obs=params.min_obs).score
    anti_s = antifragility(s, params.tails, min_obs=params.min_obs).score

    survival = np.full(n, np.nan)
    for cls in set(classes):
        idx = np.array([i for i, c in enumerate(classes) if c == cls])
        top = n_obs[idx].max()
        if top > 0:
            survival[idx] = n_obs[idx] / top

    vol = std * np.sqrt(ppy)
    adv = np.where(np.isfinite(qv) & (qv > 0), qv, np.nan)
    has_adv = np.isfinite(adv)
    liquidity = np.full(n, np.nan)
    liquidity[has_adv] = np.minimum(1.0, adv[has_adv] / baseline[has_adv])
    eci = np.full(n, np.nan)
    eci[has_adv] = vol[has_adv] * np.sqrt(params.friction_notional / adv[has_adv])

    cols: dict[str, np.ndarray] = {
        N_OBS: n_obs,
        SURVIVAL: survival,
        MOMENTUM: mean * ppy,
        MOMENTUM_SHORT: mean_s * ppy,
        VOL: vol,
        STABILITY: 1.0 / (vol + params.stability_eps),
        ENTROPY: entropy,
        EFFICIENCY: efficiency,
        HURST: hurst,
        SKEW: skew,
        SKEW_SHORT: skew_s,
        KURTOSIS: kurt,
        CVAR: -lo_mean,
        CVAR_SHORT: -lo_mean_s,
        ANTIFRAGILITY: anti,
        ANTIFRAGILITY_SHORT: anti_s,
        QUOTE_VOLUME: adv,
        LIQUIDITY: liquidity,
        ECI: eci,
    }
    missing: list[list[str]] = []
    for j in range(n):
        miss = [] if n_obs[j] >= params.min_obs else [N_OBS]
        miss += [name for name in REQUIRED if not np.isfinite(cols[name][j])]
        missing.append(miss)
    return pl.DataFrame(
        {
            SYMBOL: syms,
            ASSET_CLASS: classes,
            **{k: pl.Series(k, v, dtype=pl.Int64 if k == N_OBS else pl.Float64) for k, v in cols.items()},
            HAS_FEATURES: [not m for m in missing],
            MISSING_FEATURES: pl.Series(MISSING_FEATURES, missing, dtype=pl.List(pl.String)),
        }
    )

"""What a walk-forward may read, loaded once from the lakehouse, and the point-in-time views decisions take of it.

Point in time. Everything the decision at row t sees is strictly before t:
- eligibility: each symbol's features-matrix row as of row t−1 (`features.as_of_rows(..., dates[t−1])`), through
  an optional rule such as `recommend_all > 0` (None = every symbol eligible) — never row t, never today's scan;
- the training rows [.., t) only: returns, and liquidity (mean close × volume) measured on those rows (the panel's
  own `quote_volume` is measured over the whole history, so it is never used here);
- HTR's ratings as of the bar before the decision bar t−1, as in the live sleeve (`selection_ratings`).
What is *not* point in time: the universe is today's healthy candidates and their metadata (survivorship); that
is the sleeve's input contract, and `metrics.json` says so under `universe`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from dataflows import columns as C
from dataflows.lakehouse import features
from dataflows.lakehouse.calendar import DAY_MS
from dataflows.lakehouse.store import Lakehouse
from dataflows.returns import ReturnsPanel
from dataflows.validation.walkforward.plan import EligibilityRule, WalkForwardError


@dataclass(frozen=True, eq=False)
class History:
    """Everything a walk-forward may read, over the whole history; decisions slice it point in time."""

    panel: ReturnsPanel  # T×N returns of every row (NaN = no bar)
    traded: np.ndarray  # T×N close × volume per bar (NaN = no bar): liquidity measured per training window
    features: pl.DataFrame  # features-matrix rows of `venue` for the panel's symbols (long format)
    venue: str

    def __post_init__(self) -> None:
        shape = self.panel.returns.shape
        if self.traded.shape != shape:
            msg = f"History.traded has shape {self.traded.shape}, the returns panel {shape}"
            raise WalkForwardError(msg)

    def training_panel(self, start: int, stop: int) -> ReturnsPanel:
        """Rows [start, stop) of every symbol, with quote volume measured on those rows only."""
        traded = self.traded[start:stop]
        valid = np.isfinite(traded)
        count = valid.sum(axis=0)
        total = np.where(valid, traded, 0.0).sum(axis=0)
        qv = np.full(traded.shape[1], np.nan)
        np.divide(total, count, out=qv, where=count > 0)
        p = self.panel
        return ReturnsPanel(p.dates[start:stop], p.symbols, p.asset_class, p.returns[start:stop], qv)

    def features_as_of(self, at_or_before_ms: int) -> pl.DataFrame:
        """Each symbol's latest features row with ts ≤ `at_or_before_ms`."""
        return features.as_of_rows(self.features, self.venue, at_or_before_ms)

    def selection_ratings(self, decision_ms: int) -> pl.DataFrame:
        """HTR's ratings as the sleeve reads them: as of the bar before the decision bar (`selection_ratings`)."""
        rows = self.features_as_of(decision_ms - DAY_MS)
        return rows.select(C.SYMBOL, "recommend_all", "recommend_ma", pl.col("vote_adx").cast(pl.Float64).alias("adx"))


def load_history(
    lakehouse: Lakehouse,
    venue: str,
    timeframe: str,
    symbols: Sequence[str],
    asset_class: Mapping[str, str],
    *,
    end_ms: int,
    days: int,
    features_update: features.FeaturesUpdate | None = None,
) -> History:
    """Returns (`build_returns`), traded value and features rows of `symbols` over `days` days ending at `end_ms`;
    the features matrix as `features_update` left it when given (`features.read_updated`), else as stored."""
    from dataflows.lakehouse.panel import read_panel
    from dataflows.returns import build_returns

    syms = list(symbols)
    panel = build_returns(lakehouse, venue, timeframe, syms, dict(asset_class), end_ms=end_ms, days=days)
    times, p = read_panel(
        lakehouse,
        venue,
        timeframe,
        syms,
        start_ms=end_ms - days * DAY_MS + 1,
        end_ms=end_ms,
        fields=(C.CLOSE, C.VOLUME),
    )
    traded = np.full(panel.returns.shape, np.nan)
    at = np.searchsorted(panel.dates, times)
    inside = (at < panel.dates.size) & (panel.dates[np.minimum(at, panel.dates.size - 1)] == times)
    traded[at[inside]] = (p[C.CLOSE] * p[C.VOLUME])[inside]
    matrix = features.read(lakehouse) if features_update is None else features.read_updated(lakehouse, features_update)
    frame = matrix.filter((pl.col(C.VENUE) == venue) & pl.col(C.SYMBOL).is_in(syms)).sort(C.TS)
    return History(panel, traded, frame, venue)


def eligible_symbols(history: History, t: int, rule: EligibilityRule | None) -> tuple[str, ...]:
    """Symbols eligible for the rebalance at row t, by their features row as of row t−1 (never row t)."""
    if not 1 <= t < history.panel.dates.size:
        msg = f"rebalance row {t} is outside rows 1..{history.panel.dates.size - 1} of the panel"
        raise WalkForwardError(msg)
    if rule is None:
        return tuple(history.panel.symbols)
    rows = history.features_as_of(int(history.panel.dates[t - 1]))
    ok = set(rows.filter(rule.expression())[C.SYMBOL].to_list())
    return tuple(s for s in history.panel.symbols if s in ok)

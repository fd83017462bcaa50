"""Aggregation: the decision bar and the training-window returns matrix of the healthy candidates (completed bars,
calendar-correct)."""

from __future__ import annotations

import logging

import numpy as np
import polars as pl

from dataflows import columns as C
from dataflows.config import DataConfig, ProfileConfig
from dataflows.lakehouse.store import Lakehouse
from dataflows.returns import NotEnoughHistory, ReturnsPanel, build_returns
from dataflows.venues.base import Venue

log = logging.getLogger(__name__)


def decision_ms(as_of_ms: int, candidates: pl.DataFrame, data_config: DataConfig, equity_calendar: str) -> int:
    """Open time of the last completed bar over the candidates' calendars: the decision is taken after its close."""
    from dataflows.lakehouse.calendar import calendar_for

    classes = set(candidates[C.ASSET_CLASS].to_list()) or {C.CRYPTO}
    return max(calendar_for(a, data_config.timeframe, equity_calendar).last_completed(as_of_ms) for a in classes)


def training_returns(
    healthy_symbols: list[str],
    candidates: pl.DataFrame,
    lakehouse: Lakehouse,
    venue: Venue,
    data_config: DataConfig,
    profile_config: ProfileConfig,
    decision_ms: int,
) -> ReturnsPanel:
    """Returns of healthy symbols over `profile.train_days` ending at the decision bar; assets with fewer than
    `profile.min_history_days` returns are dropped (and logged)."""
    classes = dict(candidates.select(C.SYMBOL, C.ASSET_CLASS).unique(C.SYMBOL).iter_rows())
    panel = build_returns(
        lakehouse,
        venue.name,
        data_config.timeframe,
        healthy_symbols,
        classes,
        end_ms=decision_ms,
        days=profile_config.train_days,
    )
    obs = panel.observations()
    keep = [s for s, n in zip(panel.symbols, obs, strict=True) if n >= profile_config.min_history_days]
    dropped = sorted(set(panel.symbols) - set(keep))
    if dropped:
        log.warning(
            "dropped %d symbol(s) with < %d returns in the window: %s",
            len(dropped),
            profile_config.min_history_days,
            ", ".join(dropped),
        )
    if not keep:
        msg = (
            f"no healthy symbol has {profile_config.min_history_days} returns in the last "
            f"{profile_config.train_days} days; lower profile.min_history_days or raise data.history_days"
        )
        raise NotEnoughHistory(msg)
    return panel.columns(keep)


def returns_summary(training_returns: ReturnsPanel) -> dict:
    """Shape and span of the training window (for selection.json and the manifest)."""
    from dataflows.timestamps import iso

    d = training_returns.dates
    return {
        "rows": int(d.size),
        "symbols": len(training_returns.symbols),
        "start": iso(int(d[0])) if d.size else None,
        "end": iso(int(d[-1])) if d.size else None,
        "observations_min": int(np.min(training_returns.observations())) if d.size else 0,
    }

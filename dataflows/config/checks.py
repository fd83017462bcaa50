"""The checks of a config that its types cannot express (ranges, consistency across keys, venue-specific keys); each
raises a one-line `ConfigError` naming the key. Closed sets of values are the schema's job (`dataflows.config.choices`).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING

from dataflows.config.settings import parse_as_of
from dataflows.errors import ConfigError

if TYPE_CHECKING:
    from dataflows.config.settings import Settings, TradeConfig


def check_settings(s: Settings) -> None:
    """Every cross-key and range check of `Settings` (`Settings.validate()` runs it)."""
    from dataflows.lakehouse.calendar import timeframe_ms
    from dataflows.lakehouse.keys import validate_run_id

    timeframe_ms(s.data.timeframe)
    if s.run.id is not None:
        validate_run_id(s.run.id)
    as_of = parse_as_of(s.run.as_of)
    if as_of > dt.datetime.now(dt.UTC) + dt.timedelta(days=1):
        msg = f"run.as_of={s.run.as_of!r} is in the future: no bar after now is complete; use today or an earlier date"
        raise ConfigError(msg)
    if s.venue.kind == "synthetic":
        from dataflows.venues.synthetic import GENESIS

        if as_of < dt.datetime.fromisoformat(GENESIS).replace(tzinfo=dt.UTC):
            msg = f"run.as_of={s.run.as_of!r} is before the synthetic venue's first day {GENESIS}"
            raise ConfigError(msg)
    _positive("data.history_days", s.data.history_days)
    _positive("data.max_repair_rounds", s.data.max_repair_rounds)
    _positive("data.concurrency", s.data.concurrency)
    _positive("data.retries", s.data.retries)
    for key in ("retry_wait_s", "lease_s", "lease_wait_s", "hole_recheck_days", "max_file_mb"):
        _positive(f"data.{key}", getattr(s.data, key))
    if s.data.retry_wait_max_s < s.data.retry_wait_s:
        msg = f"data.retry_wait_max_s={s.data.retry_wait_max_s} must be >= data.retry_wait_s={s.data.retry_wait_s}"
        raise ConfigError(msg)
    _at_least("data.max_gap_bars", s.data.max_gap_bars, 0)
    _positive("guard.quarantine_days", s.guard.quarantine_days)
    _at_least("guard.lookback_days", s.guard.lookback_days, 0)
    _positive("health.min_healthy", s.health.min_healthy)
    _at_least("venue.n_crypto", s.venue.n_crypto, 0)
    _at_least("venue.n_equity", s.venue.n_equity, 0)
    _positive("venue.page_limit", s.venue.page_limit)
    if s.venue.rate_limit_per_sec is not None:
        _positive("venue.rate_limit_per_sec", s.venue.rate_limit_per_sec)
    if s.executor.num_cpus is not None:
        _positive("executor.num_cpus", s.executor.num_cpus)
    _positive("guard.max_abs_return", s.guard.max_abs_return)
    _positive("guard.flat_bars", s.guard.flat_bars)
    _positive("guard.spike_mult", s.guard.spike_mult)
    _positive("guard.spike_window", s.guard.spike_window)
    if not 0.0 <= s.venue.error_rate < 1.0:
        msg = f"venue.error_rate={s.venue.error_rate} must be in [0, 1)"
        raise ConfigError(msg)
    if s.venue.kind == "ccxt" and not s.venue.exchange:
        msg = "venue.exchange is required with venue=ccxt (e.g. venue.exchange=binance)"
        raise ConfigError(msg)
    misplaced = {
        "venue.calendar": s.venue.kind == "synthetic" and s.venue.calendar is not None,
        "venue.metadata": s.venue.kind != "files" and s.venue.metadata is not None,
        "venue.path": s.venue.kind != "files" and s.venue.path is not None,
        "venue.exchange": s.venue.kind != "ccxt" and s.venue.exchange is not None,
    }
    for key, wrong in misplaced.items():
        if wrong:
            msg = f"{key} does not apply to venue={s.venue.kind} (the synthetic world has its own calendar)"
            if key != "venue.calendar":
                msg = f"{key} does not apply to venue={s.venue.kind}; remove it or choose the venue it belongs to"
            raise ConfigError(msg)
    if s.venue.kind == "files" and not s.venue.path:
        msg = "venue.path is required with venue=files (a folder of CSV/Parquet files, one per symbol)"
        raise ConfigError(msg)
    if s.profile.benchmark is not None and not s.profile.benchmark.strip():
        msg = "profile.benchmark is empty; name a symbol of the sleeve's universe (e.g. BTC/USDT) or use null"
        raise ConfigError(msg)
    if not 0 < s.profile.weight_cap <= 1:
        msg = f"profile.weight_cap={s.profile.weight_cap} must be in (0, 1]"
        raise ConfigError(msg)
    if s.profile.cluster_cap is not None and not 0 < s.profile.cluster_cap <= 1:
        msg = f"profile.cluster_cap={s.profile.cluster_cap} must be in (0, 1] or null"
        raise ConfigError(msg)
    _positive("profile.train_days", s.profile.train_days)
    _positive("profile.min_history_days", s.profile.min_history_days)
    _positive("profile.min_winners", s.profile.min_winners)
    if not 0 <= s.profile.min_weight < s.profile.weight_cap:
        msg = f"profile.min_weight={s.profile.min_weight} must be >= 0 and below profile.weight_cap"
        raise ConfigError(msg)
    if s.profile.min_history_days > s.profile.train_days:
        msg = (
            f"profile.min_history_days={s.profile.min_history_days} > "
            f"profile.train_days={s.profile.train_days}: no asset could ever qualify"
        )
        raise ConfigError(msg)
    _positive("profile.validation.train", s.profile.validation.train)
    _positive("profile.validation.test", s.profile.validation.test)
    for key in ("fees", "slippage"):
        _at_least(f"profile.validation.{key}", getattr(s.profile.validation, key), 0)
    if s.profile.max_winners < s.profile.min_winners:
        msg = f"profile.max_winners={s.profile.max_winners} < profile.min_winners={s.profile.min_winners}"
        raise ConfigError(msg)
    if not s.profile.scanners and s.scanner is None:
        msg = f"profile {s.profile.name!r} lists no scanners; set profile.scanners or scanner=NAME"
        raise ConfigError(msg)


def check_trade(trade: TradeConfig) -> None:
    """The `trade` section: finite non-negative capital, a positive lot, a readable holdings file."""
    for key in ("capital", "default_lot"):
        value = getattr(trade, key)
        if value is not None and not (math.isfinite(value) and value >= 0 and (key == "capital" or value > 0)):
            msg = f"trade.{key}={value} must be a finite number {'>= 0' if key == 'capital' else '> 0'}"
            raise ConfigError(msg)
    if trade.risk_days <= 1:
        msg = f"trade.risk_days={trade.risk_days} must be > 1"
        raise ConfigError(msg)
    if trade.holdings is not None and trade.balances:
        msg = "trade.holdings and trade.balances=true both give the holdings; choose one"
        raise ConfigError(msg)
    if trade.holdings is not None:  # a bad file is one line now, before any run starts
        from dataflows.trade.orders import read_holdings

        read_holdings(trade.holdings)


def _positive(key: str, value: float) -> None:
    if not value > 0:  # also refuses NaN
        msg = f"{key}={value} must be > 0"
        raise ConfigError(msg)


def _at_least(key: str, value: float, low: float) -> None:
    if not value >= low:
        msg = f"{key}={value} must be >= {low}"
        raise ConfigError(msg)

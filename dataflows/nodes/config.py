"""The run's configuration as nodes: each stage takes the group it reads (`profile_config`, `data_config`, ...),
so the DAG shows which knobs drive which node; `settings` itself is the driver's input."""

from __future__ import annotations

from dataflows.config import (
    DataConfig,
    FlowConfig,
    GuardConfig,
    HealthConfig,
    ProfileConfig,
    Settings,
    TradeConfig,
    VenueConfig,
)
from dataflows.sleeve import profile_of


def profile_config(settings: Settings) -> ProfileConfig:
    """`profile.*`, with a top-level `optimizer=NAME` override applied (the method tried first)."""
    return profile_of(settings)


def data_config(settings: Settings) -> DataConfig:
    """`data.*`: timeframe, history window, repair and fetch limits."""
    return settings.data


def guard_config(settings: Settings) -> GuardConfig:
    """`guard.*`: the toxic-return guard's rules and quarantine length."""
    return settings.guard


def health_config(settings: Settings) -> HealthConfig:
    """`health.*`: the gate's strictness and minimum healthy count."""
    return settings.health


def venue_config(settings: Settings) -> VenueConfig:
    """`venue.*`: which venue, and its options."""
    return settings.venue


def flow_config(settings: Settings) -> FlowConfig:
    """`flow.*`: the stages a run skips."""
    return settings.flow


def trade_config(settings: Settings) -> TradeConfig:
    """`trade.*`: capital, holdings or the account's balances, lot defaults."""
    return settings.trade


def venue_name(settings: Settings) -> str:
    """The venue's lakehouse namespace (everything that changes the bars: kind, seed, exchange or folder)."""
    return settings.venue_name

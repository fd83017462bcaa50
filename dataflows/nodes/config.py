"""The run's configuration as nodes: each stage takes the group it reads (`profile_config`, `data_config`, ...), so the
DAG shows which knobs drive which node; `settings` itself is the driver's input."""

from __future__ import annotations

from hamilton.function_modifiers import extract_fields

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


@extract_fields(
    {
        "profile_config": ProfileConfig,
        "data_config": DataConfig,
        "guard_config": GuardConfig,
        "health_config": HealthConfig,
        "venue_config": VenueConfig,
        "flow_config": FlowConfig,
        "trade_config": TradeConfig,
        "venue_name": str,
        "scanner_config": dict,
    }
)
def config_groups(settings: Settings) -> dict:
    """The groups of `settings` a stage reads: `profile.*` (with a top-level `optimizer=` applied), `data.*`,
    `guard.*`, `health.*`, `venue.*`, `flow.*`, `trade.*`, a `scanner=NAME` choice, and the venue's lakehouse
    namespace."""
    return {
        "profile_config": profile_of(settings),
        "data_config": settings.data,
        "guard_config": settings.guard,
        "health_config": settings.health,
        "venue_config": settings.venue,
        "flow_config": settings.flow,
        "trade_config": settings.trade,
        "venue_name": settings.venue_name,
        "scanner_config": settings.scanner,  # `scanner=NAME`: one scanner instead of the profile's (None: the profile's)
    }

"""The verbs `dataflows.app` dispatches here: `VERBS` maps a verb to `fn(settings, resolved_config) -> exit code`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dataflows.config import Settings
from dataflows.explore.resolved import show_config
from dataflows.explore.scanning import scan


def orders(settings: Settings, resolved: dict) -> int:
    """`orders RUN_DIR trade.capital=...`: a finished run's orders (`dataflows.trade.orders`; writes only under
    RUN_DIR/orders/)."""
    from dataflows.trade.orders import orders_verb

    return orders_verb(settings, resolved)


VERBS: dict[str, Callable[[Any, dict], int]] = {"scan": scan, "config": show_config, "orders": orders}

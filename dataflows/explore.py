"""Read-only verbs that help a user find their way from the terminal (filled in by the `list`/`scan`/`config` work).

`VERBS` maps a verb to `fn(settings, resolved_config) -> exit code`; `dataflows.app` dispatches to it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

VERBS: dict[str, Callable[[Any, dict], int]] = {}

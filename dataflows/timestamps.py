"""Epoch-millisecond timestamps as the project prints and stores them (ISO-8601 UTC with a trailing `Z`)."""

from __future__ import annotations

import datetime as dt

__all__ = ["iso", "utc"]


def iso(ts_ms: int | None) -> str | None:
    """Epoch ms → ISO-8601 UTC (None passes through)."""
    if ts_ms is None:
        return None
    return dt.datetime.fromtimestamp(ts_ms / 1000, dt.UTC).isoformat().replace("+00:00", "Z")


def utc(ts_ms: int) -> dt.datetime:
    """Epoch ms → an aware UTC datetime, exact to the millisecond."""
    return dt.datetime.fromtimestamp(ts_ms // 1000, dt.UTC).replace(microsecond=ts_ms % 1000 * 1000)

"""What every page chart shares: the colours of longs, shorts, books and benchmark, the chart widths, and the two
readings of their inputs (ISO dates, runs of equal values)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime

LONG_COLOR = "#2b6cb0"
SHORT_COLOR = "#c53030"
NEUTRAL_COLOR = "#4a5568"
EQUITY_COLOR = "#2b6cb0"
DRAWDOWN_COLOR = "#c53030"
BOUNDARY_COLOR = "#111111"
BOOK_COLORS = {"profile": EQUITY_COLOR, "filtered_ew": "#2f855a", "raw_ew": "#a0aec0"}
BOOK_LABELS = {"profile": "profile", "filtered_ew": "filtered EW (winners)", "raw_ew": "raw EW (pool)"}
FLAG_COLOR = "#dd6b20"
BENCHMARK_COLOR = "#dd6b20"

FULL_WIDTH = 960.0  # CSS px
HALF_WIDTH = 560.0
LEAD_WIDTH = 760.0  # the first screen's chart sits beside the headline table


def value_runs(values: Sequence[int | None]) -> list[tuple[int | None, int, int]]:
    """Contiguous runs as (value, start, length)."""
    runs: list[tuple[int | None, int, int]] = []
    for value, group in itertools.groupby(enumerate(values), key=lambda item: item[1]):
        items = list(group)
        runs.append((value, items[0][0], len(items)))
    return runs


def parse_dates(dates: Sequence[str]) -> list[datetime] | None:
    """ISO strings (date or datetime, `Z` or an offset allowed) → naive UTC datetimes; None if any fails to parse."""
    out: list[datetime] = []
    for text in dates:
        try:
            stamp = datetime.fromisoformat(str(text))
        except ValueError:
            return None
        if stamp.tzinfo is not None:
            stamp = stamp.astimezone(UTC).replace(tzinfo=None)
        out.append(stamp)
    return out

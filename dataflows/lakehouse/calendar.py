"""Trading calendars: which bars should exist and which are completed at a given `as_of`.

Freshness is defined here and only here: by the last *completed* bar against `as_of` and the symbol's calendar,
never by file modification times. Timestamps are bar open times in epoch milliseconds (UTC).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dataflows import columns as C
from dataflows.errors import ConfigError

SECOND_MS = 1000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

TIMEFRAME_MS = {"1h": HOUR_MS, "4h": 4 * HOUR_MS, "1d": DAY_MS}

# 1970-01-01 was a Thursday: weekday(ts) = (days + 3) % 7 with Monday = 0.
_EPOCH_WEEKDAY_OFFSET = 3


def timeframe_ms(timeframe: str) -> int:
    """Bar length of `timeframe` in milliseconds."""
    try:
        return TIMEFRAME_MS[timeframe]
    except KeyError:
        msg = f"timeframe {timeframe!r} is not supported; use one of {sorted(TIMEFRAME_MS)}"
        raise ConfigError(msg) from None


@dataclass(frozen=True)
class Calendar:
    """Bars of one timeframe on either a 24/7 clock or weekday sessions.

    Sessions: one daily bar per weekday, stamped at 00:00 UTC of the session date and completed at
    `session_close_ms` after that (21:00 UTC by default: after the US close).
    """

    bar_ms: int
    sessions: bool = False
    session_close_ms: int = 21 * HOUR_MS

    def __post_init__(self) -> None:
        if self.sessions and self.bar_ms != DAY_MS:
            msg = "session calendars support the 1d timeframe only"
            raise ConfigError(msg)

    def floor(self, ts_ms: int) -> int:
        """Open time of the bar containing `ts_ms` (for sessions: that day's 00:00)."""
        return ts_ms - ts_ms % self.bar_ms

    def is_trading(self, ts_ms: np.ndarray | int) -> np.ndarray | bool:
        """True for open times at which a bar is expected."""
        if not self.sessions:
            return np.ones_like(ts_ms, dtype=bool) if isinstance(ts_ms, np.ndarray) else True
        weekday = (np.asarray(ts_ms) // DAY_MS + _EPOCH_WEEKDAY_OFFSET) % 7
        out = weekday < 5
        return out if isinstance(ts_ms, np.ndarray) else bool(out)

    def completes_at(self, ts_ms: int) -> int:
        """When the bar opened at `ts_ms` becomes final."""
        return ts_ms + (self.session_close_ms if self.sessions else self.bar_ms)

    def last_completed(self, as_of_ms: int) -> int:
        """Open time of the last bar that is complete at `as_of_ms`."""
        ts = self.floor(as_of_ms)
        while True:
            if self.is_trading(ts) and self.completes_at(ts) <= as_of_ms:
                return ts
            ts -= self.bar_ms

    def expected(self, start_ms: int, end_ms: int) -> np.ndarray:
        """Open times of every expected bar in [start_ms, end_ms] (both floored to bars), int64."""
        start = self.floor(start_ms)
        if start < start_ms:
            start += self.bar_ms
        end = self.floor(end_ms)
        if end < start:
            return np.empty(0, dtype=np.int64)
        grid = np.arange(start, end + 1, self.bar_ms, dtype=np.int64)
        return grid[self.is_trading(grid)] if self.sessions else grid

    def step(self, ts_ms: int, n: int = 1) -> int:
        """The open time `n` expected bars after (n > 0) or before (n < 0) `ts_ms`."""
        ts, moved, direction = ts_ms, 0, 1 if n > 0 else -1
        while moved < abs(n):
            ts += direction * self.bar_ms
            if self.is_trading(ts):
                moved += 1
        return ts


def calendar_for(asset_class: str, timeframe: str) -> Calendar:
    """The calendar of an asset class: crypto trades 24/7, equities on weekday sessions."""
    bar = timeframe_ms(timeframe)
    if asset_class == C.CRYPTO:
        return Calendar(bar)
    if asset_class == C.EQUITY:
        return Calendar(bar, sessions=True)
    msg = f"asset class {asset_class!r} has no calendar; use one of {C.ASSET_CLASSES}"
    raise ConfigError(msg)

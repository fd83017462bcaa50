"""Trading calendars: which bars should exist and which are completed at a given `as_of`.

Freshness is defined here and only here: by the last *completed* bar against `as_of` and the symbol's calendar,
never by file modification times. Timestamps are bar open times in epoch milliseconds (UTC).

Three kinds: crypto trades 24/7; equities follow a real exchange calendar from `exchange_calendars` (default
XNYS: one daily bar per session, stamped 00:00 UTC of the session date and completed at that session's close,
early closes and DST included; holidays are not expected bars); `weekdays` is a session on every weekday closing at
21:00 UTC (the synthetic venue's world). Every calendar numbers its expected bars (`rank`/`at`), so `expected`,
`is_trading` and `step` are vectorised or O(log n).
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
import warnings

import numpy as np

from dataflows import columns as C
from dataflows.errors import ConfigError

SECOND_MS = 1000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

TIMEFRAME_MS = {"1h": HOUR_MS, "4h": 4 * HOUR_MS, "1d": DAY_MS}

ALWAYS = "24/7"
WEEKDAYS = "weekdays"
DEFAULT_EQUITY_CALENDAR = "XNYS"

# 1970-01-01 was a Thursday: weekday(ts) = (days + 3) % 7 with Monday = 0.
_EPOCH_WEEKDAY_OFFSET = 3
_FIRST_YEAR = 1970  # exchange calendars are loaded from here (or their earliest date) ...
_YEARS_AHEAD = 5  # ... to the end of this many years after the current one


def timeframe_ms(timeframe: str) -> int:
    """Bar length of `timeframe` in milliseconds."""
    try:
        return TIMEFRAME_MS[timeframe]
    except KeyError:
        msg = f"timeframe {timeframe!r} is not supported; use one of {sorted(TIMEFRAME_MS)}"
        raise ConfigError(msg) from None


def _out(values: np.ndarray, scalar: bool) -> np.ndarray | int | bool:
    return values.item() if scalar else values


class Calendar:
    """Bars of one timeframe around the clock (24/7). Subclasses are daily session calendars.

    `rank(ts)` is the number of expected bars strictly before `ts` (from an arbitrary origin) and `at(k)` the open
    time of the bar of rank k; every other question is answered from these two.
    """

    sessions = False

    def __init__(self, bar_ms: int, name: str = ALWAYS) -> None:
        self.bar_ms, self.name = bar_ms, name

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, bar_ms={self.bar_ms})"

    def rank(self, ts_ms: np.ndarray | int) -> np.ndarray | int:
        ts = np.asarray(ts_ms, dtype=np.int64)
        return _out(-(-ts // self.bar_ms), ts.ndim == 0)

    def at(self, rank: np.ndarray | int) -> np.ndarray | int:
        k = np.asarray(rank, dtype=np.int64)
        return _out(k * self.bar_ms, k.ndim == 0)

    def floor(self, ts_ms: int) -> int:
        """Open time of the bar containing `ts_ms` (for sessions: that day's 00:00 UTC)."""
        return ts_ms - ts_ms % self.bar_ms

    def is_trading(self, ts_ms: np.ndarray | int) -> np.ndarray | bool:
        """True for open times at which a bar is expected."""
        ts = np.asarray(ts_ms, dtype=np.int64)
        out = np.asarray(self.at(self.rank(ts))) == ts
        return out if ts.ndim else bool(out)

    def completes_at(self, ts_ms: np.ndarray | int) -> np.ndarray | int:
        """When the bar opened at `ts_ms` becomes final (vectorised)."""
        ts = np.asarray(ts_ms, dtype=np.int64)
        return _out(ts + self.bar_ms, ts.ndim == 0)

    def last_completed(self, as_of_ms: int) -> int:
        """Open time of the last bar that is complete at `as_of_ms`."""
        return self.floor(as_of_ms - self.bar_ms)

    def expected(self, start_ms: int, end_ms: int) -> np.ndarray:
        """Open times of every expected bar in [start_ms, end_ms], int64."""
        if end_ms < start_ms:
            return np.empty(0, dtype=np.int64)
        lo, hi = self.rank(start_ms), self.rank(end_ms + 1)
        return np.asarray(self.at(np.arange(lo, hi, dtype=np.int64)), dtype=np.int64)

    def step(self, ts_ms: int, n: int = 1) -> int:
        """The open time `n` expected bars after (n > 0) or before (n < 0) `ts_ms`."""
        if n > 0:
            return int(self.at(self.rank(ts_ms + 1) + n - 1))
        if n < 0:
            return int(self.at(self.rank(ts_ms) + n))
        return ts_ms


class WeekdayCalendar(Calendar):
    """A daily session on every weekday (no holidays), completed at 21:00 UTC."""

    sessions = True

    def __init__(self, name: str = WEEKDAYS, close_ms: int = 21 * HOUR_MS) -> None:
        super().__init__(DAY_MS, name)
        self.close_ms = close_ms

    def rank(self, ts_ms: np.ndarray | int) -> np.ndarray | int:
        ts = np.asarray(ts_ms, dtype=np.int64)
        shifted = -(-ts // DAY_MS) + _EPOCH_WEEKDAY_OFFSET  # first day at or after ts, Monday-aligned
        out = shifted // 7 * 5 + np.minimum(shifted % 7, 5)
        return _out(out, ts.ndim == 0)

    def at(self, rank: np.ndarray | int) -> np.ndarray | int:
        k = np.asarray(rank, dtype=np.int64)
        return _out((k // 5 * 7 + k % 5 - _EPOCH_WEEKDAY_OFFSET) * DAY_MS, k.ndim == 0)

    def completes_at(self, ts_ms: np.ndarray | int) -> np.ndarray | int:
        ts = np.asarray(ts_ms, dtype=np.int64)
        return _out(ts + self.close_ms, ts.ndim == 0)

    def last_completed(self, as_of_ms: int) -> int:
        return self.step(as_of_ms - self.close_ms + 1, -1)


class ExchangeCalendar(WeekdayCalendar):
    """Sessions of a real exchange (from `exchange_calendars`): bar open times (session date, 00:00 UTC) and close
    times as sorted int64 arrays; lookups bisect them."""

    def __init__(self, name: str, days: np.ndarray, closes: np.ndarray) -> None:
        super().__init__(name)
        self.days, self.closes = days, closes

    def _covers(self, first: int, last: int) -> None:
        if first < self.days[0] or last > self.days[-1]:
            msg = (
                f"exchange calendar {self.name} is loaded for {_date(self.days[0])}..{_date(self.days[-1])}; "
                f"{_date(first)}..{_date(last)} is outside it"
            )
            raise ConfigError(msg)

    def rank(self, ts_ms: np.ndarray | int) -> np.ndarray | int:
        ts = np.asarray(ts_ms, dtype=np.int64)
        return _out(np.searchsorted(self.days, ts, side="left").astype(np.int64), ts.ndim == 0)

    def at(self, rank: np.ndarray | int) -> np.ndarray | int:
        k = np.asarray(rank, dtype=np.int64)
        if k.size and (k.min() < 0 or k.max() >= self.days.size):
            msg = f"exchange calendar {self.name} is loaded for {_date(self.days[0])}..{_date(self.days[-1])} only"
            raise ConfigError(msg)
        return _out(self.days[k], k.ndim == 0)

    def is_trading(self, ts_ms: np.ndarray | int) -> np.ndarray | bool:
        ts = np.asarray(ts_ms, dtype=np.int64)
        k = np.minimum(np.searchsorted(self.days, ts, side="left"), self.days.size - 1)
        out = self.days[k] == ts
        return out if ts.ndim else bool(out)

    def completes_at(self, ts_ms: np.ndarray | int) -> np.ndarray | int:
        """The session's close; a non-session never completes before the next day."""
        ts = np.asarray(ts_ms, dtype=np.int64)
        k = np.minimum(np.searchsorted(self.days, ts, side="left"), self.days.size - 1)
        out = np.where(self.days[k] == ts, self.closes[k], ts + DAY_MS)
        return _out(out, ts.ndim == 0)

    def last_completed(self, as_of_ms: int) -> int:
        k = int(np.searchsorted(self.closes, as_of_ms, side="right")) - 1
        if k < 0 or as_of_ms >= self.days[-1] + DAY_MS:
            self._covers(as_of_ms, as_of_ms)
        return int(self.days[k])

    def expected(self, start_ms: int, end_ms: int) -> np.ndarray:
        if end_ms < start_ms:
            return np.empty(0, dtype=np.int64)
        self._covers(self.floor(start_ms), self.floor(end_ms))
        lo, hi = np.searchsorted(self.days, [start_ms, end_ms], side="left")
        hi += int(hi < self.days.size and self.days[hi] == end_ms)
        return self.days[lo:hi]


def _date(ts_ms: int) -> str:
    return dt.datetime.fromtimestamp(int(ts_ms) / 1000, dt.UTC).date().isoformat()


_lock = threading.Lock()


@functools.cache
def _exchange_calendar(name: str) -> ExchangeCalendar:
    """Load one exchange calendar once: sessions from 1970 (or its earliest date) to five years ahead."""
    with _lock, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas deprecation warnings raised inside exchange_calendars
        import exchange_calendars as xc

        try:
            factory = type(xc.get_calendar(name))
        except xc.errors.InvalidCalendarName:
            msg = (
                f"unknown exchange calendar {name!r} (venue.calendar): use an exchange_calendars name such as "
                f"XNYS, XNAS, XLON, XTKS, or {WEEKDAYS!r}"
            )
            raise ConfigError(msg) from None
        import pandas as pd

        start = pd.Timestamp(f"{_FIRST_YEAR}-01-01")
        end = pd.Timestamp(f"{dt.datetime.now(dt.UTC).year + _YEARS_AHEAD}-12-31")
        if (bound := factory.bound_min()) is not None:
            start = max(start, pd.Timestamp(bound))
        if (bound := factory.bound_max()) is not None:
            end = min(end, pd.Timestamp(bound))
        schedule = xc.get_calendar(name, start=start, end=end).schedule
        days = schedule.index.to_numpy().astype("datetime64[ms]").astype(np.int64)
        closes = schedule["close"].dt.tz_convert(None).to_numpy().astype("datetime64[ms]").astype(np.int64)
    days.setflags(write=False)
    closes.setflags(write=False)
    return ExchangeCalendar(name, days, closes)


@functools.cache
def _calendar(asset_class: str, bar_ms: int, name: str | None) -> Calendar:
    if asset_class == C.CRYPTO:
        return Calendar(bar_ms)
    if asset_class != C.EQUITY:
        msg = f"asset class {asset_class!r} has no calendar; use one of {C.ASSET_CLASSES}"
        raise ConfigError(msg)
    if bar_ms != DAY_MS:
        msg = "equity session calendars support the 1d timeframe only"
        raise ConfigError(msg)
    name = name or DEFAULT_EQUITY_CALENDAR
    return WeekdayCalendar() if name == WEEKDAYS else _exchange_calendar(name)


def calendar_for(asset_class: str, timeframe: str, name: str | None = None) -> Calendar:
    """The calendar of an asset class: crypto trades 24/7 (`name` ignored); equities follow the exchange calendar
    `name` (an `exchange_calendars` name, or `weekdays`; None = XNYS). Built once per name and cached."""
    return _calendar(asset_class, timeframe_ms(timeframe), name)

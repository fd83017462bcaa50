"""The synthetic venue itself: the `Venue` protocol over the generated world, with venue misbehaviour.

`ohlcv` pages (`page_limit`), serves the forming bar with partial values and omits GAPPY's planted gap from the
first response that would contain it; every protocol call can be refused by `rate_limit_per_sec` or fail with an
injected rate-limit or network error (`error_rate`).
"""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import threading
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from dataflows import columns as C
from dataflows.errors import ConfigError, RateLimited, TransientVenueError, VenueError
from dataflows.lakehouse.calendar import DAY_MS, WEEKDAYS, Calendar, calendar_for
from dataflows.venues.base import market_schema
from dataflows.venues.synthetic.defects import GAP_FROM, GAP_TO, GAPPY
from dataflows.venues.synthetic.paths import _generate, _Series
from dataflows.venues.synthetic.snapshots import ratings_frame, tickers_frame
from dataflows.venues.synthetic.streams import _day
from dataflows.venues.synthetic.universe import GENESIS, TIMEFRAMES, _build_specs, _Spec

if TYPE_CHECKING:
    from collections.abc import Callable

_clock: Callable[[], float] = time.monotonic
"""The clock of `rate_limit_per_sec`'s one-second window (tests replace it)."""


def venue_name(seed: int, genesis: str = GENESIS) -> str:
    """The lakehouse namespace of a synthetic world: `synthetic` for seed 0, `synthetic-seed<N>` otherwise (and
    `-genesis<date>` for another genesis), so two worlds never share stored bars."""
    name = "synthetic" if seed == 0 else f"synthetic-seed{seed}"
    return name if genesis == GENESIS else f"{name}-genesis{genesis}"


def _frame(ts: np.ndarray, bars: np.ndarray) -> pl.DataFrame:
    """An OHLCV frame in `columns.ohlcv_schema()` from open times (ms) and a (5, n) value array."""
    data: dict[str, Any] = {C.TS: pl.Series(C.TS, ts, dtype=pl.Int64).cast(pl.Datetime("ms", "UTC"))}
    for name, values in zip(C.OHLCV[1:], bars, strict=True):
        data[name] = pl.Series(name, values, dtype=pl.Float64)
    return pl.DataFrame(data, schema=C.ohlcv_schema())


class SyntheticVenue:
    """A deterministic exchange with crypto and equity symbols, planted defects and venue misbehaviour.

    `as_of_ms` is the venue's "now": symbols listed later do not exist yet, bars after it never appear and the
    bar containing it is served with partial values. The panel is generated on first use and cached.
    Instrumentation (thread-safe): `calls` counts protocol calls per method, `ohlcv_requests` records
    (symbol, since_ms, limit, rows returned) per served page, `injected` counts injected errors by class name,
    `throttled` counts calls refused by `rate_limit_per_sec`. Injected errors are a pure function of
    (seed, call number); with a thread pool the call order, hence which request fails, may differ per run.
    Pickling re-creates the venue from `kwargs` (fresh counters and a fresh transient gap).
    """

    equity_calendar = WEEKDAYS  # its own world: equities trade every weekday, no exchange holidays

    def __init__(
        self,
        *,
        seed: int = 0,
        as_of_ms: int,
        n_crypto: int = 150,
        n_equity: int = 60,
        page_limit: int = 1000,
        rate_limit_per_sec: float | None = None,
        error_rate: float = 0.0,
        defects: bool = True,
        genesis: str = GENESIS,
    ) -> None:
        self.kwargs: dict[str, Any] = dict(
            seed=seed,
            as_of_ms=as_of_ms,
            n_crypto=n_crypto,
            n_equity=n_equity,
            page_limit=page_limit,
            rate_limit_per_sec=rate_limit_per_sec,
            error_rate=error_rate,
            defects=defects,
            genesis=genesis,
        )
        if not isinstance(seed, int) or seed < 0:
            msg = f"seed={seed!r} must be a non-negative integer"
            raise ConfigError(msg)
        try:
            self._genesis = _day(genesis)
        except (TypeError, ValueError):
            msg = f"genesis={genesis!r} is not an ISO date (YYYY-MM-DD)"
            raise ConfigError(msg) from None
        if as_of_ms < self._genesis * DAY_MS:
            msg = f"as_of_ms={as_of_ms} is before genesis {genesis}"
            raise ConfigError(msg)
        if page_limit < 1:
            msg = f"page_limit={page_limit} must be >= 1"
            raise ConfigError(msg)
        if rate_limit_per_sec is not None and rate_limit_per_sec <= 0:
            msg = f"rate_limit_per_sec={rate_limit_per_sec} must be positive or None"
            raise ConfigError(msg)
        if not 0.0 <= error_rate < 1.0:
            msg = f"error_rate={error_rate} must be in [0, 1)"
            raise ConfigError(msg)
        self.seed, self.as_of_ms, self.defects = seed, int(as_of_ms), defects
        self.name: str = venue_name(seed, genesis)
        self.page_limit, self.rate_limit_per_sec, self.error_rate = page_limit, rate_limit_per_sec, error_rate
        as_of_day = self.as_of_ms // DAY_MS
        universe = _build_specs(seed, self._genesis, n_crypto, n_equity, defects)
        self._all_specs = universe  # generation needs link targets even if not listed yet
        self._specs = {s.symbol: s for s in universe if s.listed <= as_of_day}
        self.symbols: tuple[str, ...] = tuple(self._specs)
        self.clusters: dict[str, str] = {s.symbol: s.cluster for s in self._specs.values()}
        self.calls: collections.Counter[str] = collections.Counter()
        self.injected: collections.Counter[str] = collections.Counter()  # by error class name
        self.throttled = 0  # calls refused by rate_limit_per_sec
        self.ohlcv_requests: list[tuple[str, int, int, int]] = []
        self._lock = threading.Lock()
        self._panel_lock = threading.Lock()
        self._panel: dict[str, _Series] | None = None
        self._n_calls = 0
        self._stamps: collections.deque[float] = collections.deque()
        self._gap_served = False

    def __reduce__(self) -> tuple:
        """Pickles as its constructor arguments (a fresh connection to the same market)."""
        return _rebuild, (self.kwargs,)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        return f"SyntheticVenue({args})"

    # ----------------------------------------------------------------------------------------------- protocol

    def markets(self) -> pl.DataFrame:
        """One row per symbol listed at as_of (delisted ones with active=False)."""
        self._enter("markets", "")
        rows = [
            {
                C.SYMBOL: s.symbol,
                C.BASE: s.base,
                C.QUOTE: s.quote,
                "type": s.kind,
                C.ASSET_CLASS: s.asset_class,
                C.TICK_SIZE: 10.0**-s.decimals,
                C.LOT_SIZE: s.lot,
                C.MIN_NOTIONAL: s.min_notional,
                C.LISTED_AT: dt.datetime.fromtimestamp(s.listed * 86400, tz=dt.UTC),
                C.ACTIVE: self._active(s),
            }
            for s in self._specs.values()
        ]
        return pl.DataFrame(rows, schema=market_schema())

    def tickers(self) -> pl.DataFrame:
        """Last price (the forming bar's close so far), last completed bar's quote volume, and the 24-hour change:
        last price against the close of the last bar completed at least 24 hours before as_of (a rolling 24 h
        change, as exchanges report it; at midnight that is the last completed bar against the one before)."""
        self._enter("tickers", "")
        panel = self._series()
        return tickers_frame(self._specs.values(), panel, self.as_of_ms, self._active)

    def ohlcv(self, symbol: str, timeframe: str, since_ms: int, limit: int) -> pl.DataFrame:
        """At most min(limit, page_limit) bars with open time >= since_ms, oldest first, forming bar last."""
        self._enter("ohlcv", symbol)
        spec = self._spec(symbol)
        self._check_timeframe(timeframe, spec)
        if limit < 1:
            msg = f"ohlcv limit={limit} for {symbol!r} must be >= 1"
            raise VenueError(msg)
        series = self._series()[symbol]
        start = int(np.searchsorted(series.ts, since_ms, side="left"))
        stop = min(start + min(limit, self.page_limit), series.ts.size)
        ts, bars = series.ts[start:stop], series.ohlcv[:, start:stop].copy()
        if series.forming is not None and stop == series.ts.size and stop > start:
            bars[:, -1] = series.forming
        if symbol == GAPPY and self.defects and ts.size:
            hole = (ts >= _day(GAP_FROM) * DAY_MS) & (ts <= _day(GAP_TO) * DAY_MS)
            with self._lock:
                omit = hole.any() and not self._gap_served
                self._gap_served = self._gap_served or omit
            if omit:
                ts, bars = ts[~hole], bars[:, ~hole]
        with self._lock:
            self.ohlcv_requests.append((symbol, int(since_ms), int(limit), int(ts.size)))
        return _frame(ts, bars)

    # ------------------------------------------------------------------------------------------- test helpers

    def truth(self, symbol: str) -> pl.DataFrame:
        """Every completed bar the venue holds for `symbol` at as_of (defects included, transient gap not)."""
        self._spec(symbol)
        series = self._series()[symbol]
        done = series.ts.size - (series.forming is not None)
        return _frame(series.ts[:done], series.ohlcv[:, :done])

    def ratings_snapshot(self, symbols: list[str] | None = None) -> pl.DataFrame:
        """The screener's view: each symbol's technical ratings on its last completed bar, computed over the
        venue's whole history (like TradingView's Recommend.MA/Other/All columns). Columns: symbol, ts,
        recommend_ma, recommend_other, recommend_all."""
        with self._lock:
            self.calls["ratings_snapshot"] += 1
        return ratings_frame(self.truth, symbols if symbols is not None else self.symbols)

    def asset_class(self, symbol: str) -> str:
        """`crypto` or `equity`."""
        return self._spec(symbol).asset_class

    def calendar(self, symbol: str, timeframe: str = "1d") -> Calendar:
        """The trading calendar of `symbol`."""
        return calendar_for(self.asset_class(symbol), timeframe, self.equity_calendar)

    # ------------------------------------------------------------------------------------------------ private

    def _spec(self, symbol: str) -> _Spec:
        try:
            return self._specs[symbol]
        except KeyError:
            msg = f"synthetic venue has no symbol {symbol!r} listed at as_of_ms={self.as_of_ms}"
            raise VenueError(msg) from None

    def _check_timeframe(self, timeframe: str, spec: _Spec) -> None:
        if timeframe not in TIMEFRAMES:
            msg = f"synthetic venue serves timeframes {TIMEFRAMES}, not {timeframe!r} (for {spec.symbol!r})"
            raise ConfigError(msg)

    def _active(self, s: _Spec) -> bool:
        return s.last is None or (s.last + 1) * DAY_MS > self.as_of_ms

    def _series(self) -> dict[str, _Series]:
        """The generated panel, built once per instance."""
        if self._panel is None:
            with self._panel_lock:
                if self._panel is None:
                    self._panel = _generate(self._all_specs, self.seed, self._genesis, self.as_of_ms, self.defects)
        return self._panel

    def _enter(self, method: str, symbol: str) -> None:
        """Count the call, then apply the rate limit and the injected errors."""
        with self._lock:
            self.calls[method] += 1
            self._n_calls += 1
            n = self._n_calls
            if self.rate_limit_per_sec is not None and not self._admit():
                self.throttled += 1
                limit = self.rate_limit_per_sec
                msg = f"synthetic venue: {method}({symbol!r}) exceeds {limit:g} requests per second"
                raise RateLimited(msg)
            error = self._injected_error(n)
            if error is not None:
                self.injected[error.__name__] += 1
        if error is RateLimited:
            msg = f"synthetic venue: injected HTTP 429 on call {n}, {method}({symbol!r})"
            raise RateLimited(msg)
        if error is TransientVenueError:
            msg = f"synthetic venue: injected network error on call {n}, {method}({symbol!r})"
            raise TransientVenueError(msg)

    def _admit(self) -> bool:
        """Rolling one-second window of accepted calls (caller holds the lock)."""
        now = _clock()
        while self._stamps and now - self._stamps[0] >= 1.0:
            self._stamps.popleft()
        if len(self._stamps) >= self.rate_limit_per_sec:
            return False
        self._stamps.append(now)
        return True

    def _injected_error(self, n: int) -> type[VenueError] | None:
        """The error injected on call number `n`, a pure function of (seed, n)."""
        if self.error_rate <= 0.0:
            return None
        draw = int.from_bytes(hashlib.blake2b(f"{self.seed}:{n}".encode(), digest_size=8).digest(), "little")
        if (draw >> 11) / 2.0**53 >= self.error_rate:
            return None
        return RateLimited if draw & 1 else TransientVenueError


def _rebuild(kwargs: dict[str, Any]) -> SyntheticVenue:
    return SyntheticVenue(**kwargs)

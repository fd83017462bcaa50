"""The venue protocol every data source implements, and the frame shapes it returns.

A venue answers three questions:

- `markets()`: one row per tradable symbol — symbol, base, quote, type, asset_class, tick_size, lot_size,
  min_notional, listed_at (UTC datetime or null), active. Unknown values are null, never a made-up default.
- `tickers()`: one row per symbol — symbol, last, quote_volume (24h, in quote currency), change (24h fraction).
- `ohlcv(symbol, timeframe, since_ms, limit)`: one page of bars with open time >= `since_ms`, oldest first, at most
  `limit` rows, in the schema of `columns.ohlcv_schema()`. The last row may be the forming (incomplete) bar; callers
  drop it with the symbol's calendar. An empty frame means the venue has nothing at or after `since_ms`.

Failures raise `RateLimited`, `TransientVenueError` (both retried by the ingester) or `BadPayload`/`VenueError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from dataflows import columns as C

if TYPE_CHECKING:  # annotations only; this module is not a Hamilton node module
    import polars as pl

MARKET_COLUMNS = (
    C.SYMBOL,
    C.BASE,
    C.QUOTE,
    "type",
    C.ASSET_CLASS,
    C.TICK_SIZE,
    C.LOT_SIZE,
    C.MIN_NOTIONAL,
    C.LISTED_AT,
    C.ACTIVE,
)
TICKER_COLUMNS = (C.SYMBOL, C.LAST, C.QUOTE_VOLUME, C.CHANGE)


def market_schema() -> dict:
    """Polars schema of `Venue.markets()`."""
    import polars as pl

    return {
        C.SYMBOL: pl.String,
        C.BASE: pl.String,
        C.QUOTE: pl.String,
        "type": pl.String,
        C.ASSET_CLASS: pl.String,
        C.TICK_SIZE: pl.Float64,
        C.LOT_SIZE: pl.Float64,
        C.MIN_NOTIONAL: pl.Float64,
        C.LISTED_AT: pl.Datetime("ms", "UTC"),
        C.ACTIVE: pl.Boolean,
    }


def ticker_schema() -> dict:
    """Polars schema of `Venue.tickers()`."""
    import polars as pl

    return {C.SYMBOL: pl.String, C.LAST: pl.Float64, C.QUOTE_VOLUME: pl.Float64, C.CHANGE: pl.Float64}


@runtime_checkable
class Venue(Protocol):
    """What the data phase needs from a market-data source."""

    name: str
    """Stable identifier used in lakehouse paths (`synthetic`, `binance`, `files-<folder>`)."""

    page_limit: int
    """Largest `limit` one `ohlcv` call honours."""

    rate_limit_per_sec: float | None
    """Requests per second the ingester may send; None when the venue throttles itself (ccxt)."""

    def markets(self) -> pl.DataFrame: ...

    def tickers(self) -> pl.DataFrame: ...

    def ohlcv(self, symbol: str, timeframe: str, since_ms: int, limit: int) -> pl.DataFrame: ...


THROTTLE_HEADROOM = 0.8
_THROTTLES: dict[int, tuple[object, object]] = {}
_THROTTLES_LOCK = __import__("threading").Lock()


def throttle(venue: Venue) -> None:
    """Block until one more call to `venue` fits under its `rate_limit_per_sec` (shared by every caller of this
    venue object in this process; a moving one-second window from the `limits` library). No-op without a limit.

    We aim at `THROTTLE_HEADROOM` of the stated rate: a call granted here reaches the venue a little later, and a
    venue counting arrivals in its own window would otherwise see bursts just over its limit."""
    per_sec = getattr(venue, "rate_limit_per_sec", None)
    if not per_sec:
        return
    import time

    from limits import RateLimitItemPerSecond, storage, strategies

    with _THROTTLES_LOCK:
        entry = _THROTTLES.get(id(venue))
        if entry is None or entry[0] is not venue:
            limiter = strategies.MovingWindowRateLimiter(storage.MemoryStorage())
            entry = _THROTTLES[id(venue)] = (
                venue,
                (limiter, RateLimitItemPerSecond(max(1, int(per_sec * THROTTLE_HEADROOM)))),
            )
    limiter, item = entry[1]  # type: ignore[misc]
    while not limiter.hit(item, "calls"):
        reset = limiter.get_window_stats(item, "calls").reset_time
        time.sleep(min(max(reset - time.time(), 0.005), 1.0))


def tickers_from_bars(bars: dict[str, pl.DataFrame], as_of_ms: int, bar_ms: int) -> pl.DataFrame:
    """Point-in-time tickers from stored or served bars: only bars *completed* by `as_of_ms` count.

    last = close of the last completed bar; quote_volume = sum of close x volume over the completed bars opened in
    the 24 hours up to it (one bar on a daily timeframe); change = last / close of the latest completed bar opened at
    least 24 hours before it - 1 (null when there is none). Symbols without a completed bar get no row.
    """
    import polars as pl

    day = 86_400_000
    rows = []
    for symbol, frame in bars.items():
        ts = frame[C.TS].dt.epoch("ms")
        done = frame.filter(ts + bar_ms <= as_of_ms)
        if done.height == 0:
            continue
        ts = done[C.TS].dt.epoch("ms")
        last_ts, last_close = int(ts[-1]), float(done[C.CLOSE][-1])
        recent = done.filter(ts > last_ts - day)
        before = done.filter(ts <= last_ts - day)
        rows.append(
            {
                C.SYMBOL: symbol,
                C.LAST: last_close,
                C.QUOTE_VOLUME: float((recent[C.CLOSE] * recent[C.VOLUME]).sum()),
                C.CHANGE: last_close / float(before[C.CLOSE][-1]) - 1 if before.height else None,
            }
        )
    return pl.DataFrame(rows, schema=ticker_schema(), orient="row")


def page_ohlcv(venue: Venue, symbol: str, timeframe: str, start_ms: int, end_ms: int) -> list[pl.DataFrame]:
    """The pages of `venue.ohlcv` from `start_ms` until an empty page, a page that does not advance, or `end_ms`;
    every request waits for the venue's rate limit (`throttle`)."""
    pages, since = [], start_ms
    while since <= end_ms:
        throttle(venue)
        page = venue.ohlcv(symbol, timeframe, since, venue.page_limit)
        if page.height == 0:
            break
        pages.append(page)
        last = int(page[C.TS].dt.epoch("ms").max())
        if last < since:
            break
        since = last + 1
    return pages


def fetch_range(venue: Venue, symbol: str, timeframe: str, start_ms: int, end_ms: int) -> pl.DataFrame:
    """All bars with open time in [start_ms, end_ms], paging with `venue.ohlcv`.

    A venue with its own range fetch (the ccxt venue's paging loop) exposes `ohlcv_range` with the same signature and is
    used as is. Every page request waits for the venue's rate limit (`throttle`). Paging stops at an empty page, a page that does not advance, or the end of the range.
    Rows are deduplicated by timestamp (last wins) and sorted.
    """
    import polars as pl

    from dataflows.errors import BadPayload

    try:
        own = getattr(venue, "ohlcv_range", None)
        if own is not None:
            frame = own(symbol, timeframe, start_ms, end_ms)
        else:
            pages = page_ohlcv(venue, symbol, timeframe, start_ms, end_ms)
            frame = pl.concat(pages) if pages else pl.DataFrame(schema=C.ohlcv_schema())
        ts = pl.col(C.TS).dt.epoch("ms")
        return frame.filter((ts >= start_ms) & (ts <= end_ms)).unique(C.TS, keep="last", maintain_order=True).sort(C.TS)
    except (pl.exceptions.PolarsError, AttributeError, TypeError) as exc:  # a page that is not a frame of bars
        first = str(exc).splitlines()[0][:200] if str(exc) else ""
        msg = f"{venue.name} ohlcv({symbol!r}, {timeframe!r}) returned a malformed page ({exc.__class__.__name__}: {first})"
        raise BadPayload(msg) from exc

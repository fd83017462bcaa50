"""`CcxtVenue.ohlcv_range`'s paging: one loop for every exchange, whatever order its pages come in.

With `until` support: windows of `limit` bars, each asked with its own `until`; a window whose first or last bars
did not come back is re-asked for that part only (each re-ask strictly smaller). Without: cursor paging from the
last bar seen, ending on a page that does not advance. A request budget turns a loop that does not converge into
`VenueError`. Some OHLC endpoints serve only their latest N bars (`HISTORY_LIMIT_BARS`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from dataflows.errors import VenueError

if TYPE_CHECKING:
    from collections.abc import Callable

HISTORY_LIMIT_BARS: dict[str, int] = {"kraken": 720}
"""OHLC endpoints that serve only their latest N bars of any timeframe, whatever `since` asks (Kraken's
`/0/public/OHLC`: "returns up to 720 of the most recent entries"; the last one is the forming bar)."""


def range_rows(
    page: Callable[[int, int, int | None], list[tuple]],
    *,
    exchange_name: str,
    symbol: str,
    start_ms: int,
    end_ms: int,
    bar_ms: int,
    limit: int,
    until: bool,
) -> list[tuple]:
    """Every kline with open time in [start_ms, end_ms], oldest first, from `page(since, limit, until_ms)` (one
    validated `fetch_ohlcv` page); `until` says whether the exchange reads a per-page `until`."""
    bars = math.ceil((end_ms - start_ms + 1) / bar_ms)
    budget = bars + 2 * math.ceil(bars / limit) + 8  # a safety net: every request narrows a window or ends it
    got: dict[int, tuple] = {}
    if until:
        windows = [
            (a, min(end_ms, a + (limit - 1) * bar_ms)) for a in range(int(start_ms), int(end_ms) + 1, limit * bar_ms)
        ]
        windows.reverse()  # a stack: oldest window first
        while windows:
            a, b = windows.pop()
            budget = _spend(budget, exchange_name, symbol)
            # `until` = the close time of the window's last bar: inclusive ends (binance, bybit) and exclusive
            # ones (OKX `after`, coinbase `end` in seconds) both cover that bar and no later one
            rows = [r for r in page(a, limit, b + bar_ms - 1) if a <= r[0] <= b]
            if not rows:
                continue
            got.update((r[0], r) for r in rows)
            first, last = rows[0][0], rows[-1][0]
            if last + bar_ms <= b:
                windows.append((last + bar_ms, b))  # oldest-first page shorter than the window
            if first - bar_ms >= a:
                windows.append((a, first - bar_ms))  # newest-first page shorter than the window
    else:
        since = int(start_ms)
        while since <= end_ms:
            budget = _spend(budget, exchange_name, symbol)
            rows = page(since, limit, None)
            if not rows or rows[-1][0] < since:
                break  # nothing more, or the exchange went backwards
            got.update((r[0], r) for r in rows if since <= r[0] <= end_ms)
            since = rows[-1][0] + 1
    return [got[t] for t in sorted(got)]


def _spend(budget: int, exchange_name: str, symbol: str) -> int:
    if budget <= 0:
        msg = f"{exchange_name} ohlcv range for {symbol!r} did not converge within its request budget; not stored"
        raise VenueError(msg)
    return budget - 1

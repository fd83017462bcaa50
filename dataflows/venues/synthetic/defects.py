"""The defects the synthetic venue plants (active when `defects=True`), each at a fixed date.

Dates are fixed so every as_of in 2026 sees the same defects. `DEFECTS` describes each one; `_plant` writes the
price and volume defects into the generated bars. The transient gap (GAPPY) is served by the venue's `ohlcv`, the
metadata defects (PURGED, NOLOT) by the universe's specs.
"""

from __future__ import annotations

import numpy as np

from dataflows.venues.synthetic.streams import _day

PUMP = "PUMP/USDT"
PUMP_DATE = "2026-03-10"
FLAT = "FLAT/USDT"
FLAT_FROM = "2026-01-01"
GAPPY = "GAPPY/USDT"
GAP_FROM = "2026-02-01"
GAP_TO = "2026-02-05"
SPIKE = "SPIKE/USDT"
SPIKE_DATE = "2026-04-15"
SPIKE_FACTOR = 1000.0
PURGED = "PURGED/USDT"
PURGED_FROM = "2025-06-01"
NOLOT = "NOLOT/USDT"

DEFECTS: dict[str, str] = {
    PUMP: f"one daily close x10 (+900%) on {PUMP_DATE}; the next bar opens there and closes back on trend",
    FLAT: f"stale price feed from {FLAT_FROM}: open = high = low = close, constant; volume still reported",
    GAPPY: (
        f"the first ohlcv response of a venue instance that would contain bars {GAP_FROM}..{GAP_TO} "
        "omits them; later responses return them"
    ),
    SPIKE: f"volume x{SPIKE_FACTOR:g} on {SPIKE_DATE}; price normal",
    PURGED: f"markets() says listed_at = genesis, but bars exist only from {PURGED_FROM}; low volume",
    NOLOT: "markets() has lot_size null (missing metadata stays missing)",
}


def _plant(index: dict[str, int], days: np.ndarray, o, h, lo, c, vol) -> None:
    """Write the price and volume defects into the final bars (in place)."""

    def col(iso: str) -> int | None:
        day = _day(iso)
        return int(day - days[0]) if days[0] <= day <= days[-1] else None

    if PUMP in index and (t := col(PUMP_DATE)) is not None:
        i = index[PUMP]
        c[i, t] *= 10.0
        h[i, t] = max(h[i, t], c[i, t])
        if t + 1 < days.size:
            o[i, t + 1] = c[i, t]
            h[i, t + 1] = max(h[i, t + 1], o[i, t + 1])
    if FLAT in index and (t := col(FLAT_FROM)) is not None:
        i = index[FLAT]
        level = c[i, max(t - 1, 0)]
        quote_volume = vol[i, t:] * (h[i, t:] + lo[i, t:] + c[i, t:]) / 3.0
        o[i, t:] = h[i, t:] = lo[i, t:] = c[i, t:] = level
        vol[i, t:] = quote_volume / level
    if SPIKE in index and (t := col(SPIKE_DATE)) is not None:
        vol[index[SPIKE], t] *= SPIKE_FACTOR

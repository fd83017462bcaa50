"""Tick and lot arithmetic in decimal: limit prices on the tick grid, k lots as a quantity, the fewest lots for a
min notional."""

from __future__ import annotations

import math

import numpy as np


def tick_limits(price: np.ndarray, tick: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(buy limits, sell limits): each price rounded down (buys) or up (sells) to its tick; NaN tick = the price.

    A buy never pays more, a sell never receives less, than the price the portfolio was sized at."""
    bid, ask = np.array(price, dtype=np.float64), np.array(price, dtype=np.float64)
    for i, (p, t) in enumerate(zip(price, tick, strict=True)):
        if np.isfinite(t) and t > 0:
            bid[i] = max(on_grid(p, t, "down"), t)
            ask[i] = on_grid(p, t, "up")
    return bid, ask


def on_grid(value: float, step: float, direction: str) -> float:
    """`value` rounded down/up/to the nearest multiple of `step`, in decimal arithmetic (67966.93 with tick 0.1 →
    67966.9, never 67966.90000000001); a value within 1e-9 steps of the grid counts as on it."""
    from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

    v, s = Decimal(repr(float(value))), Decimal(repr(float(step)))
    ratio = v / s
    nearest = ratio.to_integral_value(ROUND_HALF_EVEN)
    if abs(ratio - nearest) <= Decimal("1e-9"):
        n = nearest
    else:
        n = ratio.to_integral_value({"down": ROUND_FLOOR, "up": ROUND_CEILING, "nearest": ROUND_HALF_EVEN}[direction])
    return float(n * s)


def lots_quantity(lots: float, lot: float) -> float:
    """k lots as a quantity without binary noise (3 × 0.1 = 0.3)."""
    from decimal import Decimal

    if not np.isfinite(lot):
        return float(lots)
    return float(Decimal(round(float(lots))) * Decimal(repr(float(lot))))


def min_lots(min_notional: float, lot: float, limit: float) -> int:
    """The fewest whole lots whose notional at `limit` reaches `min_notional` (0 when there is none)."""
    if not (np.isfinite(min_notional) and min_notional > 0):
        return 0
    return max(1, math.ceil(min_notional / (lot * limit) - 1e-9))

"""A tiny Hamilton fan-out (sleep per item) for the executor tests; importable by Ray workers."""

from __future__ import annotations

import time

from hamilton.htypes import Collect, Parallelizable


def item(n: int, seconds: float) -> Parallelizable[float]:
    """`n` items of `seconds` each."""
    yield from [seconds] * n


def slept(item: float) -> float:
    """Sleep for the item's seconds (a task that waits, like a sleeve the driver waits for)."""
    time.sleep(item)
    return item


def total(slept: Collect[float]) -> float:
    """Seconds slept in all."""
    return sum(slept)

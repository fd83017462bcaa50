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


def _fan_out(n: int, seconds: float, executor: object) -> float:
    """Not a node (underscored): this module's fan-out on `executor`, from the driver or from inside a Ray task."""
    from hamilton import driver
    from hamilton.execution.executors import SynchronousLocalTaskExecutor

    from tests.meta import fanout_nodes

    dr = (
        driver.Builder()
        .enable_dynamic_execution(allow_experimental_mode=True)
        .with_modules(fanout_nodes)
        .with_local_executor(SynchronousLocalTaskExecutor())
        .with_remote_executor(executor)
        .build()
    )
    return dr.execute(["total"], inputs={"n": n, "seconds": seconds})["total"]

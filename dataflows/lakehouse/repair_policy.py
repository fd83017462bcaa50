"""The repair loop's policy and its venue calls.

`RepairPolicy` holds the loop's knobs, built from the `data.*` settings by the audit stage (`repair_policy` node);
`retrying` is the call every venue request of the data phase goes through (discovery's listings included): 429s
and network errors are retried with exponential backoff and jitter, anything else fails at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from dataflows.errors import RateLimited, TransientVenueError


@dataclass(frozen=True)
class RepairPolicy:
    """The knobs of the repair loop (from `DataConfig`)."""

    timeframe: str = "1d"
    history_days: int = 730
    max_gap_bars: int = 14  # longest confirmed interior venue gap accepted (consecutive expected bars)
    max_rounds: int = 3
    concurrency: int = 4
    retries: int = 5
    retry_wait_s: float = 0.5
    retry_wait_max_s: float = 8.0
    lease_s: float = 120.0  # a lease's expiry if its holder dies; renewed every lease_s / 4 while working
    lease_wait_s: float = 300.0  # longest wait for leases other holders keep
    hole_recheck_days: float = 7.0  # a confirmed-missing range is asked again after this
    reask_delay_s: float = 1.0  # a missed range is asked again (next round) no sooner than this after the miss
    recheck_holes: bool = False  # forget the candidates' confirmed holes before auditing
    progress: bool = True


def retrying(policy: RepairPolicy, fn: Callable[[], pl.DataFrame]) -> pl.DataFrame:
    """`fn()` retried on 429s and network errors with exponential backoff (`policy.retries`, `retry_wait_s`,
    `retry_wait_max_s`); the last failure is re-raised. Every venue call of the data phase goes through it."""
    from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

    for attempt in Retrying(
        retry=retry_if_exception_type((RateLimited, TransientVenueError)),
        wait=wait_exponential_jitter(multiplier=policy.retry_wait_s, max=policy.retry_wait_max_s),
        stop=stop_after_attempt(policy.retries),
        reraise=True,
    ):
        with attempt:
            return fn()
    raise AssertionError("unreachable")

"""Fetch leases held by this process: `Lakehouse.lease` holds one series' lease, waiting for it and re-entrant per
thread. The leases themselves are rows of the registry (`registry_leases.py`)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from dataflows.errors import LakehouseError
from dataflows.lakehouse.registry import Registry, holder_id


class LeaseMixin:
    """`lease` of `store.Lakehouse` (uses its `registry` and `_held`, the series leases this thread holds)."""

    registry: Registry
    _held: threading.local

    @contextlib.contextmanager
    def lease(
        self, venue: str, timeframe: str, symbol: str, *, lease_s: float, wait_s: float
    ) -> Iterator[tuple[str, bool]]:
        """Hold the fetch lease of one series. Yields (holder, waited): `waited` is True when another holder had
        it first, in which case the caller should re-audit before fetching."""
        from tenacity import RetryError, retry, retry_if_result, stop_after_delay, wait_exponential

        key = (venue, timeframe, symbol)
        held = self._held.__dict__.setdefault("keys", {})
        if key in held:  # re-entrant: this thread already holds it
            yield held[key], False
            return
        holder = holder_id()
        waited = False

        @retry(
            retry=retry_if_result(lambda ok: not ok),
            wait=wait_exponential(multiplier=0.05, max=1.0),
            stop=stop_after_delay(wait_s),
        )
        def _acquire() -> bool:
            nonlocal waited
            ok = self.registry.try_lease(venue, symbol, timeframe, holder, lease_s)
            waited = waited or not ok
            return ok

        try:
            _acquire()
        except RetryError:
            who = self.registry.lease_holder(venue, symbol, timeframe)
            msg = f"timed out after {wait_s}s waiting for the fetch lease of {venue}/{symbol} held by {who}"
            raise LakehouseError(msg) from None
        held[key] = holder
        try:
            yield holder, waited
        finally:
            del held[key]
            self.registry.release(venue, symbol, timeframe, holder)

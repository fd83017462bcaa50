"""Fetch leases held by this process: `Lakehouse.lease` holds one series' lease, waiting for it and re-entrant per
thread; `Leases` is the set one repair holds, taken without waiting, kept across passes and rounds and renewed by a
heartbeat. The leases themselves are rows of the registry (`registry_leases.py`)."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from dataflows.errors import LakehouseError
from dataflows.lakehouse.registry import Registry, holder_dead, holder_id

if TYPE_CHECKING:
    from dataflows.lakehouse.store import Lakehouse

log = logging.getLogger("dataflows.lakehouse.repair")  # the repair's log


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


class Leases:
    """The fetch leases one repair holds (one holder id): taken without waiting, kept across passes and rounds,
    renewed every `lease_s / 4` by a heartbeat thread, released when a symbol needs nothing more or at `close`."""

    def __init__(self, lh: Lakehouse, venue: str, timeframe: str, lease_s: float) -> None:
        self.lh, self.venue, self.timeframe, self.lease_s = lh, venue, timeframe, lease_s
        self.holder = holder_id()
        self._held: set[str] = set()
        self._lost: dict[str, str] = {}  # symbol -> why (our lease expired and another holder took it)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def held(self) -> set[str]:
        with self._lock:
            return set(self._held)

    def take(self, symbol: str) -> bool:
        """Hold `symbol`'s lease (True), or False at once when another live holder has it."""
        with self._lock:
            if symbol in self._held:
                return True
        if not self.lh.registry.try_lease(self.venue, symbol, self.timeframe, self.holder, self.lease_s):
            return False
        with self._lock:
            self._held.add(symbol)
            self._lost.pop(symbol, None)
            if self._beat is None:
                self._beat = threading.Thread(target=self._heartbeat, name="lease-heartbeat", daemon=True)
                self._beat.start()
        return True

    def check(self, symbol: str) -> None:
        """Raise `LakehouseError` unless we still hold `symbol`'s lease (call before every fetch and write)."""
        with self._lock:
            if symbol in self._held:
                return
            why = self._lost.get(symbol, "not taken")
        msg = f"lost the fetch lease of {self.venue}/{symbol}: {why}"
        raise LakehouseError(msg)

    def release(self, symbol: str) -> None:
        with self._lock:
            if symbol not in self._held:
                return
            self._held.discard(symbol)
        self.lh.registry.release(self.venue, symbol, self.timeframe, self.holder)

    def close(self) -> None:
        """Stop the heartbeat and release every lease still held."""
        self._stop.set()
        if self._beat is not None:
            self._beat.join()
        for symbol in self.held():
            self.release(symbol)

    def wait_any(self, symbols: Iterable[str], wait_s: float) -> bool:
        """Wait (holding nothing new) until one of `symbols` has no live lease; False after `wait_s`."""
        reg, deadline, pause = self.lh.registry, time.monotonic() + wait_s, 0.05
        while True:
            now = time.time()
            for symbol in symbols:
                row = reg.lease_holder(self.venue, symbol, self.timeframe)
                if row is None or row[1] <= now or holder_dead(row[0]):
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, 1.0)

    @contextlib.contextmanager
    def adopted(self, symbols: Iterable[str]) -> Iterator[None]:
        """Make `Lakehouse.lease` re-entrant for these held series in the calling thread (a reconcile inside our
        own audit must not wait for our own lease)."""
        keys = self.lh._held.__dict__.setdefault("keys", {})  # Lakehouse.lease's per-thread record (LeaseMixin)
        added = [(self.venue, self.timeframe, s) for s in symbols if (self.venue, self.timeframe, s) not in keys]
        for key in added:
            keys[key] = self.holder
        try:
            yield
        finally:
            for key in added:
                keys.pop(key, None)

    def _heartbeat(self) -> None:
        reg, every = self.lh.registry, max(self.lease_s / 4, 0.01)
        try:
            while not self._stop.wait(every):
                for symbol in self.held():
                    try:
                        ok = reg.renew_lease(self.venue, symbol, self.timeframe, self.holder, self.lease_s)
                        who = None if ok else reg.lease_holder(self.venue, symbol, self.timeframe)
                    except (LakehouseError, sqlite3.Error, OSError) as exc:  # retried on the next beat
                        log.warning("could not renew the fetch lease of %s: %s", symbol, exc)
                        continue
                    if not ok:
                        with self._lock:
                            if symbol not in self._held:  # released meanwhile
                                continue
                            self._held.discard(symbol)
                            self._lost[symbol] = f"it expired (data.lease_s={self.lease_s:g})" + (
                                f" and {who[0]} took it over" if who else ""
                            )
        finally:
            reg.close()  # this thread's connection

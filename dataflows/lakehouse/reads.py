"""Reading stored bars: a symbol's file parsed from one snapshot and inspected against its timeframe or calendar,
clean inspections kept by content hash (stages of one run re-reading a file parse it once; a rewritten file is read
again), and on request the repair of a file with unusable rows."""

from __future__ import annotations

import collections
import threading
from typing import TYPE_CHECKING

import polars as pl

from dataflows.lakehouse import atomic
from dataflows.lakehouse.bars import grid_ms, parse_ohlcv, read_snapshot
from dataflows.lakehouse.inspection import Inspection, inspect_bars

if TYPE_CHECKING:
    from dataflows.lakehouse.calendar import Calendar

INSPECTED_CACHE = 4096  # clean inspections kept per Lakehouse (one per stored file of a large universe)


class ReadsMixin:
    """Reads of `store.Lakehouse` (uses its paths, leases, writes and `read_only`)."""

    read_only: bool
    _inspected: collections.OrderedDict[tuple[str, int, str], Inspection]
    _inspected_lock: threading.Lock

    def read(self, venue: str, timeframe: str, symbol: str) -> pl.DataFrame | None:
        """Stored bars of one symbol (usable rows only, ms UTC, sorted), or None when there is no file. Raises
        `LakehouseError` if unreadable."""
        insp = self.inspect(venue, timeframe, symbol)
        return None if insp is None else insp.clean

    def read_ts(self, venue: str, timeframe: str, symbol: str, calendar: Calendar | None = None) -> pl.Series | None:
        """Only the usable stored open times of one symbol (epoch ms), or None when there is no file."""
        insp = self.inspect(venue, timeframe, symbol, calendar)
        return None if insp is None else insp.ts

    def inspect(
        self, venue: str, timeframe: str, symbol: str, calendar: Calendar | None = None, *, repair: bool = False
    ) -> Inspection | None:
        """The stored file split into usable bars and unusable rows (None when there is no file). With `repair` on
        a writable lakehouse, unusable rows are moved to `corrupt/` (with their evidence) and the clean part is
        rewritten atomically in the canonical schema; the returned inspection then carries a note saying so."""
        path = self.ohlcv_path(venue, timeframe, symbol)
        snap = read_snapshot(path)
        if snap is None:
            return None
        key = (snap[1], grid_ms(timeframe), repr(calendar))
        with self._inspected_lock:
            insp = self._inspected.get(key)
            if insp is not None:  # the same bytes inspected the same way: a stage before this one read this file
                self._inspected.move_to_end(key)
                return insp
        label = f"lakehouse file for {venue}/{timeframe}/{symbol} ({path})"
        frame, ts_type = parse_ohlcv(snap[0], label)
        insp = inspect_bars(frame, bar_ms=grid_ms(timeframe), calendar=calendar, ts_type=ts_type)
        if insp.ok:
            with self._inspected_lock:
                self._inspected[key] = insp
                if len(self._inspected) > INSPECTED_CACHE:
                    self._inspected.popitem(last=False)
        if insp.ok or not repair or self.read_only:
            return insp
        with self.lease(venue, timeframe, symbol, lease_s=60.0, wait_s=300.0):
            snap = read_snapshot(path)  # the file may have changed before we held the lease
            if snap is None:
                return None
            frame, ts_type = parse_ohlcv(snap[0], label)
            insp = inspect_bars(frame, bar_ms=grid_ms(timeframe), calendar=calendar, ts_type=ts_type)
            if insp.ok:
                return insp
            note = self._set_aside_rows(path, insp, f"{venue}/{timeframe}/{symbol}")
            atomic.write_parquet(path, insp.clean)
            result = self._describe(insp.clean, path, added=0, conflicts=0)
            self._record(venue, symbol, timeframe, result)
            insp.notes.append(note)
            return insp

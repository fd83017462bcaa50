"""Writing bars: merge validated bars into a symbol's file by timestamp (stored bars kept, new timestamps added, a
differing refetched bar counted as a conflict), replace the file atomically, then record it in the registry."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from dataflows import columns as C
from dataflows.errors import LakehouseError
from dataflows.lakehouse import atomic
from dataflows.lakehouse.bars import file_hash, grid_ms, parse_ohlcv, read_snapshot, ts_ms
from dataflows.lakehouse.inspection import inspect_bars
from dataflows.lakehouse.registry import Registry


@dataclass(frozen=True)
class WriteResult:
    """Outcome of one merge write."""

    rows: int  # rows in the file after the write
    added: int  # new timestamps written
    conflicts: int  # refetched bars that differed from stored ones (stored kept)
    first_ts: int | None
    last_ts: int | None
    content_hash: str | None


class WritesMixin:
    """Merge writes of `store.Lakehouse` (uses its paths, `registry`, `_writable` and the moves to `corrupt/`)."""

    registry: Registry

    def merge_write(self, venue: str, timeframe: str, symbol: str, bars: pl.DataFrame) -> WriteResult:
        """Merge validated, completed bars into the symbol's file atomically, then record it in the registry.

        The caller holds the symbol's fetch lease (so no other writer races this read-modify-write). Unusable
        stored rows are moved to `corrupt/` first (never merged, never lost); an unreadable stored file is moved
        there whole; stored timestamps of any unit are rewritten in ms.
        """
        self._writable(f"write {venue}/{timeframe}/{symbol}")
        path = self.ohlcv_path(venue, timeframe, symbol)
        label = f"{venue}/{timeframe}/{symbol}"
        stored = None
        rewrite = False
        snap = read_snapshot(path)
        if snap is not None:
            try:
                frame, ts_type = parse_ohlcv(snap[0], f"lakehouse file for {label} ({path})")
            except LakehouseError as exc:
                self.move_aside(path, str(exc))
            else:
                insp = inspect_bars(frame, bar_ms=grid_ms(timeframe), ts_type=ts_type)
                if not insp.ok:
                    self._set_aside_rows(path, insp, label)
                stored, rewrite = insp.clean, not insp.ok or ts_type is not None
        bars = bars.select(C.OHLCV).cast(C.ohlcv_schema())  # type: ignore[arg-type]
        conflicts = 0
        if stored is None or stored.height == 0:
            merged, added = bars.sort(C.TS), bars.height
        else:
            overlap = stored.join(bars, on=C.TS, how="inner", suffix="_new")
            if overlap.height:
                differs = pl.any_horizontal(*(pl.col(c) != pl.col(f"{c}_new") for c in (*C.PRICES, C.VOLUME)))
                conflicts = overlap.filter(differs).height
            new = bars.join(stored.select(C.TS), on=C.TS, how="anti")
            added = new.height
            merged = pl.concat([stored, new]).sort(C.TS)
        if added == 0 and stored is not None and not rewrite:
            result = self._describe(merged, path, added=0, conflicts=conflicts)
        else:
            atomic.write_parquet(path, merged)
            result = self._describe(merged, path, added=added, conflicts=conflicts)
        self._record(venue, symbol, timeframe, result)
        return result

    def _record(self, venue: str, symbol: str, timeframe: str, result: WriteResult) -> None:
        """Record what was just written in the registry (only after the file is on disk)."""
        self.registry.record_file(
            venue,
            symbol,
            timeframe,
            first_ts=result.first_ts,
            last_ts=result.last_ts,
            rows=result.rows,
            content_hash=result.content_hash,
        )

    @staticmethod
    def _describe(frame: pl.DataFrame, path: Path, *, added: int, conflicts: int) -> WriteResult:
        ts = ts_ms(frame)
        return WriteResult(
            rows=frame.height,
            added=added,
            conflicts=conflicts,
            first_ts=int(ts.min()) if frame.height else None,
            last_ts=int(ts.max()) if frame.height else None,
            content_hash=file_hash(path) if path.exists() else None,
        )

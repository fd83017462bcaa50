"""Keeping the registry consistent with the files: the file on disk is the truth; a crash between a file's rename
and its registry update, an unreadable file or a vanished one is repaired under the series lease (or, on a read-only
lakehouse, only described)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from dataflows.errors import LakehouseError
from dataflows.lakehouse.bars import parse_ohlcv, read_snapshot, ts_ms
from dataflows.lakehouse.registry import Registry, SeriesRow


class ReconcileMixin:
    """`reconcile` of `store.Lakehouse` (uses its paths, `registry`, leases and `move_aside`)."""

    root: Path
    read_only: bool
    registry: Registry

    def reconcile(self, venue: str, timeframe: str, symbol: str) -> tuple[SeriesRow | None, str | None]:
        """Make the registry agree with the file on disk (the file is the truth).

        Returns the registry row afterwards and a note when something was repaired: a crash between the file
        rename and the registry update, an unreadable or wrong-schema file (moved to `corrupt/`), a file that
        vanished. A read-only lakehouse changes nothing: it returns the row the file implies and a note saying what
        `run` will do.
        """
        path = self.ohlcv_path(venue, timeframe, symbol)
        row = self.registry.series(venue, symbol, timeframe)
        snap = read_snapshot(path)
        if snap is not None and row is not None and row.content_hash == snap[1]:
            return row, None
        if snap is None and (row is None or row.content_hash is None):
            return row, None
        if self.read_only:
            return self._reconcile_read_only(venue, timeframe, symbol, path, row, snap)
        # something to repair: do it under the series lease (re-entrant), on a fresh snapshot
        with self.lease(venue, timeframe, symbol, lease_s=60.0, wait_s=300.0):
            row = self.registry.series(venue, symbol, timeframe)
            snap = read_snapshot(path)
            note = None
            label = f"lakehouse file for {venue}/{timeframe}/{symbol} ({path})"
            if snap is not None:
                data, digest = snap
                if row is not None and row.content_hash == digest:
                    return row, None
                try:
                    frame, _ = parse_ohlcv(data, label)
                except LakehouseError as exc:
                    dest = self.move_aside(path, str(exc))
                    note = f"unreadable file moved to {dest.relative_to(self.root)}: {exc}"
                    self.registry.record_file(
                        venue, symbol, timeframe, first_ts=None, last_ts=None, rows=0, content_hash=None
                    )
                else:
                    ts = ts_ms(frame).drop_nulls()
                    self.registry.record_file(
                        venue,
                        symbol,
                        timeframe,
                        first_ts=int(ts.min()) if ts.len() else None,
                        last_ts=int(ts.max()) if ts.len() else None,
                        rows=frame.height,
                        content_hash=digest,
                    )
                    if row is not None and row.content_hash is not None:
                        note = "registry was behind the file (interrupted write); re-recorded from the file"
            elif row is not None and row.content_hash is not None:
                note = "registry described a file that is gone; treated as missing"
                self.registry.record_file(
                    venue, symbol, timeframe, first_ts=None, last_ts=None, rows=0, content_hash=None
                )
        return self.registry.series(venue, symbol, timeframe), note

    def _reconcile_read_only(
        self,
        venue: str,
        timeframe: str,
        symbol: str,
        path: Path,
        row: SeriesRow | None,
        snap: tuple[bytes, str] | None,
    ) -> tuple[SeriesRow | None, str | None]:
        """What `reconcile` would record, computed without writing (read-only lakehouse)."""
        base = row or SeriesRow(venue, symbol, timeframe, None, None, 0, None, None, None, None, 0)
        if snap is None:
            return dataclasses.replace(base, first_ts=None, last_ts=None, rows=0, content_hash=None), (
                "registry describes a file that is gone; treated as missing"
            )
        try:
            frame, _ = parse_ohlcv(snap[0], f"lakehouse file for {venue}/{timeframe}/{symbol} ({path})")
        except LakehouseError as exc:
            note = f"unreadable file (left in place by the read-only audit; `run` moves it to corrupt/ and refetches): {exc}"
            return dataclasses.replace(base, first_ts=None, last_ts=None, rows=0, content_hash=None), note
        ts = ts_ms(frame).drop_nulls()
        found = dataclasses.replace(
            base,
            first_ts=int(ts.min()) if ts.len() else None,
            last_ts=int(ts.max()) if ts.len() else None,
            rows=frame.height,
            content_hash=snap[1],
        )
        note = "registry is behind the file; the read-only audit used the file (`run` re-records it)"
        return found, (note if row is not None and row.content_hash is not None else None)

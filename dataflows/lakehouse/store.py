"""The lakehouse facade: per-symbol OHLCV Parquet files plus the registry, with crash-safe merge writes.

Layout under `<data.root>/lakehouse/`:

    ohlcv/<venue>/<timeframe>/<symbol-key>.parquet   one file per symbol, key from `keys.encode_symbol`
    registry.sqlite                                  see `registry.py`
    quarantine.parquet, metadata.parquet             see `quarantine.py`, `metadata.py`
    corrupt/                                         unreadable files moved aside (never deleted)

Writes merge by timestamp: stored bars are kept, new timestamps are added; a refetched bar that differs from the
stored one is counted as a conflict and the stored value is kept (nothing stored is lost).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from dataflows import columns as C
from dataflows.errors import LakehouseError, UnsafeKey
from dataflows.lakehouse import atomic
from dataflows.lakehouse.keys import contained, encode_symbol
from dataflows.lakehouse.registry import Registry, SeriesRow, holder_id

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WriteResult:
    """Outcome of one merge write."""

    rows: int  # rows in the file after the write
    added: int  # new timestamps written
    conflicts: int  # refetched bars that differed from stored ones (stored kept)
    first_ts: int | None
    last_ts: int | None
    content_hash: str | None


def file_hash(path: Path) -> str:
    """sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_snapshot(path: Path) -> tuple[bytes, str] | None:
    """The file's bytes and their sha256, from one open (a concurrent atomic replace gives one version or the other,
    never a mix), or None when there is no file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    return data, hashlib.sha256(data).hexdigest()


def parse_parquet(
    data: bytes, label: str, schema: dict | None = None, columns: list[str] | None = None
) -> pl.DataFrame:
    """Parquet bytes → frame; unreadable bytes or a wrong schema raise `LakehouseError` naming `label`."""
    try:
        frame = pl.read_parquet(io.BytesIO(data), columns=columns)
    except (Exception, pl.exceptions.PanicException) as exc:  # polars panics on some garbage input
        msg = f"{label} is unreadable: {exc.__class__.__name__}"
        raise LakehouseError(msg) from exc
    if schema is not None:
        want = {k: v for k, v in schema.items() if columns is None or k in columns}
        if dict(frame.schema) != want:
            msg = f"{label} has schema {dict(frame.schema)}, expected {want}"
            raise LakehouseError(msg)
    return frame


def _ts_ms(frame: pl.DataFrame) -> pl.Series:
    return frame[C.TS].dt.epoch("ms")


class Lakehouse:
    """Everything the data phase stores, behind one API (the only way runs write shared data)."""

    def __init__(self, data_root: Path | str) -> None:
        self.data_root = Path(data_root).expanduser().resolve()
        self.root = self.data_root / "lakehouse"
        self.root.mkdir(parents=True, exist_ok=True)
        self.registry = Registry(self.root / "registry.sqlite")
        self._held = threading.local()  # series leases this thread holds (leases are re-entrant per thread)

    # --- paths -------------------------------------------------------------------------------------------------

    def ohlcv_path(self, venue: str, timeframe: str, symbol: str) -> Path:
        """Where one symbol's bars live (raises `UnsafeKey` for anything that would escape the lakehouse)."""
        return contained(self.root, "ohlcv", encode_symbol(venue), timeframe, f"{encode_symbol(symbol)}.parquet")

    @property
    def quarantine_path(self) -> Path:
        return self.root / "quarantine.parquet"

    @property
    def metadata_path(self) -> Path:
        return self.root / "metadata.parquet"

    @property
    def features_path(self) -> Path:
        return self.root / "features_matrix.parquet"

    def lock(self, name: str, timeout_s: float = 120.0):
        """An inter-process lock for read-modify-write of a shared file (quarantine, metadata, features)."""
        from filelock import FileLock

        (self.root / "locks").mkdir(exist_ok=True)
        return FileLock(str(self.root / "locks" / f"{name}.lock"), timeout=timeout_s)

    # --- reads -------------------------------------------------------------------------------------------------

    def read(self, venue: str, timeframe: str, symbol: str) -> pl.DataFrame | None:
        """Stored bars of one symbol, or None when there is no file. Raises `LakehouseError` if unreadable."""
        path = self.ohlcv_path(venue, timeframe, symbol)
        if not path.exists():
            return None
        return self._read_path(path, f"{venue}/{timeframe}/{symbol}")

    def read_ts(self, venue: str, timeframe: str, symbol: str) -> pl.Series | None:
        """Only the stored open times of one symbol (epoch ms), or None when there is no file."""
        snap = read_snapshot(self.ohlcv_path(venue, timeframe, symbol))
        if snap is None:
            return None
        frame = parse_parquet(snap[0], f"lakehouse file for {venue}/{timeframe}/{symbol}", C.ohlcv_schema(), [C.TS])
        return frame[C.TS].dt.epoch("ms")

    @staticmethod
    def _read_path(path: Path, label: str) -> pl.DataFrame:
        snap = read_snapshot(path)
        if snap is None:
            msg = f"lakehouse file for {label} ({path}) vanished"
            raise LakehouseError(msg)
        return parse_parquet(snap[0], f"lakehouse file for {label} ({path})", C.ohlcv_schema())

    def read_table(self, path: Path, schema: dict, label: str) -> pl.DataFrame:
        """Read a shared table; an unreadable or wrong-schema file is an error naming it (left in place)."""
        snap = read_snapshot(path)
        if snap is None:
            return pl.DataFrame(schema=schema)
        try:
            return parse_parquet(snap[0], f"{label} table {path}", schema)
        except LakehouseError as exc:
            msg = f"{exc}; restore it or move it aside and rerun"
            raise LakehouseError(msg) from exc

    def move_aside(self, path: Path, reason: str) -> Path:
        """Move an unusable file to `corrupt/` (kept for inspection, never deleted)."""
        rel = path.relative_to(self.root)
        dest = self.root / "corrupt" / rel.parent / f"{path.name}.{int(time.time() * 1000)}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        path.replace(dest)
        log.warning("moved unusable %s to %s (%s)", rel, dest.relative_to(self.root), reason)
        return dest

    # --- writes ------------------------------------------------------------------------------------------------

    def merge_write(self, venue: str, timeframe: str, symbol: str, bars: pl.DataFrame) -> WriteResult:
        """Merge validated, completed bars into the symbol's file atomically, then record it in the registry.

        The caller holds the symbol's fetch lease (so no other writer races this read-modify-write).
        """
        path = self.ohlcv_path(venue, timeframe, symbol)
        stored = self._read_path(path, f"{venue}/{timeframe}/{symbol}") if path.exists() else None
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
        if added == 0 and stored is not None:
            result = self._describe(merged, path, added=0, conflicts=conflicts)
        else:
            atomic.write_parquet(path, merged)
            result = self._describe(merged, path, added=added, conflicts=conflicts)
        self.registry.record_file(
            venue,
            symbol,
            timeframe,
            first_ts=result.first_ts,
            last_ts=result.last_ts,
            rows=result.rows,
            content_hash=result.content_hash,
        )
        return result

    @staticmethod
    def _describe(frame: pl.DataFrame, path: Path, *, added: int, conflicts: int) -> WriteResult:
        ts = _ts_ms(frame)
        return WriteResult(
            rows=frame.height,
            added=added,
            conflicts=conflicts,
            first_ts=int(ts.min()) if frame.height else None,
            last_ts=int(ts.max()) if frame.height else None,
            content_hash=file_hash(path) if path.exists() else None,
        )

    # --- consistency -------------------------------------------------------------------------------------------

    def reconcile(self, venue: str, timeframe: str, symbol: str) -> tuple[SeriesRow | None, str | None]:
        """Make the registry agree with the file on disk (the file is the truth).

        Returns the registry row afterwards and a note when something was repaired: a crash between the file
        rename and the registry update, an unreadable or wrong-schema file (moved to `corrupt/`), a file that
        vanished.
        """
        path = self.ohlcv_path(venue, timeframe, symbol)
        row = self.registry.series(venue, symbol, timeframe)
        snap = read_snapshot(path)
        if snap is not None and row is not None and row.content_hash == snap[1]:
            return row, None
        if snap is None and (row is None or row.content_hash is None):
            return row, None
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
                    frame = parse_parquet(data, label, C.ohlcv_schema())
                except LakehouseError as exc:
                    dest = self.move_aside(path, str(exc))
                    note = f"unreadable file moved to {dest.relative_to(self.root)}: {exc}"
                    self.registry.record_file(
                        venue, symbol, timeframe, first_ts=None, last_ts=None, rows=0, content_hash=None
                    )
                else:
                    ts = _ts_ms(frame)
                    self.registry.record_file(
                        venue,
                        symbol,
                        timeframe,
                        first_ts=int(ts.min()) if frame.height else None,
                        last_ts=int(ts.max()) if frame.height else None,
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

    # --- leases ------------------------------------------------------------------------------------------------

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

    def sweep(self) -> int:
        """Remove stale temp files left by crashed writers."""
        return atomic.sweep_temps(self.root / "ohlcv")

    def file_hashes(self, venue: str, timeframe: str, symbols: list[str]) -> dict[str, str | None]:
        """Content hash of each symbol's stored file (None when absent) — the manifest's record of inputs."""
        out = {}
        for symbol in symbols:
            try:
                path = self.ohlcv_path(venue, timeframe, symbol)
            except UnsafeKey:
                out[symbol] = None
                continue
            out[symbol] = file_hash(path) if path.exists() else None
        return out

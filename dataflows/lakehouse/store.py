"""The lakehouse facade: per-symbol OHLCV Parquet files plus the registry, with crash-safe merge writes.

Layout under `<data.root>/lakehouse/`:

    ohlcv/<venue>/<timeframe>/<symbol-key>.parquet   one file per symbol, key from `keys.encode_symbol`
    registry.sqlite                                  see `registry.py`
    quarantine.parquet, metadata.parquet             see `quarantine.py`, `metadata.py`
    corrupt/                                         unreadable files moved aside (never deleted)

Writes merge by timestamp: stored bars are kept, new timestamps are added; a refetched bar that differs from the
stored one is counted as a conflict and the stored value is kept (nothing stored is lost).

Stored files are read leniently and checked strictly: timestamps in any unit (s/ms/us/ns, naive or UTC) and numeric
columns of any width are normalized to the canonical schema (`normalize_ohlcv`); rows that are not usable bars
(duplicate timestamps, off-calendar bars, non-finite or non-positive prices, inconsistent OHLC) are never served
(`inspect_bars`) and, by a writable lakehouse, moved to `corrupt/` with their evidence before the clean part is
rewritten (the audit then asks the venue for them again). A read-only lakehouse (`read_only=True`, the `audit`
verb) changes nothing on disk: its registry is an in-memory snapshot.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import hashlib
import io
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from dataflows import columns as C
from dataflows.errors import ConfigError, LakehouseError, UnsafeKey
from dataflows.lakehouse import atomic
from dataflows.lakehouse.keys import contained, encode_symbol
from dataflows.lakehouse.registry import SCHEMA, Registry, SeriesRow, holder_id

if TYPE_CHECKING:
    from dataflows.lakehouse.calendar import Calendar

log = logging.getLogger(__name__)
INSPECTED_CACHE = 4096  # clean inspections kept per Lakehouse (one per stored file of a large universe)


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


MIN_TS_MS = 946_684_800_000  # 2000-01-01: earlier open times are seconds read as milliseconds, or junk


def normalize_ohlcv(frame: pl.DataFrame, label: str) -> tuple[pl.DataFrame, str | None]:
    """Stored bars in `columns.ohlcv_schema()` whatever unit and width they were written with: a Datetime `ts` in
    s/ms/us/ns, naive (= UTC) or with any time zone, becomes ms UTC; integer or float32 prices and volume become
    Float64; other columns are ignored. Returns (frame, the original timestamp type when it was not ms UTC).
    Missing columns or a non-time `ts` raise `LakehouseError` naming `label` (the file is unreadable as bars)."""
    missing = [c for c in C.OHLCV if c not in frame.columns]
    if missing:
        msg = f"{label} has schema {dict(frame.schema)}, expected {C.ohlcv_schema()} (missing {missing})"
        raise LakehouseError(msg)
    ts = frame.schema[C.TS]
    bad = [c for c in (*C.PRICES, C.VOLUME) if not frame.schema[c].is_numeric()]
    if not isinstance(ts, pl.Datetime) or bad:
        what = f"ts is {ts}" if not isinstance(ts, pl.Datetime) else f"non-numeric columns {bad}"
        msg = f"{label} has schema {dict(frame.schema)}, expected {C.ohlcv_schema()} ({what})"
        raise LakehouseError(msg)
    want = pl.Datetime("ms", "UTC")
    original = None if ts == want else str(ts)
    col = pl.col(C.TS)
    if ts.time_zone is None:
        col = col.dt.replace_time_zone("UTC")
    elif ts.time_zone != "UTC":
        col = col.dt.convert_time_zone("UTC")
    out = frame.select(
        col.dt.cast_time_unit("ms").alias(C.TS), *(pl.col(c).cast(pl.Float64) for c in (*C.PRICES, C.VOLUME))
    )
    if original is not None and ts.time_unit in ("us", "ns"):  # sub-ms parts would be silently truncated
        factor = 1000 if ts.time_unit == "us" else 1_000_000
        sub = frame[C.TS].dt.epoch(ts.time_unit) % factor != 0
        if sub.any():
            out = out.with_columns(pl.when(pl.Series(sub)).then(None).otherwise(pl.col(C.TS)).alias(C.TS))
    return out, original


def parse_ohlcv(data: bytes, label: str) -> tuple[pl.DataFrame, str | None]:
    """Parquet bytes of a symbol file → (bars in the canonical schema, original ts type if not ms UTC)."""
    return normalize_ohlcv(parse_parquet(data, label), label)


@dataclass(frozen=True)
class Inspection:
    """A stored file split into the bars that may be used and the rows that may not (with why)."""

    clean: pl.DataFrame  # canonical, sorted, unique timestamps, every check passed
    bad: pl.DataFrame  # rows that fail a check: the OHLCV columns (ts null if unreadable) plus `problem`
    unsorted: bool = False
    ts_type: str | None = None  # the stored timestamp type when it was not ms UTC
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.bad.height == 0 and not self.unsorted

    @property
    def ts(self) -> pl.Series:
        return _ts_ms(self.clean)

    def evidence(self) -> dict:
        """What is wrong, for audit.json: counts per problem and the first offending rows."""
        out: dict = {}
        if self.bad.height:
            counts = self.bad.group_by("problem").len().sort("problem")
            out["bad_rows"] = dict(counts.iter_rows())
            out["first_bad_rows"] = [
                {k: (str(v) if k == C.TS else v) for k, v in r.items()} for r in self.bad.head(5).iter_rows(named=True)
            ]
        if self.unsorted:
            out["unsorted"] = True
        if self.ts_type is not None:
            out["timestamp_type"] = f"{self.ts_type} (read as ms UTC; rewritten in ms by the next write)"
        return out


def inspect_bars(
    frame: pl.DataFrame, *, bar_ms: int | None = None, calendar: Calendar | None = None, ts_type: str | None = None
) -> Inspection:
    """Split canonical bars into usable and unusable rows. Unusable: null or pre-2000 timestamps; open times not on
    the calendar (not a bar boundary, or no session that day; without a calendar: not a multiple of `bar_ms`);
    null, non-finite or non-positive prices; high below low/open/close or low above open/close; null, non-finite or
    negative volume; duplicate timestamps (an identical copy is set aside and one kept; copies that differ are all
    set aside, the venue is asked again)."""
    ts = pl.col(C.TS).dt.epoch("ms")
    o, h, lo, c, v = (pl.col(x) for x in (*C.PRICES, C.VOLUME))
    checks: list[tuple[str, pl.Expr]] = [
        ("null or pre-2000 timestamp", pl.col(C.TS).is_null() | (ts < MIN_TS_MS)),
        ("non-finite price", ~pl.all_horizontal(*(p.is_finite().fill_null(False) for p in (o, h, lo, c)))),
        ("non-positive price", pl.any_horizontal(*(p <= 0 for p in (o, h, lo, c)))),
        ("high < low", h < lo),
        ("high below open/close or low above them", (h < o) | (h < c) | (lo > o) | (lo > c)),
        ("bad volume", ~v.is_finite().fill_null(False) | (v < 0)),
    ]
    if calendar is None and bar_ms is not None:
        checks.append(("off-calendar bar (not a bar boundary)", (ts % bar_ms) != 0))
    rows = frame.with_row_index("__row")
    problem = pl.lit(None, pl.String)
    for name, expr in reversed(checks):
        problem = pl.when(expr.fill_null(True)).then(pl.lit(name)).otherwise(problem)
    rows = rows.with_columns(problem.alias("problem"))
    if calendar is not None:
        ts_np = rows[C.TS].dt.epoch("ms").fill_null(0).to_numpy()
        on = np.asarray(calendar.is_trading(ts_np), dtype=bool)
        label = f"off-calendar bar (not a bar open time of {calendar.name})"
        rows = rows.with_columns(
            pl.when(pl.col("problem").is_null() & ~pl.Series(on))
            .then(pl.lit(label))
            .otherwise(pl.col("problem"))
            .alias("problem")
        )
    unsorted = bool(frame.height > 1 and not frame[C.TS].drop_nulls().is_sorted())
    good = rows.filter(pl.col("problem").is_null())
    dup = good.filter(pl.col(C.TS).is_duplicated())
    if dup.height:
        values = [*C.PRICES, C.VOLUME]
        differ = dup.group_by(C.TS).agg(pl.struct(values).n_unique().alias("n")).filter(pl.col("n") > 1)[C.TS]
        first = dup.filter(~pl.col(C.TS).is_in(differ.implode())).group_by(C.TS).agg(pl.col("__row").min())["__row"]
        rows = rows.with_columns(
            pl.when(pl.col("problem").is_null() & pl.col(C.TS).is_in(differ.implode()))
            .then(pl.lit("duplicate timestamp (copies differ)"))
            .when(
                pl.col("problem").is_null()
                & pl.col("__row").is_in(dup["__row"].implode())
                & ~pl.col("__row").is_in(first.implode())
                & ~pl.col(C.TS).is_in(differ.implode())
            )
            .then(pl.lit("duplicate timestamp (identical copy)"))
            .otherwise(pl.col("problem"))
            .alias("problem")
        )
    clean = rows.filter(pl.col("problem").is_null()).drop("__row", "problem").sort(C.TS)
    bad = rows.filter(pl.col("problem").is_not_null()).drop("__row")
    return Inspection(clean=clean, bad=bad, unsorted=unsorted, ts_type=ts_type)


class _SnapshotRegistry(Registry):
    """The registry of a read-only lakehouse: an in-memory copy of `registry.sqlite` (empty when the file is absent
    or unreadable). Nothing on disk is opened for writing, created or locked."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self.problem: str | None = None
        mem = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        if path.exists():
            wal = Path(f"{path}-wal").exists()  # a live writer: read through its WAL; else open as a plain file
            uri = f"{path.as_uri()}?mode=ro" if wal else f"{path.as_uri()}?immutable=1"
            try:
                src = sqlite3.connect(uri, uri=True, timeout=60.0)
                try:
                    src.backup(mem)
                    _check_integrity(mem, path)
                finally:
                    src.close()
            except (sqlite3.DatabaseError, LakehouseError) as exc:
                self.problem = str(exc) if isinstance(exc, LakehouseError) else f"{path} is unreadable ({exc})"
                mem.close()
                mem = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        mem.executescript(SCHEMA)
        self._mem = mem
        migrate = getattr(self, "_migrate", None)
        if migrate is not None:  # an older registry's copy gains the columns this code reads (in memory only)
            migrate()

    def _conn(self) -> sqlite3.Connection:
        return self._mem

    def close(self) -> None:
        return None


def _check_integrity(conn: sqlite3.Connection, path: Path) -> None:
    """`LakehouseError` unless SQLite's quick check passes (garbage pages are found here, not mid-run)."""
    try:
        rows = conn.execute("PRAGMA quick_check").fetchall()
    except sqlite3.DatabaseError as exc:
        msg = f"registry {path} is damaged ({exc})"
        raise LakehouseError(msg) from exc
    if rows != [("ok",)]:
        msg = f"registry {path} is damaged ({'; '.join(str(r[0]) for r in rows[:3])})"
        raise LakehouseError(msg)


def _bar_ms(timeframe: str) -> int | None:
    from dataflows.lakehouse.calendar import timeframe_ms

    try:
        return timeframe_ms(timeframe)
    except ConfigError:  # an unknown timeframe has no grid to check
        return None


class Lakehouse:
    """Everything the data phase stores, behind one API (the only way runs write shared data)."""

    def __init__(self, data_root: Path | str, *, read_only: bool = False) -> None:
        """`read_only`: change nothing on disk (no folder, registry, temp sweep, move or rewrite); problems found
        in stored files are reported only. The `audit` verb uses it."""
        self.data_root = Path(data_root).expanduser().resolve()
        self.root = self.data_root / "lakehouse"
        self.read_only = read_only
        # Clean inspections by (content sha256, bar length, calendar): the stages of one run (audit, guard, ratings,
        # returns, walk-forward history) read the same files; keyed by content, so a rewritten file is read again.
        self._inspected: collections.OrderedDict[tuple[str, int, str], Inspection] = collections.OrderedDict()
        self._inspected_lock = threading.Lock()
        self.notes: list[str] = []  # what opening the lakehouse had to repair (a damaged registry)
        if read_only:
            self.registry: Registry = _SnapshotRegistry(self.root / "registry.sqlite")
            if self.registry.problem:
                note = (
                    f"{self.registry.problem}; audited from the files only (`run` moves it to corrupt/ and rebuilds it)"
                )
                self.notes.append(note)
                log.warning(note)
        else:
            self.root.mkdir(parents=True, exist_ok=True)
            self.registry = self._open_registry(self.root / "registry.sqlite")
        self._held = threading.local()  # series leases this thread holds (leases are re-entrant per thread)

    def _open_registry(self, path: Path) -> Registry:
        """Open the registry; a damaged one (garbage pages, not a database) is moved to `corrupt/` and rebuilt: the
        series rows are reconciled from the files by the audit. Lost with it: confirmed-missing ranges (asked of
        the venue again), the fetch log and leases."""
        registry = None
        try:
            if path.exists() and path.stat().st_size:  # checked read-only first: a damaged file is kept as found
                probe = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=60.0)
                try:
                    _check_integrity(probe, path)
                finally:
                    probe.close()
            registry = Registry(path)
            _check_integrity(registry._conn(), path)
            return registry
        except (sqlite3.DatabaseError, LakehouseError) as exc:
            if "locked" in str(exc):
                raise
            if registry is not None:
                registry.close()
            problem = str(exc) if isinstance(exc, LakehouseError) else f"registry {path} is damaged ({exc})"
        dest = self.root / "corrupt" / f"{path.name}.{int(time.time() * 1000)}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                Path(f"{path}{suffix}").replace(Path(f"{dest}{suffix}"))
        note = (
            f"{problem}: moved to {dest.relative_to(self.root)} and rebuilt from the files "
            "(confirmed-missing ranges will be asked of the venue again)"
        )
        log.warning(note)
        self.notes.append(note)
        try:
            return Registry(path)
        except sqlite3.DatabaseError as exc:
            msg = f"registry {path} cannot be created ({exc}); check the folder's permissions and free space"
            raise LakehouseError(msg) from exc

    def _writable(self, what: str) -> None:
        if self.read_only:
            msg = f"the lakehouse {self.root} is open read-only (audit); cannot {what}"
            raise LakehouseError(msg)

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

        self._writable(f"lock {name}")
        (self.root / "locks").mkdir(exist_ok=True)
        return FileLock(str(self.root / "locks" / f"{name}.lock"), timeout=timeout_s)

    # --- reads -------------------------------------------------------------------------------------------------

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
        key = (snap[1], _bar_ms(timeframe), repr(calendar))
        with self._inspected_lock:
            insp = self._inspected.get(key)
            if insp is not None:  # the same bytes inspected the same way: a stage before this one read this file
                self._inspected.move_to_end(key)
                return insp
        label = f"lakehouse file for {venue}/{timeframe}/{symbol} ({path})"
        frame, ts_type = parse_ohlcv(snap[0], label)
        insp = inspect_bars(frame, bar_ms=_bar_ms(timeframe), calendar=calendar, ts_type=ts_type)
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
            insp = inspect_bars(frame, bar_ms=_bar_ms(timeframe), calendar=calendar, ts_type=ts_type)
            if insp.ok:
                return insp
            note = self._set_aside_rows(path, insp, f"{venue}/{timeframe}/{symbol}")
            atomic.write_parquet(path, insp.clean)
            result = self._describe(insp.clean, path, added=0, conflicts=0)
            self._record(venue, symbol, timeframe, result)
            insp.notes.append(note)
            return insp

    def _set_aside_rows(self, path: Path, insp: Inspection, label: str) -> str:
        """Keep unusable rows in `corrupt/` (a Parquet file of the rows and a JSON file of the evidence)."""
        self._writable(f"set aside rows of {label}")
        rel = path.relative_to(self.root)
        stem = self.root / "corrupt" / rel.parent / f"{path.name}.{int(time.time() * 1000)}"
        stem.parent.mkdir(parents=True, exist_ok=True)
        what = ", ".join(f"{n} {p}" for p, n in sorted(insp.evidence().get("bad_rows", {}).items()))
        if insp.bad.height:
            atomic.write_parquet(stem.with_name(stem.name + ".rows.parquet"), insp.bad)
        evidence = {"file": str(rel), "label": label, **insp.evidence()}
        atomic.write_json(stem.with_name(stem.name + ".json"), evidence)
        shown = stem.relative_to(self.root)
        note = (
            f"{insp.bad.height} unusable row(s) ({what}) moved to {shown}.rows.parquet (evidence {shown}.json); "
            "the clean part was rewritten"
            if insp.bad.height
            else f"unsorted rows rewritten in order (evidence {shown}.json)"
        )
        log.warning("%s: %s", label, note)
        return note

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
        self._writable(f"move {path} aside")
        rel = path.relative_to(self.root)
        dest = self.root / "corrupt" / rel.parent / f"{path.name}.{int(time.time() * 1000)}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        path.replace(dest)
        log.warning("moved unusable %s to %s (%s)", rel, dest.relative_to(self.root), reason)
        return dest

    # --- writes ------------------------------------------------------------------------------------------------

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
                insp = inspect_bars(frame, bar_ms=_bar_ms(timeframe), ts_type=ts_type)
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
                    ts = _ts_ms(frame).drop_nulls()
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
        ts = _ts_ms(frame).drop_nulls()
        found = dataclasses.replace(
            base,
            first_ts=int(ts.min()) if ts.len() else None,
            last_ts=int(ts.max()) if ts.len() else None,
            rows=frame.height,
            content_hash=snap[1],
        )
        note = "registry is behind the file; the read-only audit used the file (`run` re-records it)"
        return found, (note if row is not None and row.content_hash is not None else None)

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
        """Remove stale temp files left by crashed writers (nothing on a read-only lakehouse)."""
        if self.read_only:
            return 0
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

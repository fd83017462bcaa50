"""Opening a lakehouse's registry: SQLite's integrity check, a damaged registry moved to `corrupt/` and rebuilt,
and the in-memory snapshot a read-only lakehouse reads instead."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from pathlib import Path

from dataflows.errors import LakehouseError
from dataflows.lakehouse.registry import SCHEMA, Registry

log = logging.getLogger("dataflows.lakehouse.store")  # the lakehouse facade's log


class SnapshotRegistry(Registry):
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
                    check_integrity(mem, path)
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


def check_integrity(conn: sqlite3.Connection, path: Path) -> None:
    """`LakehouseError` unless SQLite's quick check passes (garbage pages are found here, not mid-run)."""
    try:
        rows = conn.execute("PRAGMA quick_check").fetchall()
    except sqlite3.DatabaseError as exc:
        msg = f"registry {path} is damaged ({exc})"
        raise LakehouseError(msg) from exc
    if rows != [("ok",)]:
        msg = f"registry {path} is damaged ({'; '.join(str(r[0]) for r in rows[:3])})"
        raise LakehouseError(msg)


def open_registry(root: Path, path: Path, notes: list[str]) -> Registry:
    """Open the registry at `path` of the lakehouse at `root`; a damaged one (garbage pages, not a database) is moved
    to `corrupt/` and rebuilt, with a note appended to `notes`: the series rows are reconciled from the files by the
    audit. Lost with it: confirmed-missing ranges (asked of the venue again), the fetch log and leases."""
    registry = None
    try:
        if path.exists() and path.stat().st_size:  # checked read-only first: a damaged file is kept as found
            probe = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=60.0)
            try:
                check_integrity(probe, path)
            finally:
                probe.close()
        registry = Registry(path)
        check_integrity(registry._conn(), path)
        return registry
    except (sqlite3.DatabaseError, LakehouseError) as exc:
        if "locked" in str(exc):
            raise
        if registry is not None:
            registry.close()
        problem = str(exc) if isinstance(exc, LakehouseError) else f"registry {path} is damaged ({exc})"
    dest = root / "corrupt" / f"{path.name}.{int(time.time() * 1000)}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{path}{suffix}").replace(Path(f"{dest}{suffix}"))
    note = (
        f"{problem}: moved to {dest.relative_to(root)} and rebuilt from the files "
        "(confirmed-missing ranges will be asked of the venue again)"
    )
    log.warning(note)
    notes.append(note)
    try:
        return Registry(path)
    except sqlite3.DatabaseError as exc:
        msg = f"registry {path} cannot be created ({exc}); check the folder's permissions and free space"
        raise LakehouseError(msg) from exc

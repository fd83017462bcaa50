"""The lakehouse registry: one SQLite file that records what is on disk, what the venue confirmed it does not have,
every fetch, and the fetch leases that keep two processes (or Ray workers) from fetching the same thing twice.

Leases are taken in one `BEGIN IMMEDIATE` transaction per (venue, symbol, timeframe): the winner fetches, the loser
waits for the lease to go away and then re-audits (and usually finds nothing left to fetch). A holder renews its
lease while it works; a crashed holder's lease expires after `lease_s`, at once when the holder was a process on this
host that no longer exists. The registry is only ever updated *after* the data file it describes was atomically
replaced, so it never claims bars that are not on disk.

Holes (ranges a targeted fetch came back without) are confirmed only by `CONFIRM_AFTER` misses of the same range by
the *same* holder, separated in time; a miss by another holder restarts the count, so two processes that hit one
transient outage at once never add up to a confirmation. A confirmed hole (and the venue floor a confirmed head
hole sets) carries a re-check date, after which audits ask for the range again. Older registries are migrated in
place (new columns with defaults); their confirmations carry no re-check date and are asked again once.

The records live in one mixin per table group: `registry_records.py` (series rows, fetch log), `registry_holes.py`
(holes and venue floors) and `registry_leases.py` (leases). Method notes: `docs/data.md`.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from dataflows.errors import LakehouseError
from dataflows.lakehouse.registry_holes import CONFIRM_AFTER, DEFAULT_RECHECK_S, HolesMixin, process_holder
from dataflows.lakehouse.registry_leases import LeaseRowsMixin, holder_dead, holder_id
from dataflows.lakehouse.registry_records import SERIES_COLUMNS, RecordsMixin, SeriesRow

if TYPE_CHECKING:
    from tenacity import Retrying

__all__ = [
    "CONFIRM_AFTER",
    "DEFAULT_RECHECK_S",
    "MIGRATIONS",
    "SCHEMA",
    "SERIES_COLUMNS",
    "Registry",
    "SeriesRow",
    "holder_dead",
    "holder_id",
    "process_holder",
]

SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    venue TEXT NOT NULL, symbol TEXT NOT NULL, timeframe TEXT NOT NULL,
    first_ts INTEGER, last_ts INTEGER, rows INTEGER NOT NULL DEFAULT 0, content_hash TEXT,
    floor_ts INTEGER,                 -- the venue confirmed it has no bars before this ...
    last_fetch_at REAL, last_outcome TEXT, failures INTEGER NOT NULL DEFAULT 0,
    floor_recheck_at REAL,            -- ... until then (NULL: not in force)
    PRIMARY KEY (venue, symbol, timeframe)
);
CREATE TABLE IF NOT EXISTS holes (       -- ranges targeted fetches came back without (see the module docstring)
    venue TEXT NOT NULL, symbol TEXT NOT NULL, timeframe TEXT NOT NULL,
    start_ts INTEGER NOT NULL, end_ts INTEGER NOT NULL, kind TEXT NOT NULL,
    confirmed_at REAL NOT NULL,       -- the holder's latest miss (the confirmation once attempts >= CONFIRM_AFTER)
    attempts INTEGER NOT NULL DEFAULT 1,  -- misses by `holder` since `first_at`
    holder TEXT NOT NULL DEFAULT '',  -- who asked (lease holder: host:pid:thread:token)
    first_at REAL,                    -- the holder's first miss
    recheck_at REAL,                  -- confirmed until then (NULL: unconfirmed)
    PRIMARY KEY (venue, symbol, timeframe, start_ts, end_ts)
);
CREATE TABLE IF NOT EXISTS leases (
    venue TEXT NOT NULL, symbol TEXT NOT NULL, timeframe TEXT NOT NULL,
    holder TEXT NOT NULL, expires_at REAL NOT NULL,
    PRIMARY KEY (venue, symbol, timeframe)
);
CREATE TABLE IF NOT EXISTS fetches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    venue TEXT NOT NULL, symbol TEXT NOT NULL, timeframe TEXT NOT NULL,
    start_ts INTEGER NOT NULL, end_ts INTEGER NOT NULL, kind TEXT NOT NULL,
    rows INTEGER NOT NULL, outcome TEXT NOT NULL, holder TEXT NOT NULL, at REAL NOT NULL, detail TEXT,
    reask INTEGER NOT NULL DEFAULT 0  -- 1: the holder's delayed second ask of a range it just missed
);
"""

# Columns added after the first release: (table, column, declaration); added in place to older registries.
MIGRATIONS = (
    ("series", "floor_recheck_at", "REAL"),
    ("holes", "holder", "TEXT NOT NULL DEFAULT ''"),
    ("holes", "first_at", "REAL"),
    ("holes", "recheck_at", "REAL"),
    ("fetches", "reask", "INTEGER NOT NULL DEFAULT 0"),
)


def _is_locked(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)


def _while_locked() -> Retrying:
    """tenacity attempts that retry "database is locked" with jittered backoff for up to 60 s, then re-raise."""
    from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential_jitter

    return Retrying(
        retry=retry_if_exception(_is_locked),
        wait=wait_exponential_jitter(multiplier=0.01, max=0.5),
        stop=stop_after_delay(60),
        reraise=True,
    )


class Registry(RecordsMixin, HolesMixin, LeaseRowsMixin):
    """Thread-safe access to `registry.sqlite` (one connection per thread)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        for attempt in _while_locked():
            with attempt:
                self._conn().executescript(SCHEMA)  # executescript manages its own transaction
        self._migrate()

    def _migrate(self) -> None:
        """Add the columns an older registry lacks (checked inside the write lock: two processes may migrate)."""

        def missing(conn: sqlite3.Connection) -> list[tuple[str, str, str]]:
            have = {t: {r[1] for r in conn.execute(f"PRAGMA table_info({t})")} for t in {m[0] for m in MIGRATIONS}}
            return [m for m in MIGRATIONS if m[1] not in have[m[0]]]

        if not missing(self._conn()):
            return
        for attempt in _while_locked():
            with attempt, self._tx() as db:
                for table, column, decl in missing(db):
                    db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                # a registry created by two processes at once: switching it to WAL can report "locked" at once
                # (no busy wait applies there), so the loser retries
                for attempt in _while_locked():
                    with attempt:
                        conn = sqlite3.connect(self.path, timeout=60.0, isolation_level=None, check_same_thread=False)
                        try:
                            conn.execute("PRAGMA busy_timeout=60000")
                            conn.execute("PRAGMA journal_mode=WAL")
                            conn.execute("PRAGMA synchronous=FULL")
                        except BaseException:
                            conn.close()
                            raise
            except sqlite3.DatabaseError as exc:
                if _is_locked(exc):
                    msg = f"registry {self.path} stayed locked for 60 s; is another process stuck holding it?"
                else:
                    msg = f"registry {self.path} is unreadable ({exc}); move it aside and rerun to rebuild it from the files"
                raise LakehouseError(msg) from exc
            self._local.conn = conn
        return conn

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

"""The lakehouse registry: one SQLite file that records what is on disk, what the venue confirmed it does not have,
every fetch, and the fetch leases that keep two processes (or Ray workers) from fetching the same thing twice.

Leases are taken in one `BEGIN IMMEDIATE` transaction per (venue, symbol, timeframe): the winner fetches, the loser
waits for the lease to go away and then re-audits (and usually finds nothing left to fetch). A crashed holder's lease
expires after `lease_s`. The registry is only ever updated *after* the data file it describes was atomically
replaced, so it never claims bars that are not on disk.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dataflows.errors import LakehouseError
from dataflows.lakehouse.atomic import pid_alive

if TYPE_CHECKING:
    from tenacity import Retrying

SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    venue TEXT NOT NULL, symbol TEXT NOT NULL, timeframe TEXT NOT NULL,
    first_ts INTEGER, last_ts INTEGER, rows INTEGER NOT NULL DEFAULT 0, content_hash TEXT,
    floor_ts INTEGER,                 -- the venue confirmed it has no bars before this
    last_fetch_at REAL, last_outcome TEXT, failures INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (venue, symbol, timeframe)
);
CREATE TABLE IF NOT EXISTS holes (       -- ranges targeted fetches came back without; confirmed after CONFIRM_AFTER
    venue TEXT NOT NULL, symbol TEXT NOT NULL, timeframe TEXT NOT NULL,
    start_ts INTEGER NOT NULL, end_ts INTEGER NOT NULL, kind TEXT NOT NULL, confirmed_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 1,
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
    rows INTEGER NOT NULL, outcome TEXT NOT NULL, holder TEXT NOT NULL, at REAL NOT NULL, detail TEXT
);
"""


CONFIRM_AFTER = 2  # a range is "confirmed missing" after this many targeted fetches came back without it


def _is_locked(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)


def holder_dead(holder: str) -> bool:
    """True when `holder` names a process on this host that no longer exists (a crashed lease holder)."""
    parts = holder.split(":")
    if len(parts) < 2 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    return not pid_alive(int(parts[1]))


@dataclass(frozen=True)
class SeriesRow:
    """What the registry knows about one stored series."""

    venue: str
    symbol: str
    timeframe: str
    first_ts: int | None
    last_ts: int | None
    rows: int
    content_hash: str | None
    floor_ts: int | None
    last_fetch_at: float | None
    last_outcome: str | None
    failures: int


def holder_id() -> str:
    """A unique lease-holder id naming host, process and thread."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}:{uuid.uuid4().hex[:8]}"


def _while_locked() -> Retrying:
    """tenacity attempts that retry "database is locked" with jittered backoff for up to 60 s, then re-raise."""
    from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential_jitter

    return Retrying(
        retry=retry_if_exception(_is_locked),
        wait=wait_exponential_jitter(multiplier=0.01, max=0.5),
        stop=stop_after_delay(60),
        reraise=True,
    )


class Registry:
    """Thread-safe access to `registry.sqlite` (one connection per thread)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        for attempt in _while_locked():
            with attempt:
                self._conn().executescript(SCHEMA)  # executescript manages its own transaction

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

    # --- series ------------------------------------------------------------------------------------------------

    def series(self, venue: str, symbol: str, timeframe: str) -> SeriesRow | None:
        cur = self._conn().execute(
            "SELECT venue, symbol, timeframe, first_ts, last_ts, rows, content_hash, floor_ts, last_fetch_at,"
            " last_outcome, failures FROM series WHERE venue=? AND symbol=? AND timeframe=?",
            (venue, symbol, timeframe),
        )
        row = cur.fetchone()
        return SeriesRow(*row) if row else None

    def all_series(self, venue: str | None = None) -> list[SeriesRow]:
        sql = (
            "SELECT venue, symbol, timeframe, first_ts, last_ts, rows, content_hash, floor_ts, last_fetch_at,"
            " last_outcome, failures FROM series"
        )
        args: tuple = ()
        if venue is not None:
            sql, args = sql + " WHERE venue=?", (venue,)
        return [SeriesRow(*r) for r in self._conn().execute(sql + " ORDER BY venue, symbol, timeframe", args)]

    def record_file(
        self,
        venue: str,
        symbol: str,
        timeframe: str,
        *,
        first_ts: int | None,
        last_ts: int | None,
        rows: int,
        content_hash: str | None,
    ) -> None:
        """Record what the file now holds (call only after the file was atomically written)."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO series (venue, symbol, timeframe, first_ts, last_ts, rows, content_hash)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(venue, symbol, timeframe) DO UPDATE SET"
                " first_ts=excluded.first_ts, last_ts=excluded.last_ts, rows=excluded.rows,"
                " content_hash=excluded.content_hash",
                (venue, symbol, timeframe, first_ts, last_ts, rows, content_hash),
            )

    def record_outcome(self, venue: str, symbol: str, timeframe: str, outcome: str, *, failed: bool) -> None:
        """Record the last fetch outcome; `failed` increments the failure count, success resets it."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO series (venue, symbol, timeframe, last_fetch_at, last_outcome, failures)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(venue, symbol, timeframe) DO UPDATE SET"
                " last_fetch_at=excluded.last_fetch_at, last_outcome=excluded.last_outcome,"
                " failures=CASE WHEN ? THEN series.failures + 1 ELSE 0 END",
                (venue, symbol, timeframe, time.time(), outcome, int(failed), int(failed)),
            )

    # --- holes -------------------------------------------------------------------------------------------------

    def add_hole(
        self,
        venue: str,
        symbol: str,
        timeframe: str,
        start_ts: int,
        end_ts: int,
        kind: str,
        floor_if_confirmed: int | None = None,
    ) -> int:
        """Record that a targeted fetch of [start_ts, end_ts] came back without those bars; returns the attempts
        so far (the range counts as confirmed missing from `CONFIRM_AFTER` on). `floor_if_confirmed` is recorded as
        the series' venue floor in the same transaction once confirmed (a crash cannot separate the two)."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO holes (venue, symbol, timeframe, start_ts, end_ts, kind, confirmed_at, attempts)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 1) ON CONFLICT(venue, symbol, timeframe, start_ts, end_ts) DO UPDATE"
                " SET attempts = holes.attempts + 1, confirmed_at = excluded.confirmed_at, kind = excluded.kind",
                (venue, symbol, timeframe, start_ts, end_ts, kind, time.time()),
            )
            row = db.execute(
                "SELECT attempts FROM holes WHERE venue=? AND symbol=? AND timeframe=? AND start_ts=? AND end_ts=?",
                (venue, symbol, timeframe, start_ts, end_ts),
            ).fetchone()
            attempts = int(row[0])
            if floor_if_confirmed is not None and attempts >= CONFIRM_AFTER:
                db.execute(
                    "INSERT INTO series (venue, symbol, timeframe, floor_ts) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT(venue, symbol, timeframe) DO UPDATE SET floor_ts=excluded.floor_ts",
                    (venue, symbol, timeframe, floor_if_confirmed),
                )
        return attempts

    def holes(
        self, venue: str, symbol: str, timeframe: str, *, confirmed_only: bool = True
    ) -> list[tuple[int, int, str]]:
        """Missing ranges of one series (only the confirmed ones unless `confirmed_only=False`)."""
        cur = self._conn().execute(
            "SELECT start_ts, end_ts, kind FROM holes WHERE venue=? AND symbol=? AND timeframe=? AND attempts >= ?"
            " ORDER BY start_ts",
            (venue, symbol, timeframe, CONFIRM_AFTER if confirmed_only else 1),
        )
        return [tuple(r) for r in cur]

    # --- fetch log ---------------------------------------------------------------------------------------------

    def log_fetch(
        self,
        venue: str,
        symbol: str,
        timeframe: str,
        start_ts: int,
        end_ts: int,
        kind: str,
        rows: int,
        outcome: str,
        holder: str,
        detail: dict | None = None,
    ) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO fetches (venue, symbol, timeframe, start_ts, end_ts, kind, rows, outcome, holder, at,"
                " detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    venue,
                    symbol,
                    timeframe,
                    start_ts,
                    end_ts,
                    kind,
                    rows,
                    outcome,
                    holder,
                    time.time(),
                    json.dumps(detail) if detail else None,
                ),
            )

    def fetches(self, venue: str | None = None) -> list[dict]:
        conn = self._conn()
        cur = conn.execute(
            "SELECT venue, symbol, timeframe, start_ts, end_ts, kind, rows, outcome, holder, at FROM fetches"
            + (" WHERE venue=?" if venue else "")
            + " ORDER BY id",
            (venue,) if venue else (),
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur]

    # --- leases ------------------------------------------------------------------------------------------------

    def try_lease(self, venue: str, symbol: str, timeframe: str, holder: str, lease_s: float) -> bool:
        """Take the lease if it is free, expired or already ours; one transaction."""
        now = time.time()
        with self._tx() as db:
            row = db.execute(
                "SELECT holder, expires_at FROM leases WHERE venue=? AND symbol=? AND timeframe=?",
                (venue, symbol, timeframe),
            ).fetchone()
            if row is not None and row[0] != holder and row[1] > now and not holder_dead(row[0]):
                return False
            db.execute(
                "INSERT OR REPLACE INTO leases VALUES (?, ?, ?, ?, ?)",
                (venue, symbol, timeframe, holder, now + lease_s),
            )
            return True

    def release(self, venue: str, symbol: str, timeframe: str, holder: str) -> None:
        with self._tx() as db:
            db.execute(
                "DELETE FROM leases WHERE venue=? AND symbol=? AND timeframe=? AND holder=?",
                (venue, symbol, timeframe, holder),
            )

    def lease_holder(self, venue: str, symbol: str, timeframe: str) -> tuple[str, float] | None:
        row = (
            self._conn()
            .execute(
                "SELECT holder, expires_at FROM leases WHERE venue=? AND symbol=? AND timeframe=?",
                (venue, symbol, timeframe),
            )
            .fetchone()
        )
        return (row[0], row[1]) if row else None

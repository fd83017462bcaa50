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


CONFIRM_AFTER = 2  # a range is "confirmed missing" after this many misses by one holder, separated in time
DEFAULT_RECHECK_S = 7 * 86400.0  # a confirmed hole is asked again after this (data.hole_recheck_days)


SERIES_COLUMNS = (
    "venue, symbol, timeframe, first_ts, last_ts, rows, content_hash, floor_ts, last_fetch_at, last_outcome,"
    " failures, floor_recheck_at"
)


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
    floor_recheck_at: float | None = None

    def active_floor(self, now: float | None = None) -> int | None:
        """The venue floor while it is in force (before its re-check date), else None."""
        now = time.time() if now is None else now
        if self.floor_ts is None or self.floor_recheck_at is None or self.floor_recheck_at <= now:
            return None
        return self.floor_ts


def holder_id() -> str:
    """A unique lease-holder id naming host, process and thread."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}:{uuid.uuid4().hex[:8]}"


def process_holder() -> str:
    """This process as a hole-miss holder (host:pid), for callers without a lease holder id."""
    return f"{socket.gethostname()}:{os.getpid()}"


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

    # --- series ------------------------------------------------------------------------------------------------

    def series(self, venue: str, symbol: str, timeframe: str) -> SeriesRow | None:
        cur = self._conn().execute(
            f"SELECT {SERIES_COLUMNS} FROM series WHERE venue=? AND symbol=? AND timeframe=?",
            (venue, symbol, timeframe),
        )
        row = cur.fetchone()
        return SeriesRow(*row) if row else None

    def all_series(self, venue: str | None = None) -> list[SeriesRow]:
        sql = f"SELECT {SERIES_COLUMNS} FROM series"
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
        *,
        holder: str | None = None,
        recheck_s: float = DEFAULT_RECHECK_S,
        min_gap_s: float = 0.0,
    ) -> int:
        """Record that a targeted fetch of [start_ts, end_ts] by `holder` (default: this process) came back without
        those bars; returns the holder's misses so far. The range is confirmed missing when one holder missed it
        `CONFIRM_AFTER` times, each at least `min_gap_s` after its first; a miss by another holder restarts the
        count (it never adds up with someone else's), except that it leaves a confirmation in force alone. A
        confirmation is in force for `recheck_s`; `floor_if_confirmed` then becomes the series' venue floor for
        as long, in the same transaction (a crash cannot separate the two)."""
        holder = holder or process_holder()
        now = time.time()
        key = (venue, symbol, timeframe, start_ts, end_ts)
        with self._tx() as db:
            row = db.execute(
                "SELECT attempts, holder, first_at, recheck_at FROM holes WHERE venue=? AND symbol=? AND timeframe=?"
                " AND start_ts=? AND end_ts=?",
                key,
            ).fetchone()
            in_force = row is not None and row[3] is not None and row[3] > now
            if row is not None and row[1] != holder and in_force:
                return int(row[0])  # another holder's confirmation stands until its re-check date
            if row is None or row[1] != holder or (row[3] is not None and not in_force):
                attempts, first_at = 1, now  # a new count: first miss by this holder (or a due re-check)
            elif now - (row[2] if row[2] is not None else now) >= min_gap_s:
                attempts, first_at = int(row[0]) + 1, row[2]
            else:
                attempts, first_at = int(row[0]), row[2]  # too soon after its first miss to count
            confirmed = attempts >= CONFIRM_AFTER
            recheck_at = now + recheck_s if confirmed else None
            db.execute(
                "INSERT OR REPLACE INTO holes (venue, symbol, timeframe, start_ts, end_ts, kind, confirmed_at,"
                " attempts, holder, first_at, recheck_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*key, kind, now, attempts, holder, first_at, recheck_at),
            )
            if floor_if_confirmed is not None and confirmed:
                db.execute(
                    "INSERT INTO series (venue, symbol, timeframe, floor_ts, floor_recheck_at) VALUES (?, ?, ?, ?, ?)"
                    " ON CONFLICT(venue, symbol, timeframe) DO UPDATE SET floor_ts=excluded.floor_ts,"
                    " floor_recheck_at=excluded.floor_recheck_at",
                    (venue, symbol, timeframe, floor_if_confirmed, recheck_at),
                )
        return attempts

    def miss(self, venue: str, symbol: str, timeframe: str, start_ts: int, end_ts: int) -> dict | None:
        """The recorded miss of exactly this range (holder, first_at, attempts, recheck_at, ...), if any."""
        cur = self._conn().execute(
            "SELECT * FROM holes WHERE venue=? AND symbol=? AND timeframe=? AND start_ts=? AND end_ts=?",
            (venue, symbol, timeframe, start_ts, end_ts),
        )
        row = cur.fetchone()
        return dict(zip([d[0] for d in cur.description], row, strict=True)) if row else None

    def drop_miss(self, venue: str, symbol: str, timeframe: str, start_ts: int, end_ts: int) -> None:
        """Forget the miss of exactly this range unless it is a confirmation in force (the venue delivered it after
        all); a due venue floor goes with a head miss."""
        key, now = (venue, symbol, timeframe, start_ts, end_ts), time.time()
        where = (
            "WHERE venue=? AND symbol=? AND timeframe=? AND start_ts=? AND end_ts=?"
            " AND (recheck_at IS NULL OR recheck_at <= ?)"
        )
        with self._tx() as db:
            kinds = {r[0] for r in db.execute(f"SELECT kind FROM holes {where}", (*key, now))}
            db.execute(f"DELETE FROM holes {where}", (*key, now))
            if "head" in kinds:
                db.execute(
                    "UPDATE series SET floor_ts=NULL, floor_recheck_at=NULL WHERE venue=? AND symbol=? AND timeframe=?"
                    " AND (floor_recheck_at IS NULL OR floor_recheck_at <= ?)",
                    (venue, symbol, timeframe, now),
                )

    def holes(
        self, venue: str, symbol: str, timeframe: str, *, confirmed_only: bool = True, now: float | None = None
    ) -> list[tuple[int, int, str]]:
        """Missing ranges of one series: the confirmations in force at `now` (default: the current time), or every
        recorded miss with `confirmed_only=False`."""
        sql = "SELECT start_ts, end_ts, kind FROM holes WHERE venue=? AND symbol=? AND timeframe=?"
        args: tuple = (venue, symbol, timeframe)
        if confirmed_only:
            sql += " AND attempts >= ? AND recheck_at > ?"
            args += (CONFIRM_AFTER, time.time() if now is None else now)
        return [tuple(r) for r in self._conn().execute(sql + " ORDER BY start_ts", args)]

    def hole_rows(self, venue: str, symbol: str | None = None, timeframe: str | None = None) -> list[dict]:
        """Every recorded miss with who asked and when (evidence and tests)."""
        sql, args = "SELECT * FROM holes WHERE venue=?", [venue]
        for col, val in (("symbol", symbol), ("timeframe", timeframe)):
            if val is not None:
                sql, args = sql + f" AND {col}=?", [*args, val]
        cur = self._conn().execute(sql + " ORDER BY symbol, start_ts", args)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur]

    def forget_holes(self, venue: str, timeframe: str, symbols: list[str]) -> int:
        """Forget every recorded miss and venue floor of these series (`data.recheck_holes`), so the next audit
        asks the venue again; returns how many hole rows were removed."""
        removed = 0
        with self._tx() as db:
            for symbol in symbols:
                cur = db.execute(
                    "DELETE FROM holes WHERE venue=? AND symbol=? AND timeframe=?", (venue, symbol, timeframe)
                )
                removed += cur.rowcount
                db.execute(
                    "UPDATE series SET floor_ts=NULL, floor_recheck_at=NULL WHERE venue=? AND symbol=? AND timeframe=?",
                    (venue, symbol, timeframe),
                )
        return removed

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
        *,
        reask: bool = False,
    ) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO fetches (venue, symbol, timeframe, start_ts, end_ts, kind, rows, outcome, holder, at,"
                " detail, reask) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                    int(reask),
                ),
            )

    def fetches(self, venue: str | None = None) -> list[dict]:
        """The fetch log, oldest first: one row per range asked (`reask`: the holder's delayed second ask of a range
        it had just missed; every other ask of a (symbol, range) is the only one across all processes)."""
        conn = self._conn()
        cur = conn.execute(
            "SELECT venue, symbol, timeframe, start_ts, end_ts, kind, rows, outcome, holder, at, reask FROM fetches"
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

    def renew_lease(self, venue: str, symbol: str, timeframe: str, holder: str, lease_s: float) -> bool:
        """Push our lease's expiry to now + `lease_s`; False when it is no longer ours (released, or it expired and
        another holder took it over: stop working on the series). Never creates a lease."""
        with self._tx() as db:
            cur = db.execute(
                "UPDATE leases SET expires_at=? WHERE venue=? AND symbol=? AND timeframe=? AND holder=?",
                (time.time() + lease_s, venue, symbol, timeframe, holder),
            )
            return cur.rowcount == 1

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

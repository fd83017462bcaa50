"""Registry records of what is stored and what was fetched: one row per series (the file's span, rows and content
hash, the last fetch outcome, the venue floor) and the fetch log (one row per range asked of a venue)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

SERIES_COLUMNS = (
    "venue, symbol, timeframe, first_ts, last_ts, rows, content_hash, floor_ts, last_fetch_at, last_outcome,"
    " failures, floor_recheck_at"
)


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


class RecordsMixin:
    """Series rows and the fetch log of `registry.Registry` (uses its `_conn` and `_tx`)."""

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

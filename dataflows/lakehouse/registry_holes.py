"""Registry records of ranges a venue did not deliver: misses counted per holder, confirmed after `CONFIRM_AFTER`
misses by the same holder separated in time, in force until a re-check date; a confirmed head miss also sets the
series' venue floor. See the `registry.py` docstring."""

from __future__ import annotations

import os
import socket
import time

CONFIRM_AFTER = 2  # a range is "confirmed missing" after this many misses by one holder, separated in time
DEFAULT_RECHECK_S = 7 * 86400.0  # a confirmed hole is asked again after this (data.hole_recheck_days)


def process_holder() -> str:
    """This process as a hole-miss holder (host:pid), for callers without a lease holder id."""
    return f"{socket.gethostname()}:{os.getpid()}"


class HolesMixin:
    """Hole and venue-floor records of `registry.Registry` (uses its `_conn` and `_tx`)."""

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

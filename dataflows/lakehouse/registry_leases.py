"""Registry records of fetch leases: who holds a series' lease and until when, taken and renewed in one
transaction each; a holder id names host, process and thread, so a crashed holder on this host is seen at once."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid

from dataflows.lakehouse.atomic import pid_alive


def holder_dead(holder: str) -> bool:
    """True when `holder` names a process on this host that no longer exists (a crashed lease holder)."""
    parts = holder.split(":")
    if len(parts) < 2 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    return not pid_alive(int(parts[1]))


def holder_id() -> str:
    """A unique lease-holder id naming host, process and thread."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}:{uuid.uuid4().hex[:8]}"


class LeaseRowsMixin:
    """Lease rows of `registry.Registry` (uses its `_conn` and `_tx`)."""

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

"""Quarantine: symbols whose data tripped the toxic guard, with evidence and an expiry. Never deletes bars.

`quarantine.parquet` holds one row per (venue, symbol, timeframe, reason). Re-detection refreshes `last_seen`,
`evidence` and `expires_at`; `first_seen` is kept. Read-modify-write happens under an inter-process file lock and the
file is replaced atomically.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

import polars as pl

from dataflows import columns as C
from dataflows.lakehouse import atomic
from dataflows.lakehouse.store import Lakehouse

log = logging.getLogger(__name__)

KEY = (C.VENUE, C.SYMBOL, C.TIMEFRAME, C.REASON)


def schema() -> dict:
    ts = pl.Datetime("ms", "UTC")
    return {
        C.VENUE: pl.String,
        C.SYMBOL: pl.String,
        C.TIMEFRAME: pl.String,
        C.REASON: pl.String,
        C.FIRST_SEEN: ts,
        "last_seen": ts,
        C.EXPIRES_AT: ts,
        C.EVIDENCE: pl.String,
    }


def read(lh: Lakehouse) -> pl.DataFrame:
    """All quarantine entries (active and expired)."""
    if not lh.quarantine_path.exists():
        return pl.DataFrame(schema=schema())
    return lh.read_table(lh.quarantine_path, schema(), "quarantine")


def active(lh: Lakehouse, venue: str, timeframe: str, as_of: dt.datetime) -> dict[str, dict]:
    """Active entries by symbol: {symbol: {reason, first_seen, expires_at, evidence}} (several reasons joined)."""
    frame = read(lh).filter(
        (pl.col(C.VENUE) == venue) & (pl.col(C.TIMEFRAME) == timeframe) & (pl.col(C.EXPIRES_AT) > as_of)
    )
    out: dict[str, dict] = {}
    for row in frame.sort(C.SYMBOL, C.REASON).iter_rows(named=True):
        entry = out.setdefault(row[C.SYMBOL], {"reason": [], "evidence": {}, "first_seen": None, "expires_at": None})
        entry["reason"].append(row[C.REASON])
        entry["evidence"][row[C.REASON]] = _evidence(row)
        entry["first_seen"] = str(row[C.FIRST_SEEN])
        entry["expires_at"] = str(row[C.EXPIRES_AT])
    for entry in out.values():
        entry["reason"] = ", ".join(entry["reason"])
    return out


def _evidence(row: dict) -> dict | list | str | float | None:
    """A row's evidence as JSON; a row whose evidence is not JSON stays in force and says so (never a crash)."""
    text = row[C.EVIDENCE]
    try:
        return json.loads(text) if text is not None else None
    except (TypeError, ValueError) as exc:
        log.warning(
            "quarantine entry %s/%s (%s) has evidence that is not JSON (%s); kept in force with the raw text",
            row[C.VENUE],
            row[C.SYMBOL],
            row[C.REASON],
            exc,
        )
        return {"unparsed_evidence": str(text)[:500], "error": f"not JSON: {exc}"}


def upsert(lh: Lakehouse, entries: list[dict], *, now: dt.datetime, ttl: dt.timedelta) -> pl.DataFrame:
    """Add or refresh entries ({venue, symbol, timeframe, reason, evidence: dict}); returns the whole table."""
    if not entries:
        return read(lh)
    new = pl.DataFrame(
        [
            {
                C.VENUE: e[C.VENUE],
                C.SYMBOL: e[C.SYMBOL],
                C.TIMEFRAME: e[C.TIMEFRAME],
                C.REASON: e[C.REASON],
                C.FIRST_SEEN: now,
                "last_seen": now,
                C.EXPIRES_AT: now + ttl,
                C.EVIDENCE: json.dumps(e[C.EVIDENCE], sort_keys=True, default=str),
            }
            for e in entries
        ],
        schema=schema(),
    )
    with lh.lock("quarantine"):
        old = read(lh)
        kept_first = old.select(*KEY, C.FIRST_SEEN)
        merged = pl.concat(
            [
                old.join(new.select(KEY), on=list(KEY), how="anti"),
                new.drop(C.FIRST_SEEN)
                .join(kept_first, on=list(KEY), how="left")
                .with_columns(pl.coalesce(C.FIRST_SEEN, pl.lit(now, schema()[C.FIRST_SEEN])))
                .select(list(schema())),
            ]
        ).sort(*KEY)
        atomic.write_parquet(lh.quarantine_path, merged)
    return merged

"""The lakehouse auditor: classify each candidate series as FRESH, STALE, MISSING, GAPPED, TOXIC or UNREPAIRABLE,
with the evidence and the exact bar ranges a repair would fetch.

The required window of a symbol is [max(as_of − history_days, listing), last completed bar]. Bars the venue has
confirmed it does not have (a targeted fetch and its delayed re-ask came back without them) are not fetched again
until the confirmation's re-check date (`registry.py`; then they are asked once more): before the venue's
floor they mean the older history does not exist (UNREPAIRABLE); after the last bar the venue has no newer data
(UNREPAIRABLE, named first: `run.as_of` lies beyond the source); inside the series they are venue gaps, accepted
(FRESH, listed in the evidence; returns span them) when at most `max_gap_bars` consecutive expected bars long, else
UNREPAIRABLE. Holidays are never gaps: the calendar does not expect them.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np
import polars as pl

from dataflows import columns as C
from dataflows.lakehouse.calendar import DAY_MS, Calendar, calendar_for
from dataflows.lakehouse.store import Lakehouse
from dataflows.timestamps import iso

FRESH, STALE, MISSING, GAPPED, TOXIC, UNREPAIRABLE = (
    "FRESH",
    "STALE",
    "MISSING",
    "GAPPED",
    "TOXIC",
    "UNREPAIRABLE",
)
STATUSES = (FRESH, STALE, MISSING, GAPPED, TOXIC, UNREPAIRABLE)


@dataclass(frozen=True)
class BarRange:
    """A contiguous run of expected bars (open times, inclusive) and why it is wanted."""

    start: int
    end: int
    kind: str  # all | head | gap | tail
    bars: int

    def as_dict(self) -> dict:
        return {"start": iso(self.start), "end": iso(self.end), "kind": self.kind, "bars": self.bars}


@dataclass(frozen=True)
class Candidate:
    """What the auditor needs to know about one symbol."""

    symbol: str
    asset_class: str
    listed_at_ms: int | None = None
    calendar: str | None = None  # equities: exchange calendar name (None = XNYS); ignored for crypto


@dataclass(frozen=True)
class SymbolAudit:
    """One symbol's health at one moment."""

    symbol: str
    asset_class: str
    status: str  # TOXIC when quarantined, else data_status
    data_status: str  # FRESH | STALE | MISSING | GAPPED | UNREPAIRABLE
    reason: str
    ranges: tuple[BarRange, ...] = ()
    evidence: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        out = asdict(self)
        out["ranges"] = [r.as_dict() for r in self.ranges]
        return out


def _runs(ts: np.ndarray, cal: Calendar) -> list[tuple[int, int, int]]:
    """Group sorted expected open times into contiguous runs (consecutive on the calendar): (start, end, bars)."""
    if ts.size == 0:
        return []
    rank = np.asarray(cal.rank(ts), dtype=np.int64)
    cut = np.flatnonzero(np.diff(rank) != 1) + 1
    starts, ends = np.r_[0, cut], np.r_[cut, ts.size] - 1
    return [(int(ts[a]), int(ts[b]), int(b - a + 1)) for a, b in zip(starts, ends, strict=True)]


def required_window(cand: Candidate, timeframe: str, as_of_ms: int, history_days: int) -> tuple[Calendar, int, int]:
    """(calendar, first required open time, last completed open time) of a candidate."""
    cal = calendar_for(cand.asset_class, timeframe, cand.calendar)
    last = cal.last_completed(as_of_ms)
    start = cal.floor(last - (history_days - 1) * DAY_MS)
    if cand.listed_at_ms is not None:
        listed = cal.floor(cand.listed_at_ms)
        start = max(start, listed if listed >= cand.listed_at_ms else listed + cal.bar_ms)
    return cal, start, last


def audit_symbol(
    lh: Lakehouse,
    venue: str,
    timeframe: str,
    cand: Candidate,
    *,
    as_of_ms: int,
    history_days: int,
    quarantine: dict | None = None,
    max_gap_bars: int = 14,
) -> SymbolAudit:
    """Classify one candidate against the lakehouse (reconciling the registry with the file first).

    A confirmed interior venue gap of at most `max_gap_bars` consecutive expected bars is accepted (FRESH, listed
    under `accepted_gaps` in the evidence); a longer one makes the symbol UNREPAIRABLE."""
    cal, start, last = required_window(cand, timeframe, as_of_ms, history_days)
    now = time.time()  # confirmed holes and floors past their re-check date count as unconfirmed
    row, note = lh.reconcile(venue, timeframe, cand.symbol)
    evidence: dict = {"required_start": iso(start), "last_completed": iso(last)}
    if note:
        evidence["reconciled"] = note

    def result(data_status: str, reason: str, ranges: tuple[BarRange, ...] = ()) -> SymbolAudit:
        status = TOXIC if quarantine else data_status
        if quarantine:
            evidence["quarantine"] = quarantine
            reason = f"quarantined: {quarantine.get('reason')}; data {data_status.lower()}: {reason}"
        return SymbolAudit(cand.symbol, cand.asset_class, status, data_status, reason, ranges, evidence)

    expected = cal.expected(start, last)
    if row is None or row.rows == 0 or row.first_ts is None:
        holes = lh.registry.holes(venue, cand.symbol, timeframe, now=now)
        if any(h[2] == "all" and h[0] <= start and h[1] >= last for h in holes):
            return result(UNREPAIRABLE, "venue returned no bars for the required window")
        return result(MISSING, "no stored bars", (BarRange(start, last, "all", int(expected.size)),))

    # content checks against the calendar: unusable rows are never counted (a writable lakehouse moves them to
    # corrupt/ and rewrites the clean part, so the bars they held are asked of the venue again)
    insp = lh.inspect(venue, timeframe, cand.symbol, cal, repair=True)
    if insp is not None and (insp.notes or not insp.ok or insp.ts_type):
        evidence["content_problems"] = {**insp.evidence(), **({"repair": insp.notes} if insp.notes else {})}
    stored_ts = insp.ts if insp is not None else None
    if stored_ts is None or stored_ts.len() == 0:  # vanished since the reconcile: treat as missing
        return result(MISSING, "no stored bars", (BarRange(start, last, "all", int(expected.size)),))
    have = stored_ts.to_numpy()
    first_ts, last_ts = int(have.min()), int(have.max())
    evidence.update(first_bar=iso(first_ts), last_bar=iso(last_ts), rows=int(have.size))
    missing = np.setdiff1d(expected, have, assume_unique=True)
    if missing.size == 0:
        return result(FRESH, "complete")

    holes = lh.registry.holes(venue, cand.symbol, timeframe, now=now)
    confirmed = np.zeros(missing.size, dtype=bool)
    for h_start, h_end, _ in holes:
        confirmed |= (missing >= h_start) & (missing <= h_end)
    if (floor := row.active_floor(now)) is not None:
        confirmed |= missing < floor
    ranges = []
    for r_start, r_end, n in _runs(missing[~confirmed], cal):
        kind = "head" if r_end < first_ts else "tail" if r_start > last_ts else "gap"
        ranges.append(BarRange(r_start, r_end, kind, n))
    problems, blocking, accepted, accepted_what = [], [], [], []
    for r_start, r_end, n in _runs(missing[confirmed], cal):
        p = {"start": iso(r_start), "end": iso(r_end), "bars": n}
        if r_start > last_ts:  # the source ends before as_of: which as_of it does support
            p = {"kind": "no_newer_data", **p, "after": _when(last_ts, cal)}
            p |= {"as_of": _when(last_ts, cal, as_of=True), "last_completed": _when(last, cal)}
            blocking.append((0, no_newer_data_reason(p)))
        elif r_end < first_ts:
            p = {"kind": "no_older_history", **p}
            why = (
                f"the venue has no bars before {_when(first_ts, cal)} ({n} bars from the required start "
                f"{_when(start, cal)} are missing): lower data.history_days"
            )
            blocking.append((1, why))
        else:
            p = {"kind": "venue_gap", **p}
            if n <= max_gap_bars:
                accepted.append(p)
                span = (p["start"][:10], p["end"][:10]) if cal.bar_ms == DAY_MS else (p["start"], p["end"])
                accepted_what.append(f"{span[0]}..{span[1]} ({n} bars)")
            else:
                why = (
                    f"the venue has no bars in {_when(r_start, cal)}..{_when(r_end, cal)} ({n} consecutive bars, "
                    f"more than data.max_gap_bars={max_gap_bars})"
                )
                blocking.append((2, why))
        problems.append(p)
    if problems:
        evidence["venue_confirmed_missing"] = problems
    if accepted:
        evidence["accepted_gaps"] = accepted
    if ranges:
        kinds = {r.kind for r in ranges}
        status = GAPPED if kinds & {"head", "gap"} else STALE
        what = ", ".join(f"{r.kind} {iso(r.start)}..{iso(r.end)} ({r.bars} bars)" for r in ranges)
        return result(status, f"missing {what}", tuple(ranges))
    if blocking:
        return result(UNREPAIRABLE, "; ".join(why for _, why in sorted(blocking, key=lambda b: b[0])))
    if accepted:
        what = ", ".join(accepted_what)
        return result(FRESH, f"complete but for accepted venue gap(s) {what} (data.max_gap_bars={max_gap_bars})")
    return result(FRESH, "complete")


def _when(ts: int, cal: Calendar, *, as_of: bool = False) -> str:
    """A bar for messages: its date on daily calendars, else its ISO time (`as_of`: the moment it completes)."""
    if cal.bar_ms == DAY_MS:
        return iso(ts)[:10]
    return iso(int(cal.completes_at(ts)) if as_of else ts)


def no_newer_data_reason(p: dict) -> str:
    """Why a symbol whose source ends before `as_of` is unrepairable, and what to do."""
    return (
        f"the venue has no bars after {p['after']} ({p['bars']} bars up to the last completed bar "
        f"{p['last_completed']} are missing): set run.as_of to {p['as_of']} or earlier, or update the source"
    )


def no_newer_data(audit: SymbolAudit) -> dict | None:
    """The audit's confirmed `no_newer_data` problem (the venue has no bars after its last one), if any."""
    return next((p for p in audit.evidence.get("venue_confirmed_missing", ()) if p["kind"] == "no_newer_data"), None)


def audit_table(audits: list[SymbolAudit]) -> pl.DataFrame:
    """Audits as a frame: symbol, asset_class, status, data_status, reason, missing_bars."""
    return pl.DataFrame(
        {
            C.SYMBOL: [a.symbol for a in audits],
            C.ASSET_CLASS: [a.asset_class for a in audits],
            "status": [a.status for a in audits],
            "data_status": [a.data_status for a in audits],
            "reason": [a.reason for a in audits],
            "missing_bars": [sum(r.bars for r in a.ranges) for a in audits],
        },
        schema={
            C.SYMBOL: pl.String,
            C.ASSET_CLASS: pl.String,
            "status": pl.String,
            "data_status": pl.String,
            "reason": pl.String,
            "missing_bars": pl.Int64,
        },
    )

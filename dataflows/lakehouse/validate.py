"""Validation of OHLCV bars before anything is stored: hostile input becomes a `BadPayload` naming the problem."""

from __future__ import annotations

import polars as pl

from dataflows import columns as C
from dataflows.errors import BadPayload

# Bars before 2000-01-01 are not plausible market data; seconds parsed as milliseconds land in 1970.
MIN_TS_MS = 946_684_800_000


def validate_bars(frame: pl.DataFrame, *, source: str, bar_ms: int, max_ts_ms: int | None = None) -> pl.DataFrame:
    """Return `frame` in the canonical OHLCV schema, or raise `BadPayload` naming `source` and the first bad row.

    Rejected: missing columns or non-numeric values; NaN/inf/zero/negative prices; high below low, open or close;
    low above open or close; NaN/inf/negative volume; duplicate or unsorted timestamps; timestamps off the bar grid
    or before 2000 (seconds read as milliseconds) or after `max_ts_ms`.
    """
    missing = [c for c in C.OHLCV if c not in frame.columns]
    if missing:
        msg = f"{source}: bars lack columns {missing}; expected {list(C.OHLCV)}"
        raise BadPayload(msg)
    try:
        bars = frame.select(
            pl.col(C.TS).cast(pl.Datetime("ms", "UTC")),
            *(pl.col(c).cast(pl.Float64, strict=True) for c in (*C.PRICES, C.VOLUME)),
        )
    except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError) as exc:
        msg = f"{source}: bars have non-numeric values or a bad timestamp type ({exc.__class__.__name__})"
        raise BadPayload(msg) from exc
    if bars.height == 0:
        return bars
    ts = pl.col(C.TS).dt.epoch("ms")
    o, h, lo, c, v = (pl.col(x) for x in (*C.PRICES, C.VOLUME))
    checks = {
        "null value": pl.any_horizontal(pl.all().is_null()),
        "non-finite price": ~pl.all_horizontal(*(pl.col(p).is_finite() for p in C.PRICES)),
        "non-positive price": pl.any_horizontal(*(pl.col(p) <= 0 for p in C.PRICES)),
        "high below low/open/close": (h < lo) | (h < o) | (h < c),
        "low above open/close": (lo > o) | (lo > c),
        "bad volume": ~v.is_finite() | (v < 0),
        "timestamp before 2000 (seconds read as milliseconds?)": ts < MIN_TS_MS,
        "timestamp off the bar grid": (ts % bar_ms) != 0,
        "duplicate timestamp": ts.is_duplicated(),
        "unsorted timestamps": ts.diff().fill_null(1) <= 0,
    }
    if max_ts_ms is not None:
        checks["timestamp in the future"] = ts > max_ts_ms
    flagged = bars.with_row_index("row").select(
        "row", C.TS, *(pl.col(x) for x in (*C.PRICES, C.VOLUME)), **{k: e for k, e in checks.items()}
    )
    for name in checks:
        bad = flagged.filter(pl.col(name))
        if bad.height:
            first = bad.row(0, named=True)
            row = {k: first[k] for k in ("row", *C.PRICES, C.VOLUME)} | {C.TS: str(first[C.TS])}
            msg = f"{source}: {name} in {bad.height} bar(s); first: {row}"
            raise BadPayload(msg)
    return bars

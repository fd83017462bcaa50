"""Wide panels from the lakehouse: stored bars of many symbols aligned on the union of their timestamps."""

from __future__ import annotations

import numpy as np
import polars as pl

from dataflows import columns as C
from dataflows.lakehouse.store import Lakehouse


def read_panel(
    lh: Lakehouse,
    venue: str,
    timeframe: str,
    symbols: list[str],
    *,
    start_ms: int | None = None,
    end_ms: int | None = None,
    fields: tuple[str, ...] = (C.CLOSE, C.VOLUME),
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(open times int64 [T], {field: float64 [T, N]}) with NaN where a symbol has no bar; columns follow `symbols`."""
    frames = []
    for symbol in symbols:
        bars = lh.read(venue, timeframe, symbol)
        if bars is None:
            bars = pl.DataFrame(schema=C.ohlcv_schema())
        ts = pl.col(C.TS).dt.epoch("ms")
        if start_ms is not None:
            bars = bars.filter(ts >= start_ms)
        if end_ms is not None:
            bars = bars.filter(ts <= end_ms)
        frames.append(bars.select(ts.alias("t"), *fields).with_columns(pl.lit(symbol).alias(C.SYMBOL)))
    long = pl.concat(frames) if frames else pl.DataFrame()
    times = np.sort(long["t"].unique().to_numpy()) if long.height else np.empty(0, dtype=np.int64)
    out = {f: np.full((times.size, len(symbols)), np.nan) for f in fields}
    if long.height:
        col_of = {s: i for i, s in enumerate(symbols)}
        rows = np.searchsorted(times, long["t"].to_numpy())
        cols = np.array([col_of[s] for s in long[C.SYMBOL].to_list()], dtype=np.int64)
        for f in fields:
            out[f][rows, cols] = long[f].to_numpy()
    return times.astype(np.int64), out

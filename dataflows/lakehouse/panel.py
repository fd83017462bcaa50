"""Wide panels: bars of many symbols aligned on the union of their timestamps (NaN where a symbol has no bar)."""

from __future__ import annotations

import numpy as np
import polars as pl

from dataflows import columns as C
from dataflows.lakehouse.store import Lakehouse


def long_to_wide(
    long: pl.DataFrame, symbols: list[str], fields: tuple[str, ...]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A long frame (symbol, ts, fields...) → (open times int64 [T], {field: float64 [T, N]}), columns = `symbols`."""
    if long.height == 0:
        return np.empty(0, dtype=np.int64), {f: np.full((0, len(symbols)), np.nan) for f in fields}
    t = long[C.TS].dt.epoch("ms").to_numpy()
    times = np.unique(t)
    col_of = {s: i for i, s in enumerate(symbols)}
    rows = np.searchsorted(times, t)
    cols = np.fromiter((col_of[s] for s in long[C.SYMBOL].to_list()), dtype=np.int64, count=long.height)
    out = {}
    for f in fields:
        wide = np.full((times.size, len(symbols)), np.nan)
        wide[rows, cols] = long[f].cast(pl.Float64).to_numpy()
        out[f] = wide
    return times.astype(np.int64), out


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
    """Stored bars of `symbols` in [start_ms, end_ms] as a wide panel (see `long_to_wide`)."""
    frames = []
    ts = pl.col(C.TS).dt.epoch("ms")
    for symbol in symbols:
        bars = lh.read(venue, timeframe, symbol)
        if bars is None:
            continue
        if start_ms is not None:
            bars = bars.filter(ts >= start_ms)
        if end_ms is not None:
            bars = bars.filter(ts <= end_ms)
        frames.append(bars.select(C.TS, *fields).with_columns(pl.lit(symbol).alias(C.SYMBOL)))
    long = pl.concat(frames) if frames else pl.DataFrame(schema={C.TS: pl.Datetime("ms", "UTC"), C.SYMBOL: pl.String})
    return long_to_wide(long, symbols, fields)

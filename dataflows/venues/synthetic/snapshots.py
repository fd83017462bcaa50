"""Cross-sections of the synthetic venue at its as_of: the tickers and the screener's ratings snapshot."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from dataflows import columns as C
from dataflows.lakehouse.calendar import DAY_MS
from dataflows.venues.base import ticker_schema

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from dataflows.venues.synthetic.paths import _Series
    from dataflows.venues.synthetic.universe import _Spec


def tickers_frame(
    specs: Iterable[_Spec], panel: dict[str, _Series], as_of_ms: int, active: Callable[[_Spec], bool]
) -> pl.DataFrame:
    """Last price (the forming bar's close so far), last completed bar's quote volume and the rolling 24-hour change
    of every active symbol with bars (see `SyntheticVenue.tickers`)."""
    rows = []
    for s in specs:
        series = panel[s.symbol]
        if not active(s) or series.ts.size == 0:
            continue
        closes = series.ohlcv[3].copy()
        vols = series.ohlcv[4]
        if series.forming is not None:
            closes[-1] = series.forming[3]
        done = series.ts.size - (series.forming is not None)
        qv = float(closes[done - 1] * vols[done - 1]) if done else None
        ref = np.flatnonzero(series.ts + DAY_MS <= as_of_ms - DAY_MS)  # bars (daily) closed >= 24 h ago
        change = float(closes[-1] / closes[ref[-1]] - 1.0) if ref.size else None
        rows.append({C.SYMBOL: s.symbol, C.LAST: float(closes[-1]), C.QUOTE_VOLUME: qv, C.CHANGE: change})
    return pl.DataFrame(rows, schema=ticker_schema())


def ratings_frame(truth: Callable[[str], pl.DataFrame], symbols: Iterable[str]) -> pl.DataFrame:
    """Each symbol's technical ratings on its last completed bar, from `truth(symbol)` (its completed bars); symbols
    without bars are left out (see `SyntheticVenue.ratings_snapshot`)."""
    from dataflows.lakehouse.panel import long_to_wide
    from kernels.ratings import technical_ratings

    wanted = [sym for sym in symbols if truth(sym).height]
    long = pl.concat([truth(sym).with_columns(pl.lit(sym).alias(C.SYMBOL)) for sym in wanted])
    # one ragged panel (NaN before listing, after delisting, and on equities' weekends): the kernel rates each
    # column on its own bars, exactly as if computed alone
    fields = (C.HIGH, C.LOW, C.CLOSE, C.VOLUME)
    times, panel = long_to_wide(long, wanted, fields)
    del long
    last = np.array([int(np.flatnonzero(~np.isnan(panel[C.CLOSE][:, j]))[-1]) for j in range(len(wanted))])
    # Only each symbol's last completed bar is read: rate from that row on (`start`), per group of symbols
    # sharing it (the kernel still runs every bar; a full T×N×26 vote array was 1.2 GB at 2,000 symbols).
    rated = np.empty((3, len(wanted)))
    groups = {int(i): np.flatnonzero(last == i) for i in np.unique(last)}
    main = max(groups, key=lambda i: (groups[i].size, i))
    for i, cols in groups.items():
        whole = i == main  # the big group reads every column from row `main` on: no column copies
        r = technical_ratings(*(panel[f] if whole else panel[f][:, cols] for f in fields), start=i)
        pick = cols if whole else np.arange(cols.size)
        rated[:, cols] = (r.recommend_ma[0, pick], r.recommend_other[0, pick], r.recommend_all[0, pick])
    rows = [
        (
            sym,
            dt.datetime.fromtimestamp(times[last[j]] / 1000, dt.UTC),
            float(rated[0, j]),
            float(rated[1, j]),
            float(rated[2, j]),
        )
        for j, sym in enumerate(wanted)
    ]
    return pl.DataFrame(
        rows,
        orient="row",
        schema={
            C.SYMBOL: pl.String,
            C.TS: pl.Datetime("ms", "UTC"),
            "recommend_ma": pl.Float64,
            "recommend_other": pl.Float64,
            "recommend_all": pl.Float64,
        },
    ).fill_nan(None)

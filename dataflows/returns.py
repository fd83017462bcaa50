"""The returns matrix: daily simple returns of completed bars, calendar-correct across asset classes.

Crypto (24/7) and equities (exchange sessions) sit side by side on the union of their dates; no date is ever
dropped to make the matrix dense, so crypto weekend returns survive. A return is always measured from the previous
stored close: an equity's Monday from Friday (or across a holiday), and the first bar after an accepted venue gap
from the last close before it (a gap is never filled with a price); where a symbol has no bar its entry is NaN.
Optimizers need a dense matrix: `dense` treats a closed day as a zero return (the price did not move, which is exact
for a held position) and starts at the first row where every column has history.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dataflows import columns as C
from dataflows.errors import DataflowsError
from dataflows.lakehouse.calendar import DAY_MS
from dataflows.lakehouse.panel import read_panel
from dataflows.lakehouse.store import Lakehouse


class NotEnoughHistory(DataflowsError):
    """Too few observations to estimate anything; names the symbols and what to change."""


@dataclass(frozen=True)
class ReturnsPanel:
    """T×N returns (NaN = no bar) with the dates (bar open times, epoch ms) and per-symbol facts."""

    dates: np.ndarray  # int64 [T]
    symbols: list[str]
    asset_class: list[str]
    returns: np.ndarray  # float64 [T, N]
    quote_volume: np.ndarray  # float64 [N]: mean daily close × volume over the panel, NaN without bars
    # float64 [N] / int64 [N]: each symbol's last stored close at or before the panel's end and that bar's open time
    # (the price a decision at the end is sized with); None where unknown (panels sliced from a longer one)
    last_close: np.ndarray | None = None
    last_close_ts: np.ndarray | None = None

    def columns(self, symbols: list[str]) -> ReturnsPanel:
        """The same panel restricted to `symbols` (in that order)."""
        idx = [self.symbols.index(s) for s in symbols]
        return ReturnsPanel(
            self.dates,
            list(symbols),
            [self.asset_class[i] for i in idx],
            self.returns[:, idx],
            self.quote_volume[idx],
            None if self.last_close is None else self.last_close[idx],
            None if self.last_close_ts is None else self.last_close_ts[idx],
        )

    def rows(self, start: int, stop: int) -> ReturnsPanel:
        """Rows [start, stop) (quote volume kept: it was measured on the same window by construction; the last
        closes only when the slice keeps the last row, else they would lie after its end)."""
        end = stop >= self.dates.size
        return ReturnsPanel(
            self.dates[start:stop],
            self.symbols,
            self.asset_class,
            self.returns[start:stop],
            self.quote_volume,
            self.last_close if end else None,
            self.last_close_ts if end else None,
        )

    def observations(self) -> np.ndarray:
        """Valid returns per column."""
        return (~np.isnan(self.returns)).sum(axis=0)


def build_returns(
    lh: Lakehouse,
    venue: str,
    timeframe: str,
    symbols: list[str],
    asset_class: dict[str, str],
    *,
    end_ms: int,
    days: int,
) -> ReturnsPanel:
    """Returns of `symbols` over the `days` calendar days ending at `end_ms` (inclusive), from stored bars only."""
    start_ms = end_ms - days * DAY_MS
    # one extra week before the window so the first return of each symbol has its previous close
    times, p = read_panel(
        lh, venue, timeframe, symbols, start_ms=start_ms - 7 * DAY_MS, end_ms=end_ms, fields=(C.CLOSE, C.VOLUME)
    )
    close = p[C.CLOSE]
    rets = np.full_like(close, np.nan)
    for j in range(close.shape[1]):
        rows = np.flatnonzero(~np.isnan(close[:, j]))
        if rows.size > 1:
            rets[rows[1:], j] = close[rows[1:], j] / close[rows[:-1], j] - 1.0
    keep = times > start_ms
    traded = close * p[C.VOLUME]
    with np.errstate(invalid="ignore"):
        qv = np.array(
            [
                np.nanmean(traded[keep, j]) if np.isfinite(traded[keep, j]).any() else np.nan
                for j in range(close.shape[1])
            ]
        )
    last = np.full(close.shape[1], np.nan)
    last_ts = np.full(close.shape[1], -1, dtype=np.int64)
    for j in range(close.shape[1]):
        rows = np.flatnonzero(~np.isnan(close[:, j]))
        if rows.size:
            last[j], last_ts[j] = close[rows[-1], j], times[rows[-1]]
    return ReturnsPanel(times[keep], list(symbols), [asset_class[s] for s in symbols], rets[keep], qv, last, last_ts)


def dense(returns: np.ndarray, *, min_rows: int, labels: list[str]) -> tuple[np.ndarray, int]:
    """A NaN-free copy for optimizers: rows from the first one where every column has history; closed days → 0.

    Returns (matrix, first row used). Raises `NotEnoughHistory` when fewer than `min_rows` rows remain.
    """
    if returns.shape[1] == 0:
        msg = "no assets to optimize"
        raise NotEnoughHistory(msg)
    valid = ~np.isnan(returns)
    firsts = np.where(valid.any(axis=0), valid.argmax(axis=0), returns.shape[0])
    first = int(firsts.max())
    if returns.shape[0] - first < min_rows:
        late = [labels[j] for j in np.argsort(-firsts)[:5]]
        msg = (
            f"only {returns.shape[0] - first} rows where every asset has history (need {min_rows}); "
            f"latest starters: {late}. Lower profile.min_history_days or the training window"
        )
        raise NotEnoughHistory(msg)
    out = returns[first:].copy()
    out[np.isnan(out)] = 0.0
    return out, first

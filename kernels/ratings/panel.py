"""The ratings panel: `ratings_nb`, the parallel driver over a T×N panel, and its checked wrapper
`technical_ratings` (`docs/ratings.md`, sections conventions and fused-kernel).

Array contract of `ratings_nb` (the wrapper `technical_ratings` validates and allocates):

- Inputs `high`, `low`, `close`, `volume`: 2-D float64, rows = time (oldest first), columns = symbols, all T×N.
  There is no open: no component reads it.
- A row is a *bar* of its column iff high, low and close are non-NaN. A column's bar 0 is its first bar (late
  listing); warm-ups count from there. Rows that are not bars get NaN everywhere: rows before the listing, rows
  after a delisting, and interior NaN rows.
- Interior NaN rows (not expected: the lakehouse repairs gaps) are *skipped*: the column is rated on its bars as if
  they were contiguous (windows span the last n bars, EMA/RMA states carry over, `x[1]` is the previous bar), which
  is Pine's na-ignoring behaviour, and only the missing row itself is NaN. A NaN volume on a bar only makes the VWMA
  windows containing it NaN (the VWMA vote drops out, as for symbols without volume).
- Outputs, written for rows `start..T-1` (R = T − start) into caller-provided arrays: `votes` R×N×26 float64 in
  {−1, 0, +1, NaN} (components in `COMPONENTS` order; one bar's 26 votes are adjacent), `ma`, `other`, `all` R×N
  float64 in [−1, 1], NaN where no component is present.
- Point in time: row t depends only on rows ≤ t.
- Incremental runs: pass `start` = the first new row. Every column is still computed from its bar 0 (the EMA/RMA
  chains depend on the whole history) but only rows ≥ start are written, so the result is bit-identical to
  `full[start:]`. Cost: one full pass per column (about 0.05 µs per bar per core), output memory for new rows only.

Implementation: columns are gathered in blocks of 8 (one cache line per input row) and processed in parallel; each
column's bars go through the fused pass `kernels.ratings.fused.ratings_bars_nb`. Outputs are allocated by the
caller: NumPy backs large arrays with transparent huge pages, and first-touch page faults on 4 KiB pages cost more
than the kernel itself.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit, prange

from kernels.ratings.fused import ratings_bars_nb
from kernels.ratings.votes import N_COMPONENTS

_BLOCK = 8  # columns gathered together: one cache line of each input row


@njit(cache=True, parallel=True)
def ratings_nb(
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    start: int,
    votes: np.ndarray,
    ma: np.ndarray,
    other: np.ndarray,
    total: np.ndarray,
) -> None:
    """Write the 26 votes and Recommend.MA / .Other / .All of rows start..T-1 into the R×N(×26) outputs."""
    T, N = close.shape
    for b in prange((N + _BLOCK - 1) // _BLOCK):
        j0 = b * _BLOCK
        w = min(N, j0 + _BLOCK) - j0
        hb = np.empty((w, T))
        lb = np.empty((w, T))
        cb = np.empty((w, T))
        vb = np.empty((w, T))
        for t in range(T):
            for q in range(w):
                hb[q, t] = high[t, j0 + q]
                lb[q, t] = low[t, j0 + q]
                cb[q, t] = close[t, j0 + q]
                vb[q, t] = volume[t, j0 + q]
        ratings = np.full((3, w, T), np.nan)
        rows = np.empty(T, np.int64)
        for q in range(w):
            j = j0 + q
            m = 0
            for t in range(T):
                if not (np.isnan(hb[q, t]) or np.isnan(lb[q, t]) or np.isnan(cb[q, t])):
                    rows[m] = t
                    m += 1
            # Rows that are not bars get NaN votes; bars overwrite theirs.
            for t in range(start, T):
                if m == 0 or t < rows[0] or t > rows[m - 1] or np.isnan(cb[q, t] + hb[q, t] + lb[q, t]):
                    for c in range(N_COMPONENTS):
                        votes[t - start, j, c] = np.nan
            if m == 0:
                continue
            first = rows[0]
            if rows[m - 1] - first == m - 1:  # no interior gaps: use the contiguous rows in place
                ratings_bars_nb(
                    hb[q, first : first + m],
                    lb[q, first : first + m],
                    cb[q, first : first + m],
                    vb[q, first : first + m],
                    rows[:m],
                    start,
                    votes,
                    j,
                    ratings,
                    q,
                )
            else:
                idx = rows[:m]
                ratings_bars_nb(hb[q][idx], lb[q][idx], cb[q][idx], vb[q][idx], idx, start, votes, j, ratings, q)
        for t in range(start, T):
            for q in range(w):
                ma[t - start, j0 + q] = ratings[0, q, t]
                other[t - start, j0 + q] = ratings[1, q, t]
                total[t - start, j0 + q] = ratings[2, q, t]


class Ratings(NamedTuple):
    """Output of `technical_ratings`: rows start..T-1 of the panel."""

    votes: np.ndarray  # R×N×26, components in COMPONENTS order
    recommend_ma: np.ndarray  # R×N
    recommend_other: np.ndarray  # R×N
    recommend_all: np.ndarray  # R×N


def technical_ratings(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray, start: int = 0
) -> Ratings:
    """Validate a T×N OHLCV panel (open is not needed) and run `ratings_nb` for rows start..T-1."""
    arrays = {"high": high, "low": low, "close": close, "volume": volume}
    shape = np.shape(close)
    if len(shape) != 2:
        msg = f"close must be 2-D (time × symbols), got shape {shape}"
        raise ValueError(msg)
    prepared = []
    for name, a in arrays.items():
        if np.shape(a) != shape:
            msg = f"{name} has shape {np.shape(a)}, expected {shape} like close"
            raise ValueError(msg)
        prepared.append(np.ascontiguousarray(a, dtype=np.float64))
    if not 0 <= start <= shape[0]:
        msg = f"start={start} is outside 0..{shape[0]}"
        raise ValueError(msg)
    T, N = shape
    R = T - start
    out = Ratings(np.empty((R, N, N_COMPONENTS)), np.empty((R, N)), np.empty((R, N)), np.empty((R, N)))
    ratings_nb(*prepared, start, *out)
    return out

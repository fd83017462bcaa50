"""Toxic-data guard kernels: toxic returns, flat lines and volume spikes, per symbol.

Array contract (every kernel in this module):

- Inputs are 2-D float64 arrays, rows = time (oldest first), columns = symbols; `close` and `volume` have the same
  shape. 1-D kernels (`*_1d_nb`) take one column.
- NaN means "no bar" (before listing, after delisting, or missing). Each rule skips NaN rows of its own input and
  works on the sequence of valid values, so a gap never creates or breaks anything by itself:
  the return at the first valid bar after a gap is taken against the last valid close before it, a flat run
  continues across a gap, and the spike window holds the previous `spike_window` valid volumes wherever they are.
- Valid closes are finite and > 0, valid volumes are finite and >= 0. `toxic_scan` checks this (and the thresholds)
  and raises `ValueError`; the `*_nb` kernels trust their inputs.
- Kernels take and return NumPy arrays only: no Polars, no I/O. Thresholds are parameters; their defaults live in
  `dataflows.config.GuardConfig`, and `toxic_scan` mirrors them as keyword defaults (a test keeps them equal).

The rules, per column:

1. Toxic return: simple return `r = (close[t] - p) / p` with `p` the previous valid close; the first valid bar has
   no return. Offending when `|r| >= max_abs_return`. (This is Polars' `pct_change`, bit for bit, and more accurate
   than `close[t] / p - 1`: the difference is exact when the two closes are within a factor 2.)
2. Flat line: a run of consecutive valid bars with identical close. Offending at the bar where the run reaches
   `flat_bars` bars.
3. Volume spike: `volume[t] > spike_mult * m`, where `m` is the median of the previous `spike_window` valid volumes
   (mean of the two middle values when the window is even); only once that window is full. A zero median means
   "no baseline": the bar is neither flagged nor counted in the worst ratio.

Output (`ToxicScan`, nine 1-D arrays of length n_symbols): for each rule `<rule>_first` (int64, row of the first
offending bar, -1 if none), `<rule>_worst` and `<rule>_worst_row` (int64, -1 if there is nothing to measure). Worst
values are measured over every bar whatever the threshold, so they are evidence either way:

- `return_worst`: max |r| (float64, NaN with fewer than 2 valid closes); its row is the later bar of that return.
- `flat_worst`: longest run length in bars (int64, 0 without valid closes); its row is the last bar of that run.
- `spike_worst`: max `volume[t] / m` over bars with a full window and `m > 0` (float64, NaN if none).

Ties go to the earliest row. Every row index is a row of the input panel.

Entry points: `toxic_scan` (checks inputs, then picks a kernel), `toxic_scan_nb` (one thread) and
`toxic_scan_parallel_nb` (columns spread over numba's threads), one loop body compiled twice by `_scan_kernel`, both
`(close, volume, max_abs_return, flat_bars, spike_mult, spike_window) -> ToxicScan`; and the per-column
`return_scan_1d_nb`, `flat_scan_1d_nb`, `spike_scan_1d_nb`, each returning `(first, worst, worst_row)`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from numba import njit, prange

_LANES = 8  # block width of the rolling-median passes: a multiple of the SIMD width, so LLVM vectorizes them whole
PARALLEL_MIN_CELLS = 250_000  # `toxic_scan` goes parallel from here (~5 ms of work on one thread)


class ToxicScan(NamedTuple):
    """Per-symbol evidence of the three guard rules (see the module docstring for definitions)."""

    return_first: np.ndarray  # int64, first row with |r| >= max_abs_return, -1 if none
    return_worst: np.ndarray  # float64, max |r|, NaN with fewer than 2 valid closes
    return_worst_row: np.ndarray  # int64, row of return_worst, -1 if none
    flat_first: np.ndarray  # int64, row where a run first reaches flat_bars, -1 if none
    flat_worst: np.ndarray  # int64, longest run of identical valid closes, 0 if no valid close
    flat_worst_row: np.ndarray  # int64, last row of that run, -1 if none
    spike_first: np.ndarray  # int64, first row with volume > spike_mult * median, -1 if none
    spike_worst: np.ndarray  # float64, max volume / median with a full window and median > 0, NaN if none
    spike_worst_row: np.ndarray  # int64, row of spike_worst, -1 if none

    @property
    def flagged(self) -> np.ndarray:
        """Boolean mask of symbols that break at least one rule."""
        return (self.return_first >= 0) | (self.flat_first >= 0) | (self.spike_first >= 0)


@njit(cache=True)
def return_scan_1d_nb(close: np.ndarray, max_abs_return: float) -> tuple[int, float, int]:
    """First row with |return| >= max_abs_return, max |return| and its row, over valid closes."""
    first = -1
    worst = np.nan
    worst_row = -1
    prev = np.nan
    for t in range(close.shape[0]):
        c = close[t]
        if np.isnan(c):
            continue
        if not np.isnan(prev):
            r = abs((c - prev) / prev)
            if first == -1 and r >= max_abs_return:
                first = t
            if worst_row == -1 or r > worst:
                worst = r
                worst_row = t
        prev = c
    return first, worst, worst_row


@njit(cache=True)
def flat_scan_1d_nb(close: np.ndarray, flat_bars: int) -> tuple[int, int, int]:
    """Row where a run of identical valid closes first reaches flat_bars, longest run and its last row."""
    first = -1
    worst = 0
    worst_row = -1
    run = 0
    prev = np.nan
    for t in range(close.shape[0]):
        c = close[t]
        if np.isnan(c):
            continue
        run = run + 1 if run > 0 and c == prev else 1
        if run > worst:
            worst = run
            worst_row = t
        if first == -1 and run >= flat_bars:
            first = t
        prev = c
    return first, worst, worst_row


@njit(cache=True)
def spike_scan_1d_nb(volume: np.ndarray, spike_mult: float, spike_window: int) -> tuple[int, float, int]:
    """First row with volume > spike_mult * median of the previous spike_window valid volumes, max ratio, its row."""
    w = spike_window
    # srt[1:w+1] is the window sorted, between sentinels srt[0] = -inf and +inf up to a whole number of _LANES-wide
    # blocks; tmp[1:w] holds the window minus its oldest value, with the same sentinels. Sliding is three fixed-length,
    # branch-free passes over those blocks (find the oldest, drop it, insert the newest), which compile to a few
    # vector instructions instead of data-dependent shifts.
    n_blocks = (w + _LANES - 1) // _LANES
    srt = np.full(n_blocks * _LANES + 2, np.inf)
    tmp = np.full(n_blocks * _LANES + 2, np.inf)
    srt[0] = -np.inf
    tmp[0] = -np.inf
    ring = np.empty(w, dtype=np.float64)  # the window in arrival order; ring[pos] is the oldest once full
    count = 0
    pos = 0
    lo_mid = 1 + (w - 1) // 2
    hi_mid = 1 + w // 2
    first = -1
    worst = np.nan
    worst_row = -1
    for t in range(volume.shape[0]):
        v = volume[t]
        if np.isnan(v):
            continue
        if count < w:  # filling: insertion into srt[1:count+1]
            k = count + 1
            while k > 1 and srt[k - 1] > v:
                srt[k] = srt[k - 1]
                k -= 1
            srt[k] = v
            ring[count] = v
            count += 1
            continue
        med = (srt[lo_mid] + srt[hi_mid]) / 2.0
        if med > 0.0:
            if first == -1 and v > spike_mult * med:
                first = t
            ratio = v / med
            if worst_row == -1 or ratio > worst:
                worst = ratio
                worst_row = t
        old = ring[pos]
        ring[pos] = v
        pos = pos + 1 if pos + 1 < w else 0
        i = 0  # old sits at srt[1 + i] (its first copy)
        for b in range(n_blocks):
            for u in range(_LANES):
                i += srt[1 + b * _LANES + u] < old
        for b in range(n_blocks):  # drop it
            for u in range(_LANES):
                k = 1 + b * _LANES + u
                tmp[k] = srt[k] if k <= i else srt[k + 1]
        for b in range(n_blocks):  # insert v: max(left neighbour, min(right neighbour, v))
            for u in range(_LANES):
                k = 1 + b * _LANES + u
                srt[k] = max(tmp[k - 1], min(tmp[k], v))
    return first, worst, worst_row


def _scan_kernel(name: str, parallel: bool) -> Callable[..., ToxicScan]:
    """The one scan body, compiled as `name`: columns over numba's threads if `parallel`, else in order.

    With `parallel=False` numba compiles `prange` as `range`. Numba's cache keys on the function's qualified name and
    bytecode, not on `parallel`, so each compilation gets its own name (and its own cache file).
    """

    def scan(
        close: np.ndarray,
        volume: np.ndarray,
        max_abs_return: float,
        flat_bars: int,
        spike_mult: float,
        spike_window: int,
    ) -> ToxicScan:
        n = close.shape[1]
        rf, rw, rr = np.empty(n, dtype=np.int64), np.empty(n), np.empty(n, dtype=np.int64)
        ff, fw, fr = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
        sf, sw, sr = np.empty(n, dtype=np.int64), np.empty(n), np.empty(n, dtype=np.int64)
        for j in prange(n):
            rf[j], rw[j], rr[j] = return_scan_1d_nb(close[:, j], max_abs_return)
            ff[j], fw[j], fr[j] = flat_scan_1d_nb(close[:, j], flat_bars)
            sf[j], sw[j], sr[j] = spike_scan_1d_nb(volume[:, j], spike_mult, spike_window)
        return ToxicScan(rf, rw, rr, ff, fw, fr, sf, sw, sr)

    scan.__name__ = scan.__qualname__ = name
    how = "columns spread over numba's threads" if parallel else "one thread"
    scan.__doc__ = f"All three guard rules for every column of a (time x symbol) close/volume panel, on {how}."
    return njit(cache=True, parallel=parallel)(scan)


toxic_scan_nb = _scan_kernel("toxic_scan_nb", parallel=False)
toxic_scan_parallel_nb = _scan_kernel("toxic_scan_parallel_nb", parallel=True)


def _check_values(name: str, a: np.ndarray, bad: np.ndarray, rule: str) -> None:
    """Raise ValueError naming the first (row, column) of `a` where `bad` is True."""
    if bad.any():
        row, col = np.argwhere(bad)[0]
        msg = f"{name}[{row}, {col}] = {float(a[row, col])!r}: valid {name} values must be {rule} (NaN means no bar)"
        raise ValueError(msg)


def _whole(name: str, value: object, minimum: int) -> int:
    """`value` as an int if it is a whole number >= minimum, else ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        ok = False
    else:
        ok = bool(np.isfinite(value)) and float(value).is_integer() and value >= minimum
    if not ok:
        msg = f"{name} must be a whole number >= {minimum}, got {value!r}"
        raise ValueError(msg)
    return int(value)


def toxic_scan(
    close: np.ndarray,
    volume: np.ndarray,
    *,
    max_abs_return: float = 5.0,
    flat_bars: int = 20,
    spike_mult: float = 100.0,
    spike_window: int = 30,
    parallel: bool | None = None,
) -> ToxicScan:
    """Validate a (time x symbol) close/volume panel and the thresholds, then scan it (see the module docstring).

    Thresholds come from `GuardConfig`; the defaults here mirror it. `parallel=None` uses `toxic_scan_parallel_nb`
    from `PARALLEL_MIN_CELLS` cells on and `toxic_scan_nb` below, where waking the thread pool costs more than it saves.
    """
    close, volume = np.asarray(close), np.asarray(volume)
    for name, a in (("close", close), ("volume", volume)):
        if a.ndim != 2 or a.dtype != np.float64:
            msg = f"{name} must be a 2-D float64 array (rows = time, columns = symbols), got {a.ndim}-D {a.dtype}"
            raise ValueError(msg)
    if close.shape != volume.shape:
        msg = f"close {close.shape} and volume {volume.shape} must have the same shape"
        raise ValueError(msg)
    if not max_abs_return > 0:
        msg = f"max_abs_return must be > 0, got {max_abs_return!r}"
        raise ValueError(msg)
    flat_bars = _whole("flat_bars", flat_bars, 2)
    if not spike_mult > 0:
        msg = f"spike_mult must be > 0, got {spike_mult!r}"
        raise ValueError(msg)
    spike_window = _whole("spike_window", spike_window, 1)
    _check_values("close", close, (close <= 0) | np.isinf(close), "finite and > 0")
    _check_values("volume", volume, (volume < 0) | np.isinf(volume), "finite and >= 0")
    # C- and F-ordered panels go straight in (one compiled specialisation each); other strides are copied to C order
    close, volume = (
        a if a.flags.c_contiguous or a.flags.f_contiguous else np.ascontiguousarray(a) for a in (close, volume)
    )
    if parallel is None:
        parallel = close.size >= PARALLEL_MIN_CELLS and close.shape[1] > 1
    kernel = toxic_scan_parallel_nb if parallel else toxic_scan_nb
    return kernel(close, volume, float(max_abs_return), flat_bars, float(spike_mult), spike_window)

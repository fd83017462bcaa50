"""Toxic-return guard: the numba kernel against the same rules in Polars and in vectorized NumPy.

Input: a seeded (bars x symbols) panel of random-walk closes and lognormal volumes with late listings (leading NaN),
delistings (trailing NaN), interior gaps and a few planted defects (x10 prints, flat lines, volume spikes, dead
volume). Each implementation starts from its natural input, built before timing: the kernel and NumPy from the wide
float64 arrays, Polars from the long frame of stored bars (one row per symbol and bar, missing bars absent, as the
lakehouse holds them); the pivot between the two is not timed. Every implementation returns a `ToxicScan`.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from numpy.lib.stride_tricks import sliding_window_view

from benchmarks._harness import Row, rows_against, time_it
from kernels.toxic import ToxicScan, toxic_scan

PARAMS = {"max_abs_return": 5.0, "flat_bars": 20, "spike_mult": 100.0, "spike_window": 30}  # GuardConfig defaults
FULL = (2520, 5000)  # bars x symbols
QUICK = (1000, 500)
SEED = 20260630


def make_panel(n_bars: int, n_symbols: int, seed: int = SEED) -> tuple[np.ndarray, np.ndarray, dict[str, dict]]:
    """Seeded close/volume panel and the planted defects: {rule: {symbol: first offending row}}."""
    rng = np.random.default_rng(seed)
    vol = rng.uniform(0.01, 0.06, n_symbols)  # daily volatility per symbol
    log_p = np.log(rng.lognormal(3.0, 2.0, n_symbols)) + np.cumsum(
        rng.standard_normal((n_bars, n_symbols)) * vol + 0.0002, axis=0
    )
    close = np.exp(log_p)
    volume = rng.lognormal(rng.uniform(8.0, 16.0, n_symbols), 0.5, (n_bars, n_symbols))
    late = rng.random(n_symbols) < 0.25  # late listings
    close[np.arange(n_bars)[:, None] < np.where(late, rng.integers(1, n_bars - 100, n_symbols), 0)] = np.nan
    for j in rng.choice(n_symbols, n_symbols // 50, replace=False):  # delistings
        close[int(rng.integers(n_bars // 2, n_bars)) :, j] = np.nan
    for j in rng.choice(n_symbols, n_symbols // 100, replace=False):  # interior gaps
        a = int(rng.integers(0, n_bars - 10))
        close[a : a + int(rng.integers(1, 10)), j] = np.nan

    planted: dict[str, dict] = {"return": {}, "flat": {}, "spike": {}}
    k = max(n_symbols // 500, 2)
    victims = rng.choice(n_symbols, 4 * k, replace=False)
    for n, j in enumerate(victims):
        rows = np.flatnonzero(~np.isnan(close[:, j]))
        if len(rows) < 200:
            continue
        t = int(rows[int(rng.integers(100, len(rows) - 40))])
        if n < k:  # a x10 print
            close[t, j] *= 10.0
            planted["return"][int(j)] = t
        elif n < 2 * k:  # a flat line of 25 bars
            seg = rows[(rows >= t)][:25]
            close[seg, j] = close[t, j]
            planted["flat"][int(j)] = int(seg[PARAMS["flat_bars"] - 1])
        elif n < 3 * k:  # a volume 500x the median of the previous window
            prev = rows[rows < t][-PARAMS["spike_window"] :]
            volume[t, j] = 500.0 * np.median(volume[prev, j])
            planted["spike"][int(j)] = t
        else:  # dead volume: zero medians are no baseline, never a spike
            volume[rows[(rows >= t)][:30], j] = 0.0
    volume[np.isnan(close)] = np.nan
    return close, volume, planted


def long_frame(close: np.ndarray, volume: np.ndarray) -> pl.DataFrame:
    """Stored bars in long format: one row per (symbol, row) with a bar, sorted by symbol then row."""
    n_bars, n_symbols = close.shape
    valid = ~np.isnan(close.T)
    return pl.DataFrame(
        {
            "symbol": np.repeat(np.arange(n_symbols, dtype=np.int32), n_bars)[valid.ravel()],
            "row": np.tile(np.arange(n_bars, dtype=np.int32), n_symbols)[valid.ravel()],
            "close": close.T[valid],
            "volume": volume.T[valid],
        }
    )


def polars_scan(bars: pl.DataFrame, n_symbols: int, p: dict) -> ToxicScan:
    """The guard rules as a Polars expression pipeline over the long frame (bars sorted by symbol, row)."""
    i = pl.int_range(pl.len(), dtype=pl.Int64)
    r = pl.col("close").pct_change().abs().over("symbol")
    run = pl.struct("symbol", "close").rle_id()  # a new id whenever symbol or close changes
    run_start = pl.when(pl.col("run") != pl.col("run").shift(1).fill_null(-1)).then(i).forward_fill()
    med = pl.col("volume").rolling_median(window_size=p["spike_window"]).shift(1).over("symbol")
    ratio = pl.when(pl.col("med") > 0).then(pl.col("volume") / pl.col("med"))

    def first_row(cond: pl.Expr) -> pl.Expr:
        return pl.col("row").filter(cond).first()

    per_symbol = (
        bars.lazy()
        .with_columns(r=r, run=run, med=med)
        .with_columns(run_len=i - run_start + 1, ratio=ratio)
        .group_by("symbol")
        .agg(
            return_first=first_row(pl.col("r") >= p["max_abs_return"]),
            return_worst=pl.col("r").max(),
            return_worst_row=first_row(pl.col("r") == pl.col("r").max()),
            flat_first=first_row(pl.col("run_len") >= p["flat_bars"]),
            flat_worst=pl.col("run_len").max(),
            flat_worst_row=first_row(pl.col("run_len") == pl.col("run_len").max()),
            spike_first=first_row((pl.col("med") > 0) & (pl.col("volume") > p["spike_mult"] * pl.col("med"))),
            spike_worst=pl.col("ratio").max(),
            spike_worst_row=first_row(pl.col("ratio") == pl.col("ratio").max()),
        )
        .collect()
    )
    return _to_scan(per_symbol, n_symbols)


def _to_scan(per_symbol: pl.DataFrame, n_symbols: int) -> ToxicScan:
    """Scatter a per-symbol frame into a ToxicScan (symbols without bars keep the empty defaults)."""
    out = {}
    idx = per_symbol["symbol"].to_numpy()
    for f in ToxicScan._fields:
        is_float = f in ("return_worst", "spike_worst")
        empty = 0 if f == "flat_worst" else -1
        a = np.full(n_symbols, np.nan if is_float else empty, dtype=np.float64 if is_float else np.int64)
        a[idx] = per_symbol[f].fill_null(np.nan if is_float else empty).to_numpy()
        out[f] = a
    return ToxicScan(**out)


def _compact(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column, the valid values moved to the top in time order (NaN below), and the rows they came from."""
    order = np.argsort(np.isnan(a), axis=0, kind="stable")
    return np.take_along_axis(a, order, axis=0), order


def _first(mask: np.ndarray, order: np.ndarray, offset: int) -> np.ndarray:
    """Row of the first True per column of `mask` (compact positions offset by `offset`), -1 if none."""
    k = mask.argmax(axis=0)
    cols = np.arange(mask.shape[1])
    return np.where(mask[k, cols], order[np.minimum(k + offset, order.shape[0] - 1), cols], -1)


def _worst(values: np.ndarray, order: np.ndarray, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """Max per column (NaN ignored; first occurrence) and its row; NaN and -1 for all-NaN columns."""
    filled = np.where(np.isnan(values), -np.inf, values)
    k = filled.argmax(axis=0)
    cols = np.arange(values.shape[1])
    best = filled[k, cols]
    has = best > -np.inf
    return np.where(has, best, np.nan), np.where(has, order[np.minimum(k + offset, order.shape[0] - 1), cols], -1)


def numpy_scan(close: np.ndarray, volume: np.ndarray, p: dict, block: int = 250) -> ToxicScan:
    """The guard rules in vectorized NumPy: compact each column's valid bars, then whole-array operations.

    The rolling median sorts a `sliding_window_view` in blocks of `block` symbols, which keeps the
    (bars x symbols x window) copy that `np.sort` makes to ~150 MB. Needs more bars than `spike_window`.
    """
    n_bars, n_symbols = close.shape
    cols = np.arange(n_symbols)
    cc, order = _compact(close)
    # 1. returns between consecutive valid closes (NaN below each column's last valid bar)
    r = np.abs((cc[1:] - cc[:-1]) / cc[:-1])
    return_first = _first(r >= p["max_abs_return"], order, 1)
    return_worst, return_worst_row = _worst(r, order, 1)
    # 2. run lengths: position minus the position where the current run started
    pos = np.arange(n_bars)[:, None]
    starts = np.ones_like(cc, dtype=bool)
    starts[1:] = cc[1:] != cc[:-1]
    run = pos - np.maximum.accumulate(np.where(starts, pos, 0), axis=0) + 1
    run[np.isnan(cc)] = 0
    flat_first = _first(run >= p["flat_bars"], order, 0)
    flat_worst = run.max(axis=0)
    flat_worst_row = np.where(flat_worst > 0, order[run.argmax(axis=0), cols], -1)
    # 3. median of the previous w valid volumes, for every compact position k >= w
    w = p["spike_window"]
    cv, vorder = _compact(volume)
    by_symbol = np.ascontiguousarray(cv[:-1].T)  # time contiguous, so each window is a contiguous run
    med = np.full((max(n_bars - w, 0), n_symbols), np.nan)
    lo, hi = (w - 1) // 2, w // 2
    for a in range(0, n_symbols, block):
        windows = sliding_window_view(by_symbol[a : a + block], w, axis=1)  # windows[j, i] = cv[i : i + w, a + j]
        srt = np.sort(windows, axis=-1)  # ~10x faster than np.partition / np.median here (SIMD sort of short rows)
        med[:, a : a + block] = ((srt[..., lo] + srt[..., hi]) / 2.0).T
    med[np.isnan(cv[w:]) | ~(med > 0)] = np.nan  # the bar itself missing (past the column's valid bars), or no baseline
    spike_first = _first(cv[w:] > p["spike_mult"] * med, vorder, w)
    spike_worst, spike_worst_row = _worst(cv[w:] / med, vorder, w)
    return ToxicScan(
        return_first.astype(np.int64),
        return_worst,
        return_worst_row.astype(np.int64),
        flat_first.astype(np.int64),
        flat_worst.astype(np.int64),
        flat_worst_row.astype(np.int64),
        spike_first.astype(np.int64),
        spike_worst,
        spike_worst_row.astype(np.int64),
    )


def check_agree(scans: dict[str, ToxicScan], planted: dict[str, dict], rtol: float = 1e-12) -> None:
    """Raise AssertionError unless every implementation matches the kernel and the kernel finds what was planted."""
    ref = scans["kernel"]
    for impl, got in scans.items():
        for f in ToxicScan._fields:
            a, b = getattr(got, f), getattr(ref, f)
            same = np.isclose(a, b, rtol=rtol, atol=0, equal_nan=True) if a.dtype.kind == "f" else a == b
            if not same.all():
                j = int(np.flatnonzero(~same)[0])
                msg = f"{impl} disagrees with kernel on {f} for symbol {j}: {a[j]!r} != {b[j]!r}"
                raise AssertionError(msg)
    for rule, where in planted.items():
        first = getattr(ref, f"{rule}_first")
        found = {int(j): int(first[j]) for j in np.flatnonzero(first >= 0)}
        if found != where:
            msg = f"{rule} rule: planted {where}, found {found}"
            raise AssertionError(msg)


def run(repeat: int, warmup: int, quick: bool) -> list[Row]:
    """Check that the three implementations agree, then time them on the same panel."""
    n_bars, n_symbols = QUICK if quick else FULL
    close, volume, planted = make_panel(n_bars, n_symbols)
    bars = long_frame(close, volume)
    impls = {
        "kernel": lambda: toxic_scan(close, volume, **PARAMS),
        "polars": lambda: polars_scan(bars, n_symbols, PARAMS),
        "numpy": lambda: numpy_scan(close, volume, PARAMS),
    }
    check_agree({name: fn() for name, fn in impls.items()}, planted)  # also compiles the kernel
    timings = {name: time_it(fn, repeat, warmup) for name, fn in impls.items()}
    case = f"toxic {n_symbols}x{n_bars}"
    notes = {
        "kernel": "toxic_scan: input checks + numba over columns in parallel",
        "polars": f"lazy expressions over the long frame ({bars.height:,} stored bars)",
        "numpy": "compacted columns, sorted sliding windows; 1 thread",
    }
    by_polars = rows_against(case, {k: timings[k] for k in ("kernel", "polars")}, "polars", {"kernel": 1.0}, notes)
    by_numpy = rows_against(case, {k: timings[k] for k in ("kernel", "numpy")}, "numpy", {"kernel": 1.0}, notes)
    return [*by_polars, *by_numpy]

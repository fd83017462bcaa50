"""Technical-ratings backfill: the fused numba kernel against TA-Lib and pandas-ta-classic.

Case: a seeded random-walk OHLCV panel, 500 symbols × 2000 days (quick: 100 × 500).

- `kernel`: `kernels.ratings.technical_ratings`, all 26 votes and the 3 ratings, numba-parallel over symbols.
- `talib` (baseline): TA-Lib computing only the bare indicator set behind the 26 votes, one symbol at a time.
- `pandas-ta-classic`: a popular pure-pandas engine, the same indicators per symbol with its defaults (its own
  pandas code; TA-Lib only when asked with talib=True); a subset of symbols is timed and scaled linearly when the
  full run would be long.
- `kernel-1thread` and `kernel-incremental` (one new row, full recompute per column) are informative rows.

Correctness first: the 1-D kernels agree with TA-Lib on a few symbols where the definitions match, and the fused
kernel's SMA/EMA/WMA-based votes equal the signs computed from TA-Lib's moving averages.
"""

from __future__ import annotations

import time
import warnings

import numba
import numpy as np
import pandas as pd

from benchmarks._harness import Row, cli, rows_against, time_it
from kernels import indicators as ind
from kernels.ratings import COMPONENTS, technical_ratings

MA_LENGTHS = (10, 20, 30, 50, 100, 200)
PANDAS_TA_BUDGET = 60.0  # seconds for all pandas-ta-classic runs before switching to a scaled subset


def _panel(n_symbols: int, n_days: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Seeded OHLCV panel, rows = days, columns = symbols: (high, low, close, volume)."""
    rng = np.random.default_rng(seed)
    shape = (n_days, n_symbols)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.02, shape), axis=0))
    open_ = np.vstack([close[:1], close[:-1]]) * np.exp(rng.normal(0.0, 0.005, shape))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0.0, 0.01, shape)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0.0, 0.01, shape)))
    volume = rng.uniform(1e5, 1e6, shape)
    return high, low, close, volume


def _talib_symbol(h: np.ndarray, lo: np.ndarray, c: np.ndarray, v: np.ndarray) -> list[np.ndarray]:
    """The bare indicator set behind the 26 votes, for one symbol, with TA-Lib."""
    import talib

    out = []
    for n in MA_LENGTHS:
        out += [talib.SMA(c, n), talib.EMA(c, n)]
    out.append(talib.WMA(2.0 * talib.WMA(c, 4) - talib.WMA(c, 9), 3))  # HMA(9)
    out.append(talib.SMA(c * v, 20) / talib.SMA(v, 20))  # VWMA(20)
    for n in (9, 26, 52):  # Ichimoku channels
        out += [talib.MAX(h, n), talib.MIN(lo, n)]
    out.append(talib.RSI(c, 14))
    out += list(talib.STOCH(h, lo, c, 14, 3, 0, 3, 0))
    out.append(talib.CCI(c, c, c, 20))  # close-source CCI
    out += [talib.ADX(h, lo, c, 14), talib.PLUS_DI(h, lo, c, 14), talib.MINUS_DI(h, lo, c, 14)]
    hl2 = (h + lo) / 2.0
    out.append(talib.SMA(hl2, 5) - talib.SMA(hl2, 34))  # AO
    out.append(talib.MOM(c, 10))
    out += list(talib.MACD(c, 12, 26, 9))
    out += list(talib.STOCHRSI(c, 14, 14, 3, 0))
    out.append(talib.WILLR(h, lo, c, 14))
    e13 = talib.EMA(c, 13)  # Bull / Bear power
    out += [h - e13, lo - e13]
    out.append(talib.ULTOSC(h, lo, c, 7, 14, 28))
    return out


def _pandas_ta_symbol(h: pd.Series, lo: pd.Series, c: pd.Series, v: pd.Series) -> list[object]:
    """The same indicator set for one symbol with pandas-ta-classic."""
    import pandas_ta_classic as ta

    out: list[object] = []
    for n in MA_LENGTHS:
        out += [ta.sma(c, n), ta.ema(c, n)]
    out += [ta.hma(c, 9), ta.vwma(c, v, 20), ta.ichimoku(h, lo, c, as_dataframe=True)]
    out += [ta.rsi(c, 14), ta.stoch(h, lo, c, 14, 3, 3), ta.cci(c, c, c, 20), ta.adx(h, lo, c, 14)]
    out += [ta.ao(h, lo), ta.mom(c, 10), ta.macd(c, 12, 26, 9), ta.stochrsi(c, 14, 14, 3, 3)]
    out += [ta.willr(h, lo, c, 14), ta.ema(c, 13), ta.uo(h, lo, c, 7, 14, 28)]
    return out


def _check(panel: tuple[np.ndarray, ...], symbols: range) -> None:
    """Raise AssertionError unless our values agree with TA-Lib's where the definitions match."""
    import talib

    high, low, close, _ = panel
    votes = technical_ratings(*panel).votes
    for j in symbols:
        h, lo, c = (np.ascontiguousarray(a[:, j]) for a in (high, low, close))
        pairs = {
            "RSI": (ind.rsi_1d_nb(c), talib.RSI(c, 14)),
            "STOCH_D": (ind.stoch_1d_nb(h, lo, c)[1], talib.STOCH(h, lo, c, 14, 3, 0, 3, 0)[1]),
            "CCI": (ind.cci_1d_nb(c), talib.CCI(c, c, c, 20)),
            "MOM": (ind.mom_1d_nb(c), talib.MOM(c, 10)),
            "WILLR": (ind.willr_1d_nb(h, lo, c), talib.WILLR(h, lo, c, 14)),
            "ULTOSC": (ind.uo_1d_nb(h, lo, c), talib.ULTOSC(h, lo, c, 7, 14, 28)),
            "STOCHRSI": (ind.stoch_rsi_1d_nb(c)[0], talib.STOCHRSI(c, 14, 14, 3, 0)[1]),
        }
        mas = {f"sma{n}": talib.SMA(c, n) for n in MA_LENGTHS} | {f"ema{n}": talib.EMA(c, n) for n in MA_LENGTHS}
        mas["hma9"] = talib.WMA(2.0 * talib.WMA(c, 4) - talib.WMA(c, 9), 3)
        for name, ma in mas.items():
            pairs[name.upper()] = (getattr(ind, f"{name[:3]}_1d_nb")(c, int(name[3:])), ma)
            want = np.where(np.isnan(ma), np.nan, np.sign(c - ma))
            got = votes[:, j, COMPONENTS.index(name)]
            if not np.array_equal(got, want, equal_nan=True):
                msg = f"symbol {j}: kernel {name} votes differ from sign(close - TA-Lib {name})"
                raise AssertionError(msg)
        for name, (ours, theirs) in pairs.items():
            if not np.allclose(ours, theirs, rtol=1e-9, atol=1e-7, equal_nan=True):
                msg = f"symbol {j}: {name} differs from TA-Lib by {np.nanmax(np.abs(ours - theirs)):.3g}"
                raise AssertionError(msg)


def run(repeat: int, warmup: int, quick: bool) -> list[Row]:
    """Check correctness, then time kernel / TA-Lib / pandas-ta-classic on one seeded panel."""
    n_symbols, n_days = (100, 500) if quick else (500, 2000)
    case = f"ratings {n_symbols}x{n_days}"
    panel = _panel(n_symbols, n_days)
    _check(panel, range(3))

    by_symbol = [tuple(np.ascontiguousarray(a[:, j]) for a in panel) for j in range(n_symbols)]
    threads = numba.get_num_threads()
    timings: dict[str, tuple[float, float]] = {}
    notes: dict[str, str] = {}

    timings["kernel"] = time_it(lambda: technical_ratings(*panel), repeat, warmup)
    notes["kernel"] = f"26 votes + 3 ratings, float64 outputs allocated per call, {threads} numba threads"

    def talib_all() -> None:
        for cols in by_symbol:
            _talib_symbol(*cols)

    timings["talib"] = time_it(talib_all, repeat, warmup)
    notes["talib"] = "bare indicator set only (no votes), one symbol at a time, contiguous per-symbol inputs"

    numba.set_num_threads(1)
    try:
        timings["kernel-1thread"] = time_it(lambda: technical_ratings(*panel), repeat, warmup)
    finally:
        numba.set_num_threads(threads)
    notes["kernel-1thread"] = "same as kernel, one numba thread"
    timings["kernel-incremental"] = time_it(lambda: technical_ratings(*panel, start=n_days - 1), repeat, warmup)
    notes["kernel-incremental"] = "one new row: each column recomputed from its first bar, only the last row written"

    series = [tuple(pd.Series(a) for a in cols) for cols in by_symbol]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas-ta-classic deprecation chatter is not ours to fix
        t0 = time.perf_counter()
        for cols in series[:5]:
            _pandas_ta_symbol(*cols)
        per_symbol = (time.perf_counter() - t0) / 5
        runs = max(repeat, 1) + warmup
        subset = n_symbols
        if quick or per_symbol * n_symbols * runs > PANDAS_TA_BUDGET:
            subset = max(5, min(n_symbols, int(PANDAS_TA_BUDGET / (4 * runs * per_symbol))))
        scale = n_symbols / subset

        def pandas_ta_subset() -> None:
            for cols in series[:subset]:
                _pandas_ta_symbol(*cols)

        best, med = time_it(pandas_ta_subset, repeat, warmup)
    timings["pandas-ta-classic"] = (best * scale, med * scale)
    notes["pandas-ta-classic"] = "same indicators per symbol, library defaults (talib=False)" + (
        f"; timed on {subset} of {n_symbols} symbols, scaled x{scale:.1f}" if subset < n_symbols else ""
    )
    return rows_against(case, timings, baseline="talib", targets={"kernel": 1.0}, notes=notes)


if __name__ == "__main__":
    cli(run, __doc__.splitlines()[0])

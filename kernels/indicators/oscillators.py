"""Range oscillators: RSI, the stochastics (%K / %D, Stoch RSI), Williams %R, CCI and the Ultimate Oscillator
(`docs/ratings.md#indicators`; array contract in `kernels.indicators`).

Stochastic-type ratios are formed before scaling, 100·((x − lowest) / range), so a pinned %K is exactly 0 or 100
and K = D ties stay exact; a zero range or zero deviation gives NaN.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from kernels.indicators.averages import mean_1d_nb, rma_1d_nb, rolling_sum_1d_nb, rolling_sum_nz_1d_nb, sma_1d_nb
from kernels.indicators.channels import highest_1d_nb, lowest_1d_nb


@njit(cache=True)
def shift_1d_nb(x: np.ndarray, k: int) -> np.ndarray:
    """`x[k]` in Pine terms: the value `k` rows earlier, NaN for the first `k` rows."""
    out = np.full(x.shape[0], np.nan)
    out[k:] = x[: x.shape[0] - k]
    return out


@njit(cache=True)
def change_1d_nb(x: np.ndarray) -> np.ndarray:
    """One-bar change `x − x[1]`."""
    out = np.full(x.shape[0], np.nan)
    for i in range(1, x.shape[0]):
        out[i] = x[i] - x[i - 1]
    return out


@njit(cache=True)
def rsi_1d_nb(close: np.ndarray, n: int = 14) -> np.ndarray:
    """RSI from RMAs of gains and losses; 100 when the loss RMA is 0, else 0 when the gain RMA is 0."""
    ch = change_1d_nb(close)
    gain = np.full(close.shape[0], np.nan)
    loss = np.full(close.shape[0], np.nan)
    for i in range(close.shape[0]):
        if not np.isnan(ch[i]):
            gain[i] = max(ch[i], 0.0)
            loss[i] = max(-ch[i], 0.0)
    up = rma_1d_nb(gain, n)
    dn = rma_1d_nb(loss, n)
    out = np.full(close.shape[0], np.nan)
    for i in range(close.shape[0]):
        if np.isnan(up[i]) or np.isnan(dn[i]):
            continue
        if dn[i] == 0.0:
            out[i] = 100.0
        elif up[i] == 0.0:
            out[i] = 0.0
        else:
            out[i] = 100.0 - 100.0 / (1.0 + up[i] / dn[i])
    return out


@njit(cache=True)
def stoch_raw_1d_nb(close: np.ndarray, high: np.ndarray, low: np.ndarray, n: int) -> np.ndarray:
    """Raw %K: 100·(C − lowest(L, n)) / (highest(H, n) − lowest(L, n)); NaN on a zero range."""
    hh = highest_1d_nb(high, n)
    ll = lowest_1d_nb(low, n)
    out = np.full(close.shape[0], np.nan)
    for i in range(close.shape[0]):
        rng = hh[i] - ll[i]
        if rng != 0.0 and not np.isnan(rng):
            out[i] = 100.0 * ((close[i] - ll[i]) / rng)
    return out


@njit(cache=True)
def stoch_1d_nb(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int = 14, k_smooth: int = 3, d_smooth: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """Slow stochastic (%K = SMA(raw, k_smooth), %D = SMA(%K, d_smooth), both via `mean_1d_nb`)."""
    k = mean_1d_nb(stoch_raw_1d_nb(close, high, low, n), k_smooth)
    return k, mean_1d_nb(k, d_smooth)


@njit(cache=True)
def stoch_rsi_1d_nb(
    close: np.ndarray, k_smooth: int = 3, d_smooth: int = 3, rsi_n: int = 14, stoch_n: int = 14
) -> tuple[np.ndarray, np.ndarray]:
    """Stochastic RSI (%K = SMA(stoch(RSI), k_smooth), %D = SMA(%K, d_smooth))."""
    r = rsi_1d_nb(close, rsi_n)
    k = mean_1d_nb(stoch_raw_1d_nb(r, r, r, stoch_n), k_smooth)
    return k, mean_1d_nb(k, d_smooth)


@njit(cache=True)
def willr_1d_nb(high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int = 14) -> np.ndarray:
    """Williams %R: 100·(C − highest(H, n)) / (highest − lowest), in [−100, 0]; NaN on a zero range."""
    hh = highest_1d_nb(high, n)
    ll = lowest_1d_nb(low, n)
    out = np.full(close.shape[0], np.nan)
    for i in range(close.shape[0]):
        rng = hh[i] - ll[i]
        if rng != 0.0 and not np.isnan(rng):
            out[i] = 100.0 * ((close[i] - hh[i]) / rng)
    return out


@njit(cache=True)
def cci_1d_nb(x: np.ndarray, n: int = 20) -> np.ndarray:
    """CCI on one source: (x − SMA) / (0.015·mean absolute deviation from the SMA); NaN on zero deviation."""
    ma = sma_1d_nb(x, n)
    out = np.full(x.shape[0], np.nan)
    for i in range(x.shape[0]):
        m = ma[i]
        if np.isnan(m):
            continue
        dev = mad_at_nb(x, i, n, m)
        if dev != 0.0:
            out[i] = (x[i] - m) / (0.015 * dev)
    return out


@njit(cache=True)
def mad_at_nb(x: np.ndarray, i: int, n: int, center: float) -> float:
    """Mean absolute deviation of the window x[i-n+1..i] from `center` (four partial sums)."""
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    q = i - n + 1
    k = 0
    while k + 3 < n:
        s0 += abs(x[q + k] - center)
        s1 += abs(x[q + k + 1] - center)
        s2 += abs(x[q + k + 2] - center)
        s3 += abs(x[q + k + 3] - center)
        k += 4
    while k < n:
        s0 += abs(x[q + k] - center)
        k += 1
    return ((s0 + s1) + (s2 + s3)) / n


@njit(cache=True)
def uo_1d_nb(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, fast: int = 7, mid: int = 14, slow: int = 28
) -> np.ndarray:
    """Ultimate Oscillator 100·(4·avg_fast + 2·avg_mid + avg_slow)/7, avg_n = Σbuying pressure / Σtrue range."""
    T = close.shape[0]
    bp = np.full(T, np.nan)
    tr = np.full(T, np.nan)
    for i in range(1, T):
        c1 = close[i - 1]
        if np.isnan(c1) or np.isnan(high[i]) or np.isnan(low[i]) or np.isnan(close[i]):
            continue
        lo = min(low[i], c1)
        bp[i] = close[i] - lo
        tr[i] = max(high[i], c1) - lo
    return (
        100.0
        * (4.0 * _ratio_avg_1d_nb(bp, tr, fast) + 2.0 * _ratio_avg_1d_nb(bp, tr, mid) + _ratio_avg_1d_nb(bp, tr, slow))
        / 7.0
    )


@njit(cache=True)
def _ratio_avg_1d_nb(bp: np.ndarray, tr: np.ndarray, n: int) -> np.ndarray:
    """Σbp / Σtr over `n` bars, NaN when Σtr is zero."""
    num = rolling_sum_1d_nb(bp, n)
    den = rolling_sum_nz_1d_nb(tr, n)
    out = np.full(bp.shape[0], np.nan)
    for i in range(bp.shape[0]):
        if den[i] != 0.0:
            out[i] = num[i] / den[i]
    return out

"""Trend and momentum: true range, DMI / ADX, the Awesome Oscillator, momentum, MACD and Elder's bull / bear
power (`docs/ratings.md#indicators`; array contract in `kernels.indicators`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from kernels.indicators.averages import ema_1d_nb, rma_1d_nb, sma_1d_nb


@njit(cache=True)
def true_range_1d_nb(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """True range max(H − L, |H − C[1]|, |L − C[1]|), NaN on bar 0."""
    out = np.full(close.shape[0], np.nan)
    for i in range(1, close.shape[0]):
        c1 = close[i - 1]
        if np.isnan(c1) or np.isnan(high[i]) or np.isnan(low[i]):
            continue
        out[i] = max(high[i] - low[i], max(abs(high[i] - c1), abs(low[i] - c1)))
    return out


@njit(cache=True)
def dmi_1d_nb(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, di_n: int = 14, adx_n: int = 14
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Directional movement: (+DI, −DI, ADX) with RMA smoothing; DIs forward-filled over zero true range."""
    T = close.shape[0]
    pdm = np.full(T, np.nan)
    mdm = np.full(T, np.nan)
    for i in range(1, T):
        um = high[i] - high[i - 1]
        dm = low[i - 1] - low[i]
        if np.isnan(um) or np.isnan(dm):
            continue
        pdm[i] = um if (um > dm and um > 0.0) else 0.0
        mdm[i] = dm if (dm > um and dm > 0.0) else 0.0
    tr = rma_1d_nb(true_range_1d_nb(high, low, close), di_n)
    rp = rma_1d_nb(pdm, di_n)
    rm = rma_1d_nb(mdm, di_n)
    plus = np.full(T, np.nan)
    minus = np.full(T, np.nan)
    dx = np.full(T, np.nan)
    p = np.nan
    m = np.nan
    for i in range(T):
        if tr[i] != 0.0 and not np.isnan(tr[i]):
            p = 100.0 * rp[i] / tr[i]
            m = 100.0 * rm[i] / tr[i]
        plus[i] = p
        minus[i] = m
        if not np.isnan(p):
            s = p + m
            dx[i] = abs(p - m) / (s if s != 0.0 else 1.0)
    return plus, minus, 100.0 * rma_1d_nb(dx, adx_n)


@njit(cache=True)
def ao_1d_nb(high: np.ndarray, low: np.ndarray, fast: int = 5, slow: int = 34) -> np.ndarray:
    """Awesome Oscillator SMA(hl2, fast) − SMA(hl2, slow)."""
    hl2 = (high + low) / 2.0
    return sma_1d_nb(hl2, fast) - sma_1d_nb(hl2, slow)


@njit(cache=True)
def mom_1d_nb(x: np.ndarray, n: int = 10) -> np.ndarray:
    """Momentum x − x[n]."""
    out = np.full(x.shape[0], np.nan)
    for i in range(n, x.shape[0]):
        out[i] = x[i] - x[i - n]
    return out


@njit(cache=True)
def macd_1d_nb(close: np.ndarray, fast: int = 12, slow: int = 26, signal: int = 9) -> tuple[np.ndarray, np.ndarray]:
    """MACD line EMA(fast) − EMA(slow) and its signal EMA(macd, signal), each SMA-seeded."""
    line = ema_1d_nb(close, fast) - ema_1d_nb(close, slow)
    return line, ema_1d_nb(line, signal)


@njit(cache=True)
def bull_bear_power_1d_nb(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int = 13
) -> tuple[np.ndarray, np.ndarray]:
    """Elder's bull power H − EMA(C, n) and bear power L − EMA(C, n)."""
    e = ema_1d_nb(close, n)
    return high - e, low - e

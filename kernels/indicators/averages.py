"""Moving averages and window sums: SMA, the direct short-window mean, EMA / RMA, WMA, HMA and VWMA
(`docs/ratings.md#indicators`; array contract in `kernels.indicators`).

SMAs use running sums (add the new input, then drop the oldest); `mean_1d_nb` sums its short window directly, so
a %K pinned at 0 or 100 smooths to exactly 0 or 100.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _rolling_sum_1d_nb(x: np.ndarray, n: int, exact_zero: bool) -> np.ndarray:
    """Running-sum window total; with `exact_zero`, exactly 0.0 when every input of the window is 0.0."""
    out = np.full(x.shape[0], np.nan)
    s = 0.0
    cnt = 0
    nz = 0
    for i in range(x.shape[0]):
        xi = x[i]
        if np.isnan(xi):
            s = 0.0
            cnt = 0
            nz = 0
            continue
        s += xi
        cnt += 1
        nz += xi != 0.0
        if cnt > n:
            s -= x[i - n]
            nz -= x[i - n] != 0.0
        if cnt >= n:
            out[i] = s if (nz > 0 or not exact_zero) else 0.0
    return out


@njit(cache=True)
def rolling_sum_1d_nb(x: np.ndarray, n: int) -> np.ndarray:
    """Sum of the last `n` inputs (running sum: add the new input, then drop the oldest)."""
    return _rolling_sum_1d_nb(x, n, False)


@njit(cache=True)
def rolling_sum_nz_1d_nb(x: np.ndarray, n: int) -> np.ndarray:
    """Like `rolling_sum_1d_nb`, but exactly 0.0 when every input of the window is 0.0 (no running-sum residue)."""
    return _rolling_sum_1d_nb(x, n, True)


@njit(cache=True)
def sma_1d_nb(x: np.ndarray, n: int) -> np.ndarray:
    """Simple moving average over the last `n` inputs."""
    return rolling_sum_1d_nb(x, n) / n


@njit(cache=True)
def mean_1d_nb(x: np.ndarray, n: int) -> np.ndarray:
    """Mean of the last `n` inputs summed directly, oldest first (no running-sum residue; for short windows).

    Used for the %K / %D smoothing: a %K pinned at 0 or 100 then gives %K = %D exactly, as in exact arithmetic,
    instead of a running-sum residue deciding the K > D comparison.
    """
    out = np.full(x.shape[0], np.nan)
    for i in range(n - 1, x.shape[0]):
        s = x[i - n + 1]
        for k in range(i - n + 2, i + 1):
            s += x[k]
        out[i] = s / n  # NaN if any input is NaN
    return out


@njit(cache=True)
def _ewm_1d_nb(x: np.ndarray, n: int, alpha: float) -> np.ndarray:
    """Exponential average with smoothing `alpha`, seeded with the SMA of the first `n` non-NaN inputs."""
    out = np.full(x.shape[0], np.nan)
    beta = 1.0 - alpha
    acc = 0.0
    cnt = 0
    e = np.nan
    for i in range(x.shape[0]):
        xi = x[i]
        if np.isnan(xi):
            continue
        if cnt < n:
            acc += xi
            cnt += 1
            if cnt == n:
                e = acc / n
                out[i] = e
        else:
            e = alpha * xi + beta * e
            out[i] = e
    return out


@njit(cache=True)
def ema_1d_nb(x: np.ndarray, n: int) -> np.ndarray:
    """EMA with alpha 2/(n+1), seeded with the SMA of the first `n` non-NaN inputs."""
    return _ewm_1d_nb(x, n, 2.0 / (n + 1))


@njit(cache=True)
def rma_1d_nb(x: np.ndarray, n: int) -> np.ndarray:
    """Wilder's RMA (alpha 1/n), seeded with the SMA of the first `n` non-NaN inputs."""
    return _ewm_1d_nb(x, n, 1.0 / n)


@njit(cache=True)
def wma_at_nb(x: np.ndarray, i: int, n: int) -> float:
    """WMA of the window x[i-n+1..i] (weights 1..n, oldest first; two partial sums)."""
    s0 = 0.0
    s1 = 0.0
    q = i - n + 1
    k = 0
    while k + 1 < n:
        s0 += (k + 1) * x[q + k]
        s1 += (k + 2) * x[q + k + 1]
        k += 2
    if k < n:
        s0 += (k + 1) * x[q + k]
    return (s0 + s1) / (n * (n + 1) / 2.0)


@njit(cache=True)
def wma_1d_nb(x: np.ndarray, n: int) -> np.ndarray:
    """Linearly weighted moving average, weight `n` on the newest input down to 1 on the oldest."""
    out = np.full(x.shape[0], np.nan)
    cnt = 0
    for i in range(x.shape[0]):
        if np.isnan(x[i]):
            cnt = 0
            continue
        cnt += 1
        if cnt >= n:
            out[i] = wma_at_nb(x, i, n)
    return out


@njit(cache=True)
def hma_1d_nb(x: np.ndarray, n: int = 9) -> np.ndarray:
    """Hull MA: WMA(2·WMA(x, n//2) − WMA(x, n), floor(√n))."""
    half = wma_1d_nb(x, n // 2)
    full = wma_1d_nb(x, n)
    return wma_1d_nb(2.0 * half - full, int(np.floor(np.sqrt(n))))


@njit(cache=True)
def vwma_1d_nb(close: np.ndarray, volume: np.ndarray, n: int = 20) -> np.ndarray:
    """Volume-weighted MA: SMA(C·V, n) / SMA(V, n); NaN when the window's volume is zero."""
    num = sma_1d_nb(close * volume, n)
    vol = rolling_sum_nz_1d_nb(volume, n)
    out = np.full(close.shape[0], np.nan)
    for i in range(close.shape[0]):
        if vol[i] != 0.0 and not np.isnan(num[i]):
            out[i] = num[i] / (vol[i] / n)
    return out

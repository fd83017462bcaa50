"""Price channels: sliding window extremes (highest, lowest), the Donchian midpoint and the Ichimoku lines
(`docs/ratings.md#indicators`; array contract in `kernels.indicators`).

The extremes come from a doubling table of pairwise max / min, exact and branch-free, which the fused ratings
kernel also uses directly (`sliding_extremes_nb`).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _pairwise_extreme_nb(a: np.ndarray, b: np.ndarray, out: np.ndarray, is_max: bool) -> None:
    """out[i] = max(a[i], b[i]) (or min); a branch-free loop the compiler vectorizes."""
    if is_max:
        for i in range(out.shape[0]):
            out[i] = max(a[i], b[i])
    else:
        for i in range(out.shape[0]):
            out[i] = min(a[i], b[i])


@njit(cache=True)
def sliding_extremes_nb(x: np.ndarray, lengths: np.ndarray, is_max: bool, out: np.ndarray) -> None:
    """out[q, i] = max (or min) of x[i-n+1..i] for n = lengths[q] (ascending), i >= n-1; other entries untouched.

    Doubling table: level w holds the extreme of the last w inputs, so a window of n, w <= n < 2w, is the
    extreme of two overlapping level-w entries. Exact (no arithmetic), branch-free and vectorized; x must hold no
    NaN inside the windows that are read.
    """
    T = x.shape[0]
    cur = x.copy()
    nxt = x.copy()
    w = 1
    for q in range(lengths.shape[0]):
        n = lengths[q]
        if n > T:
            break
        while 2 * w <= n:
            _pairwise_extreme_nb(cur[w:], cur[: T - w], nxt[w:], is_max)
            for i in range(w):  # an element loop: a slice copy makes numba compile its shape checks (~1.4 s)
                nxt[i] = cur[i]
            cur, nxt = nxt, cur
            w *= 2
        _pairwise_extreme_nb(cur[n - 1 :], cur[w - 1 : T - n + w], out[q, n - 1 :], is_max)


@njit(cache=True)
def _extreme_1d_nb(x: np.ndarray, n: int, is_max: bool) -> np.ndarray:
    """Rolling max (or min) over `n` inputs, NaN unless all `n` are non-NaN."""
    T = x.shape[0]
    out = np.full((1, T), np.nan)
    sliding_extremes_nb(x, np.array([n]), is_max, out)
    cnt = 0
    for i in range(T):
        cnt = 0 if np.isnan(x[i]) else cnt + 1
        if cnt < n:
            out[0, i] = np.nan
    return out[0]


@njit(cache=True)
def highest_1d_nb(x: np.ndarray, n: int) -> np.ndarray:
    """Highest value over the last `n` inputs."""
    return _extreme_1d_nb(x, n, True)


@njit(cache=True)
def lowest_1d_nb(x: np.ndarray, n: int) -> np.ndarray:
    """Lowest value over the last `n` inputs."""
    return _extreme_1d_nb(x, n, False)


@njit(cache=True)
def donchian_mid_1d_nb(high: np.ndarray, low: np.ndarray, n: int) -> np.ndarray:
    """Channel midpoint (highest(H, n) + lowest(L, n)) / 2."""
    return (highest_1d_nb(high, n) + lowest_1d_nb(low, n)) / 2.0


@njit(cache=True)
def ichimoku_1d_nb(
    high: np.ndarray, low: np.ndarray, conversion_n: int = 9, base_n: int = 26, span_b_n: int = 52
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Unshifted Ichimoku lines (conversion, base, lead1, lead2); the rating compares lead1/lead2 26 bars back."""
    conversion = donchian_mid_1d_nb(high, low, conversion_n)
    base = donchian_mid_1d_nb(high, low, base_n)
    lead1 = (conversion + base) / 2.0
    lead2 = donchian_mid_1d_nb(high, low, span_b_n)
    return conversion, base, lead1, lead2

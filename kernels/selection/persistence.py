"""Serial structure of one asset's returns: permutation entropy, Kaufman's efficiency ratio and the Hurst exponent
by rescaled range (`docs/selection.md#features`; array contract in `kernels.selection`).

Definitions (x = the valid values of one column, n = their count):

- Permutation entropy (Bandt & Pompe): ordinal patterns of `order` values `delay` apart over the last `window`
  values; ties rank by position (as a stable argsort). Shannon entropy of the pattern frequencies divided by
  ln(order!), in [0, 1]. NaN when there is no complete pattern.
- Efficiency ratio (Kaufman): |Σ x| / Σ |x| over the last `window` values; NaN when Σ |x| = 0.
- Hurst exponent by rescaled range: for lags n = min_lag, 2·min_lag, 4·min_lag, ... while n <= N/2, split x into
  floor(N/n) non-overlapping chunks aligned to the *end* (the oldest remainder is dropped); per chunk R = range of
  the cumulative deviations from the chunk mean (including the starting 0), S = population std; R/S is averaged over
  chunks with S > 0. The slope of an ordinary least-squares fit of log(R/S) on log(n), clipped to [0, 1]. NaN with
  fewer than two usable lags.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from kernels.selection.distribution import valid_1d_nb


@njit(cache=True)
def _tail_1d_nb(v: np.ndarray, window: int) -> np.ndarray:
    """The last `window` values of v (all of them when window <= 0 or window >= len(v))."""
    if window <= 0 or window >= v.shape[0]:
        return v
    return v[v.shape[0] - window :]


@njit(cache=True)
def permutation_entropy_1d_nb(x: np.ndarray, order: int, delay: int, window: int) -> float:
    """Normalized permutation entropy of the last `window` valid values, in [0, 1]."""
    v = _tail_1d_nb(valid_1d_nb(x), window)
    span = (order - 1) * delay
    m = v.shape[0] - span
    if m < 1:
        return np.nan
    counts = np.zeros(order**order, dtype=np.int64)
    for i in range(m):
        code = 0
        for a in range(order):
            va = v[i + a * delay]
            rank = 0
            for b in range(order):
                vb = v[i + b * delay]
                if vb < va or (vb == va and b < a):
                    rank += 1
            code = code * order + rank
        counts[code] += 1
    h = 0.0
    for c in range(counts.shape[0]):
        if counts[c] > 0:
            p = counts[c] / m
            h -= p * math.log(p)
    log_fact = 0.0
    for k in range(2, order + 1):
        log_fact += math.log(k)
    return h / log_fact


@njit(cache=True)
def permutation_entropy_nb(x: np.ndarray, order: int, delay: int, window: int) -> np.ndarray:
    """`permutation_entropy_1d_nb` for every column."""
    out = np.empty(x.shape[1])
    for j in range(x.shape[1]):
        out[j] = permutation_entropy_1d_nb(x[:, j], order, delay, window)
    return out


@njit(cache=True)
def efficiency_ratio_1d_nb(x: np.ndarray, window: int) -> float:
    """Kaufman efficiency ratio |Σ x| / Σ |x| of the last `window` valid values."""
    v = _tail_1d_nb(valid_1d_nb(x), window)
    s = 0.0
    a = 0.0
    for i in range(v.shape[0]):
        s += v[i]
        a += abs(v[i])
    if a == 0.0:
        return np.nan
    return abs(s) / a


@njit(cache=True)
def efficiency_ratio_nb(x: np.ndarray, window: int) -> np.ndarray:
    """`efficiency_ratio_1d_nb` for every column."""
    out = np.empty(x.shape[1])
    for j in range(x.shape[1]):
        out[j] = efficiency_ratio_1d_nb(x[:, j], window)
    return out


@njit(cache=True)
def rescaled_range_1d_nb(v: np.ndarray) -> float:
    """R/S of one chunk of valid values (NaN when its population std is 0)."""
    n = v.shape[0]
    mean = 0.0
    for i in range(n):
        mean += v[i]
    mean /= n
    cum = 0.0
    hi = 0.0
    lo = 0.0
    ss = 0.0
    for i in range(n):
        d = v[i] - mean
        ss += d * d
        cum += d
        hi = max(hi, cum)
        lo = min(lo, cum)
    s = math.sqrt(ss / n)
    if s == 0.0:
        return np.nan
    return (hi - lo) / s


@njit(cache=True)
def hurst_rs_1d_nb(x: np.ndarray, min_lag: int) -> float:
    """Hurst exponent of the valid values by rescaled range over doubling lags, clipped to [0, 1]."""
    v = valid_1d_nb(x)
    total = v.shape[0]
    xs = np.empty(64)
    ys = np.empty(64)
    k = 0
    lag = min_lag
    while lag <= total // 2 and k < 64:
        chunks = total // lag
        start = total - chunks * lag
        acc = 0.0
        used = 0
        for c in range(chunks):
            rs = rescaled_range_1d_nb(v[start + c * lag : start + (c + 1) * lag])
            if not np.isnan(rs):
                acc += rs
                used += 1
        if used > 0:
            xs[k] = math.log(lag)
            ys[k] = math.log(acc / used)
            k += 1
        lag *= 2
    if k < 2:
        return np.nan
    mx = 0.0
    my = 0.0
    for i in range(k):
        mx += xs[i]
        my += ys[i]
    mx /= k
    my /= k
    sxy = 0.0
    sxx = 0.0
    for i in range(k):
        sxy += (xs[i] - mx) * (ys[i] - my)
        sxx += (xs[i] - mx) ** 2
    return min(1.0, max(0.0, sxy / sxx))


@njit(cache=True)
def hurst_rs_nb(x: np.ndarray, min_lag: int) -> np.ndarray:
    """`hurst_rs_1d_nb` for every column."""
    out = np.empty(x.shape[1])
    for j in range(x.shape[1]):
        out[j] = hurst_rs_1d_nb(x[:, j], min_lag)
    return out

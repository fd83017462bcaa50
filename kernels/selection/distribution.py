"""Distribution statistics of one asset's returns: moments, quantiles and tail means, max drawdown, and the
pairwise correlation of assets (`docs/selection.md#features`; array contract in `kernels.selection`).

Definitions (x = the valid values of one column, n = their count):

- Moments: mean, std with ddof = 1, skew = m3 / m2^1.5 and excess kurtosis = m4 / m2² − 3 with population central
  moments m_k (SciPy's `bias=True`). Zero variance (m2 <= (1e-14·|mean|)²) gives std 0 and NaN skew/kurtosis.
- Quantiles: linear interpolation between order statistics (NumPy's default `method="linear"`).
- Tail means: lower = mean of x <= q(alpha), upper = mean of x >= q(1 − alpha) (never empty).
- Max drawdown on compounded wealth W_t = Π (1 + x), starting from W = 1: max over t of 1 − W_t / max_{s<=t} W_s.
- Pairwise correlation: Pearson on the rows where both columns are valid (pairwise-complete); NaN when fewer than
  `min_periods` such rows or when either column has zero variance on them. The diagonal is 1.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from kernels.correlation import ZERO_VAR_RTOL as _ZERO_VAR_RTOL
from kernels.correlation import fill_gapped_pairs_nb


@njit(cache=True)
def valid_1d_nb(x: np.ndarray) -> np.ndarray:
    """The non-NaN values of x, in order."""
    out = np.empty(x.shape[0], dtype=np.float64)
    k = 0
    for t in range(x.shape[0]):
        if not np.isnan(x[t]):
            out[k] = x[t]
            k += 1
    return out[:k]


@njit(cache=True)
def moments_1d_nb(x: np.ndarray) -> tuple[float, float, float, float, float]:
    """Count, mean, std (ddof 1), skew and excess kurtosis of the valid values (two-pass)."""
    v = valid_1d_nb(x)
    n = v.shape[0]
    if n == 0:
        return 0.0, np.nan, np.nan, np.nan, np.nan
    mean = 0.0
    for i in range(n):
        mean += v[i]
    mean /= n
    if n < 2:
        return float(n), mean, np.nan, np.nan, np.nan
    s2 = 0.0
    s3 = 0.0
    s4 = 0.0
    for i in range(n):
        d = v[i] - mean
        d2 = d * d
        s2 += d2
        s3 += d2 * d
        s4 += d2 * d2
    m2 = s2 / n
    if m2 <= (_ZERO_VAR_RTOL * abs(mean)) ** 2:
        return float(n), mean, 0.0, np.nan, np.nan
    std = math.sqrt(s2 / (n - 1))
    skew = (s3 / n) / m2**1.5
    kurt = (s4 / n) / (m2 * m2) - 3.0
    return float(n), mean, std, skew, kurt


@njit(cache=True)
def moments_nb(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`moments_1d_nb` for every column: (count, mean, std, skew, excess kurtosis)."""
    n = x.shape[1]
    cnt, mean, std, skew, kurt = np.empty(n), np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    for j in range(n):
        cnt[j], mean[j], std[j], skew[j], kurt[j] = moments_1d_nb(x[:, j])
    return cnt, mean, std, skew, kurt


@njit(cache=True)
def quantile_sorted_1d_nb(s: np.ndarray, q: float) -> float:
    """Linear-interpolation quantile of an ascending, NaN-free, non-empty array."""
    h = (s.shape[0] - 1) * q
    lo = int(h)  # h >= 0: truncation is floor
    if lo >= s.shape[0] - 1:
        return s[s.shape[0] - 1]
    frac = h - lo
    return s[lo] + frac * (s[lo + 1] - s[lo])


@njit(cache=True)
def tail_stats_1d_nb(x: np.ndarray, alpha: float) -> tuple[float, float, float, float]:
    """q(alpha), q(1 − alpha), mean of values <= q(alpha), mean of values >= q(1 − alpha); NaN if no valid value."""
    s = np.sort(valid_1d_nb(x))
    n = s.shape[0]
    if n == 0:
        return np.nan, np.nan, np.nan, np.nan
    q_lo = quantile_sorted_1d_nb(s, alpha)
    q_hi = quantile_sorted_1d_nb(s, 1.0 - alpha)
    lo_sum = 0.0
    lo_n = 0
    hi_sum = 0.0
    hi_n = 0
    for i in range(n):
        if s[i] <= q_lo:
            lo_sum += s[i]
            lo_n += 1
        if s[i] >= q_hi:
            hi_sum += s[i]
            hi_n += 1
    return q_lo, q_hi, lo_sum / lo_n, hi_sum / hi_n


@njit(cache=True)
def tail_stats_nb(x: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`tail_stats_1d_nb` for every column: (q_lo, q_hi, lower tail mean, upper tail mean)."""
    n = x.shape[1]
    q_lo, q_hi, lo_mean, hi_mean = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    for j in range(n):
        q_lo[j], q_hi[j], lo_mean[j], hi_mean[j] = tail_stats_1d_nb(x[:, j], alpha)
    return q_lo, q_hi, lo_mean, hi_mean


@njit(cache=True)
def max_drawdown_1d_nb(x: np.ndarray) -> float:
    """Max drawdown of compounded wealth over the valid values, in [0, ∞); NaN if there is none."""
    wealth = 1.0
    peak = 1.0
    mdd = 0.0
    seen = False
    for t in range(x.shape[0]):
        r = x[t]
        if np.isnan(r):
            continue
        seen = True
        wealth *= 1.0 + r
        peak = max(peak, wealth)
        mdd = max(mdd, 1.0 - wealth / peak)
    return mdd if seen else np.nan


@njit(cache=True)
def max_drawdown_nb(x: np.ndarray) -> np.ndarray:
    """`max_drawdown_1d_nb` for every column."""
    out = np.empty(x.shape[1])
    for j in range(x.shape[1]):
        out[j] = max_drawdown_1d_nb(x[:, j])
    return out


@njit(cache=True)
def pairwise_corr_nb(x: np.ndarray, min_periods: int) -> np.ndarray:
    """Pearson correlation of every pair of columns on their common valid rows (N×N, diagonal 1): every pair through
    `kernels.correlation`'s pairwise loop (the reference `kernels.correlation.pairwise_corr` is tested against)."""
    n = x.shape[1]
    out = np.eye(n)
    fill_gapped_pairs_nb(x, np.ones(n, dtype=np.bool_), min_periods, out)
    return out

"""Per-asset statistics for natural selection and pre-optimization analysis.

Array contract (every kernel in this module):

- 2-D inputs are float64, rows = time (oldest first), columns = assets. 1-D kernels (`*_1d_nb`) take one column.
- NaN means "no bar" (late listing, an equity's weekend or holiday, a delisting). Each kernel drops the NaN rows of
  its column and works on the sequence of valid values in order, so a crypto column and an equity column can sit
  side by side and each is measured on its own bars; no date is ever dropped for the other columns. Inputs contain
  no ±inf (callers check).
- "Last `window` values" means the last `window` *valid* values; `window <= 0` means all of them.
- Each kernel returns NaN for a column where its statistic is undefined (too few valid values, zero variance, an
  empty denominator); the docstring of each kernel says when. Outputs of the 2-D kernels are 1-D float64 arrays of
  length n_assets (or n_assets × n_assets for `pairwise_corr_nb`).
- Kernels take and return NumPy arrays only: no Polars, no I/O, no parameter defaults (the callers in
  `dataflows.selection` and `dataflows.analysis` hold them).

Definitions (x = the valid values of one column, n = their count):

- Moments: mean, std with ddof = 1, skew = m3 / m2^1.5 and excess kurtosis = m4 / m2² − 3 with population central
  moments m_k (SciPy's `bias=True`). Zero variance (m2 <= (1e-14·|mean|)²) gives std 0 and NaN skew/kurtosis.
- Permutation entropy (Bandt & Pompe): ordinal patterns of `order` values `delay` apart over the last `window`
  values; ties rank by position (as a stable argsort). Shannon entropy of the pattern frequencies divided by
  ln(order!), in [0, 1]. NaN when there is no complete pattern.
- Efficiency ratio (Kaufman): |Σ x| / Σ |x| over the last `window` values; NaN when Σ |x| = 0.
- Hurst exponent by rescaled range: for lags n = min_lag, 2·min_lag, 4·min_lag, ... while n <= N/2, split x into
  floor(N/n) non-overlapping chunks aligned to the *end* (the oldest remainder is dropped); per chunk R = range of
  the cumulative deviations from the chunk mean (including the starting 0), S = population std; R/S is averaged over
  chunks with S > 0. The slope of an ordinary least-squares fit of log(R/S) on log(n), clipped to [0, 1]. NaN with
  fewer than two usable lags.
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
def _tail_1d_nb(v: np.ndarray, window: int) -> np.ndarray:
    """The last `window` values of v (all of them when window <= 0 or window >= len(v))."""
    if window <= 0 or window >= v.shape[0]:
        return v
    return v[v.shape[0] - window :]


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

"""Indicator kernels behind TradingView's technical ratings (`docs/ratings.md`, sections conventions and indicators).

Array contract, stated once for every kernel here:

- Inputs are 1-D float64 arrays holding one symbol's history, oldest first; every output is a new float64 array
  of the same length. Parameters after the arrays are window lengths (int).
- Bar 0 is the first row whose inputs are non-NaN (late listing); warm-ups count from there, so leading NaN rows
  only shift the output. Trailing NaN rows (delisting) give NaN.
- Windowed functions (SMA, WMA, highest, lowest, rolling sums, mean absolute deviation) are NaN unless all `n`
  inputs of the window are non-NaN: a NaN input restarts the window. Derived series can hold such NaNs (a stochastic
  on a flat window is 0/0), and then %K/%D stay NaN until their windows are full again.
- EMA and RMA are seeded with the SMA of their first `n` non-NaN inputs; afterwards a NaN input gives NaN and the
  state carries over to the next non-NaN input.
- `x[1]` terms (changes, true range) are NaN on bar 0. Division by zero gives NaN, never inf.
- Interior NaN rows in the OHLCV inputs are not repaired here; `kernels.ratings.ratings_nb` drops them first.

Float operation order (the spec fixes the formulas, not their rounding): SMAs of prices use running sums (add the
new input, then drop the oldest); the 3-bar %K / %D smoothing sums its window directly (`mean_1d_nb`), and
stochastic-type ratios are formed before scaling, 100·((x − lowest) / range), so a pinned %K is exactly 0 or 100
and K = D ties stay exact. `kernels.ratings.ratings_nb` fuses the same operations, so its votes are bit-identical to
votes built from these kernels.
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
            nxt[:w] = cur[:w]
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
def bull_bear_power_1d_nb(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int = 13
) -> tuple[np.ndarray, np.ndarray]:
    """Elder's bull power H − EMA(C, n) and bear power L − EMA(C, n)."""
    e = ema_1d_nb(close, n)
    return high - e, low - e


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

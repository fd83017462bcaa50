"""TradingView technical ratings: 26 component votes and Recommend.MA / .Other / .All (LIB v3 rules).

Method: `docs/ratings.md` (indicators, votes, aggregation), SMA-seeded EMAs.

Array contract of `ratings_nb` (the wrapper `technical_ratings` validates and allocates):

- Inputs `high`, `low`, `close`, `volume`: 2-D float64, rows = time (oldest first), columns = symbols, all T×N.
  There is no open: no component reads it.
- A row is a *bar* of its column iff high, low and close are non-NaN. A column's bar 0 is its first bar (late
  listing); warm-ups count from there. Rows that are not bars get NaN everywhere: rows before the listing, rows
  after a delisting, and interior NaN rows.
- Interior NaN rows (not expected: the lakehouse repairs gaps) are *skipped*: the column is rated on its bars as if
  they were contiguous (windows span the last n bars, EMA/RMA states carry over, `x[1]` is the previous bar), which
  is Pine's na-ignoring behaviour, and only the missing row itself is NaN. A NaN volume on a bar only makes the VWMA
  windows containing it NaN (the VWMA vote drops out, as for symbols without volume).
- Outputs, written for rows `start..T-1` (R = T − start) into caller-provided arrays: `votes` R×N×26 float64 in
  {−1, 0, +1, NaN} (components in `COMPONENTS` order; one bar's 26 votes are adjacent), `ma`, `other`, `all` R×N
  float64 in [−1, 1], NaN where no component is present.
- Point in time: row t depends only on rows ≤ t.
- Incremental runs: pass `start` = the first new row. Every column is still computed from its bar 0 (the EMA/RMA
  chains depend on the whole history) but only rows ≥ start are written, so the result is bit-identical to
  `full[start:]`. Cost: one full pass per column (about 0.05 µs per bar per core), output memory for new rows only.

Implementation: columns are gathered in blocks of 8 (one cache line per input row) and processed in parallel. Per
column, RSI and the Donchian / RSI window extremes are computed in short pre-passes (the extremes branch-free and
vectorized); everything else runs in one fused pass with the same float operations as `kernels.indicators`, so the
votes are bit-identical to votes built from the 1-D kernels, ties included. Outputs are allocated by the caller:
NumPy backs large arrays with transparent huge pages, and first-touch page faults on 4 KiB pages cost more than the
kernel itself.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit, prange

from kernels.indicators import mad_at_nb, sliding_extremes_nb, wma_at_nb

COMPONENTS: tuple[str, ...] = (
    "sma10",
    "sma20",
    "sma30",
    "sma50",
    "sma100",
    "sma200",
    "ema10",
    "ema20",
    "ema30",
    "ema50",
    "ema100",
    "ema200",
    "hma9",
    "vwma20",
    "ichimoku",
    "rsi",
    "stoch",
    "cci",
    "adx",
    "ao",
    "mom",
    "macd",
    "stoch_rsi",
    "willr",
    "bbp",
    "uo",
)
N_MA = 15  # components 0..14 form Recommend.MA, 15..25 Recommend.Other
N_COMPONENTS = len(COMPONENTS)
MA_LENGTHS = (10, 20, 30, 50, 100, 200)
CATEGORIES = ("Strong Sell", "Sell", "Neutral", "Buy", "Strong Buy")


# ------------------------------------------------------------------------- vote rules (docs/ratings.md#votes)


# Each rule is written as float(BUY) − float(SELL) with non-short-circuit `&` / `|`: BUY and SELL are mutually
# exclusive for every rule, and branch-free votes matter for speed (random ±1 outcomes defeat branch prediction).


@njit(cache=True)
def _vote_nb(gate: float, buy: bool, sell: bool) -> float:
    """+1 / −1 / 0 from exclusive BUY and SELL conditions, NaN if the gate value is NaN."""
    v = np.float64(buy) - np.float64(sell)
    return np.nan if np.isnan(gate) else v


@njit(cache=True)
def ma_vote_nb(ma: float, close: float) -> float:
    """MA vote: +1 if MA < close, −1 if MA > close, 0 on a tie; gate MA."""
    return _vote_nb(ma, ma < close, ma > close)


@njit(cache=True)
def ichimoku_vote_nb(
    lead1_26: float, lead2_26: float, base: float, conversion: float, close: float, lead2: float
) -> float:
    """Ichimoku vote on the cloud 26 bars back (A = lead1[26], B = lead2[26]); gate the unshifted lead2."""
    a, b = lead1_26, lead2_26
    buy = (a > b) & (base > a) & (conversion > base) & (close > conversion)
    sell = (a < b) & (base < a) & (conversion < base) & (close < conversion)
    return _vote_nb(lead2, buy, sell)


@njit(cache=True)
def rsi_vote_nb(rsi: float, rsi_1: float) -> float:
    """RSI vote: buy below 30 and rising, sell above 70 and falling; gate RSI[1]."""
    return _vote_nb(rsi_1, (rsi < 30.0) & (rsi > rsi_1), (rsi > 70.0) & (rsi < rsi_1))


@njit(cache=True)
def stoch_vote_nb(k: float, d: float, d_1: float) -> float:
    """Stochastic vote: buy with K, D < 20 and K > D, sell with K, D > 80 and K < D; gate D[1]."""
    return _vote_nb(d_1, (k < 20.0) & (d < 20.0) & (k > d), (k > 80.0) & (d > 80.0) & (k < d))


@njit(cache=True)
def cci_vote_nb(cci: float, cci_1: float) -> float:
    """CCI vote: buy below −100 and rising, sell above 100 and falling; gate CCI[1]."""
    return _vote_nb(cci_1, (cci < -100.0) & (cci > cci_1), (cci > 100.0) & (cci < cci_1))


@njit(cache=True)
def adx_vote_nb(adx: float, adx_1: float, plus_di: float, minus_di: float) -> float:
    """ADX vote: ADX > 20 and rising, direction from +DI vs −DI; gate ADX."""
    strong = (adx > 20.0) & (adx > adx_1)
    return _vote_nb(adx, strong & (plus_di > minus_di), strong & (plus_di < minus_di))


@njit(cache=True)
def ao_vote_nb(ao: float, ao_1: float, ao_2: float) -> float:
    """Awesome Oscillator vote: zero cross or same-side saucer; gate AO[1]."""
    buy = ((ao > 0.0) & (ao_1 <= 0.0)) | ((ao > 0.0) & (ao_1 > 0.0) & (ao > ao_1) & (ao_2 > ao_1))
    sell = ((ao < 0.0) & (ao_1 >= 0.0)) | ((ao < 0.0) & (ao_1 < 0.0) & (ao < ao_1) & (ao_2 < ao_1))
    return _vote_nb(ao_1, buy, sell)


@njit(cache=True)
def mom_vote_nb(mom: float, mom_1: float) -> float:
    """Momentum vote: +1 rising, −1 falling; gate Mom[1]."""
    return _vote_nb(mom_1, mom > mom_1, mom < mom_1)


@njit(cache=True)
def macd_vote_nb(macd: float, signal: float) -> float:
    """MACD vote: +1 above the signal line, −1 below; gate signal."""
    return _vote_nb(signal, macd > signal, macd < signal)


@njit(cache=True)
def stoch_rsi_vote_nb(close: float, ema50: float, k: float, d: float) -> float:
    """Stoch RSI vote, counter-trend: buy in a downtrend below 20 with K > D, sell in an uptrend; gate EMA50."""
    buy = (close < ema50) & (k < 20.0) & (d < 20.0) & (k > d)
    sell = (close > ema50) & (k > 80.0) & (d > 80.0) & (k < d)
    return _vote_nb(ema50, buy, sell)


@njit(cache=True)
def willr_vote_nb(wr: float, wr_1: float) -> float:
    """Williams %R vote: buy below −80 and rising, sell above −20 and falling; gate W%R[1]."""
    return _vote_nb(wr_1, (wr < -80.0) & (wr > wr_1), (wr > -20.0) & (wr < wr_1))


@njit(cache=True)
def bbp_vote_nb(close: float, ema50: float, bull: float, bull_1: float, bear: float, bear_1: float) -> float:
    """Bull/Bear Power vote: uptrend with negative, recovering bear power buys; the mirror sells; gate EMA50."""
    buy = (close > ema50) & (bear < 0.0) & (bear > bear_1)
    sell = (close < ema50) & (bull > 0.0) & (bull < bull_1)
    return _vote_nb(ema50, buy, sell)


@njit(cache=True)
def uo_vote_nb(uo: float) -> float:
    """Ultimate Oscillator vote: +1 above 70, −1 below 30; gate UO."""
    return _vote_nb(uo, uo > 70.0, uo < 30.0)


# ------------------------------------------------------------------- aggregation (docs/ratings.md#aggregation)


@njit(cache=True)
def group_rating_nb(votes: np.ndarray) -> float:
    """Mean of the non-NaN votes (0 counts), NaN if all are NaN."""
    s = 0.0
    cnt = 0
    for v in votes:
        if not np.isnan(v):
            s += v
            cnt += 1
    return s / cnt if cnt > 0 else np.nan


@njit(cache=True)
def overall_rating_nb(ma: float, other: float) -> float:
    """Recommend.All: (MA + Other)/2, the non-NaN one if only one is, NaN if both are NaN."""
    if np.isnan(ma):
        return other
    if np.isnan(other):
        return ma
    return (ma + other) / 2.0


def rating_category(values: np.ndarray) -> np.ndarray:
    """Category labels for rating values (object array; None where NaN)."""
    v = np.asarray(values, dtype=np.float64)
    out = np.full(v.shape, None, dtype=object)
    labels = np.array(CATEGORIES, dtype=object)
    idx = (v >= -0.5).astype(np.int8) + (v >= -0.1) + (v > 0.1) + (v > 0.5)
    valid = ~np.isnan(v)
    out[valid] = labels[idx[valid]]
    return out


# ------------------------------------------------------------------------------------------------ fused kernel

_BLOCK = 8  # columns gathered together: one cache line of each input row


@njit(cache=True)
def _ratings_bars_nb(
    hs: np.ndarray,
    ls: np.ndarray,
    cs: np.ndarray,
    vs: np.ndarray,
    rows: np.ndarray,
    start: int,
    votes: np.ndarray,
    j: int,
    ratings: np.ndarray,
    q_col: int,
) -> None:
    """One pass over a column's bars: votes into `votes[:, j]`, ratings into `ratings[:, q_col, row]`."""
    m = cs.shape[0]
    nan = np.nan
    lead1s = np.empty(m)
    lead2s = np.empty(m)
    bps = np.empty(m)
    trs = np.empty(m)

    # Pre-passes. RSI(14) first: Stoch RSI needs its 14-bar extremes inside the main loop.
    ar = 1.0 / 14
    rsis = np.full(m, nan)
    g_acc = d_acc = up = dn = 0.0
    for i in range(1, m):
        ch = cs[i] - cs[i - 1]
        g = max(ch, 0.0)
        dl = max(-ch, 0.0)
        if i <= 14:
            g_acc += g
            d_acc += dl
            if i == 14:
                up = g_acc / 14
                dn = d_acc / 14
        else:
            up = ar * g + (1.0 - ar) * up
            dn = ar * dl + (1.0 - ar) * dn
        if i >= 14:
            if dn == 0.0:
                rsis[i] = 100.0
            elif up == 0.0:
                rsis[i] = 0.0
            else:
                rsis[i] = 100.0 - 100.0 / (1.0 + up / dn)
    # Branch-free window extremes: H and L over 9 / 14 / 26 / 52 (Ichimoku, Stoch, W%R), RSI over 14.
    don = np.array([9, 14, 26, 52])
    hmax = np.full((4, m), nan)
    lmin = np.full((4, m), nan)
    sliding_extremes_nb(hs, don, True, hmax)
    sliding_extremes_nb(ls, don, False, lmin)
    rext = np.full((2, m), nan)
    if m > 14:
        sliding_extremes_nb(rsis[14:], don[1:2], True, rext[0:1, 14:])
        sliding_extremes_nb(rsis[14:], don[1:2], False, rext[1:2, 14:])

    # Moving averages: running sums and EMAs for the six lengths.
    ma_len = np.array(MA_LENGTHS, dtype=np.int64)
    ma_sum = np.zeros(6)
    mav = np.empty(12)
    ema = np.full(6, nan)
    ema_a = np.empty(6)
    for q in range(6):
        ema_a[q] = 2.0 / (ma_len[q] + 1)
    pre = 0.0  # prefix sum of closes: the SMA seed of every EMA
    a12 = 2.0 / 13
    a13 = 2.0 / 14
    a26 = 2.0 / 27
    a9 = 2.0 / 10
    e12 = e13 = e26 = nan
    sig = nan
    sig_acc = 0.0
    sig_cnt = 0
    dif1 = dif2 = nan
    scv = sv = 0.0
    vcnt = vnz = 0
    # Oscillators.
    rsi_1 = nan
    raw1 = raw2 = k1 = k2 = nan
    d_1 = nan
    cci_1 = nan
    pdm_acc = mdm_acc = tr_acc = rp = rm = rt = 0.0
    pdi = mdi = nan
    dx_acc = adx_s = 0.0
    dx_cnt = 0
    adx = adx_1 = nan
    s5 = s34 = 0.0
    ao_1 = ao_2 = nan
    mom_1 = nan
    sr1 = sr2 = sk1 = sk2 = nan
    wr_1 = nan
    bull_1 = bear_1 = nan
    sbp7 = sbp14 = sbp28 = str7 = str14 = str28 = 0.0
    nz7 = nz14 = nz28 = 0

    for i in range(m):
        t = rows[i]
        hi = hs[i]
        lo = ls[i]
        cl = cs[i]
        emit = t >= start
        r = t - start
        ma_sum_v = 0.0
        ma_cnt = 0

        # --- SMA / EMA 10..200
        if i < 200:
            pre += cl
        for q in range(6):
            n = ma_len[q]
            ma_sum[q] += cl
            if i >= n:
                ma_sum[q] -= cs[i - n]
            if i == n - 1:
                ema[q] = pre / n
            elif i >= n:
                ema[q] = ema_a[q] * cl + (1.0 - ema_a[q]) * ema[q]
            mav[q] = ma_sum[q] / n if i >= n - 1 else nan
            mav[6 + q] = ema[q]
        if emit:
            for q in range(12):
                x = ma_vote_nb(mav[q], cl)
                votes[r, j, q] = x
                ok = not np.isnan(x)
                ma_sum_v += x if ok else 0.0
                ma_cnt += 1 if ok else 0
        ema50 = ema[3]
        sma20 = ma_sum[1] / 20 if i >= 19 else nan
        if i == 11:
            e12 = pre / 12
        elif i > 11:
            e12 = a12 * cl + (1.0 - a12) * e12
        if i == 12:
            e13 = pre / 13
        elif i > 12:
            e13 = a13 * cl + (1.0 - a13) * e13
        if i == 25:
            e26 = pre / 26
        elif i > 25:
            e26 = a26 * cl + (1.0 - a26) * e26

        # --- HMA(9) = WMA(2·WMA(C, 4) − WMA(C, 9), 3)
        hma = nan
        dif = nan
        if i >= 8:
            dif = 2.0 * wma_at_nb(cs, i, 4) - wma_at_nb(cs, i, 9)
            if i >= 10:
                hma = ((1 * dif2 + 3 * dif) + 2 * dif1) / 6.0
        dif2 = dif1
        dif1 = dif

        # --- VWMA(20)
        v = vs[i]
        vwma = nan
        if np.isnan(v):
            scv = sv = 0.0
            vcnt = vnz = 0
        else:
            scv += cl * v
            sv += v
            vcnt += 1
            vnz += v != 0.0
            if vcnt > 20:
                scv -= cs[i - 20] * vs[i - 20]
                sv -= vs[i - 20]
                vnz -= vs[i - 20] != 0.0
            if vcnt >= 20:
                svv = sv if vnz > 0 else 0.0
                if svv != 0.0:
                    vwma = (scv / 20) / (svv / 20)

        # --- Donchian channels: Ichimoku (9, 26, 52), the 14-bar range of Stoch and W%R
        conv = (hmax[0, i] + lmin[0, i]) / 2.0
        base = (hmax[2, i] + lmin[2, i]) / 2.0
        lead1 = (conv + base) / 2.0
        lead2 = (hmax[3, i] + lmin[3, i]) / 2.0
        lead1s[i] = lead1
        lead2s[i] = lead2

        rsi = rsis[i]

        # --- Stochastic (14, 3, 3) and Williams %R(14)
        hh14 = hmax[1, i]
        ll14 = lmin[1, i]
        rng14 = hh14 - ll14
        raw = nan
        wr = nan
        if rng14 != 0.0 and i >= 13:
            raw = 100.0 * ((cl - ll14) / rng14)
            wr = 100.0 * ((cl - hh14) / rng14)
        k = ((raw2 + raw1) + raw) / 3  # same order as mean_1d_nb; NaN until 3 raws
        d = ((k2 + k1) + k) / 3
        raw2 = raw1
        raw1 = raw
        k2 = k1
        k1 = k

        # --- CCI(20) on close
        cci = nan
        if i >= 19:
            dev = mad_at_nb(cs, i, 20, sma20)
            if dev != 0.0:
                cci = (cl - sma20) / (0.015 * dev)

        # --- DMI / ADX (14, 14)
        if i >= 1:
            c1 = cs[i - 1]
            um = hi - hs[i - 1]
            dm = ls[i - 1] - lo
            pdm = um if (um > dm and um > 0.0) else 0.0
            mdm = dm if (dm > um and dm > 0.0) else 0.0
            trv = max(hi - lo, max(abs(hi - c1), abs(lo - c1)))
            if i <= 14:
                pdm_acc += pdm
                mdm_acc += mdm
                tr_acc += trv
                if i == 14:
                    rp = pdm_acc / 14
                    rm = mdm_acc / 14
                    rt = tr_acc / 14
            else:
                rp = ar * pdm + (1.0 - ar) * rp
                rm = ar * mdm + (1.0 - ar) * rm
                rt = ar * trv + (1.0 - ar) * rt
            if i >= 14 and rt != 0.0:
                pdi = 100.0 * rp / rt
                mdi = 100.0 * rm / rt
            if not np.isnan(pdi):
                ssum = pdi + mdi
                dx = abs(pdi - mdi) / (ssum if ssum != 0.0 else 1.0)
                if dx_cnt < 14:
                    dx_acc += dx
                    dx_cnt += 1
                    if dx_cnt == 14:
                        adx_s = dx_acc / 14
                        adx = 100.0 * adx_s
                else:
                    adx_s = ar * dx + (1.0 - ar) * adx_s
                    adx = 100.0 * adx_s

        # --- AO, Momentum(10), MACD (12, 26, 9)
        hl2 = (hi + lo) / 2.0
        s5 += hl2
        s34 += hl2
        if i >= 5:
            s5 -= (hs[i - 5] + ls[i - 5]) / 2.0
        if i >= 34:
            s34 -= (hs[i - 34] + ls[i - 34]) / 2.0
        ao = s5 / 5 - s34 / 34 if i >= 33 else nan
        mom = cl - cs[i - 10] if i >= 10 else nan
        macd = nan
        if i >= 25:
            macd = e12 - e26
            if sig_cnt < 9:
                sig_acc += macd
                sig_cnt += 1
                if sig_cnt == 9:
                    sig = sig_acc / 9
            else:
                sig = a9 * macd + (1.0 - a9) * sig

        # --- Stoch RSI (3, 3, 14, 14)
        sraw = nan
        rh = rext[0, i]
        rl = rext[1, i]
        if rh - rl != 0.0 and i >= 27:
            sraw = 100.0 * ((rsi - rl) / (rh - rl))
        sk = ((sr2 + sr1) + sraw) / 3
        sd = ((sk2 + sk1) + sk) / 3
        sr2 = sr1
        sr1 = sraw
        sk2 = sk1
        sk1 = sk

        # --- Bull / Bear power (13)
        bull = hi - e13
        bear = lo - e13

        # --- Ultimate Oscillator (7, 14, 28)
        uo = nan
        if i >= 1:
            c1 = cs[i - 1]
            lo_ = min(lo, c1)
            bp = cl - lo_
            trv = max(hi, c1) - lo_
            bps[i] = bp
            trs[i] = trv
            nzv = trv != 0.0
            sbp7 += bp
            str7 += trv
            nz7 += nzv
            sbp14 += bp
            str14 += trv
            nz14 += nzv
            sbp28 += bp
            str28 += trv
            nz28 += nzv
            if i > 7:
                sbp7 -= bps[i - 7]
                str7 -= trs[i - 7]
                nz7 -= trs[i - 7] != 0.0
            if i > 14:
                sbp14 -= bps[i - 14]
                str14 -= trs[i - 14]
                nz14 -= trs[i - 14] != 0.0
            if i > 28:
                sbp28 -= bps[i - 28]
                str28 -= trs[i - 28]
                nz28 -= trs[i - 28] != 0.0
            if i >= 28:
                den7 = str7 if nz7 > 0 else 0.0
                den14 = str14 if nz14 > 0 else 0.0
                den28 = str28 if nz28 > 0 else 0.0
                if den7 != 0.0 and den14 != 0.0 and den28 != 0.0:
                    uo = 100.0 * (4.0 * (sbp7 / den7) + 2.0 * (sbp14 / den14) + sbp28 / den28) / 7.0

        # --- votes and ratings
        if emit:
            vh = ma_vote_nb(hma, cl)
            vv = ma_vote_nb(vwma, cl)
            a_26 = lead1s[i - 26] if i >= 26 else nan
            b_26 = lead2s[i - 26] if i >= 26 else nan
            vi = ichimoku_vote_nb(a_26, b_26, base, conv, cl, lead2)
            votes[r, j, 12] = vh
            votes[r, j, 13] = vv
            votes[r, j, 14] = vi
            for x in (vh, vv, vi):
                ok = not np.isnan(x)
                ma_sum_v += x if ok else 0.0
                ma_cnt += 1 if ok else 0
            o0 = rsi_vote_nb(rsi, rsi_1)
            o1 = stoch_vote_nb(k, d, d_1)
            o2 = cci_vote_nb(cci, cci_1)
            o3 = adx_vote_nb(adx, adx_1, pdi, mdi)
            o4 = ao_vote_nb(ao, ao_1, ao_2)
            o5 = mom_vote_nb(mom, mom_1)
            o6 = macd_vote_nb(macd, sig)
            o7 = stoch_rsi_vote_nb(cl, ema50, sk, sd)
            o8 = willr_vote_nb(wr, wr_1)
            o9 = bbp_vote_nb(cl, ema50, bull, bull_1, bear, bear_1)
            o10 = uo_vote_nb(uo)
            votes[r, j, 15] = o0
            votes[r, j, 16] = o1
            votes[r, j, 17] = o2
            votes[r, j, 18] = o3
            votes[r, j, 19] = o4
            votes[r, j, 20] = o5
            votes[r, j, 21] = o6
            votes[r, j, 22] = o7
            votes[r, j, 23] = o8
            votes[r, j, 24] = o9
            votes[r, j, 25] = o10
            os_ = 0.0
            oc = 0
            for x in (o0, o1, o2, o3, o4, o5, o6, o7, o8, o9, o10):
                ok = not np.isnan(x)
                os_ += x if ok else 0.0
                oc += 1 if ok else 0
            g_ma = ma_sum_v / ma_cnt if ma_cnt > 0 else nan
            g_other = os_ / oc if oc > 0 else nan
            ratings[0, q_col, t] = g_ma
            ratings[1, q_col, t] = g_other
            ratings[2, q_col, t] = overall_rating_nb(g_ma, g_other)

        rsi_1 = rsi
        d_1 = d
        cci_1 = cci
        adx_1 = adx
        ao_2 = ao_1
        ao_1 = ao
        mom_1 = mom
        wr_1 = wr
        bull_1 = bull
        bear_1 = bear


@njit(cache=True, parallel=True)
def ratings_nb(
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    start: int,
    votes: np.ndarray,
    ma: np.ndarray,
    other: np.ndarray,
    total: np.ndarray,
) -> None:
    """Write the 26 votes and Recommend.MA / .Other / .All of rows start..T-1 into the R×N(×26) outputs."""
    T, N = close.shape
    for b in prange((N + _BLOCK - 1) // _BLOCK):
        j0 = b * _BLOCK
        w = min(N, j0 + _BLOCK) - j0
        hb = np.empty((w, T))
        lb = np.empty((w, T))
        cb = np.empty((w, T))
        vb = np.empty((w, T))
        for t in range(T):
            for q in range(w):
                hb[q, t] = high[t, j0 + q]
                lb[q, t] = low[t, j0 + q]
                cb[q, t] = close[t, j0 + q]
                vb[q, t] = volume[t, j0 + q]
        ratings = np.full((3, w, T), np.nan)
        rows = np.empty(T, np.int64)
        for q in range(w):
            j = j0 + q
            m = 0
            for t in range(T):
                if not (np.isnan(hb[q, t]) or np.isnan(lb[q, t]) or np.isnan(cb[q, t])):
                    rows[m] = t
                    m += 1
            # Rows that are not bars get NaN votes; bars overwrite theirs.
            for t in range(start, T):
                if m == 0 or t < rows[0] or t > rows[m - 1] or np.isnan(cb[q, t] + hb[q, t] + lb[q, t]):
                    for c in range(N_COMPONENTS):
                        votes[t - start, j, c] = np.nan
            if m == 0:
                continue
            first = rows[0]
            if rows[m - 1] - first == m - 1:  # no interior gaps: use the contiguous rows in place
                _ratings_bars_nb(
                    hb[q, first : first + m],
                    lb[q, first : first + m],
                    cb[q, first : first + m],
                    vb[q, first : first + m],
                    rows[:m],
                    start,
                    votes,
                    j,
                    ratings,
                    q,
                )
            else:
                idx = rows[:m]
                _ratings_bars_nb(hb[q][idx], lb[q][idx], cb[q][idx], vb[q][idx], idx, start, votes, j, ratings, q)
        for t in range(start, T):
            for q in range(w):
                ma[t - start, j0 + q] = ratings[0, q, t]
                other[t - start, j0 + q] = ratings[1, q, t]
                total[t - start, j0 + q] = ratings[2, q, t]


class Ratings(NamedTuple):
    """Output of `technical_ratings`: rows start..T-1 of the panel."""

    votes: np.ndarray  # R×N×26, components in COMPONENTS order
    recommend_ma: np.ndarray  # R×N
    recommend_other: np.ndarray  # R×N
    recommend_all: np.ndarray  # R×N


def technical_ratings(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray, start: int = 0
) -> Ratings:
    """Validate a T×N OHLCV panel (open is not needed) and run `ratings_nb` for rows start..T-1."""
    arrays = {"high": high, "low": low, "close": close, "volume": volume}
    shape = np.shape(close)
    if len(shape) != 2:
        msg = f"close must be 2-D (time × symbols), got shape {shape}"
        raise ValueError(msg)
    prepared = []
    for name, a in arrays.items():
        if np.shape(a) != shape:
            msg = f"{name} has shape {np.shape(a)}, expected {shape} like close"
            raise ValueError(msg)
        prepared.append(np.ascontiguousarray(a, dtype=np.float64))
    if not 0 <= start <= shape[0]:
        msg = f"start={start} is outside 0..{shape[0]}"
        raise ValueError(msg)
    T, N = shape
    R = T - start
    out = Ratings(np.empty((R, N, N_COMPONENTS)), np.empty((R, N)), np.empty((R, N)), np.empty((R, N)))
    ratings_nb(*prepared, start, *out)
    return out

"""The fused per-column pass of the ratings kernel: all 26 votes and three ratings of one column's bars
(`docs/ratings.md#fused-kernel`).

RSI, the Donchian / RSI window extremes, DMI/ADX and UO come from short pre-passes (`kernels.ratings.prepass`);
everything else runs in one loop with the same float operations as `kernels.indicators`, so the votes are
bit-identical to votes built from the 1-D kernels, ties included. The panel driver (`kernels.ratings.panel`) calls
this once per column on the column's bars.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from kernels.indicators import mad_at_nb, wma_at_nb
from kernels.ratings import votes as rules
from kernels.ratings.aggregation import overall_rating_nb
from kernels.ratings.prepass import dmi_series_nb, rsi_series_nb, uo_series_nb, window_extremes_nb
from kernels.ratings.votes import MA_LENGTHS


@njit(cache=True)
def ratings_bars_nb(
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

    # Pre-passes (kernels.ratings.prepass): RSI first, since Stoch RSI needs its 14-bar extremes.
    rsis = rsi_series_nb(cs)
    hmax, lmin, rext = window_extremes_nb(hs, ls, rsis)
    pdis, mdis, adxs = dmi_series_nb(hs, ls, cs)
    uos = uo_series_nb(hs, ls, cs)

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
    adx_1 = nan
    s5 = s34 = 0.0
    ao_1 = ao_2 = nan
    mom_1 = nan
    sr1 = sr2 = sk1 = sk2 = nan
    wr_1 = nan
    bull_1 = bear_1 = nan

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
                x = rules.ma_vote_nb(mav[q], cl)
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

        # --- DMI / ADX (14, 14) and Ultimate Oscillator (7, 14, 28), from their pre-passes
        pdi = pdis[i]
        mdi = mdis[i]
        adx = adxs[i]
        uo = uos[i]

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

        # --- votes and ratings
        if emit:
            vh = rules.ma_vote_nb(hma, cl)
            vv = rules.ma_vote_nb(vwma, cl)
            a_26 = lead1s[i - 26] if i >= 26 else nan
            b_26 = lead2s[i - 26] if i >= 26 else nan
            vi = rules.ichimoku_vote_nb(a_26, b_26, base, conv, cl, lead2)
            votes[r, j, 12] = vh
            votes[r, j, 13] = vv
            votes[r, j, 14] = vi
            for x in (vh, vv, vi):
                ok = not np.isnan(x)
                ma_sum_v += x if ok else 0.0
                ma_cnt += 1 if ok else 0
            o0 = rules.rsi_vote_nb(rsi, rsi_1)
            o1 = rules.stoch_vote_nb(k, d, d_1)
            o2 = rules.cci_vote_nb(cci, cci_1)
            o3 = rules.adx_vote_nb(adx, adx_1, pdi, mdi)
            o4 = rules.ao_vote_nb(ao, ao_1, ao_2)
            o5 = rules.mom_vote_nb(mom, mom_1)
            o6 = rules.macd_vote_nb(macd, sig)
            o7 = rules.stoch_rsi_vote_nb(cl, ema50, sk, sd)
            o8 = rules.willr_vote_nb(wr, wr_1)
            o9 = rules.bbp_vote_nb(cl, ema50, bull, bull_1, bear, bear_1)
            o10 = rules.uo_vote_nb(uo)
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

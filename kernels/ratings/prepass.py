"""Per-column pre-passes of the fused ratings kernel: the indicator series its main loop reads by bar index.

Inputs are one column's bars (1-D float64, bar 0 first, no NaN in high, low, close); every output has one entry
per bar, NaN before the indicator's first bar (`docs/ratings.md#warm-up`). The float operations are those of the
1-D kernels in `kernels.indicators` (RSI, DMI/ADX and UO with SMA-seeded RMAs and running sums, extremes from
`sliding_extremes_nb`), so the votes built on these series equal votes built from those kernels bit for bit.

Each is inlined into the fused pass at the Numba IR level (`inline="always"`), so the split adds no separately
compiled function to the kernel's cold start.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from kernels.indicators import sliding_extremes_nb


@njit(cache=True, inline="always")
def rsi_series_nb(cs: np.ndarray) -> np.ndarray:
    """RSI(14) of every bar (from bar 14)."""
    m = cs.shape[0]
    ar = 1.0 / 14
    rsis = np.full(m, np.nan)
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
    return rsis


@njit(cache=True, inline="always")
def window_extremes_nb(hs: np.ndarray, ls: np.ndarray, rsis: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Branch-free window extremes: highest H and lowest L over 9 / 14 / 26 / 52 bars (rows of `hmax`, `lmin`:
    Ichimoku's 9, 26, 52 and the 14-bar range of Stochastic and %R), and the 14-bar highest / lowest RSI (`rext`)."""
    m = hs.shape[0]
    nan = np.nan
    don = np.array([9, 14, 26, 52])
    hmax = np.full((4, m), nan)
    lmin = np.full((4, m), nan)
    sliding_extremes_nb(hs, don, True, hmax)
    sliding_extremes_nb(ls, don, False, lmin)
    rext = np.full((2, m), nan)
    if m > 14:
        sliding_extremes_nb(rsis[14:], don[1:2], True, rext[0:1, 14:])
        sliding_extremes_nb(rsis[14:], don[1:2], False, rext[1:2, 14:])
    return hmax, lmin, rext


@njit(cache=True, inline="always")
def dmi_series_nb(hs: np.ndarray, ls: np.ndarray, cs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """DMI / ADX (14, 14) of every bar: (+DI, −DI, ADX); the DIs hold their last value over a zero true range."""
    m = cs.shape[0]
    ar = 1.0 / 14
    pdis = np.full(m, np.nan)
    mdis = np.full(m, np.nan)
    adxs = np.full(m, np.nan)
    pdm_acc = mdm_acc = tr_acc = rp = rm = rt = 0.0
    pdi = mdi = np.nan
    dx_acc = adx_s = 0.0
    dx_cnt = 0
    adx = np.nan
    for i in range(1, m):
        hi = hs[i]
        lo = ls[i]
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
        pdis[i] = pdi
        mdis[i] = mdi
        adxs[i] = adx
    return pdis, mdis, adxs


@njit(cache=True, inline="always")
def uo_series_nb(hs: np.ndarray, ls: np.ndarray, cs: np.ndarray) -> np.ndarray:
    """Ultimate Oscillator (7, 14, 28) of every bar (from bar 28), from running sums of buying pressure and true
    range; a window's true-range sum is exactly 0 when all its true ranges are 0 (then UO is NaN)."""
    m = cs.shape[0]
    uos = np.full(m, np.nan)
    bps = np.empty(m)
    trs = np.empty(m)
    sbp7 = sbp14 = sbp28 = str7 = str14 = str28 = 0.0
    nz7 = nz14 = nz28 = 0
    for i in range(1, m):
        hi = hs[i]
        lo = ls[i]
        cl = cs[i]
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
                uos[i] = 100.0 * (4.0 * (sbp7 / den7) + 2.0 * (sbp14 / den14) + sbp28 / den28) / 7.0
    return uos

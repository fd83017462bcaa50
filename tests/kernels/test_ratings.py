"""Differential tests for the technical-ratings kernels (`docs/ratings.md`).

Three layers: every 1-D indicator kernel against a slow reference that implements the spec's formulas literally
(Python loops, `math.fsum`, 1e-12) and against TA-Lib where TA-Lib has the same definition (1e-9); every vote rule
against the vote test cases of `docs/ratings.md#test-cases`; the fused panel kernel against the reference votes, against the 1-D kernels
(bit for bit), and against the properties (`#properties`) and scenarios (`#test-cases`) there, ragged panels and incremental runs.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels import indicators as ind
from kernels import ratings as rt

NAN = math.nan
MA_LENGTHS = (10, 20, 30, 50, 100, 200)
# What each component votes from (docs/ratings.md#votes), in COMPONENTS order.
VOTE_FROM = (9, 19, 29, 49, 99, 199, 9, 19, 29, 49, 99, 199, 10, 19, 51, 15, 18, 20, 27, 34, 11, 33, 49, 14, 49, 28)


# --------------------------------------------------------------------------------------------------- inputs


def _ohlcv(seed: int, T: int, N: int = 1, vol: float = 0.02) -> tuple[np.ndarray, ...]:
    """Seeded random-walk OHLCV panel (T×N): open, high, low, close, volume."""
    rng = np.random.default_rng(seed)
    c = 100.0 * np.exp(np.cumsum(rng.normal(0.0, vol, (T, N)), axis=0))
    o = np.vstack([c[:1], c[:-1]]) * np.exp(rng.normal(0.0, vol / 4, (T, N)))
    h = np.maximum(o, c) * (1 + np.abs(rng.normal(0.0, vol / 2, (T, N))))
    lo = np.minimum(o, c) * (1 - np.abs(rng.normal(0.0, vol / 2, (T, N))))
    v = rng.uniform(1e5, 1e6, (T, N))
    return o, h, lo, c, v


def _column(seed: int, T: int, lead: int = 0, trail: int = 0) -> tuple[np.ndarray, ...]:
    """One column (h, l, c, v) with `lead` leading and `trail` trailing NaN rows."""
    _, h, lo, c, v = (a[:, 0] for a in _ohlcv(seed, T))
    pad = (np.full(lead, NAN), np.full(trail, NAN))
    return tuple(np.concatenate([pad[0], a, pad[1]]) for a in (h, lo, c, v))


def _uptrend(T: int = 300) -> tuple[np.ndarray, ...]:
    """The geometric uptrend scenario (docs/ratings.md#test-cases) as 1-column (h, l, c, v)."""
    t = np.arange(T, dtype=np.float64)
    c = 100.0 * 1.01**t
    o = c / 1.003
    return tuple(a[:, None] for a in (1.005 * c, o / 1.005, c, np.full(T, 1000.0)))


def _constant(T: int = 300, value: float = 64.0) -> tuple[np.ndarray, ...]:
    """Constant OHLC bars with constant volume, 1 column."""
    p = np.full((T, 1), value)
    return p, p.copy(), p.copy(), np.full((T, 1), 1000.0)


def _run(h: np.ndarray, lo: np.ndarray, c: np.ndarray, v: np.ndarray, start: int = 0) -> rt.Ratings:
    return rt.technical_ratings(h, lo, c, v, start)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit-for-bit equality with NaNs equal."""
    return a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


# ------------------------------------------------------------------------ slow reference (docs/ratings.md, literal)


def _window(x: np.ndarray, n: int, fn) -> np.ndarray:
    out = np.full(len(x), NAN)
    for i in range(n - 1, len(x)):
        w = x[i - n + 1 : i + 1]
        if not np.isnan(w).any():
            out[i] = fn(w)
    return out


def ref_sma(x: np.ndarray, n: int) -> np.ndarray:
    return _window(x, n, lambda w: math.fsum(w) / n)


def ref_wma(x: np.ndarray, n: int) -> np.ndarray:
    weights = np.arange(1, n + 1, dtype=np.float64)
    return _window(x, n, lambda w: math.fsum(weights * w) / (n * (n + 1) / 2))


def ref_highest(x: np.ndarray, n: int) -> np.ndarray:
    return _window(x, n, max)


def ref_lowest(x: np.ndarray, n: int) -> np.ndarray:
    return _window(x, n, min)


def _ref_ewm(x: np.ndarray, n: int, alpha: float) -> np.ndarray:
    out = np.full(len(x), NAN)
    seed: list[float] = []
    e = NAN
    for i, xi in enumerate(x):
        if math.isnan(xi):
            continue
        if len(seed) < n:
            seed.append(xi)
            if len(seed) == n:
                e = math.fsum(seed) / n
                out[i] = e
        else:
            e = alpha * xi + (1 - alpha) * e
            out[i] = e
    return out


def ref_ema(x: np.ndarray, n: int) -> np.ndarray:
    return _ref_ewm(x, n, 2 / (n + 1))


def ref_rma(x: np.ndarray, n: int) -> np.ndarray:
    return _ref_ewm(x, n, 1 / n)


def _div(a: float, b: float) -> float:
    """a / b with the spec's division-by-zero rule (NaN)."""
    if math.isnan(a) or math.isnan(b) or b == 0:
        return NAN
    return a / b


def _prev(x: np.ndarray, k: int = 1) -> np.ndarray:
    out = np.full(len(x), NAN)
    out[k:] = x[: len(x) - k]
    return out


def ref_hma(c: np.ndarray) -> np.ndarray:
    return ref_wma(2 * ref_wma(c, 4) - ref_wma(c, 9), 3)


def ref_vwma(c: np.ndarray, v: np.ndarray, n: int = 20) -> np.ndarray:
    num, den = ref_sma(c * v, n), ref_sma(v, n)
    return np.array([_div(a, b) for a, b in zip(num, den, strict=True)])


def ref_ichimoku(h: np.ndarray, lo: np.ndarray) -> tuple[np.ndarray, ...]:
    def mid(n: int) -> np.ndarray:
        return (ref_highest(h, n) + ref_lowest(lo, n)) / 2

    conv, base = mid(9), mid(26)
    return conv, base, (conv + base) / 2, mid(52)


def ref_rsi(c: np.ndarray, n: int = 14) -> np.ndarray:
    ch = c - _prev(c)
    up = ref_rma(np.where(np.isnan(ch), NAN, np.maximum(ch, 0)), n)
    dn = ref_rma(np.where(np.isnan(ch), NAN, np.maximum(-ch, 0)), n)
    out = np.full(len(c), NAN)
    for i in range(len(c)):
        if math.isnan(up[i]) or math.isnan(dn[i]):
            continue
        out[i] = 100.0 if dn[i] == 0 else 0.0 if up[i] == 0 else 100 - 100 / (1 + up[i] / dn[i])
    return out


def _ref_stoch_raw(c: np.ndarray, h: np.ndarray, lo: np.ndarray, n: int) -> np.ndarray:
    hh, ll = ref_highest(h, n), ref_lowest(lo, n)
    return np.array([100 * _div(c[i] - ll[i], hh[i] - ll[i]) for i in range(len(c))])


def ref_stoch(h: np.ndarray, lo: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    k = ref_sma(_ref_stoch_raw(c, h, lo, 14), 3)
    return k, ref_sma(k, 3)


def ref_cci(c: np.ndarray, n: int = 20) -> np.ndarray:
    def cci(w: np.ndarray) -> float:
        m = math.fsum(w) / n
        return _div(w[-1] - m, 0.015 * (math.fsum(np.abs(w - m)) / n))

    return _window(c, n, cci)


def ref_dmi(h: np.ndarray, lo: np.ndarray, c: np.ndarray, n: int = 14) -> tuple[np.ndarray, ...]:
    T = len(c)
    pdm, mdm, tr = np.full(T, NAN), np.full(T, NAN), np.full(T, NAN)
    for i in range(1, T):
        up, down = h[i] - h[i - 1], lo[i - 1] - lo[i]
        if math.isnan(up) or math.isnan(down) or math.isnan(c[i - 1]):
            continue
        pdm[i] = up if up > down and up > 0 else 0.0
        mdm[i] = down if down > up and down > 0 else 0.0
        tr[i] = max(h[i] - lo[i], abs(h[i] - c[i - 1]), abs(lo[i] - c[i - 1]))
    trur, rp, rm = ref_rma(tr, n), ref_rma(pdm, n), ref_rma(mdm, n)
    plus, minus, dx = np.full(T, NAN), np.full(T, NAN), np.full(T, NAN)
    p = m = NAN
    for i in range(T):
        pi, mi = _div(100 * rp[i], trur[i]), _div(100 * rm[i], trur[i])
        p = p if math.isnan(pi) else pi  # fixnan
        m = m if math.isnan(mi) else mi
        plus[i], minus[i] = p, m
        s = p + m
        dx[i] = abs(p - m) / (1.0 if s == 0 else s)
    return plus, minus, 100 * ref_rma(dx, 14)


def ref_ao(h: np.ndarray, lo: np.ndarray) -> np.ndarray:
    hl2 = (h + lo) / 2
    return ref_sma(hl2, 5) - ref_sma(hl2, 34)


def ref_mom(c: np.ndarray, n: int = 10) -> np.ndarray:
    return c - _prev(c, n)


def ref_macd(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    line = ref_ema(c, 12) - ref_ema(c, 26)
    return line, ref_ema(line, 9)


def ref_stoch_rsi(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r = ref_rsi(c)
    k = ref_sma(_ref_stoch_raw(r, r, r, 14), 3)
    return k, ref_sma(k, 3)


def ref_willr(h: np.ndarray, lo: np.ndarray, c: np.ndarray, n: int = 14) -> np.ndarray:
    hh, ll = ref_highest(h, n), ref_lowest(lo, n)
    return np.array([100 * _div(c[i] - hh[i], hh[i] - ll[i]) for i in range(len(c))])


def ref_bbp(h: np.ndarray, lo: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    e = ref_ema(c, 13)
    return h - e, lo - e


def ref_uo(h: np.ndarray, lo: np.ndarray, c: np.ndarray) -> np.ndarray:
    c1 = _prev(c)
    bp = c - np.fmin(lo, c1) + 0 * c1  # NaN on bar 0
    tr = np.fmax(h, c1) - np.fmin(lo, c1) + 0 * c1
    T = len(c)

    def avg(n: int) -> np.ndarray:
        out = np.full(T, NAN)
        for i in range(n, T):
            b, r = bp[i - n + 1 : i + 1], tr[i - n + 1 : i + 1]
            if not (np.isnan(b).any() or np.isnan(r).any()):
                out[i] = _div(math.fsum(b), math.fsum(r))
        return out

    return 100 * (4 * avg(7) + 2 * avg(14) + avg(28)) / 7


def _rule(gate: float, buy: bool, sell: bool) -> float:
    if math.isnan(gate):
        return NAN
    return 1.0 if buy else -1.0 if sell else 0.0


def ref_votes(h: np.ndarray, lo: np.ndarray, c: np.ndarray, v: np.ndarray) -> np.ndarray:
    """T×26 votes of one clean column, the vote rules read literally."""
    T = len(c)
    smas = [ref_sma(c, n) for n in MA_LENGTHS]
    emas = [ref_ema(c, n) for n in MA_LENGTHS]
    hma, vwma = ref_hma(c), ref_vwma(c, v)
    conv, base, lead1, lead2 = ref_ichimoku(h, lo)
    a26, b26 = _prev(lead1, 26), _prev(lead2, 26)
    rsi, (k, d), cci = ref_rsi(c), ref_stoch(h, lo, c), ref_cci(c)
    plus, minus, adx = ref_dmi(h, lo, c)
    ao, mom, (macd, sig) = ref_ao(h, lo), ref_mom(c), ref_macd(c)
    (sk, sd), wr, (bull, bear), uo = ref_stoch_rsi(c), ref_willr(h, lo, c), ref_bbp(h, lo, c), ref_uo(h, lo, c)
    e50 = ref_ema(c, 50)
    p = {name: _prev(x) for name, x in {"rsi": rsi, "d": d, "cci": cci, "adx": adx, "ao": ao, "mom": mom,
                                         "wr": wr, "bull": bull, "bear": bear}.items()}  # fmt: skip
    ao2 = _prev(ao, 2)
    out = np.full((T, 26), NAN)
    for t in range(T):
        C = c[t]
        mas = [x[t] for x in smas] + [x[t] for x in emas] + [hma[t], vwma[t]]
        for q, ma in enumerate(mas):
            out[t, q] = _rule(ma, ma < C, ma > C)
        A, B = a26[t], b26[t]
        out[t, 14] = _rule(
            lead2[t],
            A > B and base[t] > A and conv[t] > base[t] and conv[t] < C,
            A < B and base[t] < A and conv[t] < base[t] and conv[t] > C,
        )
        r1 = p["rsi"][t]
        out[t, 15] = _rule(r1, rsi[t] < 30 and rsi[t] > r1, rsi[t] > 70 and rsi[t] < r1)
        K, D = k[t], d[t]
        out[t, 16] = _rule(p["d"][t], K < 20 and D < 20 and K > D, K > 80 and D > 80 and K < D)
        c1 = p["cci"][t]
        out[t, 17] = _rule(c1, cci[t] < -100 and cci[t] > c1, cci[t] > 100 and cci[t] < c1)
        rising = adx[t] > 20 and adx[t] > p["adx"][t]
        out[t, 18] = _rule(adx[t], rising and plus[t] > minus[t], rising and plus[t] < minus[t])
        a0, a1, a2 = ao[t], p["ao"][t], ao2[t]
        out[t, 19] = _rule(
            a1,
            (a0 > 0 and a1 <= 0) or (a0 > 0 and a1 > 0 and a0 > a1 and a2 > a1),
            (a0 < 0 and a1 >= 0) or (a0 < 0 and a1 < 0 and a0 < a1 and a2 < a1),
        )
        out[t, 20] = _rule(p["mom"][t], mom[t] > p["mom"][t], mom[t] < p["mom"][t])
        out[t, 21] = _rule(sig[t], macd[t] > sig[t], macd[t] < sig[t])
        up, down = e50[t] < C, e50[t] > C
        SK, SD = sk[t], sd[t]
        out[t, 22] = _rule(e50[t], down and SK < 20 and SD < 20 and SK > SD, up and SK > 80 and SD > 80 and SK < SD)
        w1 = p["wr"][t]
        out[t, 23] = _rule(w1, wr[t] < -80 and wr[t] > w1, wr[t] > -20 and wr[t] < w1)
        out[t, 24] = _rule(
            e50[t],
            up and bear[t] < 0 and bear[t] > p["bear"][t],
            down and bull[t] > 0 and bull[t] < p["bull"][t],
        )
        out[t, 25] = _rule(uo[t], uo[t] > 70, uo[t] < 30)
    return out


def ref_ratings(votes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The aggregation of T×26 votes: (MA, Other, All)."""

    def group(v: np.ndarray) -> float:
        vals = [x for x in v if not math.isnan(x)]
        return sum(vals) / len(vals) if vals else NAN

    ma = np.array([group(row[:15]) for row in votes])
    other = np.array([group(row[15:]) for row in votes])
    total = np.array(
        [o if math.isnan(m) else m if math.isnan(o) else (m + o) / 2 for m, o in zip(ma, other, strict=True)]
    )
    return ma, other, total


# ------------------------------------------------------------------------------ 1-D kernels vs the reference

H, L, C, V = _column(7, 600, lead=23, trail=5)


def _ref_cases() -> list[tuple[str, object, object, float]]:
    """(name, kernel call, reference call, value scale for the absolute tolerance)."""
    cases = []
    for n in (3, 10, 50, 200):
        cases.append((f"sma{n}", lambda n=n: ind.sma_1d_nb(C, n), lambda n=n: ref_sma(C, n), 100.0))
        cases.append((f"ema{n}", lambda n=n: ind.ema_1d_nb(C, n), lambda n=n: ref_ema(C, n), 100.0))
    cases += [
        ("rma14", lambda: ind.rma_1d_nb(C, 14), lambda: ref_rma(C, 14), 100.0),
        ("wma9", lambda: ind.wma_1d_nb(C, 9), lambda: ref_wma(C, 9), 100.0),
        ("wma4", lambda: ind.wma_1d_nb(C, 4), lambda: ref_wma(C, 4), 100.0),
        ("hma9", lambda: ind.hma_1d_nb(C), lambda: ref_hma(C), 100.0),
        ("vwma20", lambda: ind.vwma_1d_nb(C, V), lambda: ref_vwma(C, V), 100.0),
        ("highest52", lambda: ind.highest_1d_nb(H, 52), lambda: ref_highest(H, 52), 100.0),
        ("lowest9", lambda: ind.lowest_1d_nb(L, 9), lambda: ref_lowest(L, 9), 100.0),
        ("ichimoku", lambda: np.stack(ind.ichimoku_1d_nb(H, L)), lambda: np.stack(ref_ichimoku(H, L)), 100.0),
        ("rsi", lambda: ind.rsi_1d_nb(C), lambda: ref_rsi(C), 100.0),
        ("stoch", lambda: np.stack(ind.stoch_1d_nb(H, L, C)), lambda: np.stack(ref_stoch(H, L, C)), 100.0),
        ("cci", lambda: ind.cci_1d_nb(C), lambda: ref_cci(C), 100.0),
        ("dmi", lambda: np.stack(ind.dmi_1d_nb(H, L, C)), lambda: np.stack(ref_dmi(H, L, C)), 100.0),
        ("ao", lambda: ind.ao_1d_nb(H, L), lambda: ref_ao(H, L), 100.0),
        ("mom", lambda: ind.mom_1d_nb(C), lambda: ref_mom(C), 100.0),
        ("macd", lambda: np.stack(ind.macd_1d_nb(C)), lambda: np.stack(ref_macd(C)), 100.0),
        ("stoch_rsi", lambda: np.stack(ind.stoch_rsi_1d_nb(C)), lambda: np.stack(ref_stoch_rsi(C)), 100.0),
        ("willr", lambda: ind.willr_1d_nb(H, L, C), lambda: ref_willr(H, L, C), 100.0),
        ("bbp", lambda: np.stack(ind.bull_bear_power_1d_nb(H, L, C)), lambda: np.stack(ref_bbp(H, L, C)), 100.0),
        ("uo", lambda: ind.uo_1d_nb(H, L, C), lambda: ref_uo(H, L, C), 100.0),
    ]
    return cases


REF_CASES = _ref_cases()


@pytest.mark.parametrize(("name", "kernel", "reference", "scale"), REF_CASES, ids=[c[0] for c in REF_CASES])
def test_indicator_matches_reference(name: str, kernel, reference, scale: float) -> None:
    got, want = kernel(), reference()
    assert _same(np.isnan(got), np.isnan(want)), f"{name}: NaN pattern differs"
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * scale, err_msg=name)


def test_window_primitives_restart_on_nan() -> None:
    """1-D contract: a NaN input restarts windows; EMA/RMA skip it and carry their state."""
    x = C[30:200].copy()
    x[[40, 41, 90]] = NAN
    for n in (3, 9, 14):
        for got, want in (
            (ind.sma_1d_nb(x, n), ref_sma(x, n)),
            (ind.wma_1d_nb(x, n), ref_wma(x, n)),
            (ind.highest_1d_nb(x, n), ref_highest(x, n)),
            (ind.lowest_1d_nb(x, n), ref_lowest(x, n)),
            (ind.ema_1d_nb(x, n), ref_ema(x, n)),
        ):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-10)
    assert np.isnan(ind.sma_1d_nb(x, 3)[[40, 41, 42, 43, 90, 91, 92]]).all()
    assert not np.isnan(ind.ema_1d_nb(x, 3)[[42, 91]]).any()


def test_flat_windows_give_nan_not_inf() -> None:
    """Zero ranges, zero deviation, zero true range and zero volume are 0/0 → NaN (docs/ratings.md#conventions)."""
    p = np.full(80, 64.0)
    assert np.isnan(ind.stoch_1d_nb(p, p, p)[0]).all()
    assert np.isnan(ind.willr_1d_nb(p, p, p)).all()
    assert np.isnan(ind.cci_1d_nb(p)).all()
    assert np.isnan(ind.uo_1d_nb(p, p, p)).all()
    assert np.isnan(np.stack(ind.dmi_1d_nb(p, p, p))).all()
    assert np.isnan(ind.vwma_1d_nb(p, np.zeros(80))).all()
    # After moves, a flat stretch must still give exact zeros in divisor sums (no running-sum residue).
    x = np.concatenate([C[30:90], np.zeros(40)])
    assert (ind.rolling_sum_nz_1d_nb(x, 20)[80:] == 0.0).all()


# --------------------------------------------------------------------------------- 1-D kernels vs TA-Lib

TH, TL, TC, TV = _column(11, 1500, lead=40)


def _talib_cases() -> list[tuple[str, object, object, int]]:
    """(name, ours, TA-Lib, first index compared); TA-Lib skips leading NaNs, so indices include the 40 lead rows."""
    lead = 40
    r = talib.RSI(TC, 14)
    cases = []
    for n in MA_LENGTHS:
        cases.append((f"SMA{n}", lambda n=n: ind.sma_1d_nb(TC, n), lambda n=n: talib.SMA(TC, n), 0))
        # TA-Lib's EMA (default compatibility) is SMA-seeded: identical from its first value on.
        cases.append((f"EMA{n}", lambda n=n: ind.ema_1d_nb(TC, n), lambda n=n: talib.EMA(TC, n), 0))
    cases += [
        ("WMA9", lambda: ind.wma_1d_nb(TC, 9), lambda: talib.WMA(TC, 9), 0),
        ("HMA9", lambda: ind.hma_1d_nb(TC), lambda: talib.WMA(2 * talib.WMA(TC, 4) - talib.WMA(TC, 9), 3), 0),
        ("VWMA20", lambda: ind.vwma_1d_nb(TC, TV), lambda: talib.SMA(TC * TV, 20) / talib.SMA(TV, 20), 0),
        ("MAX52", lambda: ind.highest_1d_nb(TH, 52), lambda: talib.MAX(TH, 52), 0),
        ("MIN26", lambda: ind.lowest_1d_nb(TL, 26), lambda: talib.MIN(TL, 26), 0),
        ("RSI", lambda: ind.rsi_1d_nb(TC), lambda: talib.RSI(TC, 14), 0),
        # STOCH(14, slowk 3 SMA, slowd 3 SMA) = %K, %D; TA-Lib emits %K only from the %D lookback (bar 17).
        (
            "STOCH_K",
            lambda: ind.stoch_1d_nb(TH, TL, TC)[0],
            lambda: talib.STOCH(TH, TL, TC, 14, 3, 0, 3, 0)[0],
            lead + 17,
        ),
        ("STOCH_D", lambda: ind.stoch_1d_nb(TH, TL, TC)[1], lambda: talib.STOCH(TH, TL, TC, 14, 3, 0, 3, 0)[1], 0),
        # TA-Lib's CCI uses the typical price; with high = low = close it is the spec's close-source CCI.
        ("CCI", lambda: ind.cci_1d_nb(TC), lambda: talib.CCI(TC, TC, TC, 20), 0),
        ("MOM", lambda: ind.mom_1d_nb(TC), lambda: talib.MOM(TC, 10), 0),
        ("WILLR", lambda: ind.willr_1d_nb(TH, TL, TC), lambda: talib.WILLR(TH, TL, TC, 14), 0),
        ("ULTOSC", lambda: ind.uo_1d_nb(TH, TL, TC), lambda: talib.ULTOSC(TH, TL, TC, 7, 14, 28), 0),
        # STOCHRSI's fastd is the spec's Stoch RSI %K; %D is one more SMA(3).
        ("STOCHRSI_K", lambda: ind.stoch_rsi_1d_nb(TC)[0], lambda: talib.STOCHRSI(TC, 14, 14, 3, 0)[1], 0),
        ("STOCHRSI_D", lambda: ind.stoch_rsi_1d_nb(TC)[1], lambda: talib.STOCH(r, r, r, 14, 3, 0, 3, 0)[1], 0),
        ("BULL", lambda: ind.bull_bear_power_1d_nb(TH, TL, TC)[0], lambda: TH - talib.EMA(TC, 13), 0),
        ("AO", lambda: ind.ao_1d_nb(TH, TL), lambda: talib.SMA((TH + TL) / 2, 5) - talib.SMA((TH + TL) / 2, 34), 0),
        # Seeding differs (see test_talib_seeding_differences): agreement only after the seeds have decayed.
        ("MACD", lambda: ind.macd_1d_nb(TC)[0], lambda: talib.MACD(TC, 12, 26, 9)[0], lead + 300),
        ("MACD_SIGNAL", lambda: ind.macd_1d_nb(TC)[1], lambda: talib.MACD(TC, 12, 26, 9)[1], lead + 300),
        ("PLUS_DI", lambda: ind.dmi_1d_nb(TH, TL, TC)[0], lambda: talib.PLUS_DI(TH, TL, TC, 14), lead + 400),
        ("MINUS_DI", lambda: ind.dmi_1d_nb(TH, TL, TC)[1], lambda: talib.MINUS_DI(TH, TL, TC, 14), lead + 400),
        ("ADX", lambda: ind.dmi_1d_nb(TH, TL, TC)[2], lambda: talib.ADX(TH, TL, TC, 14), lead + 400),
    ]
    return cases


TALIB_CASES = _talib_cases()


@pytest.mark.parametrize(("name", "ours", "theirs", "start"), TALIB_CASES, ids=[c[0] for c in TALIB_CASES])
def test_indicator_matches_talib(name: str, ours, theirs, start: int) -> None:
    got, want = ours(), theirs()
    if start == 0:  # same definition: same warm-up, same first value
        assert np.argmax(~np.isnan(got)) == np.argmax(~np.isnan(want)), f"{name}: first valid bar differs"
    np.testing.assert_allclose(got[start:], want[start:], rtol=1e-9, atol=1e-9 * 100, err_msg=name)


def test_talib_seeding_differences() -> None:
    """Where TA-Lib differs from the spec, pin the reason so the exact checks above rely on the reference."""
    lead = 40
    macd, _, _ = talib.MACD(TC, 12, 26, 9)
    ours, _ = ind.macd_1d_nb(TC)
    # TA-Lib seeds the fast EMA on the 12 closes ending at bar 25 (not bars 0..11) and emits from bar 33.
    fast = np.full(len(TC), NAN)
    fast[lead + 14 :] = talib.EMA(TC[lead + 14 :], 12)
    np.testing.assert_allclose(macd[lead + 33 :], (fast - talib.EMA(TC, 26))[lead + 33 :], rtol=1e-12, atol=1e-12)
    assert abs(macd[lead + 33] - ours[lead + 33]) > 1e-6
    # TA-Lib's DI seeds Wilder's smoothing with a 13-bar sum; the spec's RMA seeds with a 14-bar mean.
    di = talib.PLUS_DI(TH, TL, TC, 14)
    plus, _, _ = ind.dmi_1d_nb(TH, TL, TC)
    assert np.argmax(~np.isnan(di)) == np.argmax(~np.isnan(plus)) == lead + 14
    assert abs(di[lead + 14] - plus[lead + 14]) > 1e-6


# ------------------------------------------------------------------------------------ vote rules (test cases)


def _votes(fn, cases: list[tuple]) -> list[float]:
    return [fn(*args) for args in cases]


def _check(got: list[float], want: list[float]) -> None:
    assert _same(np.array(got), np.array(want, dtype=np.float64)), (got, want)


def test_ma_vote_vectors() -> None:
    _check(_votes(rt.ma_vote_nb, [(9.99, 10.0), (10.0, 10.0), (10.01, 10.0), (NAN, 10.0)]), [1, 0, -1, NAN])


def test_rsi_vote_vectors() -> None:
    cases = [(29, 28), (29, 29), (30, 25), (71, 72), (70, 75), (25, NAN)]
    _check(_votes(rt.rsi_vote_nb, [(float(a), float(b)) for a, b in cases]), [1, 0, 0, -1, 0, NAN])


def test_stoch_vote_vectors() -> None:
    cases = [(15, 10), (15, 20), (10, 15), (85, 90), (90, 85)]
    _check(_votes(rt.stoch_vote_nb, [(float(k), float(d), float(d)) for k, d in cases]), [1, 0, 0, -1, 0])
    assert math.isnan(rt.stoch_vote_nb(15.0, 10.0, NAN))  # gate D[1]


def test_cci_vote_vectors() -> None:
    cases = [(-150, -160), (-150, -140), (-100, -120), (150, 160)]
    _check(_votes(rt.cci_vote_nb, [(float(a), float(b)) for a, b in cases]), [1, 0, 0, -1])


def test_adx_vote_vectors() -> None:
    cases = [(25, 24, 30, 20), (25, 24, 20, 30), (25, 26, 30, 20), (20, 19, 30, 20), (25, 24, 25, 25)]
    _check(_votes(rt.adx_vote_nb, [tuple(map(float, c)) for c in cases]), [1, -1, 0, 0, 0])
    assert math.isnan(rt.adx_vote_nb(NAN, 24.0, 30.0, 20.0))
    assert rt.adx_vote_nb(25.0, NAN, 30.0, 20.0) == 0.0  # bar 27: ADX[1] absent, vote counted as 0


def test_ao_vote_vectors() -> None:
    cases = [(0.5, -0.2, NAN), (0.5, 0.0, NAN), (0.5, 0.3, 0.4), (0.5, 0.3, 0.2), (-0.5, 0.2, NAN), (-0.5, -0.3, -0.4)]
    _check(_votes(rt.ao_vote_nb, cases), [1, 1, 1, 0, -1, -1])
    assert math.isnan(rt.ao_vote_nb(0.5, NAN, NAN))


def test_mom_macd_uo_vote_vectors() -> None:
    _check(_votes(rt.mom_vote_nb, [(2.0, 1.0), (-5.0, -6.0), (1.0, 1.0), (1.0, 2.0)]), [1, 1, 0, -1])
    _check(_votes(rt.macd_vote_nb, [(-1.0, -2.0), (1.0, 1.0), (1.0, 2.0), (1.0, NAN)]), [1, 0, -1, NAN])
    _check(_votes(rt.uo_vote_nb, [(71.0,), (70.0,), (30.0,), (29.0,), (NAN,)]), [1, 0, 0, -1, NAN])


def test_stoch_rsi_vote_vectors() -> None:
    cases = [(9, 10, 15, 10), (11, 10, 15, 10), (11, 10, 85, 90), (9, 10, 85, 90), (10, 10, 15, 10)]
    _check(_votes(rt.stoch_rsi_vote_nb, [tuple(map(float, c)) for c in cases]), [1, 0, -1, 0, 0])
    assert rt.stoch_rsi_vote_nb(9.0, 10.0, NAN, NAN) == 0.0  # K/D absent, EMA50 present: counted 0


def test_willr_vote_vectors() -> None:
    cases = [(-85, -90), (-85, -80), (-80, -90), (-15, -10), (-15, -20)]
    _check(_votes(rt.willr_vote_nb, [(float(a), float(b)) for a, b in cases]), [1, 0, 0, -1, 0])


def test_bbp_vote_vectors() -> None:
    up, down = (11.0, 10.0), (9.0, 10.0)  # (close, EMA50)
    cases = [
        (*up, 3.0, 3.0, -1.0, -2.0),
        (*up, 3.0, 3.0, -1.0, -0.5),
        (*up, 3.0, 3.0, 0.5, 0.2),
        (*down, 1.0, 2.0, -3.0, -3.0),
        (*down, -0.1, 0.5, -3.0, -3.0),
    ]
    _check(_votes(rt.bbp_vote_nb, cases), [1, 0, 0, -1, 0])


def test_ichimoku_vote_vectors() -> None:
    # (A, B, base, conversion, close, unshifted lead2)
    cases = [(10, 9, 11, 12, 13, 5), (9, 10, 8, 7, 6, 5), (10, 9, 11, 12, 11.5, 5), (10, NAN, 11, 12, 13, 5)]
    _check(_votes(rt.ichimoku_vote_nb, [tuple(map(float, c)) for c in cases]), [1, -1, 0, 0])
    assert math.isnan(rt.ichimoku_vote_nb(10.0, 9.0, 11.0, 12.0, 13.0, NAN))


def test_aggregation_vectors() -> None:
    assert rt.group_rating_nb(np.array([1.0, 1.0, NAN, -1.0])) == 1 / 3
    assert math.isnan(rt.group_rating_nb(np.array([NAN, NAN])))
    assert rt.overall_rating_nb(NAN, 0.2) == 0.2
    assert rt.overall_rating_nb(0.4, NAN) == 0.4
    assert math.isnan(rt.overall_rating_nb(NAN, NAN))
    assert rt.overall_rating_nb(14 / 15, 3 / 11) == pytest.approx(0.6030, abs=1e-4)
    assert rt.overall_rating_nb(3 / 15, 0.0) == 0.1  # lands exactly on the boundary
    assert rt.rating_category(np.array([rt.overall_rating_nb(3 / 15, 0.0)]))[0] == "Neutral"


def test_category_thresholds() -> None:
    values = np.array([-1, -0.5, -0.5000001, -0.1, 0.1, 0.1000001, 0.5, 0.5000001, 1, NAN])
    want = ["Strong Sell", "Sell", "Strong Sell", "Neutral", "Neutral", "Buy", "Buy", "Strong Buy", "Strong Buy", None]
    assert rt.rating_category(values).tolist() == want
    assert rt.rating_category(np.array([[0.0, -0.3], [0.7, NAN]])).tolist() == [
        ["Neutral", "Sell"],
        ["Strong Buy", None],
    ]


# ------------------------------------------------------------------------------- fused kernel: differential


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kernel_matches_reference(seed: int) -> None:
    """Fused panel kernel votes and ratings equal the literal reference (random walks: no ties)."""
    _, h, lo, c, v = _ohlcv(seed, 420, N=2, vol=0.02 + 0.01 * seed)
    out = _run(h, lo, c, v)
    for j in range(2):
        want = ref_votes(h[:, j], lo[:, j], c[:, j], v[:, j])
        assert _same(out.votes[:, j], want), f"column {j}: votes differ at {np.argwhere(out.votes[:, j] != want)[:5]}"
        for got, exp in zip(out[1:], ref_ratings(want), strict=True):
            assert _same(got[:, j], exp)


def _votes_from_1d(h: np.ndarray, lo: np.ndarray, c: np.ndarray, v: np.ndarray) -> np.ndarray:
    """T×26 votes of one clean column from the 1-D kernels and the kernel's vote functions."""
    T = len(c)
    mas = [ind.sma_1d_nb(c, n) for n in MA_LENGTHS] + [ind.ema_1d_nb(c, n) for n in MA_LENGTHS]
    mas += [ind.hma_1d_nb(c), ind.vwma_1d_nb(c, v)]
    conv, base, lead1, lead2 = ind.ichimoku_1d_nb(h, lo)
    a26, b26 = ind.shift_1d_nb(lead1, 26), ind.shift_1d_nb(lead2, 26)
    rsi, (k, d), cci = ind.rsi_1d_nb(c), ind.stoch_1d_nb(h, lo, c), ind.cci_1d_nb(c)
    plus, minus, adx = ind.dmi_1d_nb(h, lo, c)
    ao, mom, (macd, sig) = ind.ao_1d_nb(h, lo), ind.mom_1d_nb(c), ind.macd_1d_nb(c)
    (sk, sd), wr = ind.stoch_rsi_1d_nb(c), ind.willr_1d_nb(h, lo, c)
    (bull, bear), uo, e50 = ind.bull_bear_power_1d_nb(h, lo, c), ind.uo_1d_nb(h, lo, c), ind.ema_1d_nb(c, 50)
    p = {name: ind.shift_1d_nb(x, 1) for name, x in {"rsi": rsi, "d": d, "cci": cci, "adx": adx, "ao": ao,
                                                      "mom": mom, "wr": wr, "bull": bull, "bear": bear}.items()}  # fmt: skip
    ao2 = ind.shift_1d_nb(ao, 2)
    out = np.full((T, 26), NAN)
    for t in range(T):
        for q, ma in enumerate(mas):
            out[t, q] = rt.ma_vote_nb(ma[t], c[t])
        out[t, 14] = rt.ichimoku_vote_nb(a26[t], b26[t], base[t], conv[t], c[t], lead2[t])
        out[t, 15:] = [
            rt.rsi_vote_nb(rsi[t], p["rsi"][t]),
            rt.stoch_vote_nb(k[t], d[t], p["d"][t]),
            rt.cci_vote_nb(cci[t], p["cci"][t]),
            rt.adx_vote_nb(adx[t], p["adx"][t], plus[t], minus[t]),
            rt.ao_vote_nb(ao[t], p["ao"][t], ao2[t]),
            rt.mom_vote_nb(mom[t], p["mom"][t]),
            rt.macd_vote_nb(macd[t], sig[t]),
            rt.stoch_rsi_vote_nb(c[t], e50[t], sk[t], sd[t]),
            rt.willr_vote_nb(wr[t], p["wr"][t]),
            rt.bbp_vote_nb(c[t], e50[t], bull[t], p["bull"][t], bear[t], p["bear"][t]),
            rt.uo_vote_nb(uo[t]),
        ]
    return out


def _halted(seed: int, T: int = 260) -> tuple[np.ndarray, ...]:
    """Random walk with a 30-bar halt (flat OHLC at the last close, zero volume) from bar 120."""
    _, h, lo, c, v = (a.copy() for a in _ohlcv(seed, T))
    h[120:150] = lo[120:150] = c[120:150] = c[119]
    v[120:150] = 0.0
    return h, lo, c, v


@pytest.mark.parametrize("case", ["uptrend", "constant64", "constant50", "halted"])
def test_kernel_bit_identical_to_1d_kernels(case: str) -> None:
    """On tie-prone paths the fused kernel's votes equal those built from the 1-D kernels exactly."""
    h, lo, c, v = {
        "uptrend": _uptrend,
        "constant64": _constant,
        "constant50": lambda: _constant(value=50.0),
        "halted": lambda: _halted(5),
    }[case]()
    got = _run(h, lo, c, v).votes[:, 0]
    assert _same(got, _votes_from_1d(h[:, 0], lo[:, 0], c[:, 0], v[:, 0]))


# -------------------------------------------------------------------------- fused kernel: scenarios


def test_uptrend_scenario() -> None:
    out = _run(*_uptrend())
    ma = out.recommend_ma[:, 0]
    assert np.isnan(ma[:9]).all()
    assert (ma[9:51] == 1.0).all()
    assert (ma[51:77] == 10 / 11).all()
    assert (ma[77:] == 1.0).all()
    assert (out.votes[51:77, 0, 14] == 0.0).all()  # Ichimoku present but forced to 0
    last = dict(zip(rt.COMPONENTS, out.votes[299, 0], strict=True))
    want = {"rsi": 0, "adx": 0, "ao": 0, "mom": 1, "macd": 1, "stoch_rsi": 0, "bbp": 0, "uo": 0}
    assert {k: last[k] for k in want} == want
    np.testing.assert_allclose(ind.uo_1d_nb(*(a[:, 0] for a in _uptrend()[:3]))[299], 66.4, atol=0.05)
    # MA first at bar 9, Other at bar 11: All equals MA on bars 9-10.
    assert np.isnan(out.recommend_other[:11, 0]).all()
    assert _same(out.recommend_all[9:11, 0], ma[9:11])


def test_constant_series() -> None:
    out = _run(*_constant())
    votes = dict(zip(rt.COMPONENTS, out.votes[:, 0].T, strict=True))
    for name in ("stoch", "cci", "adx", "willr", "uo"):
        assert np.isnan(votes[name]).all(), name
    for name in ("rsi", "mom", "ao"):
        frm = VOTE_FROM[rt.COMPONENTS.index(name)]
        assert np.isnan(votes[name][:frm]).all() and (votes[name][frm:] == 0).all(), name
    assert np.isnan(votes["stoch_rsi"][:49]).all() and (votes["stoch_rsi"][49:] == 0).all()
    for q, name in enumerate(rt.COMPONENTS[:15]):
        if name.startswith("ema"):
            continue  # tie-dependent
        assert (votes[name][VOTE_FROM[q] :] == 0).all(), name


# --------------------------------------------------------------------------- fused kernel: properties

PH, PL, PC, PV = (a for a in _ohlcv(21, 400, N=3)[1:])


def test_range_and_quantisation() -> None:
    out = _run(PH, PL, PC, PV)
    for r in out[1:]:
        vals = r[~np.isnan(r)]
        assert ((vals >= -1) & (vals <= 1)).all()
    full = out.votes[199:]
    assert not np.isnan(full).any()
    a, b = full[..., :15].sum(-1), full[..., 15:].sum(-1)
    np.testing.assert_allclose(out.recommend_ma[199:] * 15, a, atol=1e-12)
    np.testing.assert_allclose(out.recommend_other[199:] * 11, b, atol=1e-12)
    np.testing.assert_allclose(out.recommend_all[199:] * 330, 11 * a + 15 * b, atol=1e-9)


def test_reflection_antisymmetry() -> None:
    P = 2.0 * PH.max()
    out = _run(PH, PL, PC, PV)
    mirrored = _run(P - PL, P - PH, P - PC, PV)  # high and low swap
    for got, want in zip(mirrored, out, strict=True):
        assert _same(got + 0.0, -want + 0.0)


@pytest.mark.parametrize(("scale", "vscale", "shift"), [(3.7, 1.0, 0.0), (0.01, 250.0, 0.0), (1.0, 1.0, 55.5)])
def test_scale_and_translation_invariance(scale: float, vscale: float, shift: float) -> None:
    base = _run(PH, PL, PC, PV)
    moved = _run(PH * scale + shift, PL * scale + shift, PC * scale + shift, PV * vscale)
    for got, want in zip(moved[1:], base[1:], strict=True):
        assert _same(got, want)


def test_warmup_schedule() -> None:
    out = _run(PH, PL, PC, PV)
    for q, name in enumerate(rt.COMPONENTS):
        frm = VOTE_FROM[q]
        assert np.isnan(out.votes[:frm, :, q]).all(), name
        assert not np.isnan(out.votes[frm, :, q]).any(), name
    assert np.isnan(out.recommend_ma[:9]).all() and not np.isnan(out.recommend_ma[9]).any()
    assert np.isnan(out.recommend_other[:11]).all() and not np.isnan(out.recommend_other[11]).any()
    # ADX is 0 on bar 27 (ADX[1] absent); AO's saucer needs AO[2] (bar 35).
    assert (out.votes[27, :, rt.COMPONENTS.index("adx")] == 0).all()


@settings(deadline=None, max_examples=25)
@given(cut=st.integers(0, 398), seed=st.integers(0, 2**32 - 1))
def test_no_look_ahead(cut: int, seed: int) -> None:
    """Changing any bar after `cut` changes nothing at or before `cut`."""
    rng = np.random.default_rng(seed)
    noisy = [a.copy() for a in (PH, PL, PC, PV)]
    k = 400 - cut - 1
    bump = np.exp(rng.normal(0, 0.05, (k, 3)))
    noisy[0][cut + 1 :] *= bump * 1.02
    noisy[1][cut + 1 :] *= bump * 0.98
    noisy[2][cut + 1 :] *= bump
    noisy[3][cut + 1 :] = rng.uniform(0, 1e6, (k, 3))
    noisy[2][rng.integers(cut + 1, 400)] = NAN  # a gap after the cut is future information too
    base, moved = _run(PH, PL, PC, PV), _run(*noisy)
    for got, want in zip(moved, base, strict=True):
        assert _same(got[: cut + 1], want[: cut + 1])


# ----------------------------------------------------------------- ragged panels, gaps, incremental runs


def test_ragged_panel_equals_columns_alone() -> None:
    """Late listings and delistings: each column equals its own run, and its bars equal a run without padding."""
    T = 500
    spans = [(0, 500), (17, 500), (120, 430), (250, 500), (0, 260), (499, 500), (500, 500)]
    _, h, lo, c, v = _ohlcv(31, T, N=len(spans))
    for j, (a, b) in enumerate(spans):
        for x in (h, lo, c, v):
            x[:a, j] = NAN
            x[b:, j] = NAN
    panel = _run(h, lo, c, v)
    for j, (a, b) in enumerate(spans):
        alone = _run(h[:, j : j + 1], lo[:, j : j + 1], c[:, j : j + 1], v[:, j : j + 1])
        for got, want in zip(panel, alone, strict=True):
            assert _same(got[:, j], want[:, 0])
        bars = _run(*(x[a:b, j : j + 1] for x in (h, lo, c, v)))
        for got, want in zip(panel, bars, strict=True):
            assert _same(got[a:b, j], want[:, 0])
            assert np.isnan(got[:a, j]).all() and np.isnan(got[b:, j]).all()


def test_interior_gaps_are_skipped() -> None:
    """Policy: NaN rows inside a history are dropped; the column is rated on its bars, the gap rows are NaN."""
    _, h, lo, c, v = (a.copy() for a in _ohlcv(41, 400, N=2))
    gaps = {0: [100, 101, 102, 250], 1: [5, 300]}
    for j, rows in gaps.items():
        c[rows, j] = NAN  # close alone missing makes the row a gap
        h[rows[:1], j] = NAN
    out = _run(h, lo, c, v)
    for j, rows in gaps.items():
        keep = np.setdiff1d(np.arange(400), rows)
        compact = _run(*(x[keep, j : j + 1] for x in (h, lo, c, v)))
        for got, want in zip(out, compact, strict=True):
            assert _same(got[keep, j], want[:, 0])
            assert np.isnan(got[rows, j]).all()


def test_missing_volume_only_drops_vwma() -> None:
    _, h, lo, c, v = _ohlcv(43, 300)
    base = _run(h, lo, c, v)
    v2 = v.copy()
    v2[150] = NAN
    out = _run(h, lo, c, v2)
    q = rt.COMPONENTS.index("vwma20")
    assert np.isnan(out.votes[150:170, 0, q]).all()
    assert not np.isnan(out.votes[170:, 0, q]).any()
    others = [k for k in range(26) if k != q]
    assert _same(out.votes[:, :, others], base.votes[:, :, others])
    no_volume = _run(h, lo, c, np.full_like(v, NAN))
    assert np.isnan(no_volume.votes[:, 0, q]).all()
    ma14 = no_volume.recommend_ma[199:] * 14  # no volume: a multiple of 1/14 (docs/ratings.md#missing-volume)
    np.testing.assert_allclose(ma14, np.round(ma14), atol=1e-12)


@pytest.mark.parametrize("start", [0, 1, 9, 150, 399, 400])
def test_incremental_start_is_bit_identical(start: int) -> None:
    _, h, lo, c, v = _ohlcv(51, 400, N=4)
    h[:60, 1] = lo[:60, 1] = c[:60, 1] = NAN  # a late listing
    full = _run(h, lo, c, v)
    part = _run(h, lo, c, v, start)
    for got, want in zip(part, full, strict=True):
        assert _same(got, want[start:])


def test_incremental_append_is_bit_identical() -> None:
    """Yesterday's full run plus today's incremental rows equal today's full run, bit for bit."""
    _, h, lo, c, v = _ohlcv(53, 520, N=3)
    t1 = 480
    old = _run(h[:t1], lo[:t1], c[:t1], v[:t1])
    new = _run(h, lo, c, v, start=t1)
    full = _run(h, lo, c, v)
    for o, n, f in zip(old, new, full, strict=True):
        assert _same(np.concatenate([o, n]), f)


def test_wrapper_validates_inputs() -> None:
    a = np.ones((10, 2))
    with pytest.raises(ValueError, match="2-D"):
        rt.technical_ratings(a, a, np.ones(10), a)
    with pytest.raises(ValueError, match="volume has shape"):
        rt.technical_ratings(a, a, a, np.ones((10, 3)))
    with pytest.raises(ValueError, match="start=11"):
        rt.technical_ratings(a, a, a, a, 11)
    out = rt.technical_ratings(a.astype(np.float32), a, a, a)  # cast, not rejected
    assert out.votes.shape == (10, 2, 26) and out.votes.dtype == np.float64


@pytest.mark.benchmark
def test_benchmark_ratio_against_talib() -> None:
    """The full ratings in no more time than TA-Lib needs for the bare indicators (quick case)."""
    from benchmarks.bench_ratings import run

    rows = {row.impl: row for row in run(repeat=3, warmup=1, quick=True)}
    assert rows["kernel"].meets_target, rows["kernel"]

"""The 26 rating components and their vote rules (`docs/ratings.md`, sections votes and warm-up).

`COMPONENTS` fixes the order of the last axis of every votes array: components 0..14 (`N_MA`) form Recommend.MA,
15..25 Recommend.Other. Each rule returns +1, −1, 0 or NaN for one bar from that bar's indicator values; the fused
kernel (`kernels.ratings.fused`) calls them inline.
"""

from __future__ import annotations

import numpy as np
from numba import njit

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


# Each rule is written as float(BUY) − float(SELL) with non-short-circuit `&` / `|`: BUY and SELL are mutually
# exclusive for every rule, and branch-free votes matter for speed (random ±1 outcomes defeat branch prediction).


@njit(cache=True)
def _vote_nb(gate: float, buy: bool, sell: bool) -> float:
    """+1 / −1 / 0 from exclusive BUY and SELL conditions, NaN if the gate value is NaN."""
    v = np.float64(buy) - np.float64(sell)
    return np.nan if np.isnan(gate) else v


# ------------------------------------------------------------------------------- moving-average group (0..14)


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


# ---------------------------------------------------------------------------------- oscillator group (15..25)


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

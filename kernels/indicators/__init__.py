"""Indicator kernels behind TradingView's technical ratings (`docs/ratings.md`, sections conventions and indicators).

One 1-D kernel per indicator, by family: `averages` (SMA, EMA / RMA, WMA, HMA, VWMA, window sums), `channels`
(highest, lowest, Donchian, Ichimoku), `oscillators` (RSI, stochastics, %R, CCI, UO) and `trend` (true range,
DMI / ADX, AO, momentum, MACD, bull / bear power).

Array contract, stated once for every kernel of the package:

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

from kernels.indicators.averages import (
    ema_1d_nb,
    hma_1d_nb,
    mean_1d_nb,
    rma_1d_nb,
    rolling_sum_1d_nb,
    rolling_sum_nz_1d_nb,
    sma_1d_nb,
    vwma_1d_nb,
    wma_1d_nb,
    wma_at_nb,
)
from kernels.indicators.channels import (
    donchian_mid_1d_nb,
    highest_1d_nb,
    ichimoku_1d_nb,
    lowest_1d_nb,
    sliding_extremes_nb,
)
from kernels.indicators.oscillators import (
    cci_1d_nb,
    change_1d_nb,
    mad_at_nb,
    rsi_1d_nb,
    shift_1d_nb,
    stoch_1d_nb,
    stoch_raw_1d_nb,
    stoch_rsi_1d_nb,
    uo_1d_nb,
    willr_1d_nb,
)
from kernels.indicators.trend import ao_1d_nb, bull_bear_power_1d_nb, dmi_1d_nb, macd_1d_nb, mom_1d_nb, true_range_1d_nb

__all__ = [
    "ao_1d_nb",
    "bull_bear_power_1d_nb",
    "cci_1d_nb",
    "change_1d_nb",
    "dmi_1d_nb",
    "donchian_mid_1d_nb",
    "ema_1d_nb",
    "highest_1d_nb",
    "hma_1d_nb",
    "ichimoku_1d_nb",
    "lowest_1d_nb",
    "macd_1d_nb",
    "mad_at_nb",
    "mean_1d_nb",
    "mom_1d_nb",
    "rma_1d_nb",
    "rolling_sum_1d_nb",
    "rolling_sum_nz_1d_nb",
    "rsi_1d_nb",
    "shift_1d_nb",
    "sliding_extremes_nb",
    "sma_1d_nb",
    "stoch_1d_nb",
    "stoch_raw_1d_nb",
    "stoch_rsi_1d_nb",
    "true_range_1d_nb",
    "uo_1d_nb",
    "vwma_1d_nb",
    "willr_1d_nb",
    "wma_1d_nb",
    "wma_at_nb",
]

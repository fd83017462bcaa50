"""TradingView technical ratings: 26 component votes and Recommend.MA / .Other / .All (LIB v3 rules).

Method: `docs/ratings.md` (indicators, votes, aggregation), SMA-seeded EMAs. Modules:

- `votes`: the component list (`COMPONENTS`) and the 26 vote rules;
- `aggregation`: group ratings, Recommend.All and the category labels;
- `prepass`: the per-column indicator series the fused pass reads (RSI, window extremes, DMI/ADX, UO);
- `fused`: the fused per-column pass, all votes and ratings of one column's bars;
- `panel`: `ratings_nb`, the parallel panel driver, and its checked wrapper `technical_ratings`.
"""

from kernels.ratings.aggregation import CATEGORIES, group_rating_nb, overall_rating_nb, rating_category
from kernels.ratings.panel import Ratings, ratings_nb, technical_ratings
from kernels.ratings.votes import (
    COMPONENTS,
    MA_LENGTHS,
    N_COMPONENTS,
    N_MA,
    adx_vote_nb,
    ao_vote_nb,
    bbp_vote_nb,
    cci_vote_nb,
    ichimoku_vote_nb,
    ma_vote_nb,
    macd_vote_nb,
    mom_vote_nb,
    rsi_vote_nb,
    stoch_rsi_vote_nb,
    stoch_vote_nb,
    uo_vote_nb,
    willr_vote_nb,
)

__all__ = [
    "CATEGORIES",
    "COMPONENTS",
    "MA_LENGTHS",
    "N_COMPONENTS",
    "N_MA",
    "Ratings",
    "adx_vote_nb",
    "ao_vote_nb",
    "bbp_vote_nb",
    "cci_vote_nb",
    "group_rating_nb",
    "ichimoku_vote_nb",
    "ma_vote_nb",
    "macd_vote_nb",
    "mom_vote_nb",
    "overall_rating_nb",
    "rating_category",
    "ratings_nb",
    "rsi_vote_nb",
    "stoch_rsi_vote_nb",
    "stoch_vote_nb",
    "technical_ratings",
    "uo_vote_nb",
    "willr_vote_nb",
]

"""The embedded synthetic venue: a deterministic, offline stand-in for a real exchange.

The main job and almost every test run on it. Bars are a pure function of (seed, genesis, symbol, bar date):
every random draw comes from `np.random.default_rng([seed, tag, entity, block])` for one block of calendar
days, and every recursion (regimes, drifts, prices) runs forward from `genesis`, so a venue with a later
`as_of_ms` serves exactly the same completed bars for earlier dates and only appends new ones.

The market: ~150 crypto pairs (24/7) and ~60 equities (weekday sessions) with a market factor plus cluster
(crypto) or sector (equity) factors, symbol-specific betas, Markov volatility/drift regimes, slowly varying
trends and Student-t innovations. Listings arrive late, one symbol is delisted, stablecoins hover at 1, and
the defects in `DEFECTS` are planted at fixed dates. Venue behaviour: `ohlcv` pages (`page_limit`), serves the
forming bar with partial values, and can inject rate-limit and network errors or enforce a rate limit.

Modules, from the bottom up:

- `streams`: day arithmetic and the keyed random streams;
- `defects`: the planted defects and where they are written into the bars;
- `universe`: the symbols, their listing dates and fixed parameters;
- `paths`: the price paths, OHLC bars, volumes and the forming bar;
- `snapshots`: the tickers and the screener's ratings snapshot;
- `venue`: `SyntheticVenue`, the protocol with paging, rate limit and injected errors.
"""

from __future__ import annotations

from dataflows.venues.synthetic.defects import (
    DEFECTS,
    FLAT,
    FLAT_FROM,
    GAP_FROM,
    GAP_TO,
    GAPPY,
    NOLOT,
    PUMP,
    PUMP_DATE,
    PURGED,
    PURGED_FROM,
    SPIKE,
    SPIKE_DATE,
    SPIKE_FACTOR,
)
from dataflows.venues.synthetic.universe import (
    CRYPTO_CLUSTERS,
    DELISTED,
    DELISTED_LAST_BAR,
    DIGIT_SYMBOL,
    EQUITY_SECTORS,
    GENESIS,
    PERP,
    STABLE_CLUSTER,
    STABLECOINS,
    TIMEFRAMES,
    USDC_PAIRS,
)
from dataflows.venues.synthetic.venue import SyntheticVenue, venue_name

__all__ = [
    "CRYPTO_CLUSTERS",
    "DEFECTS",
    "DELISTED",
    "DELISTED_LAST_BAR",
    "DIGIT_SYMBOL",
    "EQUITY_SECTORS",
    "FLAT",
    "FLAT_FROM",
    "GAPPY",
    "GAP_FROM",
    "GAP_TO",
    "GENESIS",
    "NOLOT",
    "PERP",
    "PUMP",
    "PUMP_DATE",
    "PURGED",
    "PURGED_FROM",
    "SPIKE",
    "SPIKE_DATE",
    "SPIKE_FACTOR",
    "STABLECOINS",
    "STABLE_CLUSTER",
    "TIMEFRAMES",
    "USDC_PAIRS",
    "SyntheticVenue",
    "venue_name",
]

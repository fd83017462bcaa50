"""The ccxt venue: any exchange ccxt supports, through ccxt's own request building, parsing, throttling and retries.

`CcxtVenue("okx")` builds `ccxt.okx({"enableRateLimit": True, ...})` with the sync API; pass `exchange=` to use an
exchange object you configured yourself (tests pass one whose HTTP session serves recorded responses).

Who does what:

- Throttling: ccxt (`enableRateLimit`), so `rate_limit_per_sec` is None.
- Retries: ccxt. Every request is retried by ccxt's `fetch2` on `OperationFailed` (429/418, network errors, bad
  responses) `maxRetriesOnFailure` times, `maxRetriesOnFailureDelay` ms apart (defaults set here: 2 and 1000 ms;
  override through `options`). What still fails is mapped to `RateLimited` / `TransientVenueError` (the ingester
  backs off and retries the whole call) or `VenueError`; nothing of a failed range is returned.
- Market types: `market_types` (`venue.market_types`, default spot and swap). When we build the exchange and the
  caller's options do not set `fetchMarkets`, ccxt is told to load only those types (`swap` is ccxt's `linear`
  family on binance/bybit). Inverse contracts are dropped: their amount is in quote currency (1 contract = 100 USD)
  and their prices are quote per base, so a lot size in base units does not exist for them.
- Units: lot size is the amount step times `contractSize` for contracts (base units, not contracts); min notional is
  ccxt's `limits.cost.min`, else the exchange's own stated minimum order value where ccxt leaves it out
  (`_MIN_NOTIONAL_INFO`: bybit linear `minNotionalValue`, kraken `costmin`, both in quote currency); unknown stays
  null. Ticker quote volume is ccxt's `quoteVolume`; for OKX contracts ccxt gives none and its `baseVolume` counts
  contracts, so we use OKX's `volCcy24h` (base units for derivatives, per OKX's docs) times the last price: an
  estimate, documented as such.
- Pagination: ours, one loop for every exchange (`ohlcv_range`). ccxt 4.5.90's deterministic pagination sends the
  global `until` with every page, so on a newest-first exchange (OKX) every page returns the same newest bars. We
  request windows of `page_limit` bars with a per-window `until` (ccxt maps it to OKX `after`, bybit `end`,
  coinbase `end`, binance `endTime`) when the exchange's `fetch_ohlcv` reads it, so the page limit holds whatever
  order the exchange returns; a window that came back with its first (or last) bars missing is re-asked for the
  missing part (an exchange whose real page is smaller than advertised), and every re-ask is strictly smaller, so
  the loop ends. Exchanges without `until` (kraken) page by cursor from the last bar seen; a page that does not
  advance ends the loop. Every page is validated; a request budget turns a loop that does not converge into
  `VenueError`.
- History caps: some OHLC endpoints serve only the latest N bars whatever `since` says (kraken: 720).
  `history_limit_bars` says so and `ohlcv_range` raises `HistoryUnavailable` for a range that starts earlier.
- Validation: here. Every kline ccxt returns must be 6 finite numbers, epoch milliseconds, strictly increasing, with
  positive prices, low <= min(open, close), high >= max(open, close) and volume >= 0; otherwise `BadPayload` names
  the exchange, the symbol and the first bad row, and nothing is returned.

`page_limit` is the exchange's advertised OHLCV limit (`exchange.features[...]["fetchOHLCV"]["limit"]`: binance
1000, bybit 1000, kraken 720, okx 300, coinbase 300), or 500 when the exchange advertises none (a common REST
default that every ccxt exchange we know accepts).

Modules: `exchange` (building the exchange object, its options, its errors as ours), `paging` (the range loop and
history caps), `parsing` (klines, precisions, minimum notionals, contract volumes), `venue` (`CcxtVenue`).
"""

from __future__ import annotations

from dataflows.venues.ccxt_venue.exchange import DEFAULT_MARKET_TYPES, DEFAULT_OPTIONS, DEFAULT_PAGE_LIMIT
from dataflows.venues.ccxt_venue.paging import HISTORY_LIMIT_BARS
from dataflows.venues.ccxt_venue.parsing import precision_to_step, validate_klines
from dataflows.venues.ccxt_venue.venue import CcxtVenue

__all__ = [
    "DEFAULT_MARKET_TYPES",
    "DEFAULT_OPTIONS",
    "DEFAULT_PAGE_LIMIT",
    "HISTORY_LIMIT_BARS",
    "CcxtVenue",
    "precision_to_step",
    "validate_klines",
]

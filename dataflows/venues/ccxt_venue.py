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
"""

from __future__ import annotations

import difflib
import inspect
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dataflows import columns as C
from dataflows.errors import (
    BadPayload,
    ConfigError,
    HistoryUnavailable,
    RateLimited,
    TransientVenueError,
    VenueError,
)
from dataflows.venues.base import market_schema, ticker_schema

if TYPE_CHECKING:
    import ccxt
    import polars as pl

DEFAULT_PAGE_LIMIT = 500
"""`page_limit` when the exchange does not advertise its OHLCV limit in `features`."""

DEFAULT_OPTIONS: dict[str, Any] = {"maxRetriesOnFailure": 2, "maxRetriesOnFailureDelay": 1000}
"""ccxt options set unless the caller sets them: per-request retries of `OperationFailed` and the delay in ms."""

DEFAULT_MARKET_TYPES = ("spot", "swap")

HISTORY_LIMIT_BARS: dict[str, int] = {"kraken": 720}
"""OHLC endpoints that serve only their latest N bars of any timeframe, whatever `since` asks (Kraken's
`/0/public/OHLC`: "returns up to 720 of the most recent entries"; the last one is the forming bar)."""

_MIN_NOTIONAL_INFO: dict[str, tuple[str, ...]] = {
    "bybit": ("lotSizeFilter", "minNotionalValue"),  # linear contracts: min order value in quote (USDT/USDC)
    "kraken": ("costmin",),  # minimum order cost in quote currency
}
"""Where an exchange states its minimum order value (quote currency) in its raw market when ccxt's
`limits.cost.min` is empty."""

_CONTRACT_BASE_VOLUME_INFO: dict[str, str] = {"okx": "volCcy24h"}
"""Raw ticker field holding the 24h volume of a contract market in base currency (OKX: `vol24h` is contracts)."""

# Epoch milliseconds between 1973-03-03 and 5138-11-16; smaller values look like seconds, larger like micro/nanos.
_MIN_EPOCH_MS = 100_000_000_000
_MAX_EPOCH_MS = 100_000_000_000_000

_KLINE_FIELDS = (C.TS, *C.PRICES, C.VOLUME)


class CcxtVenue:
    """A ccxt exchange as a `Venue` (sync API)."""

    rate_limit_per_sec: float | None = None

    def __init__(
        self,
        exchange_id: str,
        *,
        exchange: ccxt.Exchange | None = None,
        options: dict | None = None,
        asset_class: str = C.CRYPTO,
        timeout_ms: int = 30000,
        market_types: Sequence[str] | None = DEFAULT_MARKET_TYPES,
    ) -> None:
        import ccxt

        if asset_class not in C.ASSET_CLASSES:
            msg = f"asset_class {asset_class!r} is not one of {C.ASSET_CLASSES}"
            raise ConfigError(msg)
        types = tuple(_plain(market_types)) if market_types is not None else DEFAULT_MARKET_TYPES
        unknown = sorted(set(types) - {"spot", "swap", "future"})
        if unknown or not types:
            msg = f"venue.market_types {list(types)} must be a non-empty list of spot, swap, future (got {unknown})"
            raise ConfigError(msg)
        user_options = _plain(options or {})
        if exchange is None:
            if not exchange_id:
                msg = "venue.exchange is not set: name a ccxt exchange id (venue.exchange=binance; see ccxt.exchanges)"
                raise ConfigError(msg)
            if exchange_id not in ccxt.exchanges:
                close = difflib.get_close_matches(str(exchange_id), ccxt.exchanges, n=3)
                hint = f"; did you mean {', '.join(close)}?" if close else ""
                msg = (
                    f"venue.exchange {exchange_id!r} is not a ccxt exchange id{hint} "
                    f"(ccxt {ccxt.__version__} knows {len(ccxt.exchanges)}: see `ccxt.exchanges`)"
                )
                raise ConfigError(msg)
            config = {
                "enableRateLimit": True,
                "timeout": timeout_ms,
                "options": {**DEFAULT_OPTIONS, **user_options},
            }
            exchange = getattr(ccxt, exchange_id)(config)
            if "fetchMarkets" not in user_options:
                _load_only(exchange, types)
        else:
            if exchange.id != exchange_id:
                msg = f"exchange_id {exchange_id!r} does not match the exchange object passed ({exchange.id!r})"
                raise ConfigError(msg)
            merged = {k: v for k, v in DEFAULT_OPTIONS.items() if k not in exchange.options}
            exchange.options = exchange.deep_extend(exchange.options, merged, user_options)
        _strict_json(exchange)
        self.exchange = exchange
        self.name: str = exchange_id
        self.asset_class = asset_class
        self.market_types: tuple[str, ...] = types
        self.page_limit: int = _ohlcv_limit(exchange)
        self._until: bool | None = None

    def __repr__(self) -> str:
        return f"CcxtVenue({self.name!r})"

    # -- protocol -------------------------------------------------------------------------------------------

    def markets(self) -> pl.DataFrame:
        """One row per usable market of the loaded types: precision as tick/lot sizes in quote/base units."""
        import polars as pl

        mode = self.exchange.precisionMode
        rows = []
        for symbol, market in sorted(self._usable_markets().items()):
            precision = market.get("precision") or {}
            created = _number(market.get("created"))
            lot = precision_to_step(precision.get("amount"), mode)
            if market.get("contract"):
                size = _number(market.get("contractSize"))
                lot = None if lot is None or size is None or size <= 0 else lot * size
            rows.append(
                {
                    C.SYMBOL: symbol,
                    C.BASE: market.get("base"),
                    C.QUOTE: market.get("quote"),
                    "type": market.get("type"),
                    C.ASSET_CLASS: self.asset_class,
                    C.TICK_SIZE: precision_to_step(precision.get("price"), mode),
                    C.LOT_SIZE: lot,
                    C.MIN_NOTIONAL: self._min_notional(market),
                    C.LISTED_AT: None if created is None else datetime.fromtimestamp(created / 1000, UTC),
                    C.ACTIVE: market.get("active"),
                }
            )
        return pl.DataFrame(rows, schema=market_schema(), orient="row")

    def tickers(self) -> pl.DataFrame:
        """Last price, 24h quote volume and 24h change (fraction) of every usable market, one request per market
        type loaded (an exchange's bulk ticker endpoint serves one type at a time)."""
        import polars as pl

        usable = self._usable_markets()
        types = sorted({m.get("type") for m in usable.values()})
        raw: dict[str, dict] = {}
        for kind in types:
            params: dict[str, str] = {}
            if self._reads("fetch_tickers", "handle_market_type_and_params") or self._reads("fetch_tickers", "type"):
                params["type"] = kind  # else (kraken) the exchange has one ticker endpoint for its one type
                if kind in ("swap", "future") and self._reads("fetch_tickers", "subType"):
                    params["subType"] = "linear"
            with self._ccxt_errors(f"fetch_tickers({kind})"):
                got = self.exchange.fetch_tickers(None, params)
            raw.update({s: t for s, t in got.items() if s in usable and usable[s].get("type") == kind})
        rows = []
        for symbol in sorted(raw):
            ticker, market = raw[symbol], usable[symbol]
            pct = _number(ticker.get("percentage"))
            last = _number(ticker.get("last"))
            rows.append(
                {
                    C.SYMBOL: symbol,
                    C.LAST: last,
                    C.QUOTE_VOLUME: self._quote_volume(ticker, market, last),
                    C.CHANGE: None if pct is None else pct / 100,
                }
            )
        return pl.DataFrame(rows, schema=ticker_schema(), orient="row")

    def ohlcv(self, symbol: str, timeframe: str, since_ms: int, limit: int) -> pl.DataFrame:
        """One page: at most `min(limit, page_limit)` bars with open time >= `since_ms`, oldest first."""
        self._check_timeframe(timeframe)
        if limit < 1:
            msg = f"{self.name} ohlcv({symbol!r}): limit must be >= 1, got {limit}"
            raise ValueError(msg)
        rows = self._page(symbol, timeframe, int(since_ms), min(limit, self.page_limit), None)
        frame = self._frame(rows)
        return frame.filter(_epoch_ms() >= since_ms).head(limit)

    def ohlcv_range(self, symbol: str, timeframe: str, start_ms: int, end_ms: int) -> pl.DataFrame:
        """All bars with open time in [start_ms, end_ms], oldest first, whatever the exchange's paging direction.

        With `until` support: windows of `page_limit` bars, each asked with its own `until`; a window whose first or
        last bars did not come back is re-asked for that part only (each re-ask strictly smaller). Without: cursor
        paging from the last bar seen. Raises `HistoryUnavailable` when the exchange cannot serve `start_ms`."""
        self._check_timeframe(timeframe)
        if end_ms < start_ms:
            return self._frame([])
        floor = self.history_floor_ms(timeframe)
        if floor is not None and start_ms < floor:
            msg = (
                f"{self.name} serves only its latest {self.history_limit_bars(timeframe)} {timeframe} bars "
                f"(from {_iso(floor)}); {symbol} bars from {_iso(start_ms)} cannot be fetched: ask for a later start "
                "or use another venue"
            )
            raise HistoryUnavailable(msg)
        bar_ms = int(self.exchange.parse_timeframe(timeframe) * 1000)
        limit = self.page_limit
        bars = math.ceil((end_ms - start_ms + 1) / bar_ms)
        budget = bars + 2 * math.ceil(bars / limit) + 8  # a safety net: every request narrows a window or ends it
        got: dict[int, tuple] = {}
        if self._supports_until():
            windows = [
                (a, min(end_ms, a + (limit - 1) * bar_ms))
                for a in range(int(start_ms), int(end_ms) + 1, limit * bar_ms)
            ]
            windows.reverse()  # a stack: oldest window first
            while windows:
                a, b = windows.pop()
                budget = self._spend(budget, symbol)
                # `until` = the close time of the window's last bar: inclusive ends (binance, bybit) and exclusive
                # ones (OKX `after`, coinbase `end` in seconds) both cover that bar and no later one
                rows = [r for r in self._page(symbol, timeframe, a, limit, b + bar_ms - 1) if a <= r[0] <= b]
                if not rows:
                    continue
                got.update((r[0], r) for r in rows)
                first, last = rows[0][0], rows[-1][0]
                if last + bar_ms <= b:
                    windows.append((last + bar_ms, b))  # oldest-first page shorter than the window
                if first - bar_ms >= a:
                    windows.append((a, first - bar_ms))  # newest-first page shorter than the window
        else:
            since = int(start_ms)
            while since <= end_ms:
                budget = self._spend(budget, symbol)
                rows = self._page(symbol, timeframe, since, limit, None)
                if not rows or rows[-1][0] < since:
                    break  # nothing more, or the exchange went backwards
                got.update((r[0], r) for r in rows if since <= r[0] <= end_ms)
                since = rows[-1][0] + 1
        return self._frame([got[t] for t in sorted(got)])

    def balances(self, params: dict | None = None) -> dict[str, float]:
        """The account's total balance per currency (ccxt `fetch_balance`: free + used, in currency units), zeros
        left out. Private endpoint: the exchange object needs its API keys (`apiKey`, `secret`, `password`)."""
        with self._ccxt_errors("fetch_balance"):
            raw = self.exchange.fetch_balance(dict(params or {}))
        totals = raw.get("total") if isinstance(raw, Mapping) else None
        if not isinstance(totals, Mapping):
            msg = f"{self.name} fetch_balance: no per-currency totals in the answer ({type(raw).__name__})"
            raise BadPayload(msg)
        out = {str(cur): _number(value) for cur, value in totals.items()}
        return {cur: value for cur, value in sorted(out.items()) if value}

    def history_limit_bars(self, timeframe: str) -> int | None:
        """How many of the latest `timeframe` bars the exchange's OHLC endpoint can serve at all; None: no cap."""
        return HISTORY_LIMIT_BARS.get(self.name)

    def history_floor_ms(self, timeframe: str, now_ms: int | None = None) -> int | None:
        """Open time of the oldest bar the exchange can serve now (`history_limit_bars` back from the forming bar),
        or None when it has no cap."""
        cap = self.history_limit_bars(timeframe)
        if cap is None:
            return None
        bar_ms = int(self.exchange.parse_timeframe(timeframe) * 1000)
        now = int(self.exchange.milliseconds() if now_ms is None else now_ms)
        return now // bar_ms * bar_ms - (cap - 1) * bar_ms

    # -- helpers --------------------------------------------------------------------------------------------

    def _page(self, symbol: str, timeframe: str, since: int, limit: int, until: int | None) -> list[tuple]:
        """One validated `fetch_ohlcv` page, `until` (exclusive upper bound in ms) passed when given."""
        params = {} if until is None else {"until": int(until)}
        with self._ccxt_errors("fetch_ohlcv", symbol):
            raw = self.exchange.fetch_ohlcv(symbol, timeframe, int(since), int(limit), params)
        return validate_klines(raw, exchange=self.name, symbol=symbol, timeframe=timeframe)

    def _spend(self, budget: int, symbol: str) -> int:
        if budget <= 0:
            msg = f"{self.name} ohlcv range for {symbol!r} did not converge within its request budget; not stored"
            raise VenueError(msg)
        return budget - 1

    def _usable_markets(self) -> dict[str, dict]:
        """Loaded markets of the configured types; inverse contracts dropped (sized in quote currency)."""
        with self._ccxt_errors("load_markets"):
            loaded = self.exchange.load_markets()
        return {
            symbol: market
            for symbol, market in loaded.items()
            if market.get("type") in self.market_types and not (market.get("contract") and market.get("inverse"))
        }

    def _min_notional(self, market: dict) -> float | None:
        cost = ((market.get("limits") or {}).get("cost") or {}).get("min")
        number = _number(cost)
        if number is not None and number > 0:
            return number
        path = _MIN_NOTIONAL_INFO.get(self.name)
        value: Any = market.get("info") or {}
        for key in path or ():
            value = value.get(key) if isinstance(value, Mapping) else None
        stated = _number(value) if path else None
        return stated if stated is not None and stated > 0 else None

    def _quote_volume(self, ticker: dict, market: dict, last: float | None) -> float | None:
        quote = _number(ticker.get("quoteVolume"))
        if quote is not None or not market.get("contract"):
            return quote
        field = _CONTRACT_BASE_VOLUME_INFO.get(self.name)
        base = _number((ticker.get("info") or {}).get(field)) if field else None
        return None if base is None or last is None else base * last

    def _supports_until(self) -> bool:
        """True when the exchange's `fetch_ohlcv` reads ccxt's `until` (else it would leak to the API)."""
        if self._until is None:
            self._until = self._reads("fetch_ohlcv", "until") or self._reads("fetch_ohlcv", "handle_until_option")
        return self._until

    def _reads(self, method: str, name: str) -> bool:
        """Whether the source of the exchange's `method` (or its variants, e.g. coinbase's `fetch_tickers_v3`)
        mentions `name` (a param it handles)."""
        cls = type(self.exchange)
        source = ""
        for attr in (a for a in dir(cls) if a == method or a.startswith(f"{method}_v")):
            try:
                source += inspect.getsource(getattr(cls, attr))
            except (OSError, TypeError):
                continue
        return f"'{name}'" in source or f'"{name}"' in source or f"{name}(" in source

    def _check_timeframe(self, timeframe: str) -> None:
        known = self.exchange.timeframes or {}
        if known and timeframe not in known:
            msg = f"{self.name} has no timeframe {timeframe!r}; it offers {sorted(known)}"
            raise ConfigError(msg)

    def _frame(self, rows: list[tuple]) -> pl.DataFrame:
        import polars as pl

        schema = {C.TS: pl.Int64, **{name: pl.Float64 for name in _KLINE_FIELDS[1:]}}
        frame = pl.DataFrame(rows, schema=schema, orient="row")
        return frame.with_columns(pl.from_epoch(C.TS, time_unit="ms").dt.replace_time_zone("UTC")).cast(
            C.ohlcv_schema()
        )

    @contextmanager
    def _ccxt_errors(self, action: str, symbol: str | None = None) -> Iterator[None]:
        """Map ccxt exceptions to ours, naming the exchange and symbol; the original stays as `__cause__`."""
        import ccxt

        what = f"{self.name} {action}" + (f" for {symbol!r}" if symbol is not None else "")
        try:
            yield
        except (ccxt.RateLimitExceeded, ccxt.DDoSProtection) as exc:
            msg = f"{what} was rate limited ({type(exc).__name__}: {exc}); retry later"
            raise RateLimited(msg) from exc
        except ccxt.NetworkError as exc:
            msg = f"{what} failed at the network level ({type(exc).__name__}: {exc}); retry later"
            raise TransientVenueError(msg) from exc
        except ccxt.BadResponse as exc:
            msg = f"{what} got a response ccxt could not use ({type(exc).__name__}: {exc})"
            raise BadPayload(msg) from exc
        except ccxt.OperationFailed as exc:
            msg = f"{what} failed ({type(exc).__name__}: {exc}); retry later"
            raise TransientVenueError(msg) from exc
        except ccxt.BadSymbol as exc:
            msg = f"{what}: the exchange does not know the symbol ({exc}); check the symbol against markets()"
            raise VenueError(msg) from exc
        except ccxt.BaseError as exc:
            msg = f"{what} failed ({type(exc).__name__}: {exc})"
            raise VenueError(msg) from exc
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
            # ccxt's parsers fail like this on payloads of the wrong shape (text instead of JSON, objects for lists)
            msg = f"{what}: ccxt could not parse the exchange's answer ({type(exc).__name__}: {exc})"
            raise BadPayload(msg) from exc


def validate_klines(rows: object, *, exchange: str, symbol: str, timeframe: str) -> list[tuple]:
    """`rows` as `(ts_ms, open, high, low, close, volume)` tuples, or `BadPayload` naming the first bad row."""
    where = f"{exchange} returned a bad {timeframe} kline for {symbol!r}"
    if not isinstance(rows, list | tuple):
        msg = f"{where}: expected a list of klines, got {type(rows).__name__}"
        raise BadPayload(msg)
    out: list[tuple] = []
    previous: int | None = None
    for index, row in enumerate(rows):
        problem = _kline_problem(row, previous)
        if problem is not None:
            msg = f"{where} at row {index}: {row!r}: {problem}"
            raise BadPayload(msg)
        ts, o, h, lo, c, v = row
        out.append((int(ts), float(o), float(h), float(lo), float(c), float(v)))
        previous = int(ts)
    return out


def _kline_problem(row: object, previous: int | None) -> str | None:
    """What is wrong with one kline, or None."""
    if not isinstance(row, Sequence) or isinstance(row, str) or len(row) != len(_KLINE_FIELDS):
        return f"expected {len(_KLINE_FIELDS)} fields {list(_KLINE_FIELDS)}"
    for name, value in zip(_KLINE_FIELDS, row, strict=True):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{name} is not a number"
        if not math.isfinite(value):
            return f"{name} is not finite"
    ts, o, h, lo, c, v = row
    if ts != int(ts) or not _MIN_EPOCH_MS <= ts < _MAX_EPOCH_MS:
        return f"timestamp {ts} is not epoch milliseconds (seconds or micro/nanoseconds?)"
    if min(o, h, lo, c) <= 0:
        return "non-positive price"
    if h < lo:
        return f"high {h} < low {lo}"
    if lo > min(o, c):
        return f"low {lo} > min(open, close) {min(o, c)}"
    if h < max(o, c):
        return f"high {h} < max(open, close) {max(o, c)}"
    if v < 0:
        return f"negative volume {v}"
    if previous is not None and ts <= previous:
        return f"timestamp {int(ts)} does not increase (previous {previous})"
    return None


def precision_to_step(value: object, precision_mode: int) -> float | None:
    """A ccxt market precision as a step size: as is in TICK_SIZE mode, `10**-p` in DECIMAL_PLACES, else null."""
    from ccxt.base.decimal_to_precision import DECIMAL_PLACES, TICK_SIZE

    number = _number(value)
    if number is None:
        return None
    if precision_mode == TICK_SIZE:
        return number if number > 0 else None
    if precision_mode == DECIMAL_PLACES:
        return 10.0**-number
    return None  # SIGNIFICANT_DIGITS: a digit count, not a step


def _strict_json(exchange: ccxt.Exchange) -> None:
    """Make ccxt raise `BadResponse` on a body that starts like JSON but does not parse (a truncated answer).

    Left alone, ccxt's sync `fetch` swallows the decode error and hands the raw text to the parser, and binance's
    `fetch_ohlcv` turns that text into an empty list: a truncated page would read as "no more data". As a
    `BadResponse` (an `OperationFailed`) it is retried by ccxt and, if it persists, becomes our `BadPayload`.
    """
    import ccxt

    lenient = exchange.on_json_response

    def on_json_response(body: str) -> object:
        try:
            return lenient(body)
        except ValueError as exc:
            msg = f"{exchange.id} sent a body that starts like JSON but does not parse ({exc}): {body[:120]!r}"
            raise ccxt.BadResponse(msg) from exc

    exchange.on_json_response = on_json_response


def _ohlcv_limit(exchange: ccxt.Exchange) -> int:
    """The exchange's advertised OHLCV page size (spot first, then its other market types), else 500."""
    features = getattr(exchange, "features", None) or {}
    candidates = [features.get("spot")]
    for kind in ("swap", "future"):
        nested = features.get(kind) or {}
        candidates.extend(nested.get(sub) for sub in ("linear", "inverse"))
    for entry in candidates:
        limit = ((entry or {}).get("fetchOHLCV") or {}).get("limit")
        if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0:
            return limit
    return DEFAULT_PAGE_LIMIT


def _plain(value: Any) -> Any:
    """Mappings and lists as plain dicts and lists (Hydra hands over DictConfig/ListConfig, which ccxt ignores)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [_plain(v) for v in value]
    return value


def _number(value: object) -> float | None:
    """A finite float, or None for missing/non-numeric/non-finite values."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _epoch_ms() -> pl.Expr:
    import polars as pl

    return pl.col(C.TS).dt.epoch("ms")


def _load_only(exchange: ccxt.Exchange, types: Sequence[str]) -> None:
    """Tell ccxt to load only `types` when the exchange selects market families through `fetchMarkets.types`
    (binance, bybit: `linear`/`inverse`; okx: `spot`/`swap`/...). Inverse families are never asked for."""
    option = exchange.options.get("fetchMarkets")
    offered = option.get("types") if isinstance(option, Mapping) else None
    if not isinstance(offered, list):
        return  # coinbase, kraken: one request loads everything; markets() filters by type
    wanted: list[str] = []
    for kind in types:
        family = kind if kind in offered else "linear" if kind in ("swap", "future") and "linear" in offered else None
        if family is not None and family not in wanted:
            wanted.append(family)
    if wanted:
        exchange.options["fetchMarkets"] = {**option, "types": wanted}


def _iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%Y-%m-%d")

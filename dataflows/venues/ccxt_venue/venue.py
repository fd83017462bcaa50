"""`CcxtVenue`: a ccxt exchange as a `Venue` (sync API): markets, tickers, OHLCV pages and ranges, balances."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from dataflows import columns as C
from dataflows.errors import BadPayload, ConfigError, HistoryUnavailable
from dataflows.venues.base import market_schema, ticker_schema
from dataflows.venues.ccxt_venue.exchange import (
    DEFAULT_MARKET_TYPES,
    _ohlcv_limit,
    _plain,
    build_exchange,
    ccxt_errors,
    market_types_of,
    reads,
)
from dataflows.venues.ccxt_venue.paging import HISTORY_LIMIT_BARS, range_rows
from dataflows.venues.ccxt_venue.parsing import (
    _epoch_ms,
    _iso,
    _number,
    kline_frame,
    min_notional,
    precision_to_step,
    quote_volume,
    validate_klines,
)

if TYPE_CHECKING:
    import ccxt
    import polars as pl


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
        if asset_class not in C.ASSET_CLASSES:
            msg = f"asset_class {asset_class!r} is not one of {C.ASSET_CLASSES}"
            raise ConfigError(msg)
        types = market_types_of(market_types)
        user_options = _plain(options or {})
        exchange = build_exchange(exchange_id, exchange, user_options, timeout_ms, types)
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
                    C.MIN_NOTIONAL: min_notional(self.name, market),
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
            if reads(self.exchange, "fetch_tickers", "handle_market_type_and_params") or reads(
                self.exchange, "fetch_tickers", "type"
            ):
                params["type"] = kind  # else (kraken) the exchange has one ticker endpoint for its one type
                if kind in ("swap", "future") and reads(self.exchange, "fetch_tickers", "subType"):
                    params["subType"] = "linear"
            with ccxt_errors(self.name, f"fetch_tickers({kind})"):
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
                    C.QUOTE_VOLUME: quote_volume(self.name, ticker, market, last),
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
        frame = kline_frame(rows)
        return frame.filter(_epoch_ms() >= since_ms).head(limit)

    def ohlcv_range(self, symbol: str, timeframe: str, start_ms: int, end_ms: int) -> pl.DataFrame:
        """All bars with open time in [start_ms, end_ms], oldest first, whatever the exchange's paging direction.

        With `until` support: windows of `page_limit` bars, each asked with its own `until`; a window whose first or
        last bars did not come back is re-asked for that part only (each re-ask strictly smaller). Without: cursor
        paging from the last bar seen. Raises `HistoryUnavailable` when the exchange cannot serve `start_ms`."""
        self._check_timeframe(timeframe)
        if end_ms < start_ms:
            return kline_frame([])
        floor = self.history_floor_ms(timeframe)
        if floor is not None and start_ms < floor:
            msg = (
                f"{self.name} serves only its latest {self.history_limit_bars(timeframe)} {timeframe} bars "
                f"(from {_iso(floor)}); {symbol} bars from {_iso(start_ms)} cannot be fetched: ask for a later start "
                "or use another venue"
            )
            raise HistoryUnavailable(msg)
        bar_ms = int(self.exchange.parse_timeframe(timeframe) * 1000)

        def page(since: int, limit: int, until: int | None) -> list[tuple]:
            return self._page(symbol, timeframe, since, limit, until)

        rows = range_rows(
            page,
            exchange_name=self.name,
            symbol=symbol,
            start_ms=start_ms,
            end_ms=end_ms,
            bar_ms=bar_ms,
            limit=self.page_limit,
            until=self._supports_until(),
        )
        return kline_frame(rows)

    def balances(self, params: dict | None = None) -> dict[str, float]:
        """The account's total balance per currency (ccxt `fetch_balance`: free + used, in currency units), zeros
        left out. Private endpoint: the exchange object needs its API keys (`apiKey`, `secret`, `password`)."""
        with ccxt_errors(self.name, "fetch_balance"):
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
        with ccxt_errors(self.name, "fetch_ohlcv", symbol):
            raw = self.exchange.fetch_ohlcv(symbol, timeframe, int(since), int(limit), params)
        return validate_klines(raw, exchange=self.name, symbol=symbol, timeframe=timeframe)

    def _usable_markets(self) -> dict[str, dict]:
        """Loaded markets of the configured types; inverse contracts dropped (sized in quote currency)."""
        with ccxt_errors(self.name, "load_markets"):
            loaded = self.exchange.load_markets()
        return {
            symbol: market
            for symbol, market in loaded.items()
            if market.get("type") in self.market_types and not (market.get("contract") and market.get("inverse"))
        }

    def _supports_until(self) -> bool:
        """True when the exchange's `fetch_ohlcv` reads ccxt's `until` (else it would leak to the API)."""
        if self._until is None:
            self._until = reads(self.exchange, "fetch_ohlcv", "until") or reads(
                self.exchange, "fetch_ohlcv", "handle_until_option"
            )
        return self._until

    def _check_timeframe(self, timeframe: str) -> None:
        known = self.exchange.timeframes or {}
        if known and timeframe not in known:
            msg = f"{self.name} has no timeframe {timeframe!r}; it offers {sorted(known)}"
            raise ConfigError(msg)

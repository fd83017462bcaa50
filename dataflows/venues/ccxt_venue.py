"""The ccxt venue: any exchange ccxt supports, through ccxt's own parsing, throttling, pagination and retries.

`CcxtVenue("binance")` builds `ccxt.binance({"enableRateLimit": True, ...})` with the sync API; pass `exchange=` to
use an exchange object you configured yourself (tests pass one whose HTTP session serves recorded responses).

Who does what:

- Throttling: ccxt (`enableRateLimit`), so `rate_limit_per_sec` is None.
- Retries: ccxt. Every request is retried by ccxt's `fetch2` on `OperationFailed` (429/418, network errors, bad
  responses) `maxRetriesOnFailure` times, `maxRetriesOnFailureDelay` ms apart (defaults set here: 2 and 1000 ms;
  override through `options`). Inside a paginated range fetch ccxt also retries each page `maxRetries` times (3),
  except `RateLimitExceeded`, which ccxt's deterministic pagination re-raises at once. What still fails is mapped to
  `RateLimited` / `TransientVenueError` (the ingester backs off and retries the whole call) or `VenueError`.
- Pagination: `ohlcv_range` asks ccxt to paginate (`params={"paginate": True, "until": end_ms, ...}`) when the
  exchange's `fetch_ohlcv` supports it (32 exchanges in 4.5.90: binance, bybit, okx, kraken, ... — detected from its
  source), and pages with `ohlcv` otherwise. In ccxt 4.5.90 every paginating `fetch_ohlcv` uses
  `fetch_paginated_call_deterministic`: requests of ccxt's own per-exchange page size (binance 1000, okx 200,
  coinbase 299) at fixed steps from `start_ms` up to `until`. Its call budget (`paginationCalls`, default 10) raises
  `BadRequest` on long ranges and silently drops the tail when it equals floor(range / step), so the budget is set
  to one call per bar in the range: ccxt stops at `until`, unused calls cost nothing.
- Validation: here. Every kline ccxt returns must be 6 finite numbers, epoch milliseconds, strictly increasing, with
  positive prices, low <= min(open, close), high >= max(open, close) and volume >= 0; otherwise `BadPayload` names
  the exchange, the symbol and the first bad row, and nothing is returned.

`page_limit` is the exchange's advertised OHLCV limit (`exchange.features[...]["fetchOHLCV"]["limit"]`: binance
1000, kraken 720, okx 300), or 500 when the exchange advertises none (a common REST default that every ccxt
exchange we know accepts).
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
from dataflows.errors import BadPayload, ConfigError, RateLimited, TransientVenueError, VenueError
from dataflows.venues.base import market_schema, ticker_schema

if TYPE_CHECKING:
    import ccxt
    import polars as pl

DEFAULT_PAGE_LIMIT = 500
"""`page_limit` when the exchange does not advertise its OHLCV limit in `features`."""

DEFAULT_OPTIONS: dict[str, Any] = {"maxRetriesOnFailure": 2, "maxRetriesOnFailureDelay": 1000}
"""ccxt options set unless the caller sets them: per-request retries of `OperationFailed` and the delay in ms."""

PAGINATION_RETRIES = 3
"""ccxt's `maxRetries` per page inside a paginated range fetch (ccxt's own default, written down)."""

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
    ) -> None:
        import ccxt

        if asset_class not in C.ASSET_CLASSES:
            msg = f"asset_class {asset_class!r} is not one of {C.ASSET_CLASSES}"
            raise ConfigError(msg)
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
                "options": {**DEFAULT_OPTIONS, **_plain(options or {})},
            }
            exchange = getattr(ccxt, exchange_id)(config)
        else:
            if exchange.id != exchange_id:
                msg = f"exchange_id {exchange_id!r} does not match the exchange object passed ({exchange.id!r})"
                raise ConfigError(msg)
            merged = {k: v for k, v in DEFAULT_OPTIONS.items() if k not in exchange.options}
            exchange.options = exchange.deep_extend(exchange.options, merged, _plain(options or {}))
        _strict_json(exchange)
        self.exchange = exchange
        self.name: str = exchange_id
        self.asset_class = asset_class
        self.page_limit: int = _ohlcv_limit(exchange)
        self._paginates: bool | None = None

    def __repr__(self) -> str:
        return f"CcxtVenue({self.name!r})"

    # -- protocol -------------------------------------------------------------------------------------------

    def markets(self) -> pl.DataFrame:
        """One row per market ccxt loads; precision converted to tick/lot sizes, unknowns left null."""
        import polars as pl

        with self._ccxt_errors("load_markets"):
            loaded = self.exchange.load_markets()
        mode = self.exchange.precisionMode
        rows = []
        for symbol in sorted(loaded):
            market = loaded[symbol]
            precision = market.get("precision") or {}
            cost = (market.get("limits") or {}).get("cost") or {}
            created = _number(market.get("created"))
            rows.append(
                {
                    C.SYMBOL: symbol,
                    C.BASE: market.get("base"),
                    C.QUOTE: market.get("quote"),
                    "type": market.get("type"),
                    C.ASSET_CLASS: self.asset_class,
                    C.TICK_SIZE: precision_to_step(precision.get("price"), mode),
                    C.LOT_SIZE: precision_to_step(precision.get("amount"), mode),
                    C.MIN_NOTIONAL: _number(cost.get("min")),
                    C.LISTED_AT: None if created is None else datetime.fromtimestamp(created / 1000, UTC),
                    C.ACTIVE: market.get("active"),
                }
            )
        return pl.DataFrame(rows, schema=market_schema(), orient="row")

    def tickers(self) -> pl.DataFrame:
        """Last price, 24h quote volume and 24h change (fraction) for every loaded market ccxt has a ticker for."""
        import polars as pl

        with self._ccxt_errors("fetch_tickers"):
            known = self.exchange.load_markets()
            raw = self.exchange.fetch_tickers()
        rows = []
        for symbol in sorted(raw):
            if symbol not in known:  # tickers of markets ccxt did not load (delisted ids) have no usable symbol
                continue
            ticker = raw[symbol]
            pct = _number(ticker.get("percentage"))
            rows.append(
                {
                    C.SYMBOL: symbol,
                    C.LAST: _number(ticker.get("last")),
                    C.QUOTE_VOLUME: _number(ticker.get("quoteVolume")),
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
        with self._ccxt_errors("fetch_ohlcv", symbol):
            rows = self.exchange.fetch_ohlcv(symbol, timeframe, int(since_ms), min(limit, self.page_limit))
        frame = self._frame(rows, symbol, timeframe)
        return frame.filter(_epoch_ms() >= since_ms).head(limit)

    def ohlcv_range(self, symbol: str, timeframe: str, start_ms: int, end_ms: int) -> pl.DataFrame:
        """All bars with open time in [start_ms, end_ms], paginated by ccxt when the exchange supports it."""
        self._check_timeframe(timeframe)
        if end_ms < start_ms:
            return self._frame([], symbol, timeframe)
        if not self._supports_paginate():
            return self._own_range(symbol, timeframe, start_ms, end_ms)
        bar_ms = int(self.exchange.parse_timeframe(timeframe) * 1000)
        params = {
            "paginate": True,
            "until": int(end_ms),
            # a budget of one call per bar can never run out; ccxt stops at `until`, so unused calls cost nothing
            "paginationCalls": math.ceil((end_ms - start_ms + 1) / bar_ms) + 2,
            "maxRetries": PAGINATION_RETRIES,
        }
        with self._ccxt_errors("fetch_ohlcv(paginate)", symbol):
            rows = self.exchange.fetch_ohlcv(symbol, timeframe, int(start_ms), None, params)
        frame = self._frame(rows, symbol, timeframe)
        ts = _epoch_ms()
        return frame.filter((ts >= start_ms) & (ts <= end_ms))

    # -- helpers --------------------------------------------------------------------------------------------

    def _own_range(self, symbol: str, timeframe: str, start_ms: int, end_ms: int) -> pl.DataFrame:
        """Page with `ohlcv` for exchanges whose `fetch_ohlcv` has no `paginate` support."""
        import polars as pl

        from dataflows.venues.base import page_ohlcv

        pages = page_ohlcv(self, symbol, timeframe, start_ms, end_ms)
        if not pages:
            return self._frame([], symbol, timeframe)
        frame = pl.concat(pages).unique(C.TS, keep="last").sort(C.TS)
        ts = _epoch_ms()
        return frame.filter((ts >= start_ms) & (ts <= end_ms))

    def _supports_paginate(self) -> bool:
        """True when the exchange's `fetch_ohlcv` reads ccxt's `paginate` param (else it would leak to the API)."""
        if self._paginates is None:
            try:
                source = inspect.getsource(type(self.exchange).fetch_ohlcv)
            except (OSError, TypeError):
                source = ""
            self._paginates = "'paginate'" in source or '"paginate"' in source
        return self._paginates

    def _check_timeframe(self, timeframe: str) -> None:
        known = self.exchange.timeframes or {}
        if known and timeframe not in known:
            msg = f"{self.name} has no timeframe {timeframe!r}; it offers {sorted(known)}"
            raise ConfigError(msg)

    def _frame(self, rows: object, symbol: str, timeframe: str) -> pl.DataFrame:
        import polars as pl

        checked = validate_klines(rows, exchange=self.name, symbol=symbol, timeframe=timeframe)
        schema = {C.TS: pl.Int64, **{name: pl.Float64 for name in _KLINE_FIELDS[1:]}}
        frame = pl.DataFrame(checked, schema=schema, orient="row")
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

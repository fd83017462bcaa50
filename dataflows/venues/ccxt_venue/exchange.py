"""The ccxt exchange object behind `CcxtVenue`: construction and options, what its methods read, its errors as ours.

We build `ccxt.<id>({"enableRateLimit": True, ...})` with `DEFAULT_OPTIONS` under the caller's options, load only
the configured market types where the exchange lets us choose, and make its JSON parsing strict; an exchange object
passed in gets the same defaults where its options leave them unset.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from dataflows.errors import BadPayload, ConfigError, RateLimited, TransientVenueError, VenueError

if TYPE_CHECKING:
    import ccxt

DEFAULT_PAGE_LIMIT = 500
"""`page_limit` when the exchange does not advertise its OHLCV limit in `features`."""

DEFAULT_OPTIONS: dict[str, Any] = {"maxRetriesOnFailure": 2, "maxRetriesOnFailureDelay": 1000}
"""ccxt options set unless the caller sets them: per-request retries of `OperationFailed` and the delay in ms."""

DEFAULT_MARKET_TYPES = ("spot", "swap")


def market_types_of(market_types: Sequence[str] | None) -> tuple[str, ...]:
    """`venue.market_types` as a tuple (None: the defaults), or `ConfigError` unless a non-empty subset of spot,
    swap, future."""
    types = tuple(_plain(market_types)) if market_types is not None else DEFAULT_MARKET_TYPES
    unknown = sorted(set(types) - {"spot", "swap", "future"})
    if unknown or not types:
        msg = f"venue.market_types {list(types)} must be a non-empty list of spot, swap, future (got {unknown})"
        raise ConfigError(msg)
    return types


def build_exchange(
    exchange_id: str,
    exchange: ccxt.Exchange | None,
    user_options: dict,
    timeout_ms: int,
    types: tuple[str, ...],
) -> ccxt.Exchange:
    """`exchange` (checked against `exchange_id`, missing defaults merged in), or a new `ccxt.<exchange_id>`
    loading only `types`; either way with strict JSON parsing."""
    import ccxt

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
    return exchange


def reads(exchange: ccxt.Exchange, method: str, name: str) -> bool:
    """Whether the source of the exchange's `method` (or its variants, e.g. coinbase's `fetch_tickers_v3`)
    mentions `name` (a param it handles)."""
    cls = type(exchange)
    source = ""
    for attr in (a for a in dir(cls) if a == method or a.startswith(f"{method}_v")):
        try:
            source += inspect.getsource(getattr(cls, attr))
        except (OSError, TypeError):
            continue
    return f"'{name}'" in source or f'"{name}"' in source or f"{name}(" in source


@contextmanager
def ccxt_errors(exchange_name: str, action: str, symbol: str | None = None) -> Iterator[None]:
    """Map ccxt exceptions to ours, naming the exchange and symbol; the original stays as `__cause__`."""
    import ccxt

    what = f"{exchange_name} {action}" + (f" for {symbol!r}" if symbol is not None else "")
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

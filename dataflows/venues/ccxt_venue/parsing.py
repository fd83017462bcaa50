"""What `CcxtVenue` makes of ccxt's answers: validated klines as frames, precisions as steps, minimum notionals
and contract quote volumes from the raw exchange fields ccxt leaves out."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dataflows import columns as C
from dataflows.errors import BadPayload

if TYPE_CHECKING:
    import polars as pl

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


def min_notional(exchange_name: str, market: dict) -> float | None:
    """ccxt's `limits.cost.min` when positive, else the exchange's stated minimum order value (`_MIN_NOTIONAL_INFO`)
    when positive, else None."""
    cost = ((market.get("limits") or {}).get("cost") or {}).get("min")
    number = _number(cost)
    if number is not None and number > 0:
        return number
    path = _MIN_NOTIONAL_INFO.get(exchange_name)
    value: Any = market.get("info") or {}
    for key in path or ():
        value = value.get(key) if isinstance(value, Mapping) else None
    stated = _number(value) if path else None
    return stated if stated is not None and stated > 0 else None


def quote_volume(exchange_name: str, ticker: dict, market: dict, last: float | None) -> float | None:
    """ccxt's `quoteVolume`; for a contract without one, the exchange's base volume field times `last`."""
    quote = _number(ticker.get("quoteVolume"))
    if quote is not None or not market.get("contract"):
        return quote
    field = _CONTRACT_BASE_VOLUME_INFO.get(exchange_name)
    base = _number((ticker.get("info") or {}).get(field)) if field else None
    return None if base is None or last is None else base * last


def kline_frame(rows: list[tuple]) -> pl.DataFrame:
    """Validated klines as a frame in `columns.ohlcv_schema()`."""
    import polars as pl

    schema = {C.TS: pl.Int64, **{name: pl.Float64 for name in _KLINE_FIELDS[1:]}}
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    return frame.with_columns(pl.from_epoch(C.TS, time_unit="ms").dt.replace_time_zone("UTC")).cast(C.ohlcv_schema())


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


def _iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%Y-%m-%d")

"""Column names and schemas shared by every stage: the one place they are spelled."""

from __future__ import annotations

# OHLCV bars (one row per completed bar; `ts` is the bar's open time, UTC, millisecond precision).
TS = "ts"
OPEN = "open"
HIGH = "high"
LOW = "low"
CLOSE = "close"
VOLUME = "volume"
OHLCV = (TS, OPEN, HIGH, LOW, CLOSE, VOLUME)
PRICES = (OPEN, HIGH, LOW, CLOSE)

# Identity.
SYMBOL = "symbol"
VENUE = "venue"
TIMEFRAME = "timeframe"
ASSET_CLASS = "asset_class"
BASE = "base"
QUOTE = "quote"

# Candidates (discovery output).
DIRECTION = "direction"
LOGIC = "logic"
ATOM_ID = "atom_id"
QUOTE_VOLUME = "quote_volume"
LAST = "last"
CHANGE = "change"
RATING = "rating"

# Metadata.
TICK_SIZE = "tick_size"
LOT_SIZE = "lot_size"
MIN_NOTIONAL = "min_notional"
LISTED_AT = "listed_at"
ACTIVE = "active"
AS_OF = "as_of"

# Quarantine.
REASON = "reason"
FIRST_SEEN = "first_seen"
EVIDENCE = "evidence"
EXPIRES_AT = "expires_at"

LONG = "LONG"
SHORT = "SHORT"
DIRECTIONS = (LONG, SHORT)
CRYPTO = "crypto"
EQUITY = "equity"
ASSET_CLASSES = (CRYPTO, EQUITY)


def ohlcv_schema() -> dict:
    """The Polars schema of a stored OHLCV frame."""
    import polars as pl

    return {
        TS: pl.Datetime("ms", "UTC"),
        OPEN: pl.Float64,
        HIGH: pl.Float64,
        LOW: pl.Float64,
        CLOSE: pl.Float64,
        VOLUME: pl.Float64,
    }


def atom_id(symbol: str, logic: str, direction: str) -> str:
    """Reversible atom id `<symbol>|<logic>|<direction>` (symbols may contain `_`, `:`, `/` but never `|`)."""
    if "|" in symbol or "|" in logic:
        msg = f"symbol {symbol!r} or logic {logic!r} contains '|', which atom ids reserve"
        raise ValueError(msg)
    return f"{symbol}|{logic}|{direction}"


def split_atom_id(atom: str) -> tuple[str, str, str]:
    """Inverse of `atom_id`."""
    symbol, logic, direction = atom.rsplit("|", 2)
    return symbol, logic, direction


def parse_atom_ids(atoms: object, error: type[Exception] = ValueError) -> list[tuple[str, str, str, str]]:
    """Validated (atom_id, symbol, logic, direction) per atom; duplicates, malformed ids and unknown directions
    raise `error` naming the atom."""
    ids = [str(a) for a in atoms]  # type: ignore[attr-defined]
    if len(set(ids)) != len(ids):
        msg = f"atoms contains duplicates: {sorted({a for a in ids if ids.count(a) > 1})}"
        raise error(msg)
    out = []
    for a in ids:
        try:
            symbol, logic, direction = split_atom_id(a)
        except ValueError:
            msg = f"atom id {a!r} is not '<symbol>|<logic>|<direction>'"
            raise error(msg) from None
        if direction not in DIRECTIONS:
            msg = f"atom {a!r} has direction {direction!r}; expected one of {DIRECTIONS}"
            raise error(msg)
        out.append((a, symbol, logic, direction))
    return out

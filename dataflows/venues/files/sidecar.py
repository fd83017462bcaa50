"""The files venue's metadata sidecar: `metadata.csv` / `metadata.parquet`, one row of known values per symbol."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from dataflows import columns as C
from dataflows.errors import BadPayload
from dataflows.venues.files.formats import _ISO, _read
from dataflows.venues.files.normalise import _epoch_ms

if TYPE_CHECKING:
    from pathlib import Path

log = logging.getLogger(__package__)  # one logger for the files venue

SIDECAR_STEMS = ("metadata",)
SIDECAR_COLUMNS = (C.SYMBOL, C.BASE, C.QUOTE, "type", C.TICK_SIZE, C.LOT_SIZE, C.MIN_NOTIONAL, C.LISTED_AT)


def read_sidecar(path: Path, symbols: set[str]) -> dict[str, dict]:
    """The metadata sidecar as {symbol: {column: value}} (empty cells left out), or `BadPayload` naming the cell."""
    import polars as pl

    raw = _read(path)
    columns = {name.strip().lower(): name for name in raw.columns}
    unknown = sorted(set(columns) - set(SIDECAR_COLUMNS))
    if unknown or C.SYMBOL not in columns:
        msg = (
            f"{path}: metadata sidecar columns must be {C.SYMBOL!r} plus any of {list(SIDECAR_COLUMNS[1:])}; "
            f"unknown {unknown}" + ("" if C.SYMBOL in columns else ", no 'symbol' column")
        )
        raise BadPayload(msg)
    out: dict[str, dict] = {}
    ignored: list[str] = []
    for i, row in enumerate(raw.cast(pl.String).iter_rows(named=True), start=1):
        cells = {key: (row[name] or "").strip() for key, name in columns.items()}
        symbol = cells.pop(C.SYMBOL)
        if symbol in out:
            msg = f"{path} row {i}: symbol {symbol!r} appears twice"
            raise BadPayload(msg)
        if symbol not in symbols:  # one sidecar may describe a wider universe than this folder holds
            ignored.append(symbol)
            continue
        values: dict = {}
        for key, text in cells.items():
            if not text:
                continue
            if key in (C.TICK_SIZE, C.LOT_SIZE, C.MIN_NOTIONAL):
                try:
                    number = float(text)
                except ValueError:
                    number = float("nan")
                if not (number > 0 and number < float("inf")):
                    msg = f"{path} row {i}: {key}={text!r} is not a positive number (leave the cell empty if unknown)"
                    raise BadPayload(msg)
                values[key] = number
            elif key == C.LISTED_AT:
                stamp = _epoch_ms(pl.Series(key, [text]), path)[0] if _ISO.fullmatch(text) else None
                if stamp is None:
                    msg = f"{path} row {i}: listed_at={text!r} is not an ISO date or datetime"
                    raise BadPayload(msg)
                from datetime import UTC, datetime

                values[key] = datetime.fromtimestamp(stamp / 1000, UTC)
            else:
                values[key] = text
        out[symbol] = values
    if ignored:
        log.info("%s: %d sidecar row(s) without an OHLCV file ignored: %s", path, len(ignored), ", ".join(ignored[:10]))
    return out


def _base_quote(symbol: str) -> tuple[str | None, str | None]:
    """(base, quote) when the symbol spells them as `BASE/QUOTE[:SETTLE]`, else (None, None)."""
    if "/" not in symbol:
        return None, None
    base, _, rest = symbol.partition("/")
    quote = rest.split(":", 1)[0]
    return (base or None), (quote or None)

"""The files venue's bars: one file's columns found by name, timestamps in epoch milliseconds, values checked.

Timestamp rules (epoch seconds or milliseconds by magnitude, ISO 8601, Parquet dates) and the checks on values are
listed in the package docstring (`dataflows.venues.files`); every failure is a `BadPayload` naming file and row.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from dataflows import columns as C
from dataflows.errors import BadPayload, ConfigError
from dataflows.venues.files.formats import _EPOCH, _ISO, TS_NAMES, _read, check_size

if TYPE_CHECKING:
    from pathlib import Path

    import polars as pl

MIN_EPOCH_S = 100_000_000  # 1973-03-03 in seconds
MIN_EPOCH_MS = 100_000_000_000  # 1973-03-03 in milliseconds; also the end of the seconds range (year 5138)
MAX_EPOCH_MS = 100_000_000_000_000  # year 5138 in milliseconds; larger values are micro/nanoseconds
DAY_MS = 86_400_000

_TIMEFRAME = re.compile(r"^(\d+)([smhdwM])$")
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": DAY_MS, "w": 7 * DAY_MS}
_ROW = "__row"


def read_bars(path: Path, *, max_file_mb: float | None = None) -> pl.DataFrame:
    """One file as validated, sorted bars in `columns.ohlcv_schema()`, or `BadPayload` naming file and row. Only the
    timestamp and OHLCV columns are read."""
    import polars as pl

    check_size(path, max_file_mb)
    raw = _read(path, wanted=(*TS_NAMES, *C.PRICES, C.VOLUME))
    by_lower: dict[str, str] = {}
    for name in raw.columns:
        key = name.strip().lower()
        if key in by_lower:
            msg = f"{path}: columns {by_lower[key]!r} and {name!r} differ only by case or spaces"
            raise BadPayload(msg)
        by_lower[key] = name
    ts_names = [by_lower[n] for n in TS_NAMES if n in by_lower]
    missing = [n for n in (*C.PRICES, C.VOLUME) if n not in by_lower]
    if not ts_names:
        missing.insert(0, "ts|timestamp|date|time")
    if missing:
        msg = f"{path}: missing columns {missing} (found {raw.columns})"
        raise BadPayload(msg)
    if len(ts_names) > 1:
        msg = f"{path}: ambiguous timestamp columns {ts_names}: keep exactly one of {list(TS_NAMES)}"
        raise BadPayload(msg)
    if raw.height == 0:
        msg = f"{path}: no rows"
        raise BadPayload(msg)
    frame = pl.DataFrame(
        {
            _ROW: pl.int_range(1, raw.height + 1, eager=True),
            C.TS: _epoch_ms(raw[ts_names[0]], path),
            **{n: _numbers(raw[by_lower[n]], path) for n in (*C.PRICES, C.VOLUME)},
        }
    )
    _check_values(frame, path)
    frame = frame.sort(C.TS, maintain_order=True)
    dup = frame.filter(pl.col(C.TS).is_duplicated())
    if dup.height:
        ts, rows = dup[C.TS][0], dup.filter(pl.col(C.TS) == dup[C.TS][0])[_ROW].to_list()
        msg = f"{path}: duplicate timestamp {_iso(ts)} at rows {rows}"
        raise BadPayload(msg)
    return frame.select(
        pl.from_epoch(C.TS, time_unit="ms").dt.replace_time_zone("UTC"), *(pl.col(n) for n in (*C.PRICES, C.VOLUME))
    ).cast(C.ohlcv_schema())


def timeframe_ms(timeframe: str) -> int | None:
    """Bar length of a ccxt-style timeframe (`1m`, `4h`, `1d`, `1w`) in ms; None for months (`1M`)."""
    match = _TIMEFRAME.fullmatch(timeframe)
    if not match or int(match[1]) == 0:
        msg = f"timeframe {timeframe!r} is not <n><s|m|h|d|w|M> (e.g. '1h', '1d')"
        raise ConfigError(msg)
    unit = _UNIT_MS.get(match[2])
    return None if unit is None else int(match[1]) * unit


def _numbers(column: pl.Series, path: Path) -> pl.Series:
    """A price/volume column as Float64; non-numeric text -> `BadPayload` (missing cells stay null for later)."""
    import polars as pl

    if column.dtype == pl.String:
        text = column.str.strip_chars()
        values = text.cast(pl.Float64, strict=False)
        bad = values.is_null() & text.is_not_null() & (text != "")
        if bad.any():
            row = int(bad.arg_true()[0])
            msg = f"{path}: column {column.name!r} row {row + 1}: {column[row]!r} is not a number"
            raise BadPayload(msg)
        return values
    if column.dtype.is_numeric():
        return column.cast(pl.Float64)
    msg = f"{path}: column {column.name!r} has type {column.dtype}, expected numbers"
    raise BadPayload(msg)


def _epoch_ms(column: pl.Series, path: Path) -> pl.Series:
    """A timestamp column as Int64 epoch milliseconds (UTC) by the rules in the package docstring."""
    import polars as pl

    where = f"{path}: timestamp column {column.name!r}"
    if column.dtype == pl.String:
        column = column.str.strip_chars().replace("", None)
    nulls = column.is_null()
    if nulls.any():
        msg = f"{where} row {int(nulls.arg_true()[0]) + 1}: missing timestamp"
        raise BadPayload(msg)
    if isinstance(column.dtype, pl.Datetime):
        return column.dt.epoch("ms").cast(pl.Int64)  # naive counts as UTC; aware is an instant already
    if column.dtype == pl.Date:
        return column.cast(pl.Datetime("ms")).dt.epoch("ms").cast(pl.Int64)
    if column.dtype.is_numeric():
        return _epoch_numbers(column.cast(pl.Float64), where)
    if column.dtype != pl.String:
        msg = f"{where} has type {column.dtype}; expected epoch numbers, ISO dates or datetimes"
        raise BadPayload(msg)
    epoch = column.str.contains(_EPOCH.pattern)
    iso = column.str.contains(_ISO.pattern)
    neither = ~(epoch | iso)
    if neither.any():
        row = int(neither.arg_true()[0])
        msg = f"{where} row {row + 1}: {column[row]!r} is neither an epoch number nor an ISO 8601 date/datetime"
        raise BadPayload(msg)
    if epoch.all():
        return _epoch_numbers(column.cast(pl.Float64), where)
    if epoch.any():
        first_epoch, first_iso = int(epoch.arg_true()[0]), int(iso.arg_true()[0])
        msg = (
            f"{where} mixes epoch numbers (row {first_epoch + 1}: {column[first_epoch]!r}) "
            f"and ISO dates (row {first_iso + 1}: {column[first_iso]!r})"
        )
        raise BadPayload(msg)
    parsed = column.str.to_datetime(time_unit="ms", time_zone="UTC", strict=False)
    failed = parsed.is_null()
    if failed.any():
        row = int(failed.arg_true()[0])
        msg = f"{where} row {row + 1}: {column[row]!r} does not parse like the rows before it (mixed formats?)"
        raise BadPayload(msg)
    return parsed.dt.epoch("ms").cast(pl.Int64)


def _epoch_numbers(values: pl.Series, where: str) -> pl.Series:
    """Epoch seconds or milliseconds (by magnitude, one unit per file) as Int64 milliseconds."""
    import polars as pl

    finite = values.is_finite()
    seconds = finite & (values >= MIN_EPOCH_S) & (values < MIN_EPOCH_MS)
    millis = finite & (values >= MIN_EPOCH_MS) & (values < MAX_EPOCH_MS)
    outside = ~(seconds | millis)
    if outside.any():
        row = int(outside.arg_true()[0])
        msg = (
            f"{where} row {row + 1}: {values[row]!r} is neither epoch seconds (1e8 <= x < 1e11) "
            "nor epoch milliseconds (1e11 <= x < 1e14)"
        )
        raise BadPayload(msg)
    if seconds.any() and millis.any():
        s_row, ms_row = int(seconds.arg_true()[0]), int(millis.arg_true()[0])
        msg = (
            f"{where} mixes epoch seconds (row {s_row + 1}: {values[s_row]!r}) "
            f"and milliseconds (row {ms_row + 1}: {values[ms_row]!r})"
        )
        raise BadPayload(msg)
    scaled = values * 1000 if seconds.any() else values
    return scaled.round(0).cast(pl.Int64)


def _check_values(frame: pl.DataFrame, path: Path) -> None:
    """Raise `BadPayload` for the first bar that is missing, non-finite or not a consistent OHLC bar."""
    import polars as pl

    o, h, lo, c, v = (pl.col(n) for n in (*C.PRICES, C.VOLUME))
    values = (*C.PRICES, C.VOLUME)
    checks = [
        ("missing value", pl.any_horizontal(*(pl.col(n).is_null() for n in values))),
        ("NaN or infinite value", ~pl.all_horizontal(*(pl.col(n).is_finite() for n in values))),
        ("zero or negative price", pl.any_horizontal(*(pl.col(n) <= 0 for n in C.PRICES))),
        ("negative volume", v < 0),
        ("high < low", h < lo),
        ("high below open or close", (h < o) | (h < c)),
        ("low above open or close", (lo > o) | (lo > c)),
    ]
    for problem, expr in checks:
        bad = frame.filter(expr)
        if bad.height:
            row = bad.row(0, named=True)
            shown = {n: row[n] for n in values}
            msg = f"{path}: {problem} at row {row[_ROW]} ({_iso(row[C.TS])}): {shown}"
            raise BadPayload(msg)


def _iso(ts_ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts_ms / 1000, UTC).isoformat().replace("+00:00", "Z")

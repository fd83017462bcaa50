"""The files venue: a folder of the user's own OHLCV bars, one CSV or Parquet file per symbol.

Files: `*.csv` and `*.parquet` directly in the folder (case-insensitive suffix; hidden files and other suffixes are
ignored). A file larger than `max_file_mb` (`data.max_file_mb`) is refused, naming it and its size. Files are read
lazily, only their timestamp and OHLCV columns: discovery (`markets()`, `tickers()`) reads one file at a time and
keeps per file only its first bar and the bars around `as_of_ms`; a symbol's full bars are read when they are
fetched (the last few files are cached), so memory never holds every file's history at once.

Symbol of a file, first rule that applies:

1. the stem is an encoded symbol key (it contains a `%XX` escape and `decode_symbol` accepts it):
   `BTC%2FUSDT.parquet` -> `BTC/USDT` (the lakehouse's own file names round-trip);
2. the file has a `symbol` column holding one distinct value: that value (several values -> `BadPayload`);
3. the stem as is: `BTCUSDT.csv` -> `BTCUSDT`, `BTC_USDT.csv` -> `BTC_USDT` (a separator cannot be guessed).

Two files resolving to the same symbol are an error.

Columns (names case-insensitive, other columns ignored): `open`, `high`, `low`, `close`, `volume` and exactly one
timestamp column named `ts`, `timestamp`, `date` or `time` (the bar's open time). Timestamps may be

- epoch numbers, unit by magnitude: seconds when 1e8 <= x < 1e11 (1973-03-03 .. 5138), milliseconds when
  1e11 <= x < 1e14. Anything smaller (0, `20240101`) or larger (micro/nanoseconds) is rejected as ambiguous, and so
  is a file mixing both units. Sub-millisecond parts are rounded;
- ISO 8601 dates or datetimes (`2024-01-01`, `2024-01-01T09:30:00Z`, `2024-01-01 09:30:00+02:00`); no offset
  means UTC;
- Parquet `Datetime` (naive means UTC) or `Date` columns.

Hostile input raises `BadPayload` naming the file, the problem and the first offending row (1-based, header
excluded): unreadable or truncated files, missing or ambiguous columns, non-numeric, missing, NaN/inf, zero or
negative prices, negative volume, high < low, high below open/close or low above them, duplicate timestamps, mixed
epoch units, no rows. Unsorted but unique timestamps are sorted, not rejected. A bad file fails only the calls that
load it (its symbol's `ohlcv`, and `markets()`/`tickers()`, which read every file); other symbols stay usable.

Metadata sidecar (optional): `metadata.csv` or `metadata.parquet` in the folder (or any path given as `metadata=`),
one row per symbol, column `symbol` plus any of `base`, `quote`, `type`, `tick_size`, `lot_size`, `min_notional`
(positive numbers) and `listed_at` (ISO date or datetime, UTC). Empty cells stay unknown. Unknown columns, duplicate
symbols and bad values are `BadPayload` naming the sidecar, row and column; rows of symbols without a file are
ignored (logged). The sidecar is not a symbol.

What neither the files nor the sidecar say stays null in `markets()`: tick size, lot size, min notional and market
type; base/quote only when the symbol spells them (`BASE/QUOTE[:SETTLE]`). `listed_at` is the sidecar's, else the
first bar; `active` is True. Files publish no exchange metadata, so `publishes_metadata` is False: unknown metadata
vetoes nothing unless the profile asks for it (`profile.require_metadata=true`).

Point in time: built with `as_of_ms` (the run's clock), `tickers()` reads only bars completed by then (last close,
24h quote volume and change as in `venues.base.tickers_from_bars`); without it, every bar counts. `ohlcv()` checks
that the file's typical bar spacing (median) equals the requested timeframe, so hourly files are never stored as
daily bars.

The lakehouse namespace (`name`) is `files-<folder name>-<8 hex of the folder's absolute path>`: two folders never
share stored bars, even with the same name.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

from dataflows import columns as C
from dataflows.errors import BadPayload, ConfigError, UnsafeKey, VenueError
from dataflows.lakehouse.keys import decode_symbol, validate_symbol
from dataflows.venues.base import market_schema

if TYPE_CHECKING:
    import polars as pl

log = logging.getLogger(__name__)

SUFFIXES = (".csv", ".parquet")
TS_NAMES = ("ts", "timestamp", "date", "time")
SIDECAR_STEMS = ("metadata",)
SIDECAR_COLUMNS = (C.SYMBOL, C.BASE, C.QUOTE, "type", C.TICK_SIZE, C.LOT_SIZE, C.MIN_NOTIONAL, C.LISTED_AT)
PAGE_LIMIT = 10_000
"""Bars per `ohlcv` page; files have no venue limit, this only keeps pages small."""

MIN_EPOCH_S = 100_000_000  # 1973-03-03 in seconds
MIN_EPOCH_MS = 100_000_000_000  # 1973-03-03 in milliseconds; also the end of the seconds range (year 5138)
MAX_EPOCH_MS = 100_000_000_000_000  # year 5138 in milliseconds; larger values are micro/nanoseconds
DAY_MS = 86_400_000

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_EPOCH = re.compile(r"^[+-]?\d+(\.\d*)?$")
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?(?:Z|[+-]\d{2}:?\d{2})?$")
_TIMEFRAME = re.compile(r"^(\d+)([smhdwM])$")
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": DAY_MS, "w": 7 * DAY_MS}
_ROW = "__row"
CACHED_FILES = 4  # full files kept in memory for fetches (about one per fetch thread)


class FilesVenue:
    """A folder of per-symbol CSV/Parquet OHLCV files as a `Venue`."""

    page_limit: int = PAGE_LIMIT
    rate_limit_per_sec: float | None = None
    publishes_metadata: bool = False

    def __init__(
        self,
        folder: str | Path,
        *,
        asset_class: str = C.CRYPTO,
        name: str | None = None,
        as_of_ms: int | None = None,
        metadata: str | Path | None = None,
        timeframe: str = "1d",
        max_file_mb: float | None = 1024.0,
    ) -> None:
        self.max_file_mb = max_file_mb
        self.folder = Path(folder).expanduser()
        if not self.folder.is_dir():
            msg = f"venue folder {str(folder)!r} is not a directory"
            raise ConfigError(msg)
        if asset_class not in C.ASSET_CLASSES:
            msg = f"asset_class {asset_class!r} is not one of {C.ASSET_CLASSES}"
            raise ConfigError(msg)
        self.as_of_ms = as_of_ms
        self.timeframe = timeframe
        if metadata is not None:
            self.sidecar: Path | None = Path(metadata).expanduser()
            if not self.sidecar.is_file():
                msg = f"venue.metadata={str(metadata)!r} is not a file (a CSV/Parquet sidecar: symbol, tick_size, ...)"
                raise ConfigError(msg)
        else:
            found = [
                p
                for p in sorted(self.folder.iterdir())
                if p.is_file() and p.stem.lower() in SIDECAR_STEMS and p.suffix.lower() in SUFFIXES
            ]
            if len(found) > 1:
                msg = f"{self.folder} holds several metadata sidecars {[p.name for p in found]}: keep one"
                raise ConfigError(msg)
            self.sidecar = found[0] if found else None
        name = name if name is not None else venue_name(self.folder)
        if not _NAME.fullmatch(name) or ".." in name:
            msg = (
                f"venue name {name!r} is not a safe path component (letters, digits, '_', '.', '-'); "
                "pass name=... explicitly"
            )
            raise ConfigError(msg)
        self.name: str = name
        self.asset_class = asset_class
        self._sources: dict[str, Path] | None = None
        self._bars: OrderedDict[Path, pl.DataFrame] = OrderedDict()  # LRU of full files (fetches)
        self._lock = threading.Lock()
        self._summaries: dict[str, tuple[object, pl.DataFrame]] = {}  # symbol -> (first bar, bars near as_of)
        self._meta: dict[str, dict] | None = None

    def __repr__(self) -> str:
        return f"FilesVenue({str(self.folder)!r}, name={self.name!r})"

    # -- protocol -------------------------------------------------------------------------------------------

    def symbols(self) -> list[str]:
        """Every symbol in the folder, sorted."""
        return sorted(self._discover())

    def markets(self) -> pl.DataFrame:
        """One row per file: the sidecar's metadata where it has a value, listed_at else the first bar; the rest
        stays null."""
        import polars as pl

        meta = self.metadata()
        rows = []
        for symbol in self.symbols():
            known = meta.get(symbol, {})
            base, quote = _base_quote(symbol)
            listed = known.get(C.LISTED_AT)
            rows.append(
                {
                    C.SYMBOL: symbol,
                    C.BASE: known.get(C.BASE) or base,
                    C.QUOTE: known.get(C.QUOTE) or quote,
                    "type": known.get("type"),
                    C.ASSET_CLASS: self.asset_class,
                    C.TICK_SIZE: known.get(C.TICK_SIZE),
                    C.LOT_SIZE: known.get(C.LOT_SIZE),
                    C.MIN_NOTIONAL: known.get(C.MIN_NOTIONAL),
                    C.LISTED_AT: listed if listed is not None else self._summary(symbol)[0],
                    C.ACTIVE: True,
                }
            )
        return pl.DataFrame(rows, schema=market_schema(), orient="row")

    def tickers(self) -> pl.DataFrame:
        """Last close, 24h quote volume and 24h change per symbol from the bars completed by `as_of_ms` (every bar
        without a clock); symbols with no completed bar yet have no ticker."""
        from dataflows.venues.base import tickers_from_bars

        bar_ms = timeframe_ms(self.timeframe) or DAY_MS
        as_of = self.as_of_ms if self.as_of_ms is not None else MAX_EPOCH_MS
        return tickers_from_bars({s: self._summary(s)[1] for s in self.symbols()}, as_of, bar_ms)

    def metadata(self) -> dict[str, dict]:
        """The sidecar's known values per symbol (empty without a sidecar); validated once."""
        if self._meta is None:
            self._meta = {} if self.sidecar is None else read_sidecar(self.sidecar, set(self._discover()))
        return self._meta

    def ohlcv(self, symbol: str, timeframe: str, since_ms: int, limit: int) -> pl.DataFrame:
        """At most `limit` bars with open time >= `since_ms`, oldest first."""
        if limit < 1:
            msg = f"{self.name} ohlcv({symbol!r}): limit must be >= 1, got {limit}"
            raise ValueError(msg)
        bars = self._bars_in(symbol, timeframe)
        return bars.filter(bars[C.TS].dt.epoch("ms") >= since_ms).head(limit)

    def ohlcv_range(self, symbol: str, timeframe: str, start_ms: int, end_ms: int) -> pl.DataFrame:
        """All bars with open time in [start_ms, end_ms] (one slice; no paging needed for a file)."""
        bars = self._bars_in(symbol, timeframe)
        ts = bars[C.TS].dt.epoch("ms")
        return bars.filter((ts >= start_ms) & (ts <= end_ms))

    def bars(self, symbol: str) -> pl.DataFrame:
        """Every bar of `symbol`'s file, validated, sorted, in `columns.ohlcv_schema()`."""
        sources = self._discover()
        if symbol not in sources:
            known = sorted(sources)
            shown = ", ".join(known[:10]) + (f" and {len(known) - 10} more" if len(known) > 10 else "")
            msg = f"{self.name}: no file for symbol {symbol!r} in {self.folder} (symbols: {shown})"
            raise VenueError(msg)
        path = sources[symbol]
        with self._lock:  # one file read at a time: memory holds at most CACHED_FILES + 1 full files
            if path in self._bars:
                self._bars.move_to_end(path)
                return self._bars[path]
            bars = read_bars(path, max_file_mb=self.max_file_mb)
            self._bars[path] = bars
            while len(self._bars) > CACHED_FILES:
                self._bars.popitem(last=False)
            return bars

    def _summary(self, symbol: str) -> tuple[object, pl.DataFrame]:
        """What discovery needs of a file: its first bar's open time and the completed bars around `as_of_ms` (the
        last one, the 24 hours before it, and the latest bar at least 24 hours older). The file is read once and
        dropped; only this is kept."""
        if symbol not in self._summaries:
            bars = self.bars(symbol)
            bar_ms = timeframe_ms(self.timeframe) or DAY_MS
            as_of = self.as_of_ms if self.as_of_ms is not None else MAX_EPOCH_MS
            ts = bars[C.TS].dt.epoch("ms")
            done = bars.filter(ts + bar_ms <= as_of)
            if done.height:
                done_ts = done[C.TS].dt.epoch("ms")
                older = done_ts.filter(done_ts <= int(done_ts[-1]) - DAY_MS)
                cut = int(older[-1]) if older.len() else int(done_ts[-1]) - DAY_MS
                done = done.filter(done_ts >= cut)
            self._summaries[symbol] = (bars[C.TS][0], done)
            with self._lock:  # discovery walks every file once: do not keep them all
                self._bars.pop(self.sources()[symbol], None)
        return self._summaries[symbol]

    # -- helpers --------------------------------------------------------------------------------------------

    def _bars_in(self, symbol: str, timeframe: str) -> pl.DataFrame:
        """`bars(symbol)` after checking the file's bar spacing matches `timeframe`."""
        bars = self.bars(symbol)
        expected = timeframe_ms(timeframe)
        if expected is not None and bars.height >= 2:
            spacing = int(bars[C.TS].dt.epoch("ms").diff().drop_nulls().median())  # type: ignore[arg-type]
            if spacing != expected:
                msg = (
                    f"{self.sources()[symbol].name} holds bars {spacing // 1000}s apart (median), "
                    f"but timeframe {timeframe!r} is {expected // 1000}s: point the venue at files of that timeframe"
                )
                raise VenueError(msg)
        return bars

    def sources(self) -> dict[str, Path]:
        """Symbol -> file."""
        return dict(self._discover())

    def _discover(self) -> dict[str, Path]:
        if self._sources is None:
            files = sorted(
                p
                for p in self.folder.iterdir()
                if p.is_file()
                and not p.name.startswith(".")
                and p.suffix.lower() in SUFFIXES
                and p.stem.lower() not in SIDECAR_STEMS
                and (self.sidecar is None or p.resolve() != self.sidecar.resolve())
            )
            if not files:
                msg = f"venue folder {str(self.folder)!r} has no .csv or .parquet files"
                raise ConfigError(msg)
            for path in files:
                check_size(path, self.max_file_mb)
            sources: dict[str, Path] = {}
            for path in files:
                symbol = symbol_of(path)
                if symbol in sources:
                    msg = f"{sources[symbol]} and {path} both hold symbol {symbol!r}: keep one file per symbol"
                    raise BadPayload(msg)
                sources[symbol] = path
            self._sources = sources
        return self._sources


def venue_name(folder: str | Path) -> str:
    """The lakehouse namespace of a folder: `files-<name>-<8 hex of its absolute path>` (safe path component)."""
    import hashlib

    path = Path(folder).expanduser().resolve()
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", path.name).strip("._-")[:64] or "root"
    return f"files-{stem}-{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"


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


def symbol_of(path: Path) -> str:
    """The symbol a file holds: encoded stem, else its single `symbol` column value, else the raw stem."""
    import polars as pl

    stem = path.stem
    if "%" in stem:
        try:
            return decode_symbol(stem)
        except UnsafeKey:
            pass
    try:
        raw = _read(path, symbol_only=True)
    except BadPayload:  # unreadable: keep the stem; loading the file raises, naming it, and other files stay usable
        raw = pl.DataFrame()
    if raw.width:
        values = raw.to_series().cast(pl.String).str.strip_chars().drop_nulls().unique().sort().to_list()
        values = [v for v in values if v]
        if len(values) > 1:
            msg = f"{path}: the symbol column holds several symbols {values[:5]}; keep one file per symbol"
            raise BadPayload(msg)
        if values:
            stem = values[0]
    try:
        return validate_symbol(stem)
    except UnsafeKey as exc:
        msg = f"{path}: {exc}"
        raise BadPayload(msg) from exc


def check_size(path: Path, max_file_mb: float | None) -> None:
    """`BadPayload` naming the file, its size and `data.max_file_mb` when the file is larger than that."""
    if max_file_mb is None:
        return
    size = path.stat().st_size
    if size > max_file_mb * 2**20:
        msg = (
            f"{path}: {size / 2**20:,.0f} MB is over data.max_file_mb={max_file_mb:g}; split the file, keep only the "
            "bars you need, or raise data.max_file_mb"
        )
        raise BadPayload(msg)


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


def _read(path: Path, *, symbol_only: bool = False, wanted: tuple[str, ...] | None = None) -> pl.DataFrame:
    """The file as read lazily (CSV: every column a string): with `wanted`, only the columns whose lower-cased,
    stripped names are in it; with `symbol_only`, just the distinct values of its `symbol` column if any."""
    import polars as pl

    kind = path.suffix.lower().lstrip(".")
    try:
        if kind == "csv":
            header = pl.read_csv(path, n_rows=0, infer_schema=False).columns
            lazy = pl.scan_csv(path, infer_schema=False)
        else:
            header = list(pl.read_parquet_schema(path))
            lazy = pl.scan_parquet(path)
        if symbol_only:
            names = [n for n in header if n.strip().lower() == C.SYMBOL]
            if not names:
                return pl.DataFrame()
            return lazy.select(pl.col(names[0]).cast(pl.String).str.strip_chars()).unique().head(10).collect()
        if wanted is not None:
            names = [n for n in header if n.strip().lower() in wanted]
            if not names:
                return pl.DataFrame(schema=dict.fromkeys(header, pl.String))
            lazy = lazy.select(names)
            if kind == "csv":
                lazy = _numeric_csv_columns(lazy, names)
            return lazy.collect(engine="streaming")
        return lazy.collect()
    except (pl.exceptions.PolarsError, OSError, ValueError, pl.exceptions.PanicException) as exc:
        first = str(exc).splitlines()[0][:200] if str(exc) else ""
        msg = f"{path}: unreadable {kind} file ({type(exc).__name__}: {first})"
        raise BadPayload(msg) from exc


def _numeric_csv_columns(lazy: pl.LazyFrame, names: list[str]) -> pl.LazyFrame:
    """Parse CSV number columns while streaming, so a file's text is never held whole: one pass finds which price and
    volume columns hold only numbers (or empty cells) and which timestamp columns hold only epoch numbers; those are
    read as Float64. Any other column stays text, so `_numbers`/`_epoch_ms` report its first bad cell as before."""
    import polars as pl

    numeric = [n for n in names if n.strip().lower() in (*C.PRICES, C.VOLUME)]
    stamps = [n for n in names if n.strip().lower() in TS_NAMES]

    def text(n: str) -> pl.Expr:
        return pl.col(n).str.strip_chars()

    probe = lazy.select(
        *(
            (text(n).cast(pl.Float64, strict=False).is_null() & text(n).is_not_null() & (text(n) != ""))
            .any()
            .alias(f"bad{i}")
            for i, n in enumerate(numeric)
        ),
        *(text(n).str.contains(_EPOCH.pattern).all().alias(f"epoch{i}") for i, n in enumerate(stamps)),
    ).collect(engine="streaming")
    clean = [n for i, n in enumerate(numeric) if not probe[f"bad{i}"][0]]
    clean += [n for i, n in enumerate(stamps) if probe[f"epoch{i}"][0]]
    return lazy.with_columns(*(text(n).cast(pl.Float64, strict=False).alias(n) for n in clean))


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
    """A timestamp column as Int64 epoch milliseconds (UTC) by the rules in the module docstring."""
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


def _base_quote(symbol: str) -> tuple[str | None, str | None]:
    """(base, quote) when the symbol spells them as `BASE/QUOTE[:SETTLE]`, else (None, None)."""
    if "/" not in symbol:
        return None, None
    base, _, rest = symbol.partition("/")
    quote = rest.split(":", 1)[0]
    return (base or None), (quote or None)


def _iso(ts_ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts_ms / 1000, UTC).isoformat().replace("+00:00", "Z")

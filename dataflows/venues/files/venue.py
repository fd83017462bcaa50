"""`FilesVenue`: a folder of per-symbol OHLCV files as a `Venue`, with discovery that keeps one summary per file."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

from dataflows import columns as C
from dataflows.errors import BadPayload, ConfigError, VenueError
from dataflows.venues.base import market_schema
from dataflows.venues.files.formats import SUFFIXES, check_size, symbol_of
from dataflows.venues.files.normalise import DAY_MS, MAX_EPOCH_MS, read_bars, timeframe_ms
from dataflows.venues.files.sidecar import SIDECAR_STEMS, _base_quote, read_sidecar

if TYPE_CHECKING:
    import polars as pl

PAGE_LIMIT = 10_000
"""Bars per `ohlcv` page; files have no venue limit, this only keeps pages small."""
CACHED_FILES = 4  # full files kept in memory for fetches (about one per fetch thread)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


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

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

Point in time (docs/data.md): built with `as_of_ms` (the run's clock), `tickers()` reads only bars completed by then
(last close, 24h quote volume and change as in `venues.base.tickers_from_bars`); without it, every bar counts.
`ohlcv()` checks that the file's typical bar spacing (median) equals the requested timeframe, so hourly files are
never stored as daily bars.

The lakehouse namespace (`name`) is `files-<folder name>-<8 hex of the folder's absolute path>`: two folders never
share stored bars, even with the same name.

Modules: `formats` (which files count, lazy reads, a file's symbol), `normalise` (columns, timestamps and values
of one file's bars), `sidecar` (the metadata file), `venue` (`FilesVenue`).
"""

from __future__ import annotations

from dataflows.venues.files.formats import SUFFIXES, TS_NAMES, check_size, symbol_of
from dataflows.venues.files.normalise import DAY_MS, MAX_EPOCH_MS, MIN_EPOCH_MS, MIN_EPOCH_S, read_bars, timeframe_ms
from dataflows.venues.files.sidecar import SIDECAR_COLUMNS, SIDECAR_STEMS, read_sidecar
from dataflows.venues.files.venue import CACHED_FILES, PAGE_LIMIT, FilesVenue, venue_name

__all__ = [
    "CACHED_FILES",
    "DAY_MS",
    "MAX_EPOCH_MS",
    "MIN_EPOCH_MS",
    "MIN_EPOCH_S",
    "PAGE_LIMIT",
    "SIDECAR_COLUMNS",
    "SIDECAR_STEMS",
    "SUFFIXES",
    "TS_NAMES",
    "FilesVenue",
    "check_size",
    "read_bars",
    "read_sidecar",
    "symbol_of",
    "timeframe_ms",
    "venue_name",
]

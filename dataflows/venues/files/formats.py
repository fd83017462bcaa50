"""The files venue's file formats: which files count, the size guard, lazy CSV/Parquet reads and a file's symbol.

Reads are lazy and keep only the columns asked for; CSV cells arrive as text, except number columns that a
streaming probe finds clean (see `_numeric_csv_columns`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from dataflows import columns as C
from dataflows.errors import BadPayload, UnsafeKey
from dataflows.lakehouse.keys import decode_symbol, validate_symbol

if TYPE_CHECKING:
    from pathlib import Path

    import polars as pl

SUFFIXES = (".csv", ".parquet")
TS_NAMES = ("ts", "timestamp", "date", "time")

_EPOCH = re.compile(r"^[+-]?\d+(\.\d*)?$")
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?(?:Z|[+-]\d{2}:?\d{2})?$")


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

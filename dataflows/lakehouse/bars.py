"""Stored bar files as bytes: content hashes, one-open snapshots, and Parquet parsing into the canonical OHLCV
schema (whatever timestamp unit and number width a file was written with)."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import polars as pl

from dataflows import columns as C
from dataflows.errors import ConfigError, LakehouseError


def file_hash(path: Path) -> str:
    """sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_snapshot(path: Path) -> tuple[bytes, str] | None:
    """The file's bytes and their sha256, from one open (a concurrent atomic replace gives one version or the other,
    never a mix), or None when there is no file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    return data, hashlib.sha256(data).hexdigest()


def parse_parquet(
    data: bytes, label: str, schema: dict | None = None, columns: list[str] | None = None
) -> pl.DataFrame:
    """Parquet bytes → frame; unreadable bytes or a wrong schema raise `LakehouseError` naming `label`."""
    try:
        frame = pl.read_parquet(io.BytesIO(data), columns=columns)
    except (Exception, pl.exceptions.PanicException) as exc:  # polars panics on some garbage input
        msg = f"{label} is unreadable: {exc.__class__.__name__}"
        raise LakehouseError(msg) from exc
    if schema is not None:
        want = {k: v for k, v in schema.items() if columns is None or k in columns}
        if dict(frame.schema) != want:
            msg = f"{label} has schema {dict(frame.schema)}, expected {want}"
            raise LakehouseError(msg)
    return frame


def ts_ms(frame: pl.DataFrame) -> pl.Series:
    """The open times of canonical bars as epoch ms."""
    return frame[C.TS].dt.epoch("ms")


MIN_TS_MS = 946_684_800_000  # 2000-01-01: earlier open times are seconds read as milliseconds, or junk


def normalize_ohlcv(frame: pl.DataFrame, label: str) -> tuple[pl.DataFrame, str | None]:
    """Stored bars in `columns.ohlcv_schema()` whatever unit and width they were written with: a Datetime `ts` in
    s/ms/us/ns, naive (= UTC) or with any time zone, becomes ms UTC; integer or float32 prices and volume become
    Float64; other columns are ignored. Returns (frame, the original timestamp type when it was not ms UTC).
    Missing columns or a non-time `ts` raise `LakehouseError` naming `label` (the file is unreadable as bars)."""
    missing = [c for c in C.OHLCV if c not in frame.columns]
    if missing:
        msg = f"{label} has schema {dict(frame.schema)}, expected {C.ohlcv_schema()} (missing {missing})"
        raise LakehouseError(msg)
    ts = frame.schema[C.TS]
    bad = [c for c in (*C.PRICES, C.VOLUME) if not frame.schema[c].is_numeric()]
    if not isinstance(ts, pl.Datetime) or bad:
        what = f"ts is {ts}" if not isinstance(ts, pl.Datetime) else f"non-numeric columns {bad}"
        msg = f"{label} has schema {dict(frame.schema)}, expected {C.ohlcv_schema()} ({what})"
        raise LakehouseError(msg)
    want = pl.Datetime("ms", "UTC")
    original = None if ts == want else str(ts)
    col = pl.col(C.TS)
    if ts.time_zone is None:
        col = col.dt.replace_time_zone("UTC")
    elif ts.time_zone != "UTC":
        col = col.dt.convert_time_zone("UTC")
    out = frame.select(
        col.dt.cast_time_unit("ms").alias(C.TS), *(pl.col(c).cast(pl.Float64) for c in (*C.PRICES, C.VOLUME))
    )
    if original is not None and ts.time_unit in ("us", "ns"):  # sub-ms parts would be silently truncated
        factor = 1000 if ts.time_unit == "us" else 1_000_000
        sub = frame[C.TS].dt.epoch(ts.time_unit) % factor != 0
        if sub.any():
            out = out.with_columns(pl.when(pl.Series(sub)).then(None).otherwise(pl.col(C.TS)).alias(C.TS))
    return out, original


def parse_ohlcv(data: bytes, label: str) -> tuple[pl.DataFrame, str | None]:
    """Parquet bytes of a symbol file → (bars in the canonical schema, original ts type if not ms UTC)."""
    return normalize_ohlcv(parse_parquet(data, label), label)


def grid_ms(timeframe: str) -> int | None:
    """The bar length of `timeframe` in ms (open times are multiples of it), or None for an unknown timeframe."""
    from dataflows.lakehouse.calendar import timeframe_ms

    try:
        return timeframe_ms(timeframe)
    except ConfigError:  # an unknown timeframe has no grid to check
        return None

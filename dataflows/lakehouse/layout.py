"""Where a lakehouse keeps things: each symbol's bar file (its path built from path-safe keys), the shared tables
(quarantine, metadata, features) with their inter-process locks, and reading those tables."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from dataflows.errors import LakehouseError
from dataflows.lakehouse.bars import parse_parquet, read_snapshot
from dataflows.lakehouse.keys import contained, encode_symbol


class LayoutMixin:
    """Paths, locks and shared tables of `store.Lakehouse` (uses its `root` and `_writable`)."""

    root: Path

    def ohlcv_path(self, venue: str, timeframe: str, symbol: str) -> Path:
        """Where one symbol's bars live (raises `UnsafeKey` for anything that would escape the lakehouse)."""
        return contained(self.root, "ohlcv", encode_symbol(venue), timeframe, f"{encode_symbol(symbol)}.parquet")

    @property
    def quarantine_path(self) -> Path:
        return self.root / "quarantine.parquet"

    @property
    def metadata_path(self) -> Path:
        return self.root / "metadata.parquet"

    @property
    def features_path(self) -> Path:
        return self.root / "features_matrix.parquet"

    def lock(self, name: str, timeout_s: float = 120.0):
        """An inter-process lock for read-modify-write of a shared file (quarantine, metadata, features)."""
        from filelock import FileLock

        self._writable(f"lock {name}")
        (self.root / "locks").mkdir(exist_ok=True)
        return FileLock(str(self.root / "locks" / f"{name}.lock"), timeout=timeout_s)

    def read_table(self, path: Path, schema: dict, label: str) -> pl.DataFrame:
        """Read a shared table; an unreadable or wrong-schema file is an error naming it (left in place)."""
        snap = read_snapshot(path)
        if snap is None:
            return pl.DataFrame(schema=schema)
        try:
            return parse_parquet(snap[0], f"{label} table {path}", schema)
        except LakehouseError as exc:
            msg = f"{exc}; restore it or move it aside and rerun"
            raise LakehouseError(msg) from exc

"""Upkeep of stored files: unusable rows and unreadable files moved to `corrupt/` with their evidence (kept for
inspection, never deleted), temp files of crashed writers swept, and the content hashes runs record as inputs."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from dataflows.errors import UnsafeKey
from dataflows.lakehouse import atomic
from dataflows.lakehouse.bars import file_hash
from dataflows.lakehouse.inspection import Inspection

log = logging.getLogger("dataflows.lakehouse.store")  # the lakehouse facade's log


class MaintenanceMixin:
    """Moves to `corrupt/`, sweeps and hashes of `store.Lakehouse` (uses its `root`, `read_only` and `_writable`)."""

    root: Path
    read_only: bool

    def _set_aside_rows(self, path: Path, insp: Inspection, label: str) -> str:
        """Keep unusable rows in `corrupt/` (a Parquet file of the rows and a JSON file of the evidence)."""
        self._writable(f"set aside rows of {label}")
        rel = path.relative_to(self.root)
        stem = self.root / "corrupt" / rel.parent / f"{path.name}.{int(time.time() * 1000)}"
        stem.parent.mkdir(parents=True, exist_ok=True)
        what = ", ".join(f"{n} {p}" for p, n in sorted(insp.evidence().get("bad_rows", {}).items()))
        if insp.bad.height:
            atomic.write_parquet(stem.with_name(stem.name + ".rows.parquet"), insp.bad)
        evidence = {"file": str(rel), "label": label, **insp.evidence()}
        atomic.write_json(stem.with_name(stem.name + ".json"), evidence)
        shown = stem.relative_to(self.root)
        note = (
            f"{insp.bad.height} unusable row(s) ({what}) moved to {shown}.rows.parquet (evidence {shown}.json); "
            "the clean part was rewritten"
            if insp.bad.height
            else f"unsorted rows rewritten in order (evidence {shown}.json)"
        )
        log.warning("%s: %s", label, note)
        return note

    def move_aside(self, path: Path, reason: str) -> Path:
        """Move an unusable file to `corrupt/` (kept for inspection, never deleted)."""
        self._writable(f"move {path} aside")
        rel = path.relative_to(self.root)
        dest = self.root / "corrupt" / rel.parent / f"{path.name}.{int(time.time() * 1000)}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        path.replace(dest)
        log.warning("moved unusable %s to %s (%s)", rel, dest.relative_to(self.root), reason)
        return dest

    def sweep(self) -> int:
        """Remove stale temp files left by crashed writers (nothing on a read-only lakehouse)."""
        if self.read_only:
            return 0
        return atomic.sweep_temps(self.root / "ohlcv")

    def file_hashes(self, venue: str, timeframe: str, symbols: list[str]) -> dict[str, str | None]:
        """Content hash of each symbol's stored file (None when absent) — the manifest's record of inputs."""
        out = {}
        for symbol in symbols:
            try:
                path = self.ohlcv_path(venue, timeframe, symbol)
            except UnsafeKey:
                out[symbol] = None
                continue
            out[symbol] = file_hash(path) if path.exists() else None
        return out

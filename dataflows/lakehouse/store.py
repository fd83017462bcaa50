"""The lakehouse facade: per-symbol OHLCV Parquet files plus the registry, with crash-safe merge writes.

Layout under `<data.root>/lakehouse/`:

    ohlcv/<venue>/<timeframe>/<symbol-key>.parquet   one file per symbol, key from `keys.encode_symbol`
    registry.sqlite                                  see `registry.py`
    quarantine.parquet, metadata.parquet             see `quarantine.py`, `metadata.py`
    corrupt/                                         unreadable files moved aside (never deleted)

Writes merge by timestamp: stored bars are kept, new timestamps are added; a refetched bar that differs from the
stored one is counted as a conflict and the stored value is kept (nothing stored is lost).

Stored files are read leniently and checked strictly: timestamps in any unit (s/ms/us/ns, naive or UTC) and numeric
columns of any width are normalized to the canonical schema (`normalize_ohlcv`); rows that are not usable bars
(duplicate timestamps, off-calendar bars, non-finite or non-positive prices, inconsistent OHLC) are never served
(`inspect_bars`) and, by a writable lakehouse, moved to `corrupt/` with their evidence before the clean part is
rewritten (the audit then asks the venue for them again). A read-only lakehouse (`read_only=True`, the `audit`
verb) changes nothing on disk: its registry is an in-memory snapshot.

The class is assembled from one mixin per concern: `layout.py` (paths, shared tables, locks), `reads.py` (reads and
the inspection cache), `writes.py` (merge writes), `reconcile.py` (registry against files), `maintenance.py`
(`corrupt/`, sweeps, hashes) and `leases.py` (series leases); parsing and inspecting bytes live in `bars.py` and
`inspection.py`, opening the registry in `registry_open.py`. Method notes: `docs/data.md`.
"""

from __future__ import annotations

import collections
import logging
import threading
from pathlib import Path

from dataflows.errors import LakehouseError
from dataflows.lakehouse.bars import MIN_TS_MS, file_hash, normalize_ohlcv, parse_ohlcv, parse_parquet, read_snapshot
from dataflows.lakehouse.inspection import Inspection, inspect_bars
from dataflows.lakehouse.layout import LayoutMixin
from dataflows.lakehouse.leases import LeaseMixin
from dataflows.lakehouse.maintenance import MaintenanceMixin
from dataflows.lakehouse.reads import INSPECTED_CACHE, ReadsMixin
from dataflows.lakehouse.reconcile import ReconcileMixin
from dataflows.lakehouse.registry import Registry
from dataflows.lakehouse.registry_open import SnapshotRegistry, open_registry
from dataflows.lakehouse.writes import WriteResult, WritesMixin

__all__ = [
    "INSPECTED_CACHE",
    "MIN_TS_MS",
    "Inspection",
    "Lakehouse",
    "WriteResult",
    "file_hash",
    "inspect_bars",
    "normalize_ohlcv",
    "parse_ohlcv",
    "parse_parquet",
    "read_snapshot",
]

log = logging.getLogger(__name__)


class Lakehouse(LayoutMixin, ReadsMixin, WritesMixin, ReconcileMixin, MaintenanceMixin, LeaseMixin):
    """Everything the data phase stores, behind one API (the only way runs write shared data)."""

    def __init__(self, data_root: Path | str, *, read_only: bool = False) -> None:
        """`read_only`: change nothing on disk (no folder, registry, temp sweep, move or rewrite); problems found
        in stored files are reported only. The `audit` verb uses it."""
        self.data_root = Path(data_root).expanduser().resolve()
        self.root = self.data_root / "lakehouse"
        self.read_only = read_only
        # Clean inspections by (content sha256, bar length, calendar): the stages of one run (audit, guard, ratings,
        # returns, walk-forward history) read the same files; keyed by content, so a rewritten file is read again.
        self._inspected: collections.OrderedDict[tuple[str, int, str], Inspection] = collections.OrderedDict()
        self._inspected_lock = threading.Lock()
        self.notes: list[str] = []  # what opening the lakehouse had to repair (a damaged registry)
        if read_only:
            self.registry: Registry = SnapshotRegistry(self.root / "registry.sqlite")
            if self.registry.problem:
                note = (
                    f"{self.registry.problem}; audited from the files only (`run` moves it to corrupt/ and rebuilds it)"
                )
                self.notes.append(note)
                log.warning(note)
        else:
            self.root.mkdir(parents=True, exist_ok=True)
            self.registry = open_registry(self.root, self.root / "registry.sqlite", self.notes)
        self._held = threading.local()  # series leases this thread holds (leases are re-entrant per thread)

    def _writable(self, what: str) -> None:
        if self.read_only:
            msg = f"the lakehouse {self.root} is open read-only (audit); cannot {what}"
            raise LakehouseError(msg)

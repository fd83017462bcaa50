"""The lakehouse: per-symbol Parquet bars, a SQLite registry with fetch leases, quarantine and metadata.

- `store.py`: the `Lakehouse` facade, assembled from `layout`, `reads`, `writes`, `reconcile`, `maintenance` and
  `leases`; bytes and inspection in `bars` and `inspection`; the registry opened by `registry_open`.
- `registry.py`: the SQLite registry, its records in `registry_records`, `registry_holes` and `registry_leases`.
- `audit.py` and `repair.py` (with `repair_policy`, `repair_fetch`, `repair_report`): audit, then fetch what is
  broken under leases.
- `atomic`, `keys`, `calendar`, `validate`, `panel`, `quarantine`, `metadata`, `features`: the helpers and tables.

The names below are imported on first use (importing this package stays cheap for `python -m dataflows --help`).
"""

from __future__ import annotations

from dataflows.lazy import lazy_exports

_EXPORTS = {
    "CONFIRM_AFTER": "registry",
    "Candidate": "audit",
    "Inspection": "inspection",
    "Lakehouse": "store",
    "Leases": "leases",
    "Registry": "registry",
    "RepairPolicy": "repair_policy",
    "RepairReport": "repair_report",
    "Repairer": "repair",
    "SeriesRow": "registry_records",
    "SymbolAudit": "audit",
    "WriteResult": "writes",
    "file_hash": "bars",
    "retrying": "repair_policy",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)

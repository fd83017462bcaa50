"""`python -m dataflows scan`: only the discovery part of the DAG (`SCAN_OUTPUTS`) on a read-only lakehouse, with
each scanner's funnel and the candidates a run would start from. No run folder, nothing written, no OHLCV fetched (a
live venue asked about a past `as_of` derives its tickers from bars, as `run` does)."""

from __future__ import annotations

from typing import Any

from dataflows.config import Settings
from dataflows.errors import ConfigError
from dataflows.explore.listing import sleeve_label
from dataflows.explore.output import Table, emit

SCAN_OUTPUTS = ("candidates", "discovery_funnel")
"""What `scan` asks the DAG for: nothing that writes (`candidates_json`) or fetches bars (audit, repair)."""


def discover(settings: Settings, *, lakehouse: Any = None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Discovery only (`SCAN_OUTPUTS`): candidates and each scanner's funnel as of `settings.as_of`.

    The lakehouse is opened read-only (stored bars and features are read, nothing is written); `overrides` replace
    DAG nodes (e.g. a `venue` whose calls the caller counts)."""
    from dataflows.driver import build_driver
    from dataflows.lakehouse.store import Lakehouse
    from dataflows.runs import check_data_root

    if lakehouse is None:
        lakehouse = Lakehouse(check_data_root(settings, create=False), read_only=True)
    inputs = {"settings": settings, "lakehouse": lakehouse, "as_of_ms": settings.as_of_ms}
    return build_driver(settings).execute(list(SCAN_OUTPUTS), inputs=inputs, overrides=overrides or None)


def scan(settings: Settings, resolved: dict) -> int:
    """`python -m dataflows scan [profile=... | scanner=...] [run.as_of=...]`: each scanner's funnel and the
    candidates a run would start from. Nothing found is `NoCandidates` (one line, exit 2)."""
    if settings.meta is not None:
        sleeves = settings.meta.get("sleeves") or {}
        labels = ", ".join(sleeve_label(str(k), v) for k, v in sleeves.items()) if isinstance(sleeves, dict) else ""
        msg = (
            f"scan shows one profile's or scanner's discovery, not a meta's (sleeves: {labels}); "
            "scan a sleeve's profile, e.g. `python -m dataflows scan profile=NAME`"
        )
        raise ConfigError(msg)
    result = discover(settings)
    emit(scan_tables(settings, result["discovery_funnel"], result["candidates"]))
    return 0


def scan_tables(settings: Settings, funnels: dict[str, list[dict]], candidates: Any) -> list[Table]:
    """One funnel table per scanner, then the candidates table."""
    from dataflows.timestamps import iso

    when = iso(settings.as_of_ms)
    tables = []
    for name, funnel in funnels.items():
        rows = []
        for e in funnel:
            removed = str(e["removed"]) if e["removed"] else ""
            if e.get("unknown"):
                removed += f" ({e['unknown']} without a value)"
            rows.append([e["step"], e["left"], removed])
        tables.append(Table(f"scanner {name}: funnel as of {when}", ["step", "left", "removed"], rows))
    columns = ["symbol", "scanner", "direction", "asset_class", "quote_volume", "last", "change"]
    if candidates["rating"].is_not_null().any():
        columns.append("rating")
    rows = [[r[c] for c in columns] for r in candidates.iter_rows(named=True)]
    title = (
        f"{candidates.height} candidate{'' if candidates.height == 1 else 's'} as of {when} on {settings.venue_name}"
    )
    caption = "quote_volume: traded value of the last completed bar (24h, quote currency); change: over that bar"
    tables.append(Table(title, columns, rows, caption, percent=("change",)))
    return tables

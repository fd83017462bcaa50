"""Toxic guard: scan the repaired bars with the numba kernel and quarantine offenders with evidence.

Nothing is deleted: a quarantined symbol keeps its bars; selection and reports cite the quarantine entry.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
from hamilton.function_modifiers import tag

from dataflows import columns as C
from dataflows.config import DataConfig, GuardConfig
from dataflows.lakehouse import quarantine
from dataflows.lakehouse.audit import UNREPAIRABLE
from dataflows.lakehouse.calendar import DAY_MS
from dataflows.lakehouse.panel import read_panel
from dataflows.lakehouse.repair import RepairReport
from dataflows.lakehouse.store import Lakehouse
from dataflows.timestamps import iso
from dataflows.venues.base import Venue

RULES = ("toxic_return", "flat_line", "volume_spike")


def toxic_findings(
    repair_report: RepairReport,
    lakehouse: Lakehouse,
    venue: Venue,
    data_config: DataConfig,
    guard_config: GuardConfig,
    as_of_ms: int,
) -> pl.DataFrame:
    """One row per (symbol, rule) that fired, with the evidence (dates, values, thresholds)."""
    from kernels.toxic import toxic_scan

    g = guard_config
    symbols = [a.symbol for a in repair_report.after if a.data_status != UNREPAIRABLE]
    lookback = g.lookback_days or data_config.history_days
    times, panel = read_panel(
        lakehouse,
        venue.name,
        data_config.timeframe,
        symbols,
        start_ms=as_of_ms - lookback * DAY_MS,
        end_ms=as_of_ms,
    )
    rows: list[dict] = []
    if not symbols or times.size == 0:
        return pl.DataFrame(rows, schema=_findings_schema())
    scan = toxic_scan(
        panel[C.CLOSE],
        panel[C.VOLUME],
        max_abs_return=g.max_abs_return,
        flat_bars=g.flat_bars,
        spike_mult=g.spike_mult,
        spike_window=g.spike_window,
    )
    close, volume = panel[C.CLOSE], panel[C.VOLUME]
    for j, symbol in enumerate(symbols):
        if scan.return_first[j] >= 0:
            t = int(scan.return_first[j])
            prev = close[:t, j][~np.isnan(close[:t, j])][-1]
            rows.append(
                _row(
                    symbol,
                    "toxic_return",
                    times[t],
                    float(close[t, j] / prev - 1.0),
                    g.max_abs_return,
                    f"close {prev:.6g} -> {close[t, j]:.6g}",
                )
            )
        if scan.flat_first[j] >= 0:
            t = int(scan.flat_first[j])
            rows.append(
                _row(
                    symbol,
                    "flat_line",
                    times[t],
                    float(scan.flat_worst[j]),
                    float(g.flat_bars),
                    f"{int(scan.flat_worst[j])} identical closes at {close[t, j]:.6g}, longest run ends "
                    f"{iso(int(times[scan.flat_worst_row[j]]))}",
                )
            )
        if scan.spike_first[j] >= 0:
            t = int(scan.spike_first[j])
            rows.append(
                _row(
                    symbol,
                    "volume_spike",
                    times[t],
                    float(scan.spike_worst[j]),
                    g.spike_mult,
                    f"volume {volume[t, j]:.6g} vs median of previous {g.spike_window} bars",
                )
            )
    return pl.DataFrame(rows, schema=_findings_schema())


def _findings_schema() -> dict:
    return {
        C.SYMBOL: pl.String,
        "rule": pl.String,
        "at": pl.String,
        "value": pl.Float64,
        "threshold": pl.Float64,
        "detail": pl.String,
    }


def _row(symbol: str, rule: str, ts: int, value: float, threshold: float, detail: str) -> dict:
    return {
        C.SYMBOL: symbol,
        "rule": rule,
        "at": iso(int(ts)),
        "value": value,
        "threshold": threshold,
        "detail": detail,
    }


@tag(lakehouse="writes")
def quarantine_table(
    toxic_findings: pl.DataFrame,
    lakehouse: Lakehouse,
    venue: Venue,
    data_config: DataConfig,
    guard_config: GuardConfig,
    as_of_ms: int,
) -> pl.DataFrame:
    """Quarantine every finding (evidence + expiry) and return the entries in force at as_of."""
    now = dt.datetime.fromtimestamp(as_of_ms / 1000, dt.UTC)
    entries = [
        {
            C.VENUE: venue.name,
            C.SYMBOL: r[C.SYMBOL],
            C.TIMEFRAME: data_config.timeframe,
            C.REASON: r["rule"],
            C.EVIDENCE: {k: r[k] for k in ("at", "value", "threshold", "detail")},
        }
        for r in toxic_findings.iter_rows(named=True)
    ]
    table = quarantine.upsert(lakehouse, entries, now=now, ttl=dt.timedelta(days=guard_config.quarantine_days))
    return table.filter((pl.col(C.VENUE) == venue.name) & (pl.col(C.EXPIRES_AT) > now))

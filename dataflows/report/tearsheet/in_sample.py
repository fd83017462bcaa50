"""The tearsheet's in-sample details: the header facts, weights, risk contributions, clusters (correlation heatmap in
dendrogram order), the selection funnel, the regime, the in-sample equity and the optimizer's fallback chain."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from dataflows.columns import DIRECTION, LONG, SHORT, SYMBOL
from dataflows.errors import DataflowsError
from dataflows.report import plots
from dataflows.report.data import OptimizerAttempt, TearsheetData
from dataflows.report.page import NA, day, figure, fmt, is_finite, pct
from dataflows.report.tearsheet.formats import badge, int_or_none, metric_cell, nansum, text_or_na, to_float
from dataflows.validation import metrics as M

WEIGHT = "weight"
NET_WEIGHT = "net_weight"
CLUSTER = "cluster"
OPTIMIZER = "optimizer"
FALLBACK = "fallback"
WEIGHT_COLUMNS = (SYMBOL, DIRECTION, WEIGHT, NET_WEIGHT, CLUSTER, OPTIMIZER, FALLBACK)

HTR_STAGES = {
    0: "no atom had features",
    1: "strict",
    2: "spectral relaxation",
    3: "cluster floor",
    4: "leader fallback",
}


class TearsheetError(DataflowsError):
    """The tearsheet data breaks its contract (e.g. a non-empty weights frame without the required columns)."""


def facts(data: TearsheetData, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The header cards: regime, the optimizer that produced the weights, HTR stage, assets, gross / net."""
    longs = sum(r[DIRECTION] == LONG for r in rows)
    shorts = sum(r[DIRECTION] == SHORT for r in rows)
    producer = _producer(data.attempts)
    optimizer: dict[str, Any] = {"key": "Optimizer", "value": NA}
    if producer is None and data.attempts:
        optimizer |= {"value": "none succeeded", "cls": "bad"}
    elif producer is not None:
        index, attempt = producer
        optimizer |= {"value": attempt.method}
        if index > 0:
            optimizer["sub"] = f"fallback link {index + 1} of {len(data.attempts)}"
    gross, net = nansum(r[WEIGHT] for r in rows), nansum(r[NET_WEIGHT] for r in rows)
    return [
        {"key": "Regime", "badge": badge(data.regime)},
        optimizer,
        {"key": "HTR stage", "value": f"{data.stage_reached} of 4", "sub": HTR_STAGES.get(data.stage_reached, "")},
        {"key": "Assets", "value": str(len(rows)), "sub": f"{longs} long, {shorts} short"},
        {"key": "Gross / net", "value": f"{pct(gross)} / {pct(net)}"},
    ]


def weight_rows(weights: pl.DataFrame) -> list[dict[str, Any]]:
    """Weight rows sorted by gross weight descending (NaN/null last, ties by symbol); [] for an empty frame."""
    if weights.height == 0:
        return []
    missing = [c for c in WEIGHT_COLUMNS if c not in weights.columns]
    if missing:
        msg = (
            f"tearsheet weights frame lacks columns {missing} (has {weights.columns}); expected {list(WEIGHT_COLUMNS)}"
        )
        raise TearsheetError(msg)
    rows = list(weights.select(WEIGHT_COLUMNS).iter_rows(named=True))
    return sorted(rows, key=lambda r: (-_sort_value(r[WEIGHT]), str(r[SYMBOL])))


def _sort_value(value: Any) -> float:
    return float(value) if is_finite(value) else -math.inf


def _direction_class(direction: str) -> str:
    return "dir-short" if direction == SHORT else "dir-long" if direction == LONG else ""


def weights_section(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The weights table and the net-weights chart; None without weights."""
    if not rows:
        return None
    items = [
        {
            "symbol": r[SYMBOL],
            "direction": r[DIRECTION] or NA,
            "cls": _direction_class(str(r[DIRECTION] or "")),
            "weight": pct(r[WEIGHT]),
            "net": pct(r[NET_WEIGHT]),
            "cluster": text_or_na(r[CLUSTER]),
            "optimizer": text_or_na(r[OPTIMIZER]),
            "fallback": "yes" if r[FALLBACK] else ("no" if r[FALLBACK] is not None else NA),
        }
        for r in rows
    ]
    chart = figure(
        "Net weights: longs positive, shorts negative.",
        plots.net_weights_svg,
        [str(r[SYMBOL]) for r in rows],
        [to_float(r[NET_WEIGHT]) for r in rows],
        [str(r[DIRECTION] or "") for r in rows],
    )
    gross, net = nansum(r[WEIGHT] for r in rows), nansum(r[NET_WEIGHT] for r in rows)
    return {"rows": items, "gross": pct(gross), "net": pct(net), "chart": chart}


def risk_section(data: TearsheetData, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Risk contributions per asset (and per unit of weight) with their chart; None without any."""
    rc = dict(data.risk_contributions)
    if not rc:
        return None
    weight_of = {str(r[SYMBOL]): r[WEIGHT] for r in rows}
    items = sorted(rc.items(), key=lambda kv: (-_sort_value(kv[1]), kv[0]))
    table = []
    for symbol, share in items:
        weight = weight_of.get(symbol)
        per = to_float(share) / to_float(weight) if is_finite(weight) and to_float(weight) != 0.0 else math.nan
        table.append({"symbol": symbol, "weight": pct(weight), "share": pct(share), "ratio": fmt(per, 2)})
    chart = figure(
        "Share of portfolio variance per asset (negative = diversifying).",
        plots.risk_contributions_svg,
        [s for s, _ in items],
        [to_float(v) for _, v in items],
    )
    return {"rows": table, "total": pct(nansum(v for _, v in items)), "chart": chart}


def clusters_section(data: TearsheetData, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The correlation heatmap (or why it is omitted) and one row per HTR cluster."""
    held = {str(r[SYMBOL]): r for r in rows}
    cluster_of: dict[str, int] = {}
    for cid, members in data.clusters.items():
        for member in members:
            cluster_of.setdefault(str(member), int(cid))
    symbols = [str(s) for s in data.corr_symbols]
    corr = np.asarray(data.corr, dtype=np.float64)
    heatmap, problem = None, ""
    if not symbols or corr.size == 0:
        problem = "empty"
    elif corr.shape != (len(symbols), len(symbols)):
        problem = f"Correlation matrix shape {corr.shape} does not match {len(symbols)} symbols; heatmap omitted."
    else:
        order_clusters = [cluster_of.get(s, int_or_none(held.get(s, {}).get(CLUSTER))) for s in symbols]
        how = f"{data.linkage} linkage, as HRP" if data.linkage else "dendrogram"
        heatmap = figure(
            f"Pairwise correlation, symbols in dendrogram order ({how}); outlined blocks are the HTR clusters.",
            plots.correlation_heatmap_svg,
            symbols,
            corr,
            order_clusters,
        )
    table = []
    for cid in sorted(data.clusters, key=int):
        members = [str(m) for m in data.clusters[cid]]
        inside = [r for r in rows if int_or_none(r[CLUSTER]) == int(cid)]
        table.append(
            {
                "id": int(cid),
                "size": len(members),
                "held": len(inside),
                "gross": pct(nansum(r[WEIGHT] for r in inside)),
                "net": pct(nansum(r[NET_WEIGHT] for r in inside)),
                "members": [(m, m in held) for m in members],
            }
        )
    return {"heatmap": heatmap, "problem": problem, "rows": table}


def _stage_text(stage: int) -> str:
    name = HTR_STAGES.get(stage)
    return f"{stage} of 4 — {name}" if name else str(stage)


def funnel_section(data: TearsheetData) -> dict[str, Any]:
    """The selection funnel: survivors after each gate, the stage reached, the relaxations."""
    out: dict[str, Any] = {"stage": _stage_text(data.stage_reached), "rows": [], "chart": None}
    out["relaxations"] = list(data.relaxations)
    if not data.funnel:
        return out
    stages = [str(s) for s in data.funnel]
    counts = [data.funnel[s] for s in data.funnel]
    first = to_float(counts[0])
    for i, (stage, count) in enumerate(zip(stages, counts, strict=True)):
        prev = to_float(counts[i - 1]) if i else math.nan
        out["rows"].append(
            {
                "stage": stage,
                "count": f"{int(count):,}" if is_finite(count) else NA,
                "of_first": pct(to_float(count) / first if first else math.nan, 1),
                "of_prev": pct(to_float(count) / prev if i and prev else math.nan, 1),
            }
        )
    out["chart"] = figure("Survivors after each gate.", plots.funnel_svg, stages, [to_float(c) for c in counts])
    return out


def regime_section(data: TearsheetData) -> dict[str, Any]:
    """The regime badge and its metrics."""
    return {
        "badge": badge(data.regime),
        "metrics": [(str(k).replace("_", " "), metric_cell(str(k), v)) for k, v in data.regime_metrics.items()],
    }


def equity_section(data: TearsheetData) -> dict[str, Any]:
    """The in-sample equity below the out-of-sample headline: its metrics (the same definitions) and chart."""
    dates = [day(d) for d in data.dates]
    equity = np.asarray(data.equity, dtype=np.float64).ravel()
    drawdown = np.asarray(data.drawdown, dtype=np.float64).ravel()
    n = min(len(dates), equity.size, drawdown.size)
    metrics = [
        (M.LABELS.get(str(k), str(k).replace("_", " ")), metric_cell(str(k), v)) for k, v in data.metrics.items()
    ]
    out: dict[str, Any] = {"metrics": metrics, "chart": None, "warn": "", "span": ""}
    if n == 0:
        return out
    if not len(dates) == equity.size == drawdown.size:
        out["warn"] = (
            f"Lengths differ: {len(dates)} dates, {equity.size} equity points, {drawdown.size} drawdown points; "
            f"showing the first {n}."
        )
    out["span"] = f"{dates[0]} → {dates[n - 1]} · {n:,} days"
    out["chart"] = figure(
        "Equity of the chosen portfolio over its own training window (starts at 1.0) and its drawdown.",
        plots.equity_drawdown_svg,
        dates[:n],
        equity[:n],
        drawdown[:n],
    )
    return out


def _producer(attempts: Sequence[OptimizerAttempt]) -> tuple[int, OptimizerAttempt] | None:
    """The first attempt that succeeded (the link that produced the weights) and its index."""
    return next(((i, a) for i, a in enumerate(attempts) if a.ok), None)


def fallbacks_section(data: TearsheetData) -> dict[str, Any]:
    """The optimizer's fallback chain: every attempt, the one that produced the weights and why the others failed."""
    attempts = list(data.attempts)
    producer = _producer(attempts)
    verdict: dict[str, Any] | None = None
    if attempts and producer is not None:
        index, winner = producer
        failed = [a for a in attempts[:index] if not a.ok]
        why = "; ".join(f"{a.method}: {a.reason or 'no reason given'}" for a in failed)
        verdict = {"method": winner.method, "link": index + 1, "failed": len(failed), "why": why}
    rows = []
    for i, a in enumerate(attempts):
        if producer is not None and i == producer[0]:
            cls, outcome = "producer", "✔ produced the weights"
        else:
            cls, outcome = ("", "✔ ok") if a.ok else ("fail", "✘ failed")
        rows.append({"n": i + 1, "method": a.method, "cls": cls, "outcome": outcome, "reason": a.reason})
        rows[-1]["seconds"] = fmt(a.seconds, 3)
    return {"rows": rows, "verdict": verdict, "total": len(attempts), "notes": list(data.notes)}

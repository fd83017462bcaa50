"""The self-contained HTML tearsheet of one sleeve run (`report.html`), rendered from a `TearsheetData`.

The page leads with the truth: its first screen is the walk-forward, out of sample — the headline metrics
(`dataflows.validation.metrics`: CAGR, volatility, Sharpe, Sortino, max drawdown, Calmar, hit rate, total return)
of the profile book beside its benchmark (`profile.benchmark`: the equal-weight pool or a symbol bought and held),
the equity of both and their drawdowns — then the monthly returns (year × month, and the year), rolling Sharpe and
volatility, the worst drawdowns, the exposure over time and the walk-forward's own details (books, alphas, every
window, forensics). Below come the in-sample details: weights, risk contributions, clusters (correlation heatmap in
the profile's dendrogram order), selection funnel, regime, the in-sample equity and the optimizer's fallback chain.
Without a backtest (`flow.skip_validation=true`) the page says so at the top and leads with the in-sample stream,
labelled "in-sample".

One file, no network: the template (`templates/tearsheet.html`, Jinja2 with autoescaping: every string from the
data is escaped) inlines the CSS, charts are inline SVG (`dataflows.report.plots`), there are no scripts. Dates are
days (YYYY-MM-DD). The page is deterministic (no render timestamp), so identical data gives identical bytes.
Degenerate inputs (no weights, one asset, NaN metrics, empty sections) render an explicit message instead of
failing; a chart that cannot be drawn is replaced by a visible error box (and a logged warning).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from dataflows.columns import DIRECTION, LONG, SHORT, SYMBOL
from dataflows.errors import DataflowsError
from dataflows.lakehouse.atomic import write_bytes
from dataflows.report import plots
from dataflows.report.data import (
    BACKTEST_BOOKS,
    IN_SAMPLE,
    OUT_OF_SAMPLE,
    POOL,
    BacktestView,
    OptimizerAttempt,
    Performance,
    TearsheetData,
)
from dataflows.report.page import NA, day, figure, fmt, headline_rows, is_finite, metric_text, pct, ratio, render
from dataflows.validation import metrics as M

log = logging.getLogger(__name__)

WEIGHT = "weight"
NET_WEIGHT = "net_weight"
CLUSTER = "cluster"
OPTIMIZER = "optimizer"
FALLBACK = "fallback"
WEIGHT_COLUMNS = (SYMBOL, DIRECTION, WEIGHT, NET_WEIGHT, CLUSTER, OPTIMIZER, FALLBACK)
ROLLING = 63  # rows of the rolling Sharpe and volatility (a quarter of trading days)
WORST = 5  # drawdown episodes listed

HTR_STAGES = {
    0: "no atom had features",
    1: "strict",
    2: "spectral relaxation",
    3: "cluster floor",
    4: "leader fallback",
}
_REGIME_CLASS = {"QUIET": "quiet", "NORMAL": "normal", "TURBULENT": "turbulent", "CRISIS": "crisis"}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# Metric names are matched on these fragments (ratios first) to choose a format; anything else prints as a number.
_RATIO_HINTS = ("sharpe", "sortino", "calmar", "ratio", "skew", "kurt", "hurst", "beta", "corr", "score", "adx")
_PERCENT_HINTS = ("return", "vol", "drawdown", "cagr", "cvar", "var_", "exposure", "turnover", "weight", "hit")


class TearsheetError(DataflowsError):
    """The tearsheet data breaks its contract (e.g. a non-empty weights frame without the required columns)."""


def render_tearsheet(data: TearsheetData, path: Path) -> Path:
    """Render `data` to one self-contained HTML file at `path` (written atomically); returns `path`."""
    path = Path(path)
    write_bytes(path, tearsheet_html(data).encode("utf-8"))
    return path


def tearsheet_html(data: TearsheetData) -> str:
    """The tearsheet as an HTML string."""
    rows = _weight_rows(data.weights)
    lead = data.performance or derived_performance(data)
    cut = _rows(lead)
    bt = data.backtest
    sections = {
        "lead": _lead(lead, cut, bt),
        "monthly": _monthly(lead, cut),
        "rolling": _rolling(lead, cut),
        "drawdowns": _drawdowns(cut),
        "exposure": _exposure(lead, cut),
        "backtest": _backtest(bt) if bt is not None else None,
        "weights": _weights(rows),
        "risk": _risk(data, rows),
        "clusters": _clusters(data, rows),
        "funnel": _funnel(data),
        "regime": _regime(data),
        "equity": _equity(data) if lead.sample != IN_SAMPLE else None,
        "fallbacks": _fallbacks(data),
    }
    links = [
        ("performance", "Out of sample" if lead.sample == OUT_OF_SAMPLE else "In-sample"),
        ("monthly", "Monthly"),
        ("rolling", "Rolling"),
        ("drawdowns", "Drawdowns"),
        *((("exposure", "Exposure"),) if sections["exposure"] else ()),
        *((("backtest", "Walk-forward"),) if bt is not None else ()),
        ("weights", "Weights"),
        ("clusters", "Clusters"),
        ("funnel", "Selection"),
        ("fallbacks", "Fallbacks"),
    ]
    return render(
        "tearsheet.html",
        data=data,
        facts=_facts(data, rows),
        links=links,
        in_sample_only=lead.sample == IN_SAMPLE,
        **sections,
    )


def derived_performance(data: TearsheetData) -> Performance:
    """The lead when the nodes did not set one: the backtest's profile book against the raw EW book, else the
    in-sample stream recovered from its equity curve (no benchmark)."""
    bt = data.backtest
    if bt is not None:
        empty = np.empty(0)
        return Performance(
            OUT_OF_SAMPLE,
            list(bt.dates),
            np.asarray(bt.returns.get("profile", empty), dtype=np.float64),
            POOL,
            np.asarray(bt.returns.get("raw_ew", empty), dtype=np.float64),
            bt.periods_per_year,
        )
    equity = np.asarray(data.equity, dtype=np.float64).ravel()
    returns = equity / np.concatenate([[1.0], equity[:-1]]) - 1.0 if equity.size else equity
    return Performance(IN_SAMPLE, list(data.dates), returns, "", np.empty(0))


# ------------------------------------------------------------------------------------------------------ the lead


Rows = tuple[list[str], np.ndarray, np.ndarray, str]


def _rows(lead: Performance) -> Rows:
    """Days, returns and benchmark returns cut to a common length, and a warning when the lengths differ."""
    dates = [day(d) for d in lead.dates]
    r = np.asarray(lead.returns, dtype=np.float64).ravel()
    b = np.asarray(lead.benchmark_returns, dtype=np.float64).ravel()
    n = min(len(dates), r.size, *([b.size] if b.size else []))
    sizes = {len(dates), r.size, *([b.size] if b.size else [])}
    warn = ""
    if len(sizes) > 1:
        warn = (
            f"Lengths differ: {len(dates)} dates, {r.size} returns, {b.size} benchmark returns; showing the first {n}."
        )
    return dates[:n], r[:n], b[:n] if b.size else b, warn


def _lead(lead: Performance, cut: Rows, bt: BacktestView | None) -> dict[str, Any]:
    dates, r, b, warn = cut
    out_of_sample = lead.sample == OUT_OF_SAMPLE
    title = "Out of sample: the walk-forward" if out_of_sample else "In-sample: the training window"
    if not dates:
        return {"title": title, "empty": True, "notes": lead.notes, "warn": warn}
    span = f"{dates[0]} → {dates[-1]} · {len(dates):,} days"
    if out_of_sample and bt is not None and bt.windows:
        span += f" · {len(bt.windows)} windows"
    columns = {"this sleeve": M.series_metrics(r, lead.periods_per_year)}
    if b.size:
        columns[lead.benchmark] = M.series_metrics(b, lead.periods_per_year)
    what = "the walk-forward's profile book" if out_of_sample else "in-sample"
    caption = f"Growth of 1.0 of the sleeve ({what})" + (" and of the benchmark" if b.size else "") + "; drawdowns."
    return {
        "title": title,
        "empty": False,
        "span": span,
        "benchmark": lead.benchmark if b.size else "none",
        "notes": lead.notes,
        "warn": warn,
        "columns": list(columns),
        "headline": headline_rows(columns),
        "chart": figure(
            caption,
            plots.performance_svg,
            dates,
            r,
            b,
            ("this sleeve", lead.benchmark),
            "Equity and drawdown, " + ("out of sample" if out_of_sample else "in-sample"),
        ),
    }


def _signed(value: float, decimals: int = 1) -> dict[str, str]:
    """A return as text and its colour class."""
    if not is_finite(value):
        return {"text": "", "cls": ""}
    return {"text": pct(value, decimals), "cls": "gain" if value > 0 else "loss" if value < 0 else ""}


def _days(dates: Sequence[str]) -> np.ndarray | None:
    """Dates as datetime64[D], or None when any does not parse."""
    try:
        return np.array([day(d) for d in dates], dtype="datetime64[D]")
    except ValueError:
        return None


def _monthly(lead: Performance, cut: Rows) -> dict[str, Any]:
    dates, r, b, _ = cut
    days = _days(dates)
    if not dates or days is None:
        return {"rows": [], "why": "no dated rows" if not dates else "the dates do not parse as days"}
    years, table, yearly = M.monthly_returns(days, r)
    bench = dict(zip(*M.monthly_returns(days, b)[::2], strict=True)) if b.size else {}
    rows = [
        {
            "year": year,
            "months": [_signed(v) for v in table[i]],
            "total": _signed(yearly[i]),
            "benchmark": _signed(bench.get(year, math.nan)),
        }
        for i, year in enumerate(years)
    ]
    return {"rows": rows, "months": _MONTHS, "benchmark": bool(bench), "label": lead.benchmark, "why": ""}


def _rolling(lead: Performance, cut: Rows) -> dict[str, Any]:
    dates, r, b, _ = cut
    n = len(dates)
    window = ROLLING if n >= 2 * ROLLING else n // 3
    if window < 5:
        return {"chart": None, "why": f"too few rows ({n}) for a rolling window"}
    ppy = lead.periods_per_year
    streams = [("this sleeve", r, plots.EQUITY_COLOR)] + (
        [(lead.benchmark, b, plots.BENCHMARK_COLOR)] if b.size else []
    )
    panels = [
        (f"{window}-day Sharpe", False, [(lab, M.rolling_sharpe(x, window, ppy), c) for lab, x, c in streams]),
        (f"{window}-day volatility", True, [(lab, M.rolling_vol(x, window, ppy), c) for lab, x, c in streams]),
    ]
    caption = f"Sharpe and annual volatility of the last {window} days (the headline's definitions)."
    return {"chart": figure(caption, plots.rolling_svg, dates, panels), "why": ""}


def _drawdowns(cut: Rows) -> dict[str, Any]:
    """The worst episodes: start = the last day at the high, lengths in calendar days (rows if dates do not parse)."""
    dates, r, _, _ = cut
    days = _days(dates)

    def span(a: int, b: int) -> int:
        return int((days[b] - days[a]).astype(int)) if days is not None else b - a

    rows = []
    for k, d in enumerate(M.drawdown_periods(r, WORST), 1):
        start, end = max(d.peak, 0), d.recovery if d.recovery is not None else len(dates) - 1
        rows.append(
            {
                "rank": k,
                "start": dates[start],
                "trough": dates[d.trough],
                "recovery": dates[d.recovery] if d.recovery is not None else "not recovered",
                "open": d.recovery is None,
                "depth": pct(-d.depth),
                "length": f"{span(start, end):,}" + ("+" if d.recovery is None else ""),
                "to_trough": f"{span(start, d.trough):,}",
            }
        )
    return {"rows": rows, "unit": "days" if days is not None else "rows"}


def _exposure(lead: Performance, cut: Rows) -> dict[str, Any] | None:
    dates = cut[0]
    gross, net = np.asarray(lead.gross, dtype=np.float64), np.asarray(lead.net, dtype=np.float64)
    if not dates or gross.size < len(dates) or net.size < len(dates):
        return None
    caption = "Sum of |target weights| (gross) and of signed targets (net) set at each rebalance; 0 = cash."
    return {"chart": figure(caption, plots.exposure_svg, dates, gross, net)}


# ---------------------------------------------------------------------------------------------------------- header


def _badge(regime: Any) -> dict[str, str]:
    return {"label": str(regime or "UNKNOWN"), "cls": _REGIME_CLASS.get(str(regime).upper(), "unknown")}


def _facts(data: TearsheetData, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
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
    gross, net = _nansum(r[WEIGHT] for r in rows), _nansum(r[NET_WEIGHT] for r in rows)
    return [
        {"key": "Regime", "badge": _badge(data.regime)},
        optimizer,
        {"key": "HTR stage", "value": f"{data.stage_reached} of 4", "sub": HTR_STAGES.get(data.stage_reached, "")},
        {"key": "Assets", "value": str(len(rows)), "sub": f"{longs} long, {shorts} short"},
        {"key": "Gross / net", "value": f"{pct(gross)} / {pct(net)}"},
    ]


# --------------------------------------------------------------------------------------------------------- weights


def _weight_rows(weights: pl.DataFrame) -> list[dict[str, Any]]:
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


def _weights(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not rows:
        return None
    items = [
        {
            "symbol": r[SYMBOL],
            "direction": r[DIRECTION] or NA,
            "cls": _direction_class(str(r[DIRECTION] or "")),
            "weight": pct(r[WEIGHT]),
            "net": pct(r[NET_WEIGHT]),
            "cluster": _text(r[CLUSTER]),
            "optimizer": _text(r[OPTIMIZER]),
            "fallback": "yes" if r[FALLBACK] else ("no" if r[FALLBACK] is not None else NA),
        }
        for r in rows
    ]
    chart = figure(
        "Net weights: longs positive, shorts negative.",
        plots.net_weights_svg,
        [str(r[SYMBOL]) for r in rows],
        [_float(r[NET_WEIGHT]) for r in rows],
        [str(r[DIRECTION] or "") for r in rows],
    )
    gross, net = _nansum(r[WEIGHT] for r in rows), _nansum(r[NET_WEIGHT] for r in rows)
    return {"rows": items, "gross": pct(gross), "net": pct(net), "chart": chart}


def _risk(data: TearsheetData, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    rc = dict(data.risk_contributions)
    if not rc:
        return None
    weight_of = {str(r[SYMBOL]): r[WEIGHT] for r in rows}
    items = sorted(rc.items(), key=lambda kv: (-_sort_value(kv[1]), kv[0]))
    table = []
    for symbol, share in items:
        weight = weight_of.get(symbol)
        per = _float(share) / _float(weight) if is_finite(weight) and _float(weight) != 0.0 else math.nan
        table.append({"symbol": symbol, "weight": pct(weight), "share": pct(share), "ratio": fmt(per, 2)})
    chart = figure(
        "Share of portfolio variance per asset (negative = diversifying).",
        plots.risk_contributions_svg,
        [s for s, _ in items],
        [_float(v) for _, v in items],
    )
    return {"rows": table, "total": pct(_nansum(v for _, v in items)), "chart": chart}


def _clusters(data: TearsheetData, rows: list[dict[str, Any]]) -> dict[str, Any]:
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
        order_clusters = [cluster_of.get(s, _int_or_none(held.get(s, {}).get(CLUSTER))) for s in symbols]
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
        inside = [r for r in rows if _int_or_none(r[CLUSTER]) == int(cid)]
        table.append(
            {
                "id": int(cid),
                "size": len(members),
                "held": len(inside),
                "gross": pct(_nansum(r[WEIGHT] for r in inside)),
                "net": pct(_nansum(r[NET_WEIGHT] for r in inside)),
                "members": [(m, m in held) for m in members],
            }
        )
    return {"heatmap": heatmap, "problem": problem, "rows": table}


def _stage_text(stage: int) -> str:
    name = HTR_STAGES.get(stage)
    return f"{stage} of 4 — {name}" if name else str(stage)


def _funnel(data: TearsheetData) -> dict[str, Any]:
    out: dict[str, Any] = {"stage": _stage_text(data.stage_reached), "rows": [], "chart": None}
    out["relaxations"] = list(data.relaxations)
    if not data.funnel:
        return out
    stages = [str(s) for s in data.funnel]
    counts = [data.funnel[s] for s in data.funnel]
    first = _float(counts[0])
    for i, (stage, count) in enumerate(zip(stages, counts, strict=True)):
        prev = _float(counts[i - 1]) if i else math.nan
        out["rows"].append(
            {
                "stage": stage,
                "count": f"{int(count):,}" if is_finite(count) else NA,
                "of_first": pct(_float(count) / first if first else math.nan, 1),
                "of_prev": pct(_float(count) / prev if i and prev else math.nan, 1),
            }
        )
    out["chart"] = figure("Survivors after each gate.", plots.funnel_svg, stages, [_float(c) for c in counts])
    return out


def _regime(data: TearsheetData) -> dict[str, Any]:
    return {
        "badge": _badge(data.regime),
        "metrics": [(str(k).replace("_", " "), _metric(str(k), v)) for k, v in data.regime_metrics.items()],
    }


def _equity(data: TearsheetData) -> dict[str, Any]:
    """The in-sample equity below the out-of-sample lead: its metrics (the same definitions) and chart."""
    dates = [day(d) for d in data.dates]
    equity = np.asarray(data.equity, dtype=np.float64).ravel()
    drawdown = np.asarray(data.drawdown, dtype=np.float64).ravel()
    n = min(len(dates), equity.size, drawdown.size)
    metrics = [(M.LABELS.get(str(k), str(k).replace("_", " ")), _metric(str(k), v)) for k, v in data.metrics.items()]
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


def _fallbacks(data: TearsheetData) -> dict[str, Any]:
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


# -------------------------------------------------------------------------------------------------------- backtest

_BOOK_NAMES = {"profile": "profile", "filtered_ew": "filtered EW", "raw_ew": "raw EW"}
_BACKTEST_METRICS = (*M.KEYS, "turnover_per_rebalance", "annual_turnover", "costs_total")


def _books(bt: BacktestView) -> list[str]:
    """Books to show: the known ones in display order, then any other the view carries."""
    seen = set(bt.metrics) | set(bt.equity)
    return [b for b in BACKTEST_BOOKS if b in seen] + sorted(seen - set(BACKTEST_BOOKS))


def _book_name(book: str) -> str:
    return _BOOK_NAMES.get(book, book)


def _cell(value: Any) -> str:
    """Text of a table value; None and non-finite floats as n/a."""
    if value is None or (isinstance(value, float | np.floating) and not math.isfinite(float(value))):
        return NA
    return str(value)


def _book_metric(name: str, value: Any) -> str:
    if "cost" in name or "fee" in name or "slippage" in name:
        return pct(value, 3)
    if any(h in name.lower() for h in _RATIO_HINTS):
        return ratio(value)
    return _metric(name, value)


def _flag_reasons(bt: BacktestView) -> dict[int, list[str]]:
    """Window index → "book: reason" lines of the forensic report."""
    out: dict[int, list[str]] = {}
    for f in bt.flags:
        w = _int_or_none(f.get("window"))
        if w is None:
            continue
        reasons = f.get("reasons") or ["flagged"]
        out.setdefault(w, []).append(f"{_book_name(str(f.get('book', '?')))}: {'; '.join(map(str, reasons))}")
    return out


def _failed(bt: BacktestView) -> set[int]:
    failed = {int(w) for w in bt.failed_windows}
    return failed | {w for rec in bt.windows if rec.get("error") and (w := _int_or_none(rec.get("window"))) is not None}


def _with_fallback(bt: BacktestView) -> set[int]:
    fb = {int(w) for w in bt.fallback_windows}
    return fb | {
        w for rec in bt.windows if rec.get("fallback_used") and (w := _int_or_none(rec.get("window"))) is not None
    }


def _backtest(bt: BacktestView) -> dict[str, Any]:
    """The walk-forward's details: setup, every book, alphas, every window, forensics."""
    flagged, failed, fallback = _flag_reasons(bt), _failed(bt), _with_fallback(bt)
    return {
        "summary": _backtest_summary(bt, flagged, failed, fallback),
        "charts": _backtest_charts(bt, flagged),
        "metrics": _backtest_metrics(bt),
        "alpha": _alpha(bt),
        "windows": _windows(bt, flagged, failed, fallback),
        "forensic": _forensic(bt, flagged, failed, fallback),
    }


def _backtest_summary(bt: BacktestView, flagged: dict, failed: set[int], fallback: set[int]) -> list[tuple[str, str]]:
    p = bt.params
    setup = NA
    if {"train", "test", "step"} <= set(p):
        setup = (
            f"train {p['train']} / test {p['test']} / step {p['step']} rows"
            + (" (anchored)" if p.get("anchored") else "")
            + f" · fees {pct(p.get('fees'), 3)} · slippage {pct(p.get('slippage'), 3)}"
            + (f" · eligibility {p['eligibility']}" if p.get("eligibility") else "")
        )
    profile = bt.metrics.get("profile", {})
    return [
        ("period", f"{day(bt.dates[0])} → {day(bt.dates[-1])}" if bt.dates else NA),
        ("rows", f"{len(bt.dates):,}"),
        ("windows", f"{len(bt.windows):,}"),
        ("failed windows (cash)", f"{len(failed):,}"),
        ("windows with a fallback", f"{len(fallback):,}"),
        ("flagged windows", f"{len(flagged):,}"),
        ("profile total return", pct(profile.get("total_return"))),
        ("profile Sharpe", ratio(profile.get("sharpe"))),
        ("setup", setup),
    ]


def _backtest_charts(bt: BacktestView, flagged: dict) -> dict[str, Any]:
    dates = [day(d) for d in bt.dates]
    curves = {b: np.asarray(bt.equity[b], dtype=np.float64).ravel() for b in _books(bt) if b in bt.equity}
    drawdown = np.asarray(bt.drawdown, dtype=np.float64).ravel()
    n = min([len(dates), drawdown.size, *(c.size for c in curves.values())])
    out: dict[str, Any] = {"equity": None, "windows": None, "warn": ""}
    if n == 0:
        return out
    if any(c.size != len(dates) for c in curves.values()) or drawdown.size != len(dates):
        sizes = ", ".join(f"{_book_name(b)} {c.size}" for b, c in curves.items())
        out["warn"] = (
            f"Lengths differ: {len(dates)} dates, equity {sizes}, {drawdown.size} drawdown points; "
            f"showing the first {n}."
        )
    starts = [day(rec.get("test_start")) for rec in bt.windows if rec.get("test_start")]
    out["equity"] = figure(
        "Stitched out-of-sample equity of the profile and the two equal-weight baselines (dotted lines: window "
        "starts), and the profile's drawdown.",
        plots.backtest_equity_svg,
        dates[:n],
        {b: c[:n] for b, c in curves.items()},
        drawdown[:n],
        starts,
    )
    if bt.windows:
        books = _books(bt)
        out["windows"] = figure(
            "Total return of each test window per book; ▼ marks a window the forensic report flags.",
            plots.window_returns_svg,
            [day(rec.get("test_start") or NA) for rec in bt.windows],
            {b: np.array([_float(rec.get(f"{b}_total_return")) for rec in bt.windows]) for b in books},
            [_int_or_none(rec.get("window")) in flagged for rec in bt.windows],
        )
    return out


def _backtest_metrics(bt: BacktestView) -> dict[str, Any]:
    books = [b for b in _books(bt) if b in bt.metrics]
    keys = [k for k in _BACKTEST_METRICS if any(k in bt.metrics[b] for b in books)]
    keys += sorted({k for b in books for k in bt.metrics[b]} - set(keys) - {"rows"})
    rows = [
        (M.LABELS.get(k, k.replace("_", " ")), [_book_metric(k, bt.metrics[b].get(k)) for b in books]) for k in keys
    ]
    for label, values in (("turnover (sum)", bt.turnover), ("costs (sum)", bt.costs)):
        if values:
            rows.append((label, [_book_metric(label, values.get(b)) for b in books]))
    return {"books": [_book_name(b) for b in books], "rows": rows}


def _alpha(bt: BacktestView) -> list[tuple[str, str, str]]:
    keys = list(dict.fromkeys([*bt.selection_alpha, *bt.optimization_alpha]))
    return [
        (
            k.replace("_", " "),
            _book_metric(k, bt.selection_alpha.get(k)),
            _book_metric(k, bt.optimization_alpha.get(k)),
        )
        for k in keys
    ]


def _windows(bt: BacktestView, flagged: dict, failed: set[int], fallback: set[int]) -> list[dict[str, Any]]:
    out = []
    for rec in bt.windows:
        w = _int_or_none(rec.get("window"))
        classes, status = [], []
        if w in failed:
            classes.append("fail")
            status.append(f"✘ cash: {rec.get('error') or 'failed'}")
        if w in flagged:
            classes.append("flagged")
            status.append("⚑ flagged — " + " | ".join(flagged[w]))
        if w in fallback and w not in failed:
            classes.append("fallback")
        method, primary = rec.get("method"), rec.get("primary")
        switched = bool(rec.get("fallback_used") and primary and method and primary != method)
        out.append(
            {
                "id": _cell(w),
                "cls": " ".join(classes),
                "start": day(rec.get("test_start")),
                "end": day(rec.get("test_end")),
                "rows": _cell(rec.get("test_rows")) + (" (partial)" if rec.get("partial") else ""),
                "cells": [
                    pct(rec.get("profile_total_return")),
                    ratio(rec.get("profile_sharpe")),
                    pct(rec.get("filtered_ew_total_return")),
                    pct(rec.get("raw_ew_total_return")),
                    pct(rec.get("selection_alpha")),
                    pct(rec.get("optimization_alpha")),
                    pct(rec.get("profile_turnover")),
                    pct(rec.get("profile_costs"), 3),
                    _cell(rec.get("stage")),
                ],
                "regime": _badge(rec["regime"]) if rec.get("regime") else None,
                "optimizer": f"{primary} → {method}" if switched else (method or NA),
                "switched": switched,
                "fallback": w in fallback,
                "status": status,
            }
        )
    return out


def _forensic(bt: BacktestView, flagged: dict, failed: set[int], fallback: set[int]) -> dict[str, Any]:
    t = bt.thresholds
    rule = (
        f"|annualized Sharpe| > {fmt(t.get('abs_sharpe'), 1)} or window return > {pct(t.get('total_return'), 0)}"
        if t
        else "the forensic thresholds"
    )
    flags = [
        {
            "window": _cell(f.get("window")),
            "book": _book_name(str(f.get("book"))),
            "start": day(f.get("test_start")),
            "end": day(f.get("test_end")),
            "return": pct(f.get("total_return")),
            "sharpe": ratio(f.get("sharpe")),
            "reasons": "; ".join(map(str, f.get("reasons") or [])),
        }
        for f in bt.flags
    ]
    by_window = {_int_or_none(rec.get("window")): rec for rec in bt.windows}

    def field(w: int, key: str) -> str:
        value = by_window.get(w, {}).get(key)
        return day(value) if key == "test_start" else _cell(value)

    return {
        "rule": rule,
        "flags": flags,
        "flagged_windows": len(flagged),
        "fallback": [
            (w, field(w, "test_start"), field(w, "primary"), field(w, "method"), field(w, "attempts"))
            for w in sorted(fallback)
        ],
        "failed": [(w, field(w, "test_start"), field(w, "error")) for w in sorted(failed)],
        "windows": len(bt.windows),
    }


# --------------------------------------------------------------------------------------------------------- helpers


def _metric(name: str, value: Any) -> str:
    """Format a metric by its name: headline metrics as everywhere, ratios with 2 decimals, returns/vols/drawdowns
    as percentages."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if not is_finite(value):
        return NA if value is None or isinstance(value, float | np.floating) else str(value)
    key = name.lower()
    if key in M.LABELS:
        return metric_text(key, value)
    if any(h in key for h in _RATIO_HINTS):
        return fmt(value, 2)
    if any(h in key for h in _PERCENT_HINTS):
        return pct(value)
    v = float(value)
    return f"{v:,.4g}" if abs(v) < 1e6 else f"{v:,.0f}"


def _float(value: Any) -> float:
    return float(value) if is_finite(value) else math.nan


def _int_or_none(value: Any) -> int | None:
    return int(value) if is_finite(value) else None


def _nansum(values: Any) -> float:
    finite = [float(v) for v in values if is_finite(v)]
    return math.fsum(finite) if finite else math.nan


def _text(value: Any) -> str:
    return NA if value is None else str(value)

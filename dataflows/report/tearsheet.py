"""The self-contained HTML tearsheet of one sleeve run (`report.html`), rendered from a `TearsheetData`.

One file, no network: CSS is inline, charts are inline SVG (see `dataflows.report.plots`), there are no scripts,
fonts are the reader's own. Every string from the data is escaped with `html.escape`. The page is deterministic
(no render timestamp), so identical data gives identical bytes.

Sections: header (run identity, at-a-glance facts, headline metrics), weights, risk contributions, clusters
(correlation heatmap in dendrogram order), selection funnel (HTR stage, relaxations), regime, in-sample equity and
drawdown, optimizer fallback chain and notes, and — only when `data.backtest` is set — the walk-forward backtest
(out of sample: stitched equity of the profile and both equal-weight baselines, profile drawdown, metrics per book,
selection and optimization alpha, the per-window table and a forensic subsection). Degenerate inputs (no weights, one asset, NaN metrics, empty
sections) render an explicit message instead of failing; a chart that cannot be drawn is replaced by a visible
error box (and a logged warning) so the rest of the report survives.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from dataflows.columns import DIRECTION, LONG, SHORT, SYMBOL
from dataflows.errors import DataflowsError
from dataflows.lakehouse.atomic import write_bytes
from dataflows.report import plots
from dataflows.report.data import BACKTEST_BOOKS, BacktestView, OptimizerAttempt, TearsheetData
from dataflows.report.page import (
    CSS,
    NA,
    esc,
    fact_box,
    figure_html,
    fmt,
    is_finite,
    nav_links,
    pct,
    scroll_box,
    section,
    symbol_html,
)

log = logging.getLogger(__name__)

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
_REGIME_CLASS = {"QUIET": "quiet", "NORMAL": "normal", "TURBULENT": "turbulent", "CRISIS": "crisis"}
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
    sections = [
        _header(data, rows),
        _weights_section(rows),
        _risk_section(data, rows),
        _clusters_section(data, rows),
        _funnel_section(data),
        _regime_section(data),
        _equity_section(data),
        _fallback_section(data),
    ]
    css = CSS
    if data.backtest is not None:
        sections.append(_backtest_section(data.backtest))
        css += _BACKTEST_CSS
    body = "\n".join(sections)
    title = esc(data.title)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title} · {esc(data.run_id)}</title>\n<style>{css}</style>\n</head>\n<body>\n<main>\n"
        f"{body}\n"
        "<footer>portfolio-dataflows tearsheet · self-contained: no scripts, no network.</footer>\n"
        "</main>\n</body>\n</html>\n"
    )


# ---------------------------------------------------------------------------------------------------------- weights


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


def _weights_section(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return section(
            "weights",
            "Weights",
            '<div class="empty"><strong>No weights.</strong> This run produced an empty weights frame — '
            "see the fallback chain and notes below for why.</div>",
        )
    body = []
    for i, r in enumerate(rows, 1):
        direction = str(r[DIRECTION] or "")
        cls = "dir-short" if direction == SHORT else "dir-long" if direction == LONG else ""
        fb = r[FALLBACK]
        fb_cell = '<span class="flag">yes</span>' if fb else ("no" if fb is not None else NA)
        body.append(
            f'<tr><td class="num muted">{i}</td><td class="sym">{symbol_html(r[SYMBOL])}</td>'
            f'<td class="{cls}">{esc(direction or NA)}</td>'
            f'<td class="num">{pct(r[WEIGHT])}</td><td class="num {cls}">{pct(r[NET_WEIGHT])}</td>'
            f'<td class="num">{esc(_text(r[CLUSTER]))}</td><td>{esc(_text(r[OPTIMIZER]))}</td><td>{fb_cell}</td></tr>'
        )
    gross = _nansum(r[WEIGHT] for r in rows)
    net = _nansum(r[NET_WEIGHT] for r in rows)
    table = (
        '<table id="weights-table" class="data">'
        "<thead><tr><th class='num'>#</th><th>symbol</th><th>direction</th><th class='num'>weight</th>"
        "<th class='num'>net weight</th><th class='num'>cluster</th><th>optimizer</th><th>fallback</th></tr></thead>"
        f"<tbody>{''.join(body)}</tbody>"
        f"<tfoot><tr><td></td><td>total ({len(rows)})</td><td></td><td class='num'>{pct(gross)}</td>"
        f"<td class='num'>{pct(net)}</td><td></td><td></td><td></td></tr></tfoot></table>"
    )
    chart = figure_html(
        "Net weights: longs positive, shorts negative.",
        plots.net_weights_svg,
        [str(r[SYMBOL]) for r in rows],
        [_float(r[NET_WEIGHT]) for r in rows],
        [str(r[DIRECTION] or "") for r in rows],
    )
    return section("weights", "Weights", f"{scroll_box(table)}{chart}")


# ----------------------------------------------------------------------------------------------------------- header


def _header(data: TearsheetData, rows: list[dict[str, Any]]) -> str:
    longs = [r for r in rows if r[DIRECTION] == LONG]
    shorts = [r for r in rows if r[DIRECTION] == SHORT]
    producer = _producer(data.attempts)
    if producer is None:
        optimizer = '<span class="bad">none succeeded</span>' if data.attempts else NA
    else:
        index, attempt = producer
        suffix = f"<span class='sub'>fallback link {index + 1} of {len(data.attempts)}</span>" if index > 0 else ""
        optimizer = f"{esc(attempt.method)}{suffix}"
    facts = [
        ("Regime", _badge(data.regime)),
        ("Optimizer", optimizer),
        (
            "HTR stage",
            f"{esc(data.stage_reached)} of 4<span class='sub'>{esc(HTR_STAGES.get(data.stage_reached, ''))}</span>",
        ),
        ("Assets", f"{len(rows)}<span class='sub'>{len(longs)} long, {len(shorts)} short</span>"),
        ("Gross / net", f"{pct(_nansum(r[WEIGHT] for r in rows))} / {pct(_nansum(r[NET_WEIGHT] for r in rows))}"),
    ]
    fact_html = "".join(fact_box(k, v) for k, v in facts)
    metrics = (
        _kv_table(data.metrics, "headline-metrics")
        if data.metrics
        else '<p class="muted">No headline metrics recorded.</p>'
    )
    nav = nav_links(
        (
            ("weights", "Weights"),
            ("risk", "Risk"),
            ("clusters", "Clusters"),
            ("funnel", "Selection"),
            ("regime", "Regime"),
            ("equity", "Equity"),
            ("fallbacks", "Fallbacks"),
            *((("backtest", "Backtest"),) if data.backtest is not None else ()),
        )
    )
    return (
        '<header class="top">'
        f"<h1>{esc(data.title)}</h1>"
        f"<p class='ident'>run <code>{esc(data.run_id)}</code> · profile <strong>{esc(data.profile)}</strong> · "
        f"as of <strong>{esc(data.as_of)}</strong></p>"
        f"<div class='facts'>{fact_html}</div>"
        f"<h3>Headline metrics</h3>{metrics}"
        f"{nav}</header>"
    )


# ------------------------------------------------------------------------------------------------------------- risk


def _risk_section(data: TearsheetData, rows: list[dict[str, Any]]) -> str:
    rc = dict(data.risk_contributions)
    if not rc:
        return section("risk", "Risk contributions", '<p class="empty">No risk contributions recorded.</p>')
    weight_of = {str(r[SYMBOL]): r[WEIGHT] for r in rows}
    items = sorted(rc.items(), key=lambda kv: (-_sort_value(kv[1]), kv[0]))
    body = []
    for symbol, share in items:
        weight = weight_of.get(symbol)
        ratio = _float(share) / _float(weight) if is_finite(weight) and _float(weight) != 0.0 else math.nan
        body.append(
            f'<tr><td class="sym">{symbol_html(symbol)}</td><td class="num">{pct(weight)}</td>'
            f'<td class="num">{pct(share)}</td><td class="num">{fmt(ratio, 2)}</td></tr>'
        )
    table = (
        '<table id="risk-table" class="data"><thead><tr><th>symbol</th><th class="num">weight</th>'
        '<th class="num">risk share</th><th class="num" title="risk share ÷ weight">risk / weight</th></tr></thead>'
        f"<tbody>{''.join(body)}</tbody><tfoot><tr><td>total</td><td></td>"
        f"<td class='num'>{pct(_nansum(v for _, v in items))}</td><td></td></tr></tfoot></table>"
    )
    chart = figure_html(
        "Share of portfolio variance per asset (negative = diversifying).",
        plots.risk_contributions_svg,
        [s for s, _ in items],
        [_float(v) for _, v in items],
    )
    return section("risk", "Risk contributions", f'<div class="grid">{scroll_box(table)}{chart}</div>')


# --------------------------------------------------------------------------------------------------------- clusters


def _clusters_section(data: TearsheetData, rows: list[dict[str, Any]]) -> str:
    held = {str(r[SYMBOL]): r for r in rows}
    cluster_of: dict[str, int] = {}
    for cid, members in data.clusters.items():
        for member in members:
            cluster_of.setdefault(str(member), int(cid))
    parts = []
    symbols = [str(s) for s in data.corr_symbols]
    corr = np.asarray(data.corr, dtype=np.float64)
    if not symbols or corr.size == 0:
        parts.append('<p class="empty">No correlation matrix recorded.</p>')
    elif corr.shape != (len(symbols), len(symbols)):
        parts.append(
            f'<p class="warn">Correlation matrix shape {esc(str(corr.shape))} does not match '
            f"{len(symbols)} symbols; heatmap omitted.</p>"
        )
    else:
        order_clusters = [cluster_of.get(s, _int_or_none(held.get(s, {}).get(CLUSTER))) for s in symbols]
        parts.append(
            figure_html(
                "Pairwise correlation, symbols in dendrogram order; outlined blocks are the clusters.",
                plots.correlation_heatmap_svg,
                symbols,
                corr,
                order_clusters,
            )
        )
    if data.clusters:
        body = []
        for cid in sorted(data.clusters, key=int):
            members = [str(m) for m in data.clusters[cid]]
            in_cluster = [r for r in rows if _int_or_none(r[CLUSTER]) == int(cid)]
            member_html = ", ".join(
                f'<span class="sym held">{esc(m)}</span>' if m in held else f'<span class="sym muted">{esc(m)}</span>'
                for m in members
            )
            body.append(
                f'<tr><td class="num">C{int(cid)}</td><td class="num">{len(members)}</td>'
                f'<td class="num">{len(in_cluster)}</td>'
                f'<td class="num">{pct(_nansum(r[WEIGHT] for r in in_cluster))}</td>'
                f'<td class="num">{pct(_nansum(r[NET_WEIGHT] for r in in_cluster))}</td>'
                f'<td class="members">{member_html}</td></tr>'
            )
        parts.append(
            '<table id="clusters-table" class="data"><thead><tr><th class="num">cluster</th>'
            '<th class="num">members</th><th class="num">held</th><th class="num">gross</th><th class="num">net</th>'
            "<th>members (held in bold)</th></tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>"
        )
    else:
        parts.append('<p class="empty">No clusters recorded.</p>')
    return section("clusters", "Clusters", "\n".join(parts))


# ----------------------------------------------------------------------------------------------------------- funnel


def _funnel_section(data: TearsheetData) -> str:
    parts = [f"<p>HTR stage reached: <strong>{esc(_stage_text(data.stage_reached))}</strong></p>"]
    if data.funnel:
        stages = [str(s) for s in data.funnel]
        counts = [data.funnel[s] for s in data.funnel]
        first = _float(counts[0])
        body = []
        for i, (stage, count) in enumerate(zip(stages, counts, strict=True)):
            prev = _float(counts[i - 1]) if i else math.nan
            of_first = _float(count) / first if first else math.nan
            of_prev = _float(count) / prev if i and prev else math.nan
            body.append(
                f'<tr><td>{esc(stage)}</td><td class="num">{_count(count)}</td>'
                f'<td class="num">{pct(of_first, 1)}</td><td class="num">{pct(of_prev, 1)}</td></tr>'
            )
        table = (
            '<table id="funnel-table" class="data"><thead><tr><th>stage</th><th class="num">count</th>'
            '<th class="num">of first</th><th class="num">of previous</th></tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>"
        )
        chart = figure_html("Survivors after each gate.", plots.funnel_svg, stages, [_float(c) for c in counts])
        parts.append(f'<div class="grid">{scroll_box(table)}{chart}</div>')
    else:
        parts.append('<p class="empty">No selection funnel recorded.</p>')
    parts.append("<h3>Relaxations</h3>")
    if data.relaxations:
        items = "".join(f"<li>{esc(line)}</li>" for line in data.relaxations)
        parts.append(
            '<p class="muted">Winners admitted by a relaxation (HTR stages 2–4) and the strict vetoes they bypassed:</p>'
            f'<ul id="relaxations" class="lines">{items}</ul>'
        )
    else:
        parts.append('<p id="relaxations" class="muted">None: no winner was admitted by a relaxation.</p>')
    return section("funnel", "Selection funnel", "\n".join(parts))


# ----------------------------------------------------------------------------------------------------------- regime


def _regime_section(data: TearsheetData) -> str:
    metrics = (
        _kv_table(data.regime_metrics, "regime-metrics")
        if data.regime_metrics
        else '<p class="muted">No regime metrics recorded.</p>'
    )
    return section("regime", "Regime", f"<p>Market regime: {_badge(data.regime)}</p>{metrics}")


# ----------------------------------------------------------------------------------------------------------- equity


def _equity_section(data: TearsheetData) -> str:
    dates = [str(d) for d in data.dates]
    equity = np.asarray(data.equity, dtype=np.float64).ravel()
    drawdown = np.asarray(data.drawdown, dtype=np.float64).ravel()
    title = "In-sample equity and drawdown"
    n = min(len(dates), equity.size, drawdown.size)
    if n == 0:
        return section("equity", title, '<p class="empty">No equity curve recorded.</p>')
    parts = []
    if not len(dates) == equity.size == drawdown.size:
        parts.append(
            f'<p class="warn">Lengths differ: {len(dates)} dates, {equity.size} equity points, '
            f"{drawdown.size} drawdown points; showing the first {n}.</p>"
        )
    dates, equity, drawdown = dates[:n], equity[:n], drawdown[:n]
    final = equity[np.isfinite(equity)]
    worst = drawdown[np.isfinite(drawdown)]
    stats = {
        "period": f"{dates[0]} → {dates[-1]}",
        "observations": f"{n:,}",
        "final equity": fmt(final[-1], 4) if final.size else NA,
        "total return": pct(final[-1] - 1.0) if final.size else NA,
        "max drawdown": pct(worst.min()) if worst.size else NA,
    }
    parts.append(
        '<table id="equity-stats" class="data kv"><tbody>'
        + "".join(f'<tr><th>{esc(k)}</th><td class="num">{esc(v)}</td></tr>' for k, v in stats.items())
        + "</tbody></table>"
    )
    parts.append(
        figure_html(
            "Equity of the chosen portfolio (starts at 1.0) and its drawdown, same date axis.",
            plots.equity_drawdown_svg,
            dates,
            equity,
            drawdown,
        )
    )
    return section("equity", title, "\n".join(parts))


# -------------------------------------------------------------------------------------------------------- fallbacks


def _producer(attempts: Sequence[OptimizerAttempt]) -> tuple[int, OptimizerAttempt] | None:
    """The first attempt that succeeded (the link that produced the weights) and its index."""
    return next(((i, a) for i, a in enumerate(attempts) if a.ok), None)


def _fallback_section(data: TearsheetData) -> str:
    attempts = list(data.attempts)
    producer = _producer(attempts)
    parts = []
    if not attempts:
        parts.append('<p class="empty">No optimizer attempts recorded.</p>')
    else:
        if producer is None:
            parts.append(
                f'<p class="verdict bad">No optimizer succeeded: all {len(attempts)} links of the chain failed.</p>'
            )
        else:
            index, winner = producer
            failed = [a for a in attempts[:index] if not a.ok]
            if failed:
                why = "; ".join(f"{esc(a.method)}: {esc(a.reason or 'no reason given')}" for a in failed)
                verdict = (
                    f"Weights produced by <strong>{esc(winner.method)}</strong> (link {index + 1} of "
                    f"{len(attempts)}) after {len(failed)} failed link{'s' if len(failed) > 1 else ''} — {why}."
                )
            else:
                verdict = (
                    f"Weights produced by <strong>{esc(winner.method)}</strong>, the first link of the chain "
                    "(no fallback needed)."
                )
            parts.append(f'<p class="verdict good">{verdict}</p>')
        body = []
        for i, a in enumerate(attempts):
            if producer is not None and i == producer[0]:
                cls, outcome = "producer", "✔ produced the weights"
            elif a.ok:
                cls, outcome = "", "✔ ok"
            else:
                cls, outcome = "fail", "✘ failed"
            body.append(
                f'<tr class="{cls}"><td class="num">{i + 1}</td><td><code>{esc(a.method)}</code></td>'
                f"<td>{outcome}</td><td>{esc(a.reason) if a.reason else '<span class=muted>—</span>'}</td>"
                f'<td class="num">{fmt(a.seconds, 3)}</td></tr>'
            )
        parts.append(
            '<table id="attempts-table" class="data"><thead><tr><th class="num">#</th><th>method</th>'
            '<th>outcome</th><th>reason</th><th class="num">seconds</th></tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>"
        )
    parts.append("<h3>Notes</h3>")
    if data.notes:
        parts.append('<ul id="notes" class="lines">' + "".join(f"<li>{esc(n)}</li>" for n in data.notes) + "</ul>")
    else:
        parts.append('<p id="notes" class="muted">No notes.</p>')
    return section("fallbacks", "Optimizer fallback chain", "\n".join(parts))


# --------------------------------------------------------------------------------------------------------- backtest

_BOOK_NAMES = {"profile": "profile", "filtered_ew": "filtered EW", "raw_ew": "raw EW"}
_BACKTEST_METRICS = (
    "total_return",
    "annual_return",
    "annual_vol",
    "sharpe",
    "sortino",
    "max_drawdown",
    "cvar_95",
    "turnover_per_rebalance",
    "annual_turnover",
    "costs_total",
)


def _books(bt: BacktestView) -> list[str]:
    """Books to show: the known ones in display order, then any other the view carries."""
    seen = set(bt.metrics) | set(bt.equity)
    return [b for b in BACKTEST_BOOKS if b in seen] + sorted(seen - set(BACKTEST_BOOKS))


def _book_name(book: str) -> str:
    return _BOOK_NAMES.get(book, book)


def _cell(value: Any) -> str:
    """Escaped text of a table value; None and non-finite floats as n/a."""
    if value is None or (isinstance(value, float | np.floating) and not math.isfinite(float(value))):
        return NA
    return esc(value)


def _ratio(value: Any) -> str:
    """A ratio with 2 decimals; absurd magnitudes (a near-flat window's Sharpe) compactly, e.g. 9.8e+16."""
    if is_finite(value) and abs(float(value)) >= 1e4:
        return f"{float(value):.3g}"
    return fmt(value, 2)


def _book_metric(name: str, value: Any) -> str:
    if "cost" in name or "fee" in name or "slippage" in name:
        return pct(value, 3)
    if any(h in name.lower() for h in _RATIO_HINTS):
        return _ratio(value)
    return _metric(name, value)


def _backtest_section(bt: BacktestView) -> str:
    """The walk-forward out of sample: equity vs baselines, metrics per book, alphas, windows, forensics."""
    parts = [_backtest_summary(bt), _backtest_chart(bt)]
    parts.append("<h3>Metrics per book (stitched, annualized once)</h3>")
    parts.append(_backtest_metrics_table(bt))
    parts.append("<h3>Alpha</h3>")
    parts.append(_alpha_table(bt))
    parts.append("<h3>Windows</h3>")
    parts.append(_windows_table(bt))
    parts.append("<h3>Forensics</h3>")
    parts.append(_forensic_block(bt))
    return section("backtest", "Backtest (out of sample)", "\n".join(parts))


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


def _backtest_summary(bt: BacktestView) -> str:
    p = bt.params
    setup = (
        f"train {p['train']} / test {p['test']} / step {p['step']} rows"
        + (" (anchored)" if p.get("anchored") else "")
        + f" · fees {pct(p.get('fees'), 3)} · slippage {pct(p.get('slippage'), 3)}"
        + (f" · eligibility {esc(p['eligibility'])}" if p.get("eligibility") else "")
        if {"train", "test", "step"} <= set(p)
        else NA
    )
    profile = bt.metrics.get("profile", {})
    facts = {
        "period": f"{bt.dates[0]} → {bt.dates[-1]}" if bt.dates else NA,
        "rows": f"{len(bt.dates):,}",
        "windows": f"{len(bt.windows):,}",
        "failed windows (cash)": f"{len(_failed(bt)):,}",
        "windows with a fallback": f"{len(_with_fallback(bt)):,}",
        "flagged windows": f"{len(_flag_reasons(bt)):,}",
        "profile total return": pct(profile.get("total_return")),
        "profile Sharpe": _ratio(profile.get("sharpe")),
        "setup": setup,
    }
    return (
        '<table id="backtest-summary" class="data kv"><tbody>'
        + "".join(f'<tr><th>{esc(k)}</th><td class="num">{v}</td></tr>' for k, v in facts.items())
        + "</tbody></table>"
    )


def _backtest_chart(bt: BacktestView) -> str:
    dates = [str(d) for d in bt.dates]
    curves = {b: np.asarray(bt.equity[b], dtype=np.float64).ravel() for b in _books(bt) if b in bt.equity}
    drawdown = np.asarray(bt.drawdown, dtype=np.float64).ravel()
    n = min([len(dates), drawdown.size, *(c.size for c in curves.values())])
    if n == 0:
        return '<p class="empty">No out-of-sample equity recorded.</p>'
    parts = []
    if any(c.size != len(dates) for c in curves.values()) or drawdown.size != len(dates):
        sizes = ", ".join(f"{_book_name(b)} {c.size}" for b, c in curves.items())
        parts.append(
            f'<p class="warn">Lengths differ: {len(dates)} dates, equity {esc(sizes)}, {drawdown.size} drawdown '
            f"points; showing the first {n}.</p>"
        )
    starts = [str(rec.get("test_start")) for rec in bt.windows if rec.get("test_start")]
    parts.append(
        figure_html(
            "Stitched out-of-sample equity of the profile and the two equal-weight baselines (dotted lines: window "
            "starts), and the profile's drawdown.",
            plots.backtest_equity_svg,
            dates[:n],
            {b: c[:n] for b, c in curves.items()},
            drawdown[:n],
            starts,
        )
    )
    if bt.windows:
        flagged = _flag_reasons(bt)
        books = _books(bt)
        labels = [str(rec.get("test_start") or NA) for rec in bt.windows]
        returns = {b: np.array([_float(rec.get(f"{b}_total_return")) for rec in bt.windows]) for b in books}
        marks = [_int_or_none(rec.get("window")) in flagged for rec in bt.windows]
        parts.append(
            figure_html(
                "Total return of each test window per book; ▼ marks a window the forensic report flags.",
                plots.window_returns_svg,
                labels,
                returns,
                marks,
            )
        )
    return "\n".join(parts)


def _backtest_metrics_table(bt: BacktestView) -> str:
    books = [b for b in _books(bt) if b in bt.metrics]
    if not books:
        return '<p class="empty">No stitched metrics recorded.</p>'
    keys = [k for k in _BACKTEST_METRICS if any(k in bt.metrics[b] for b in books)]
    keys += sorted({k for b in books for k in bt.metrics[b]} - set(keys) - {"rows"})
    body = [
        f"<tr><th>{esc(k.replace('_', ' '))}</th>"
        + "".join(f'<td class="num">{_book_metric(k, bt.metrics[b].get(k))}</td>' for b in books)
        + "</tr>"
        for k in keys
    ]
    for label, values in (("turnover (sum)", bt.turnover), ("costs (sum)", bt.costs)):
        if values:
            body.append(
                f"<tr><th>{label}</th>"
                + "".join(f'<td class="num">{_book_metric(label, values.get(b))}</td>' for b in books)
                + "</tr>"
            )
    head = "".join(f'<th class="num">{esc(_book_name(b))}</th>' for b in books)
    return scroll_box(
        f'<table id="backtest-metrics" class="data"><thead><tr><th>metric</th>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _alpha_table(bt: BacktestView) -> str:
    keys = list(dict.fromkeys([*bt.selection_alpha, *bt.optimization_alpha]))
    if not keys:
        return '<p class="empty">No alphas recorded.</p>'
    body = "".join(
        f"<tr><th>{esc(k.replace('_', ' '))}</th><td class='num'>{_book_metric(k, bt.selection_alpha.get(k))}</td>"
        f"<td class='num'>{_book_metric(k, bt.optimization_alpha.get(k))}</td></tr>"
        for k in keys
    )
    return (
        '<p class="muted">Selection alpha = filtered EW − raw EW (what HTR adds over the eligible pool); '
        "optimization alpha = profile − filtered EW (what the optimizer adds over equal weight on the winners).</p>"
        '<table id="alpha-table" class="data kv"><thead><tr><th>metric</th><th class="num">selection</th>'
        f'<th class="num">optimization</th></tr></thead><tbody>{body}</tbody></table>'
    )


def _optimizer_cell(rec: Mapping[str, Any]) -> str:
    method, primary = rec.get("method"), rec.get("primary")
    if not method:
        return NA
    if rec.get("fallback_used") and primary and primary != method:
        return f'<span class="flag">{esc(primary)} → {esc(method)}</span>'
    return esc(method)


def _windows_table(bt: BacktestView) -> str:
    if not bt.windows:
        return '<p class="empty">No walk-forward windows recorded.</p>'
    flagged, failed, fallback = _flag_reasons(bt), _failed(bt), _with_fallback(bt)
    body = []
    for rec in bt.windows:
        w = _int_or_none(rec.get("window"))
        classes, status = [], []
        if w in failed:
            classes.append("fail")
            status.append(f"✘ cash: {esc(rec.get('error') or 'failed')}")
        if w in flagged:
            classes.append("flagged")
            status.append("⚑ flagged — " + esc(" | ".join(flagged[w])))
        if w in fallback and w not in failed:
            classes.append("fallback")
        rows = _cell(rec.get("test_rows")) + (" (partial)" if rec.get("partial") else "")
        body.append(
            f'<tr class="{" ".join(classes)}" id="bt-window-{_cell(w)}">'
            f'<td class="num">{_cell(w)}</td><td>{_cell(rec.get("test_start"))}</td><td>{_cell(rec.get("test_end"))}</td>'
            f'<td class="num">{rows}</td>'
            f'<td class="num">{pct(rec.get("profile_total_return"))}</td>'
            f'<td class="num">{_ratio(rec.get("profile_sharpe"))}</td>'
            f'<td class="num">{pct(rec.get("filtered_ew_total_return"))}</td>'
            f'<td class="num">{pct(rec.get("raw_ew_total_return"))}</td>'
            f'<td class="num">{pct(rec.get("selection_alpha"))}</td>'
            f'<td class="num">{pct(rec.get("optimization_alpha"))}</td>'
            f'<td class="num">{pct(rec.get("profile_turnover"))}</td>'
            f'<td class="num">{pct(rec.get("profile_costs"), 3)}</td>'
            f'<td class="num">{_cell(rec.get("stage"))}</td>'
            f"<td>{_badge(rec['regime']) if rec.get('regime') else NA}</td>"
            f"<td>{_optimizer_cell(rec)}</td>"
            f"<td>{'<span class=flag>yes</span>' if w in fallback else 'no'}</td>"
            f"<td class='status'>{'<br>'.join(status) if status else 'ok'}</td></tr>"
        )
    head = "".join(
        f'<th class="{c}">{esc(h)}</th>'
        for h, c in (
            ("#", "num"),
            ("test start", ""),
            ("test end", ""),
            ("rows", "num"),
            ("return", "num"),
            ("Sharpe", "num"),
            ("filtered EW", "num"),
            ("raw EW", "num"),
            ("sel. alpha", "num"),
            ("opt. alpha", "num"),
            ("turnover", "num"),
            ("costs", "num"),
            ("HTR stage", "num"),
            ("regime", ""),
            ("optimizer", ""),
            ("fallback", ""),
            ("status", ""),
        )
    )
    return (
        '<p class="muted">Return, Sharpe (annualized), turnover and costs are the profile book\'s; filtered and raw EW '
        "are the baselines' window returns. Flagged windows are highlighted, failed windows held cash.</p>"
        + scroll_box(
            f'<table id="backtest-windows" class="data"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
        )
    )


def _forensic_block(bt: BacktestView) -> str:
    t = bt.thresholds
    rule = (
        f"|annualized Sharpe| &gt; {fmt(t.get('abs_sharpe'), 1)} or window return &gt; {pct(t.get('total_return'), 0)}"
        if t
        else "the forensic thresholds"
    )
    parts = []
    if bt.flags:
        parts.append(
            f'<p class="verdict bad">{len(bt.flags)} flag(s) on {len(_flag_reasons(bt))} window(s): {rule}.</p>'
        )
        body = "".join(
            f'<tr class="flagged"><td class="num">{_cell(f.get("window"))}</td><td>{esc(_book_name(str(f.get("book"))))}</td>'
            f"<td>{_cell(f.get('test_start'))}</td><td>{_cell(f.get('test_end'))}</td>"
            f'<td class="num">{pct(f.get("total_return"))}</td><td class="num">{_ratio(f.get("sharpe"))}</td>'
            f"<td>{esc('; '.join(map(str, f.get('reasons') or [])))}</td></tr>"
            for f in bt.flags
        )
        parts.append(
            scroll_box(
                '<table id="forensic-table" class="data"><thead><tr><th class="num">window</th><th>book</th>'
                '<th>test start</th><th>test end</th><th class="num">return</th><th class="num">Sharpe</th>'
                f"<th>reasons</th></tr></thead><tbody>{body}</tbody></table>"
            )
        )
    else:
        parts.append(f'<p class="verdict good">No window flagged ({rule}).</p>')
    by_window = {_int_or_none(rec.get("window")): rec for rec in bt.windows}
    fallback = sorted(_with_fallback(bt))
    parts.append("<h3>Fallbacks</h3>")
    if fallback:
        body = "".join(
            f'<tr class="fallback"><td class="num">{w}</td><td>{_cell(by_window.get(w, {}).get("test_start"))}</td>'
            f"<td>{_cell(by_window.get(w, {}).get('primary'))}</td><td>{_cell(by_window.get(w, {}).get('method'))}</td>"
            f"<td>{_cell(by_window.get(w, {}).get('attempts'))}</td></tr>"
            for w in fallback
        )
        parts.append(
            f'<p class="muted">{len(fallback)} of {len(bt.windows)} windows needed the fallback chain.</p>'
            + scroll_box(
                '<table id="fallback-windows" class="data"><thead><tr><th class="num">window</th><th>test start</th>'
                f"<th>primary</th><th>used</th><th>attempts</th></tr></thead><tbody>{body}</tbody></table>"
            )
        )
    else:
        parts.append('<p id="fallback-windows" class="muted">None: the primary optimizer served every window.</p>')
    failed = sorted(_failed(bt))
    parts.append("<h3>Failed windows (cash)</h3>")
    if failed:
        body = "".join(
            f'<tr class="fail"><td class="num">{w}</td><td>{_cell(by_window.get(w, {}).get("test_start"))}</td>'
            f"<td>{_cell(by_window.get(w, {}).get('error'))}</td></tr>"
            for w in failed
        )
        parts.append(
            scroll_box(
                '<table id="failed-windows" class="data"><thead><tr><th class="num">window</th><th>test start</th>'
                f"<th>why the profile held cash</th></tr></thead><tbody>{body}</tbody></table>"
            )
        )
    else:
        parts.append('<p id="failed-windows" class="muted">None: every window produced profile weights.</p>')
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------------------------- helpers


def _badge(regime: str) -> str:
    cls = _REGIME_CLASS.get(str(regime).upper(), "unknown")
    return f'<span class="badge {cls}">{esc(regime or "UNKNOWN")}</span>'


def _stage_text(stage: int) -> str:
    name = HTR_STAGES.get(stage)
    return f"{stage} of 4 — {name}" if name else str(stage)


def _kv_table(values: Mapping[str, Any], table_id: str) -> str:
    rows = "".join(
        f'<tr><th>{esc(str(k).replace("_", " "))}</th><td class="num">{_metric(str(k), v)}</td></tr>'
        for k, v in values.items()
    )
    return f'<table id="{table_id}" class="data kv"><tbody>{rows}</tbody></table>'


def _metric(name: str, value: Any) -> str:
    """Format a metric by its name: ratios with 2 decimals, returns/vols/drawdowns as percentages."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if not is_finite(value):
        return NA if value is None or isinstance(value, float | np.floating) else esc(value)
    key = name.lower()
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


def _count(value: Any) -> str:
    return f"{int(value):,}" if is_finite(value) else NA


def _text(value: Any) -> str:
    return NA if value is None else str(value)


_BACKTEST_CSS = """
tr.flagged td{background:#fffaf0}
tr.flagged td:first-child{box-shadow:inset 3px 0 0 #dd6b20}
tr.fallback td:first-child{box-shadow:inset 3px 0 0 #d69e2e}
#backtest-windows{font-size:12px}
#backtest-windows td,#backtest-windows th{padding:4px 7px;white-space:nowrap}
#backtest-windows td.status{white-space:normal;min-width:240px}
"""

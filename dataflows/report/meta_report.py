"""The meta run's own report: one self-contained HTML page (inline SVG, no scripts, no network).

`render_meta_report(run_dir)` reads what a meta run wrote into its folder (`meta_weights.csv`,
`meta_returns.parquet`, `meta_stream.parquet`, `flattened_weights.csv`, `sleeves.json`, `manifest.json`, the
sleeves' `pinned.json`) and writes `report.html` beside them: header (meta, run id, as_of, method), the sleeve
weights with their bounds and streams, the meta equity against each sleeve's stream, the flattened book, dropped
and pinned sleeves, and links to every sleeve's own `report.html`. `manifest` may be passed in when the run's
manifest is not written yet (the meta run renders the report before writing it).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from dataflows.lakehouse.atomic import write_bytes
from dataflows.report import plots
from dataflows.report.page import CSS, esc, fact_box, figure_html, fmt, nav_links, pct, scroll_box, section, symbol_html

REPORT = "report.html"
META_COLOR = "#111111"
_SLEEVE_COLORS = ("#2b6cb0", "#c53030", "#2f855a", "#dd6b20", "#6b46c1", "#0987a0", "#b7791f", "#d53f8c")
_EXTRA_CSS = """
a{color:var(--long)}
tr.dropped td{color:#9b2c2c}
"""


def render_meta_report(run_dir: Path, manifest: Mapping[str, Any] | None = None) -> Path:
    """Write `run_dir/report.html` from the meta run's files (atomically); returns its path."""
    run_dir = Path(run_dir)
    if manifest is None:
        path = run_dir / "manifest.json"
        manifest = json.loads(path.read_text()) if path.is_file() else {}
    out = run_dir / REPORT
    write_bytes(out, meta_report_html(run_dir, manifest).encode("utf-8"))
    return out


def meta_report_html(run_dir: Path, manifest: Mapping[str, Any]) -> str:
    """The meta report as an HTML string."""
    sleeves_path = run_dir / "sleeves.json"
    sleeves: list[dict[str, Any]] = json.loads(sleeves_path.read_text()) if sleeves_path.is_file() else []
    weights = pl.read_csv(run_dir / "meta_weights.csv")
    flat = pl.read_csv(run_dir / "flattened_weights.csv")
    returns = pl.read_parquet(run_dir / "meta_returns.parquet")
    stream = pl.read_parquet(run_dir / "meta_stream.parquet")
    meta = dict(manifest.get("meta") or {})
    name = meta.get("name") or run_dir.name
    method = meta.get("method") or (weights["method"][0] if "method" in weights.columns and weights.height else "")
    run_id = manifest.get("run_id") or run_dir.name
    sections = [
        _header(name, run_id, manifest.get("as_of"), method, sleeves),
        _weights_section(weights, sleeves),
        _equity_section(returns, stream),
        _flattened_section(flat),
        _dropped_pinned_section(run_dir, sleeves),
        _links_section(run_dir, sleeves),
    ]
    body = "\n".join(s for s in sections if s)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>meta {esc(name)} · {esc(run_id)}</title>\n<style>{CSS}{_EXTRA_CSS}</style>\n</head>\n<body>\n<main>\n"
        f"{body}\n"
        "<footer>portfolio-dataflows meta report · self-contained: no scripts, no network.</footer>\n"
        "</main>\n</body>\n</html>\n"
    )


# ---------------------------------------------------------------------------------------------------------- sections


def _header(name: str, run_id: str, as_of: Any, method: str, sleeves: list[dict[str, Any]]) -> str:
    kept = [s for s in sleeves if not s.get("dropped")]
    facts = "".join(
        fact_box(k, esc(v))
        for k, v in (
            ("meta", name),
            ("run id", run_id),
            ("as of", as_of if as_of is not None else "n/a"),
            ("method", method),
            ("sleeves", f"{len(kept)} of {len(sleeves)}" if sleeves else "n/a"),
        )
    )
    nav = nav_links(
        (
            ("meta-weights", "Sleeve weights"),
            ("equity", "Equity"),
            ("flattened", "Flattened weights"),
            ("sleeve-reports", "Sleeve reports"),
        )
    )
    return (
        f'<header class="top"><h1>Meta portfolio {esc(name)}</h1>'
        f'<p class="ident">run <code>{esc(run_id)}</code></p>'
        f'<div class="facts">{facts}</div>{nav}</header>'
    )


def _weights_section(weights: pl.DataFrame, sleeves: list[dict[str, Any]]) -> str:
    streams = {s.get("sleeve"): s.get("stream") for s in sleeves}
    kinds = {s.get("sleeve"): s.get("kind") for s in sleeves}
    rows = []
    for r in weights.iter_rows(named=True):
        sleeve = r["sleeve"]
        stream = r.get("stream") or streams.get(sleeve)
        rows.append(
            f"<tr><td>{esc(sleeve)}</td><td>{esc(kinds.get(sleeve) or 'n/a')}</td>"
            f'<td class="num">{pct(r.get("weight"))}</td><td class="num">{pct(r.get("raw_weight"))}</td>'
            f'<td class="num">{pct(r.get("min_weight"))} – {pct(r.get("max_weight"))}</td>'
            f"<td>{esc(str(stream).replace('_', '-') if stream else 'n/a')}</td></tr>"
        )
    total = pct(weights["weight"].sum()) if "weight" in weights.columns else "n/a"
    table = (
        '<table id="meta-weights-table" class="data"><thead><tr><th>sleeve</th><th>kind</th>'
        '<th class="num">weight</th><th class="num">raw weight</th><th class="num">bounds</th><th>stream</th>'
        f"</tr></thead><tbody>{''.join(rows)}</tbody>"
        f'<tfoot><tr><td colspan="2">total</td><td class="num">{total}</td><td colspan="3"></td></tr></tfoot></table>'
    )
    return section("meta-weights", "Sleeve weights", scroll_box(table))


def _iso_dates(dates: pl.Series) -> list[str]:
    if dates.dtype == pl.Int64:
        return [dt.datetime.fromtimestamp(int(v) / 1000, dt.UTC).isoformat() for v in dates.to_list()]
    return [str(v) for v in dates.to_list()]


def _equity_section(returns: pl.DataFrame, stream: pl.DataFrame) -> str:
    if stream.height == 0:
        return section("equity", "Equity", '<p class="empty">The meta stream is empty.</p>')
    dates = _iso_dates(stream["date"])
    curves = {c: returns[c].to_numpy() for c in returns.columns if c != "date"}
    note = (
        '<p class="muted">Growth of 1.0 on the common dates of every kept sleeve (inner join); '
        "each sleeve's line is its own stream, the meta line its weighted sum rebalanced each bar.</p>"
    )
    chart = figure_html("Meta portfolio vs. sleeves", meta_equity_svg, dates, stream["returns"].to_numpy(), curves)
    return section("equity", "Equity", note + chart)


def _flattened_section(flat: pl.DataFrame) -> str:
    rows = []
    for r in flat.iter_rows(named=True):
        parts = [p.split("=", 1) for p in str(r.get("sleeves") or "").split(";") if "=" in p]
        lineage = ", ".join(f"{esc(k)} {pct(float(v))}" for k, v in parts)
        net = r.get("net")
        cls = "dir-short" if isinstance(net, float) and net < 0 else "dir-long"
        rows.append(
            f'<tr><td class="sym">{symbol_html(r["symbol"])}</td><td class="num">{pct(r.get("gross"))}</td>'
            f'<td class="num {cls}">{pct(net)}</td><td>{lineage}</td>'
            f'<td class="num">{fmt(r.get("cap_scale"), 3)}</td></tr>'
        )
    gross = pct(flat["gross"].sum()) if flat.height else "n/a"
    net = pct(flat["net"].sum()) if flat.height else "n/a"
    table = (
        '<table id="flattened-table" class="data"><thead><tr><th>symbol</th><th class="num">gross</th>'
        '<th class="num">net</th><th>contributing sleeves (net)</th><th class="num">cap scale</th></tr></thead>'
        f'<tbody>{"".join(rows)}</tbody><tfoot><tr><td>total ({flat.height})</td><td class="num">{gross}</td>'
        f'<td class="num">{net}</td><td colspan="2"></td></tr></tfoot></table>'
    )
    return section("flattened", "Flattened weights", scroll_box(table))


def _dropped_pinned_section(run_dir: Path, sleeves: list[dict[str, Any]]) -> str:
    dropped = [s for s in sleeves if s.get("dropped")]
    pinned = [s for s in sleeves if s.get("kind") == "pinned"]
    if not dropped and not pinned:
        return ""
    parts = []
    if dropped:
        items = "".join(
            f"<li><strong>{esc(s.get('sleeve'))}</strong> ({esc(s.get('source'))}): {esc(s.get('reason') or 'failed')}</li>"
            for s in dropped
        )
        parts.append(f'<h3>Dropped sleeves</h3><ul id="dropped" class="lines">{items}</ul>')
    if pinned:
        items = []
        for s in pinned:
            pointer_path = run_dir / "sleeves" / str(s.get("sleeve")) / "pinned.json"
            pointer = json.loads(pointer_path.read_text()) if pointer_path.is_file() else {}
            sha = str(pointer.get("weights_sha256") or "")[:12]
            items.append(
                f"<li><strong>{esc(s.get('sleeve'))}</strong>: run <code>{esc(pointer.get('run_id', 'n/a'))}</code>"
                f" ({esc(pointer.get('path') or s.get('folder'))}), weights sha256 <code>{esc(sha)}…</code></li>"
            )
        parts.append(f'<h3>Pinned sleeves</h3><ul id="pinned" class="lines">{"".join(items)}</ul>')
    return section("dropped-pinned", "Dropped and pinned sleeves", "\n".join(parts))


def sleeve_report_href(run_dir: Path, sleeve: Mapping[str, Any]) -> str | None:
    """Relative link to a sleeve's report: its own folder's, or the pinned run's; None if there is none."""
    name = str(sleeve.get("sleeve"))
    own = run_dir / "sleeves" / name / REPORT
    if own.is_file():
        return f"sleeves/{name}/{REPORT}"
    folder = sleeve.get("folder")
    if sleeve.get("kind") == "pinned" and folder and (Path(folder) / REPORT).is_file():
        return Path(os.path.relpath(Path(folder) / REPORT, run_dir)).as_posix()
    return None


def _links_section(run_dir: Path, sleeves: list[dict[str, Any]]) -> str:
    rows = []
    for s in sleeves:
        href = sleeve_report_href(run_dir, s)
        link = f'<a href="{esc(href)}">{esc(href)}</a>' if href else '<span class="muted">no report</span>'
        cls = ' class="dropped"' if s.get("dropped") else ""
        rows.append(
            f"<tr{cls}><td>{esc(s.get('sleeve'))}</td><td>{esc(s.get('kind'))}</td><td>{esc(s.get('source'))}</td>"
            f"<td>{esc(s.get('status'))}{' (dropped)' if s.get('dropped') else ''}</td><td>{link}</td></tr>"
        )
    if not rows:
        return section("sleeve-reports", "Sleeve reports", '<p class="empty">No sleeves recorded.</p>')
    table = (
        '<table id="sleeve-reports-table" class="data"><thead><tr><th>sleeve</th><th>kind</th><th>source</th>'
        f"<th>status</th><th>report</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )
    return section("sleeve-reports", "Sleeve reports", scroll_box(table))


# ---------------------------------------------------------------------------------------------------------- chart


def meta_equity_svg(dates: Sequence[str], meta: np.ndarray, sleeves: Mapping[str, np.ndarray]) -> str:
    """Growth of 1.0 of the meta stream (bold, black) and of each sleeve's stream, on a shared date axis."""
    n = len(dates)
    lines = [
        (str(name), np.cumprod(1.0 + np.nan_to_num(np.asarray(rets, dtype=np.float64)[:n])), color, 1.0)
        for (name, rets), color in zip(sleeves.items(), itertools.cycle(_SLEEVE_COLORS), strict=False)
    ]
    lines.append(("meta", np.cumprod(1.0 + np.nan_to_num(np.asarray(meta, dtype=np.float64)[:n])), META_COLOR, 1.9))
    return plots.lines_svg("Meta portfolio vs. sleeve streams", dates, lines, "equity (start = 1.0)", hline=1.0)

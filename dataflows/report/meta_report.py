"""The meta run's own report: one self-contained HTML page (inline SVG, no scripts, no network).

`meta_report_html(run_dir)` reads what a meta run wrote into its folder (`meta_weights.csv`, `meta_returns.parquet`,
`meta_stream.parquet`, `flattened_weights.csv`, `sleeves.json`, `manifest.json`, the sleeves' `pinned.json`) and
returns the page, from the template `templates/meta_report.html` (Jinja2, autoescaped); `render_meta_report` writes
it to `report.html` beside them. It leads with the headline metrics (`dataflows.validation.metrics`, the definitions
every report uses) of the meta stream beside each sleeve's stream on their common dates, the growth of each and the
meta's drawdown, and the sleeves' correlation matrix; then the sleeve weights with their bounds and streams, the
flattened book, dropped and pinned sleeves, and links to every sleeve's own `report.html`. A sleeve that contributes
its in-sample stream is named at the top: the meta's numbers are then partly in-sample. `manifest` may be passed in
when the run's manifest is not written yet (the meta run renders the report before writing it).
"""

from __future__ import annotations

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
from dataflows.report.page import NA, as_of_label, figure, fmt, headline_rows, pct, render
from dataflows.report.svg import Panel, Series, shorten, time_series
from dataflows.validation import metrics as M

REPORT = "report.html"
META_COLOR = "#111111"
_SLEEVE_COLORS = ("#2b6cb0", "#c53030", "#2f855a", "#dd6b20", "#6b46c1", "#0987a0", "#b7791f", "#d53f8c")
_STREAMS = {"out_of_sample": "out of sample", "in_sample": "in-sample"}


def render_meta_report(run_dir: Path, manifest: Mapping[str, Any] | None = None) -> Path:
    """Write `run_dir/report.html` (`meta_report_html`, atomically); returns its path."""
    run_dir = Path(run_dir)
    out = run_dir / REPORT
    write_bytes(out, meta_report_html(run_dir, manifest).encode("utf-8"))
    return out


def meta_report_html(run_dir: Path, manifest: Mapping[str, Any] | None = None) -> str:
    """The meta report of the run in `run_dir` as an HTML string, from its files (`manifest`: None reads
    `manifest.json`, absent = empty); writes nothing."""
    run_dir = Path(run_dir)
    if manifest is None:
        path = run_dir / "manifest.json"
        manifest = json.loads(path.read_text()) if path.is_file() else {}
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
    kept = [s for s in sleeves if not s.get("dropped")]
    facts = [
        {"key": "meta", "value": name},
        {"key": "run id", "value": run_id},
        {"key": "as of", "value": as_of_label(manifest.get("as_of"))},
        {"key": "method", "value": method},
        {"key": "sleeves", "value": f"{len(kept)} of {len(sleeves)}" if sleeves else NA},
    ]
    links = [
        ("performance", "Performance"),
        ("correlation", "Correlation"),
        ("meta-weights", "Sleeve weights"),
        ("flattened", "Flattened weights"),
        ("sleeve-reports", "Sleeve reports"),
    ]
    return render(
        "meta_report.html",
        name=name,
        run_id=run_id,
        facts=facts,
        links=links,
        lead=_lead(returns, stream, sleeves),
        correlation=_correlation(returns),
        weights=_weights(weights, sleeves),
        flattened=_flattened(flat),
        dropped=[s for s in sleeves if s.get("dropped")],
        pinned=_pinned(run_dir, sleeves),
        reports=[(s, sleeve_report_href(run_dir, s)) for s in sleeves],
    )


# ---------------------------------------------------------------------------------------------------------- sections


def _days(dates: pl.Series) -> list[str]:
    """The stream's dates (epoch ms of daily bars, or dates) as YYYY-MM-DD."""
    if dates.dtype.is_integer():
        return [str(d) for d in dates.cast(pl.Datetime("ms")).dt.date().to_list()]
    return [str(v)[:10] for v in dates.to_list()]


def _lead(returns: pl.DataFrame, stream: pl.DataFrame, sleeves: list[dict[str, Any]]) -> dict[str, Any]:
    if stream.height == 0:
        return {"empty": True}
    dates = _days(stream["date"])
    ms = stream["date"].to_numpy() if stream["date"].dtype.is_integer() else None
    ppy = M.periods_per_year_of(ms) if ms is not None else 365
    kinds = {s.get("sleeve"): s.get("stream") for s in sleeves}
    meta = stream["returns"].to_numpy().astype(np.float64)
    curves = {c: returns[c].to_numpy().astype(np.float64) for c in returns.columns if c != "date"}
    columns = {"meta": M.series_metrics(meta, ppy)}
    for sleeve, r in curves.items():
        kind = _STREAMS.get(str(kinds.get(sleeve)), "")
        columns[f"{sleeve} ({kind})" if kind else sleeve] = M.series_metrics(np.nan_to_num(r), ppy)
    in_sample = [s for s, k in kinds.items() if k == "in_sample" and s in curves]
    chart = figure(
        "Growth of 1.0 of the meta stream and of each sleeve's stream on the common dates of every kept sleeve "
        "(inner join; the meta is their weighted sum, rebalanced each bar), and the meta's drawdown.",
        meta_equity_svg,
        dates,
        meta,
        curves,
    )
    return {
        "empty": False,
        "span": f"{dates[0]} → {dates[-1]} · {len(dates):,} days",
        "columns": list(columns),
        "headline": headline_rows(columns),
        "in_sample": in_sample,
        "chart": chart,
    }


def _correlation(returns: pl.DataFrame) -> dict[str, Any]:
    names = [c for c in returns.columns if c != "date"]
    x = np.nan_to_num(returns.select(names).to_numpy().astype(np.float64))
    if len(names) < 2 or x.shape[0] < 2:
        return {"names": names, "rows": []}
    sd = x.std(axis=0)
    corr = np.full((len(names), len(names)), np.nan)
    ok = sd > 0
    corr[np.ix_(ok, ok)] = np.corrcoef(x[:, ok], rowvar=False)
    np.fill_diagonal(corr, 1.0)
    rows = [(a, [{"text": fmt(v, 2), "cls": _heat(v)} for v in corr[i]]) for i, a in enumerate(names)]
    return {"names": names, "rows": rows}


def _heat(value: float) -> str:
    """A cell's shade by the correlation's size (the diagonal included)."""
    if not np.isfinite(value):
        return ""
    return "c-hi" if value >= 0.7 else "c-mid" if value >= 0.3 else "c-neg" if value <= -0.3 else ""


def _weights(weights: pl.DataFrame, sleeves: list[dict[str, Any]]) -> dict[str, Any]:
    streams = {s.get("sleeve"): s.get("stream") for s in sleeves}
    kinds = {s.get("sleeve"): s.get("kind") for s in sleeves}
    rows = []
    for r in weights.iter_rows(named=True):
        sleeve = r["sleeve"]
        stream = r.get("stream") or streams.get(sleeve)
        rows.append(
            {
                "sleeve": sleeve,
                "kind": kinds.get(sleeve) or NA,
                "weight": pct(r.get("weight")),
                "raw": pct(r.get("raw_weight")),
                "bounds": f"{pct(r.get('min_weight'))} – {pct(r.get('max_weight'))}",
                "stream": str(stream).replace("_", "-") if stream else NA,
            }
        )
    total = pct(weights["weight"].sum()) if "weight" in weights.columns else NA
    return {"rows": rows, "total": total}


def _flattened(flat: pl.DataFrame) -> dict[str, Any]:
    rows = []
    for r in flat.iter_rows(named=True):
        parts = [p.split("=", 1) for p in str(r.get("sleeves") or "").split(";") if "=" in p]
        net = r.get("net")
        rows.append(
            {
                "symbol": r["symbol"],
                "gross": pct(r.get("gross")),
                "net": pct(net),
                "cls": "dir-short" if isinstance(net, float) and net < 0 else "dir-long",
                "lineage": ", ".join(f"{k} {pct(float(v))}" for k, v in parts),
                "cap": fmt(r.get("cap_scale"), 3),
            }
        )
    gross = pct(flat["gross"].sum()) if flat.height else NA
    net = pct(flat["net"].sum()) if flat.height else NA
    return {"rows": rows, "gross": gross, "net": net}


def _pinned(run_dir: Path, sleeves: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for s in sleeves:
        if s.get("kind") != "pinned":
            continue
        pointer_path = run_dir / "sleeves" / str(s.get("sleeve")) / "pinned.json"
        pointer = json.loads(pointer_path.read_text()) if pointer_path.is_file() else {}
        out.append(
            {
                "sleeve": s.get("sleeve"),
                "run_id": pointer.get("run_id", NA),
                "path": pointer.get("path") or s.get("folder"),
                "sha": str(pointer.get("weights_sha256") or "")[:12],
            }
        )
    return out


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


# ---------------------------------------------------------------------------------------------------------- chart


def meta_equity_svg(dates: Sequence[str], meta: np.ndarray, sleeves: Mapping[str, np.ndarray]) -> str:
    """Growth of 1.0 of the meta stream (bold, black) and of each sleeve's stream (top), the meta's drawdown
    (bottom), on a shared date axis."""
    n = len(dates)
    m = np.nan_to_num(np.asarray(meta, dtype=np.float64)[:n])
    lines = [
        Series(np.cumprod(1.0 + np.nan_to_num(np.asarray(r, dtype=np.float64)[:n])), color, label=shorten(str(name)))
        for (name, r), color in zip(sleeves.items(), itertools.cycle(_SLEEVE_COLORS), strict=False)
    ]
    lines.append(Series(np.cumprod(1.0 + m), META_COLOR, label="meta", width=1.9))
    return time_series(
        "Meta portfolio vs. sleeve streams",
        plots.parse_dates(dates),
        n,
        [
            Panel(lines, "equity (start = 1.0)", 280.0, hline=1.0, legend=True),
            Panel([Series(M.drawdown(m), plots.DRAWDOWN_COLOR, fill=True)], "meta drawdown", 100.0, percent=True),
        ],
        width=plots.FULL_WIDTH,
    )

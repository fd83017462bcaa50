"""The tearsheet page: every section's context rendered through `templates/tearsheet.html` (`tearsheet_html`, pure),
and the writer that puts it in a file (`render_tearsheet`)."""

from __future__ import annotations

from pathlib import Path

from dataflows.lakehouse.atomic import write_bytes
from dataflows.report.data import IN_SAMPLE, OUT_OF_SAMPLE, TearsheetData
from dataflows.report.page import render
from dataflows.report.tearsheet.headline import (
    cut_rows,
    derived_performance,
    drawdowns_section,
    exposure_section,
    headline_section,
    monthly_section,
    rolling_section,
)
from dataflows.report.tearsheet.in_sample import (
    clusters_section,
    equity_section,
    facts,
    fallbacks_section,
    funnel_section,
    regime_section,
    risk_section,
    weight_rows,
    weights_section,
)
from dataflows.report.tearsheet.walk_forward import walk_forward_section


def render_tearsheet(data: TearsheetData, path: Path) -> Path:
    """Render `data` to one self-contained HTML file at `path` (written atomically); returns `path`."""
    path = Path(path)
    write_bytes(path, tearsheet_html(data).encode("utf-8"))
    return path


def tearsheet_html(data: TearsheetData) -> str:
    """The tearsheet as an HTML string (writes nothing)."""
    rows = weight_rows(data.weights)
    lead = data.performance or derived_performance(data)
    cut = cut_rows(lead)
    bt = data.backtest
    sections = {
        "lead": headline_section(lead, cut, bt),
        "monthly": monthly_section(lead, cut),
        "rolling": rolling_section(lead, cut),
        "drawdowns": drawdowns_section(cut),
        "exposure": exposure_section(lead, cut),
        "backtest": walk_forward_section(bt) if bt is not None else None,
        "weights": weights_section(rows),
        "risk": risk_section(data, rows),
        "clusters": clusters_section(data, rows),
        "funnel": funnel_section(data),
        "regime": regime_section(data),
        "equity": equity_section(data) if lead.sample != IN_SAMPLE else None,
        "fallbacks": fallbacks_section(data),
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
        facts=facts(data, rows),
        links=links,
        in_sample_only=lead.sample == IN_SAMPLE,
        **sections,
    )

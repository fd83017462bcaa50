"""Reporting: the sleeve's self-contained HTML tearsheet, the meta run's report and the post-analysis figures.

- `data.py`: what the pages show (`TearsheetData`, `BacktestView`, `Performance`), filled by the nodes.
- `backtest_view.py`: a `BacktestResult` as those plain values, and the profile's benchmark.
- `tearsheet/`: the sleeve's page (`tearsheet_html`; `render_tearsheet` writes it).
- `meta_report.py`: the meta run's page (`meta_report_html`; `render_meta_report` writes it).
- `postanalysis/`: the `plots/` PNGs and their index (`postanalysis_figures`; `write_postanalysis` writes them).
- `page.py`: what the pages share (Jinja2 environment, figures, number and date formats, the headline table);
  `templates/` holds the Jinja2 templates and the stylesheet.
- `plots/` and `svg/`: the pages' charts as hand-written inline SVG; `mpl.py`: the Matplotlib plumbing of the PNGs.

The names below are imported on first use (the pages pull in Jinja2, the backtest view the walk-forward).
"""

from __future__ import annotations

from dataflows.lazy import lazy_exports

_EXPORTS = {
    "BacktestView": "data",
    "OptimizerAttempt": "data",
    "Performance": "data",
    "TearsheetData": "data",
    "meta_report_html": "meta_report",
    "postanalysis_figures": "postanalysis",
    "render_meta_report": "meta_report",
    "render_tearsheet": "tearsheet",
    "tearsheet_html": "tearsheet",
    "write_postanalysis": "postanalysis",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)

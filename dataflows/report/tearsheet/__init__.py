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

- `headline.py`: the first screen (headline metrics beside the benchmark, monthly, rolling, drawdowns, exposure).
- `walk_forward.py`: the walk-forward's details (books, alphas, windows, forensics).
- `in_sample.py`: the header facts and the in-sample sections (weights, risk, clusters, funnel, regime, equity,
  fallback chain); `TearsheetError` when the weights frame breaks its contract.
- `formats.py`: how values print (metrics by name, regime badges, lenient number conversions).
- `render.py`: `tearsheet_html` (the page as a string) and `render_tearsheet` (writes it to a file).
"""

from dataflows.report.tearsheet.headline import ROLLING, WORST, Rows, derived_performance
from dataflows.report.tearsheet.in_sample import (
    CLUSTER,
    FALLBACK,
    HTR_STAGES,
    NET_WEIGHT,
    OPTIMIZER,
    WEIGHT,
    WEIGHT_COLUMNS,
    TearsheetError,
)
from dataflows.report.tearsheet.render import render_tearsheet, tearsheet_html

__all__ = [
    "CLUSTER",
    "FALLBACK",
    "HTR_STAGES",
    "NET_WEIGHT",
    "OPTIMIZER",
    "ROLLING",
    "WEIGHT",
    "WEIGHT_COLUMNS",
    "WORST",
    "Rows",
    "TearsheetError",
    "derived_performance",
    "render_tearsheet",
    "tearsheet_html",
]

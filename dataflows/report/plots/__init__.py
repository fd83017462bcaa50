"""Tearsheet charts as inline SVG strings, drawn by hand (`dataflows.report.svg`), no plotting library.

Every function takes plain arrays/lists and returns one `<svg>` element ready to paste into HTML: no XML prolog, no
`id`s (several charts share a page without clashes), text stays text, and the output is deterministic. Drawing all
of a run's charts takes milliseconds; nothing heavy is imported.

- `style.py`: colours, widths, date parsing and runs of equal values.
- `bars.py`: net weights, risk contributions, the selection funnel, returns per walk-forward window.
- `heatmap.py`: the correlation heatmap with the clusters outlined.
- `lines.py`: equity and drawdown, rolling statistics, exposure.
"""

from dataflows.report.plots.bars import (
    funnel_svg,
    net_weights_svg,
    risk_contributions_svg,
    window_returns_svg,
)
from dataflows.report.plots.heatmap import (
    correlation_heatmap_svg,
)
from dataflows.report.plots.lines import (
    backtest_equity_svg,
    equity_drawdown_svg,
    exposure_svg,
    performance_svg,
    rolling_svg,
)
from dataflows.report.plots.style import (
    BENCHMARK_COLOR,
    BOOK_COLORS,
    BOOK_LABELS,
    BOUNDARY_COLOR,
    DRAWDOWN_COLOR,
    EQUITY_COLOR,
    FLAG_COLOR,
    FULL_WIDTH,
    HALF_WIDTH,
    LEAD_WIDTH,
    LONG_COLOR,
    NEUTRAL_COLOR,
    SHORT_COLOR,
    parse_dates,
    value_runs,
)

__all__ = [
    "BENCHMARK_COLOR",
    "BOOK_COLORS",
    "BOOK_LABELS",
    "BOUNDARY_COLOR",
    "DRAWDOWN_COLOR",
    "EQUITY_COLOR",
    "FLAG_COLOR",
    "FULL_WIDTH",
    "HALF_WIDTH",
    "LEAD_WIDTH",
    "LONG_COLOR",
    "NEUTRAL_COLOR",
    "SHORT_COLOR",
    "backtest_equity_svg",
    "correlation_heatmap_svg",
    "equity_drawdown_svg",
    "exposure_svg",
    "funnel_svg",
    "net_weights_svg",
    "parse_dates",
    "performance_svg",
    "risk_contributions_svg",
    "rolling_svg",
    "value_runs",
    "window_returns_svg",
]

"""Chart primitives for the HTML pages: hand-written inline SVG, no plotting library.

Why not Matplotlib here: a page's charts are bars, lines and one matrix. Drawing them as SVG strings takes a few
milliseconds and imports nothing, where Matplotlib cost ~0.4 s to import and ~0.1–0.3 s per chart (layout and text
measuring) on every run. The post-analysis PNGs (`dataflows.report.postanalysis`) still use Matplotlib.

Contract: every function returns one `<svg>` element (no XML prolog, no `id`s, so any number can share a page),
sized in CSS pixels through `width`/`height`/`viewBox` (pages scale it down with `max-width: 100%`). Text stays
text (searchable, the reader's own fonts), every string from the data is escaped, and the output is deterministic:
the same input gives the same bytes. A matrix is embedded as a PNG `data:` URI (one pixel block per cell), so a
500-asset heatmap stays small; nothing is ever fetched.

- `canvas.py`: the `Canvas`, escaping, coordinates, text widths, short labels, legends.
- `scales.py`: linear scales, round ticks and their labels, calendar ticks.
- `paths.py`: line and area paths (broken at missing values, thinned per pixel column).
- `raster.py`: the RdBu_r colour map and PNG `data:` URIs of matrices.
- `panels.py`: stacked time-series panels over one shared x axis.
"""

from dataflows.report.svg.canvas import (
    AXIS,
    FONT,
    GRID,
    INK,
    ZERO,
    Canvas,
    day_label,
    esc,
    legend,
    legend_width,
    num,
    shorten,
    text_width,
)
from dataflows.report.svg.panels import Panel, Series, time_series
from dataflows.report.svg.paths import area_path, polyline_path
from dataflows.report.svg.raster import diverging_rgb, png_data_uri
from dataflows.report.svg.scales import Scale, date_ticks, nice_domain, nice_step, tick_format

__all__ = [
    "AXIS",
    "FONT",
    "GRID",
    "INK",
    "ZERO",
    "Canvas",
    "Panel",
    "Scale",
    "Series",
    "area_path",
    "date_ticks",
    "day_label",
    "diverging_rgb",
    "esc",
    "legend",
    "legend_width",
    "nice_domain",
    "nice_step",
    "num",
    "png_data_uri",
    "polyline_path",
    "shorten",
    "text_width",
    "tick_format",
    "time_series",
]

"""The correlation heatmap: the matrix in dendrogram order as one embedded PNG, the HTR clusters outlined on the
diagonal, labels and a colour bar as SVG."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dataflows.report.plots.style import BOUNDARY_COLOR, value_runs
from dataflows.report.svg import AXIS, Canvas, Scale, diverging_rgb, num, png_data_uri, shorten, text_width, tick_format

_MAX_TICK_LABELS = 80  # beyond this many heatmap rows, axis labels are dropped (unreadable anyway)


def correlation_heatmap_svg(symbols: Sequence[str], corr: np.ndarray, cluster_of: Sequence[int | None]) -> str:
    """The correlation matrix in dendrogram order with each run of same-cluster symbols outlined on the diagonal.

    `cluster_of[i]` is the cluster id of `symbols[i]` (None when unassigned); a cluster whose members are not
    contiguous in this order is outlined once per contiguous run. The matrix is one embedded PNG (a block of pixels
    per cell, crisp at any zoom), outlines and labels are SVG.
    """
    n = len(symbols)
    matrix = np.asarray(corr, dtype=np.float64).reshape(n, n)
    labelled = n <= _MAX_TICK_LABELS
    size = 10.0 if n <= 20 else 8.5 if n <= 40 else 7.0
    names = [shorten(str(s)) for s in symbols] if labelled else []
    margin = 8.0 + max((text_width(s, size) for s in names), default=0.0)
    side = float(min(max(24.0 * n, 240.0), 600.0))
    cell = side / max(n, 1)
    left, top = margin, 30.0
    bar_x = left + side + 22.0
    width = bar_x + 16.0 + 46.0
    height = top + side + margin + 8.0
    title = "Correlation, dendrogram order"
    canvas = Canvas(width, height, title)
    canvas.text(left, 13, title, size=12.5)
    block = max(1, min(24, round(cell)))
    pixels = np.repeat(np.repeat(diverging_rgb(matrix), block, axis=0), block, axis=1)
    canvas.add(
        f'<image x="{num(left)}" y="{num(top)}" width="{num(side)}" height="{num(side)}" preserveAspectRatio="none" '
        f'style="image-rendering:pixelated" href="{png_data_uri(pixels)}"/>'
    )
    for i, name in enumerate(names):
        mid = top + (i + 0.5) * cell
        canvas.text(left - 5, mid, name, size=size, anchor="end")
        canvas.text(left + (i + 0.5) * cell, top + side + 5, name, size=size, anchor="end", rotate=True)
    for cluster, start, length in value_runs(list(cluster_of)):
        if cluster is None:
            continue
        x, y = left + start * cell, top + start * cell
        canvas.add(
            f'<rect x="{num(x)}" y="{num(y)}" width="{num(length * cell)}" height="{num(length * cell)}" '
            f'fill="none" stroke="{BOUNDARY_COLOR}" stroke-width="1.6"/>'
        )
        if labelled:
            tag = f"C{cluster}"
            canvas.rect(x + 1.5, y + 1.5, text_width(tag, 8.0) + 4, 11, "#ffffff", opacity=0.85)
            canvas.text(x + 3.5, y + 7, tag, size=8.0, color=BOUNDARY_COLOR, bold=True)
    # colour bar: −1 (bottom) … +1 (top)
    ramp = diverging_rgb(np.linspace(1.0, -1.0, 128)[:, None])
    bar_h = side * 0.8
    bar_top = top + (side - bar_h) / 2
    canvas.add(
        f'<image x="{num(bar_x)}" y="{num(bar_top)}" width="14" height="{num(bar_h)}" preserveAspectRatio="none" '
        f'href="{png_data_uri(ramp)}"/>'
    )
    ys = Scale(-1.0, 1.0, bar_top + bar_h, bar_top)
    ticks = [-1.0, -0.5, 0.0, 0.5, 1.0]
    for t, label in zip(ticks, tick_format(ticks, False), strict=True):
        canvas.line(bar_x + 14, ys(t), bar_x + 18, ys(t), AXIS)
        canvas.text(bar_x + 21, ys(t), label, size=9.5)
    canvas.text(width - 6, top + side / 2, "correlation", size=10, anchor="middle", rotate=True)
    return canvas.render()

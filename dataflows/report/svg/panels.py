"""Time-series charts: stacked `Panel`s of `Series` over one shared x axis (dates or the observation number)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from dataflows.report.svg.canvas import AXIS, GRID, Canvas, legend, legend_width
from dataflows.report.svg.paths import area_path, polyline_path
from dataflows.report.svg.scales import Scale, date_ticks, nice_domain, tick_format


@dataclass
class Series:
    """One line of a time-series panel."""

    values: np.ndarray
    color: str
    label: str = ""
    width: float = 1.3
    fill: bool = False  # shade between the line and zero
    opacity: float = 1.0


@dataclass
class Panel:
    """One stacked panel of a time-series chart (they share the x axis)."""

    series: list[Series]
    ylabel: str
    height: float
    percent: bool = False
    hline: float | None = None  # a dashed reference line (e.g. equity 1.0)
    top_zero: bool = False  # the y range ends at 0 (drawdowns)
    legend: bool = False
    extra: list[str] = field(default_factory=list)


def time_series(
    title: str,
    dates: Sequence[datetime] | None,
    n: int,
    panels: Sequence[Panel],
    *,
    width: float = 960.0,
    vlines: Sequence[datetime] = (),
) -> str:
    """Stacked panels over one shared x axis (dates when given, else the observation number); returns the SVG."""
    left, right, top, gap, bottom = 72.0, 18.0, 30.0, 12.0, 30.0
    height = top + sum(p.height for p in panels) + gap * (len(panels) - 1) + bottom
    canvas = Canvas(width, height, title)
    canvas.text(left, 13, title, size=12.5)
    if dates is not None:
        first = dates[0]
        x = np.array([(d - first).total_seconds() for d in dates[:n]], dtype=np.float64)
    else:
        x = np.arange(n, dtype=np.float64)
    xs = Scale(float(x[0]) if x.size else 0.0, float(x[-1]) if x.size else 1.0, left, width - right)
    xpx = xs.many(x)
    columns = int(width - left - right)
    y0 = top
    for i, p in enumerate(panels):
        finite = [np.asarray(s.values, dtype=np.float64)[:n] for s in p.series]
        pool = np.concatenate([v[np.isfinite(v)] for v in finite] + [np.zeros(0)])
        extra = [p.hline] if p.hline is not None else []
        if p.top_zero or any(s.fill for s in p.series):
            extra.append(0.0)
        lo = float(min([pool.min() if pool.size else 0.0, *extra]))
        hi = float(max([pool.max() if pool.size else 1.0, *extra]))
        lo, hi, ticks = nice_domain(lo, hi, max(3, int(p.height / 45)))
        ys = Scale(lo, hi, y0 + p.height, y0)
        for t, label in zip(ticks, tick_format(ticks, p.percent), strict=True):
            canvas.line(left, ys(t), width - right, ys(t), GRID, 0.8)
            canvas.text(left - 6, ys(t), label, size=10, anchor="end")
        canvas.text(16, y0 + p.height / 2, p.ylabel, size=10.5, anchor="middle", rotate=True)
        if i == 0 and dates is not None:
            first = dates[0]
            for stamp in vlines:
                vx = xs((stamp - first).total_seconds())
                canvas.line(vx, y0, vx, y0 + p.height, "#cbd5e0", 0.7, "1.5 2.5")
        if p.hline is not None:
            canvas.line(left, ys(p.hline), width - right, ys(p.hline), AXIS, 0.9, "4 3")
        for s, v in zip(p.series, finite, strict=True):
            ypx = ys.many(v)
            if s.fill:
                d = area_path(xpx[: v.size], ypx, ys(0.0), columns)
                if d:
                    canvas.add(f'<path d="{d}" fill="{s.color}" fill-opacity="0.35" stroke="none"/>')
            d = polyline_path(xpx[: v.size], ypx, columns)
            if d:
                op = f' stroke-opacity="{s.opacity:g}"' if s.opacity != 1 else ""
                canvas.add(
                    f'<path d="{d}" fill="none" stroke="{s.color}" stroke-width="{s.width:g}"{op} '
                    'stroke-linejoin="round" stroke-linecap="round"/>'
                )
        canvas.line(left, y0, left, y0 + p.height, AXIS)
        canvas.line(left, y0 + p.height, width - right, y0 + p.height, AXIS)
        if p.legend:
            items = [("line", s.color, s.label) for s in p.series if s.label]
            if items:
                end = legend_width(items) + left + 8
                canvas.rect(left + 4, y0 + 2, end - left - 4, 16, "#ffffff", opacity=0.85)
                legend(canvas, items, end, y0 + 10)
        y0 += p.height + gap
    base = y0 - gap
    if dates is not None and n:
        ticks = date_ticks(dates[0], dates[n - 1], max(2, columns // 110))
        for stamp, label in ticks:
            tx = xs((stamp - dates[0]).total_seconds())
            canvas.line(tx, base, tx, base + 4, AXIS)
            canvas.text(tx, base + 15, label, size=10, anchor="middle")
    elif n:
        lo, hi, ticks = nice_domain(0.0, float(max(n - 1, 1)), max(2, columns // 90))
        for t, label in zip(ticks, tick_format(ticks, False), strict=True):
            if 0 <= t <= n - 1:
                canvas.line(xs(t), base, xs(t), base + 4, AXIS)
                canvas.text(xs(t), base + 15, label, size=10, anchor="middle")
        canvas.text(width - right, base + 15, "observation", size=10, anchor="end")
    return canvas.render()

"""Bar charts: horizontal bars of per-asset values (net weights, risk contributions) and of the selection funnel,
and grouped bars of each walk-forward window's return per book."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dataflows.report.plots.style import (
    BOOK_COLORS,
    BOOK_LABELS,
    FLAG_COLOR,
    FULL_WIDTH,
    HALF_WIDTH,
    LONG_COLOR,
    NEUTRAL_COLOR,
    SHORT_COLOR,
)
from dataflows.report.svg import (
    AXIS,
    GRID,
    ZERO,
    Canvas,
    Scale,
    day_label,
    legend,
    nice_domain,
    num,
    shorten,
    text_width,
    tick_format,
)

_MAX_BARS = 50  # bar charts of per-asset values show the largest |value|s beyond this (tables list them all)


def _display_order(values: np.ndarray) -> np.ndarray:
    """Indices to plot, largest value first: all of them, or the `_MAX_BARS` largest by absolute value."""
    keep = np.arange(values.size)
    if values.size > _MAX_BARS:
        keep = np.sort(np.argsort(-np.nan_to_num(np.abs(values), nan=-1.0), kind="stable")[:_MAX_BARS])
    return keep[np.argsort(-np.nan_to_num(values[keep], nan=-np.inf), kind="stable")]


def _shown(shown: int, total: int, by: str) -> str:
    """The title's note when only the largest bars are drawn."""
    return f" ({shown} largest {by} of {total})" if shown < total else ""


def _hbar(
    labels: Sequence[str],
    values: np.ndarray,
    colors: Sequence[str],
    *,
    title: str,
    xlabel: str,
    percent: bool,
    width: float,
    counts: bool = False,
    legend_items: Sequence[tuple[str, str, str]] = (),
) -> str:
    """Horizontal bars, first label at the top, a zero line, hover titles; `counts` writes each value at its bar."""
    n = len(labels)
    size = 10.0 if n <= 30 else 8.5
    row = 19.0 if n <= 30 else 13.0
    names = [shorten(str(s)) for s in labels]
    left = 10.0 + max((text_width(s, size) for s in names), default=0.0)
    right = 44.0 if counts else 18.0
    top, bottom = 30.0, 40.0
    height = top + max(n, 1) * row + bottom
    canvas = Canvas(width, height, title)
    canvas.text(left, 13, title, size=12.5)
    if legend_items:
        legend(canvas, legend_items, width - right, 13)
    v = np.asarray(values, dtype=np.float64)
    finite = v[np.isfinite(v)]
    lo = min(0.0, float(finite.min())) if finite.size else 0.0
    hi = max(0.0, float(finite.max())) if finite.size else 1.0
    if lo == hi == 0.0:
        hi = 1.0
    lo, hi, ticks = nice_domain(lo, hi, max(2, int((width - left - right) / 80)))
    xs = Scale(lo, hi, left, width - right)
    plot_bottom = top + n * row
    for t, label in zip(ticks, tick_format(ticks, percent), strict=True):
        canvas.line(xs(t), top, xs(t), plot_bottom, GRID, 0.8)
        canvas.line(xs(t), plot_bottom, xs(t), plot_bottom + 4, AXIS)
        canvas.text(xs(t), plot_bottom + 14, label, size=10, anchor="middle")
    canvas.text((left + width - right) / 2, plot_bottom + 31, xlabel, size=10.5, anchor="middle")
    zero = xs(0.0)
    for i, (name, value, color) in enumerate(zip(names, v.tolist(), colors, strict=True)):
        y = top + i * row
        canvas.text(left - 6, y + row / 2, name, size=size, anchor="end")
        if not np.isfinite(value):
            continue
        x0, x1 = sorted((zero, xs(value)))
        shown = f"{int(value):,}" if counts else (f"{value:.2%}" if percent else f"{value:.4g}")
        canvas.rect(x0, y + row * 0.14, x1 - x0, row * 0.72, color, tip=f"{labels[i]}: {shown}")
        if counts:
            canvas.text(xs(value) + 4, y + row / 2, shown, size=9.5)
    canvas.line(zero, top, zero, plot_bottom, ZERO, 0.9)
    canvas.line(left, plot_bottom, width - right, plot_bottom, AXIS)
    return canvas.render()


def net_weights_svg(symbols: Sequence[str], net_weights: Sequence[float], directions: Sequence[str]) -> str:
    """Horizontal bars of signed weights (longs positive, shorts negative and coloured apart), largest long on top."""
    values = np.asarray(net_weights, dtype=np.float64)
    order = _display_order(values)
    short = [directions[i] == "SHORT" or (directions[i] != "LONG" and values[i] < 0) for i in order]
    present = [("box", LONG_COLOR, "LONG")] * (not all(short)) + [("box", SHORT_COLOR, "SHORT")] * any(short)
    return _hbar(
        [symbols[i] for i in order],
        values[order],
        [SHORT_COLOR if s else LONG_COLOR for s in short],
        title="Net weights" + _shown(len(order), len(values), "|net weight|"),
        xlabel="net weight",
        percent=True,
        width=800.0,
        legend_items=present if len(order) else (),
    )


def risk_contributions_svg(symbols: Sequence[str], shares: Sequence[float]) -> str:
    """Horizontal bars of each asset's share of portfolio variance, largest on top (negative = diversifier)."""
    values = np.asarray(shares, dtype=np.float64)
    order = _display_order(values)
    return _hbar(
        [symbols[i] for i in order],
        values[order],
        [SHORT_COLOR if v < 0 else NEUTRAL_COLOR for v in values[order]],
        title="Share of portfolio variance" + _shown(len(order), len(values), "|share|"),
        xlabel="risk contribution",
        percent=True,
        width=HALF_WIDTH,
    )


def funnel_svg(stages: Sequence[str], counts: Sequence[int]) -> str:
    """The selection funnel as horizontal bars, first stage on top, each bar labelled with its count."""
    values = np.asarray(counts, dtype=np.float64)
    return _hbar(
        list(stages),
        values,
        [LONG_COLOR] * len(stages),
        title="Selection funnel",
        xlabel="count",
        percent=False,
        width=HALF_WIDTH,
        counts=True,
    )


def window_returns_svg(labels: Sequence[str], returns: dict[str, np.ndarray], flagged: Sequence[bool]) -> str:
    """Grouped bars of each window's total return per book; flagged windows get an orange marker above them."""
    n = len(labels)
    books = list(returns)
    step = max(1, int(np.ceil(n / 24)))
    shown = [shorten(day_label(s)) for s in labels][::step]
    rotate = n > 12
    size = 9.0
    left, right, top = 72.0, 18.0, 30.0
    bottom = 14.0 + (max((text_width(s, size) for s in shown), default=0.0) if rotate else 14.0)
    plot_h = 200.0
    width = FULL_WIDTH
    canvas = Canvas(width, top + plot_h + bottom, "Return per test window")
    canvas.text(left, 13, "Return per test window", size=12.5)
    items = [("box", BOOK_COLORS.get(b, NEUTRAL_COLOR), shorten(BOOK_LABELS.get(b, b))) for b in books]
    marks = [i for i, f in enumerate(flagged) if f]
    if marks:
        items.append(("mark", FLAG_COLOR, "flagged"))
    if items:
        legend(canvas, items, width - right, 13)
    values = {
        b: np.nan_to_num(np.asarray(returns[b], dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)[:n] for b in books
    }
    pool = np.concatenate([v for v in values.values()] + [np.zeros(1)])
    lo, hi, ticks = nice_domain(float(pool.min()), float(pool.max()), 5)
    ys = Scale(lo, hi, top + plot_h, top + 10.0)
    for t, label in zip(ticks, tick_format(ticks, True), strict=True):
        canvas.line(left, ys(t), width - right, ys(t), GRID, 0.8)
        canvas.text(left - 6, ys(t), label, size=10, anchor="end")
    canvas.text(16, top + plot_h / 2, "window return", size=10.5, anchor="middle", rotate=True)
    slot = (width - left - right) / max(n, 1)
    bar = slot * 0.8 / max(len(books), 1)
    for k, b in enumerate(books):
        color = BOOK_COLORS.get(b, NEUTRAL_COLOR)
        for i, value in enumerate(values[b].tolist()):
            x = left + i * slot + slot * 0.1 + k * bar
            y0, y1 = sorted((ys(0.0), ys(value)))
            canvas.rect(x, y0, bar, y1 - y0, color, tip=f"{labels[i]} · {BOOK_LABELS.get(b, b)}: {value:.2%}")
    for i in marks:
        cx = left + (i + 0.5) * slot
        canvas.add(f'<path d="M{num(cx - 5)},{num(top)} h10 l-5,8 Z" fill="{FLAG_COLOR}"><title>flagged</title></path>')
    canvas.line(left, ys(0.0), width - right, ys(0.0), ZERO, 0.9)
    canvas.line(left, top, left, top + plot_h, AXIS)
    base = top + plot_h
    for j, label in enumerate(shown):
        cx = left + (j * step + 0.5) * slot
        canvas.line(cx, base, cx, base + 4, AXIS)
        if rotate:
            canvas.text(cx, base + 7, label, size=size, anchor="end", rotate=True)
        else:
            canvas.text(cx, base + 14, label, size=size, anchor="middle")
    return canvas.render()

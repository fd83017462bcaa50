"""Tearsheet charts as inline SVG strings, drawn by hand (`dataflows.report.svg`), no plotting library.

Every function takes plain arrays/lists and returns one `<svg>` element ready to paste into HTML: no XML prolog, no
`id`s (several charts share a page without clashes), text stays text, and the output is deterministic. Drawing all
of a run's charts takes milliseconds; nothing heavy is imported.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np

from dataflows.report.svg import (
    AXIS,
    GRID,
    ZERO,
    Canvas,
    Panel,
    Scale,
    Series,
    day_label,
    diverging_rgb,
    legend,
    nice_domain,
    num,
    png_data_uri,
    shorten,
    text_width,
    tick_format,
    time_series,
)
from dataflows.validation.metrics import drawdown

LONG_COLOR = "#2b6cb0"
SHORT_COLOR = "#c53030"
NEUTRAL_COLOR = "#4a5568"
EQUITY_COLOR = "#2b6cb0"
DRAWDOWN_COLOR = "#c53030"
BOUNDARY_COLOR = "#111111"
BOOK_COLORS = {"profile": EQUITY_COLOR, "filtered_ew": "#2f855a", "raw_ew": "#a0aec0"}
BOOK_LABELS = {"profile": "profile", "filtered_ew": "filtered EW (winners)", "raw_ew": "raw EW (pool)"}
FLAG_COLOR = "#dd6b20"

FULL_WIDTH = 960.0  # CSS px
HALF_WIDTH = 560.0
_MAX_BARS = 50  # bar charts of per-asset values show the largest |value|s beyond this (tables list them all)
_MAX_TICK_LABELS = 80  # beyond this many heatmap rows, axis labels are dropped (unreadable anyway)


def value_runs(values: Sequence[int | None]) -> list[tuple[int | None, int, int]]:
    """Contiguous runs as (value, start, length)."""
    runs: list[tuple[int | None, int, int]] = []
    for value, group in itertools.groupby(enumerate(values), key=lambda item: item[1]):
        items = list(group)
        runs.append((value, items[0][0], len(items)))
    return runs


def parse_dates(dates: Sequence[str]) -> list[datetime] | None:
    """ISO strings (date or datetime, `Z` or an offset allowed) → naive UTC datetimes; None if any fails to parse."""
    out: list[datetime] = []
    for text in dates:
        try:
            stamp = datetime.fromisoformat(str(text))
        except ValueError:
            return None
        if stamp.tzinfo is not None:
            stamp = stamp.astimezone(UTC).replace(tzinfo=None)
        out.append(stamp)
    return out


# ------------------------------------------------------------------------------------------------------- bars


def _display_order(values: np.ndarray) -> np.ndarray:
    """Indices to plot, largest value first: all of them, or the `_MAX_BARS` largest by absolute value."""
    keep = np.arange(values.size)
    if values.size > _MAX_BARS:
        keep = np.sort(np.argsort(-np.nan_to_num(np.abs(values), nan=-1.0), kind="stable")[:_MAX_BARS])
    return keep[np.argsort(-np.nan_to_num(values[keep], nan=-np.inf), kind="stable")]


def _shown(shown: int, total: int, by: str) -> str:
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


# ---------------------------------------------------------------------------------------------------- heatmap


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


# ------------------------------------------------------------------------------------------------------ lines


def equity_drawdown_svg(dates: Sequence[str], equity: np.ndarray, drawdown: np.ndarray) -> str:
    """Equity curve (top, starts at 1.0) over drawdown (bottom, ≤ 0), sharing the date axis."""
    eq = np.asarray(equity, dtype=np.float64)
    dd = np.asarray(drawdown, dtype=np.float64)
    parsed = parse_dates(dates)
    n = min(len(dates), eq.size, dd.size) if parsed is not None else min(eq.size, dd.size)
    return time_series(
        "In-sample equity",
        parsed,
        n,
        [
            Panel([Series(eq, EQUITY_COLOR, width=1.4)], "equity (start = 1.0)", 250.0, hline=1.0),
            Panel([Series(dd, DRAWDOWN_COLOR, width=1.0, fill=True)], "drawdown", 110.0, percent=True),
        ],
        width=FULL_WIDTH,
    )


def backtest_equity_svg(
    dates: Sequence[str],
    equity: dict[str, np.ndarray],
    drawdown: np.ndarray,
    boundaries: Sequence[str] = (),
) -> str:
    """Stitched out-of-sample equity of each book (top) over the profile's drawdown (bottom), shared date axis.

    `boundaries` are the test-window starts (dotted verticals; skipped beyond 60 windows or without parseable dates).
    """
    parsed = parse_dates(dates)
    n = len(dates)
    dd = np.asarray(drawdown, dtype=np.float64)[:n]
    order = [b for b in equity if b != "profile"] + [b for b in equity if b == "profile"]  # the profile on top
    series = [
        Series(
            np.asarray(equity[b], dtype=np.float64)[:n],
            BOOK_COLORS.get(b, NEUTRAL_COLOR),
            label=shorten(BOOK_LABELS.get(b, b)),
            width=1.7 if b == "profile" else 1.1,
        )
        for b in order
    ]
    vlines: list[datetime] = []
    if parsed is not None and 0 < len(boundaries) <= 60:
        vlines = (parse_dates(boundaries) or [])[1:]
    return time_series(
        "Out-of-sample equity, stitched test windows",
        parsed,
        n,
        [
            Panel(series, "equity (start = 1.0)", 250.0, hline=1.0, legend=bool(equity)),
            Panel([Series(dd, DRAWDOWN_COLOR, width=1.0, fill=True)], "profile drawdown", 110.0, percent=True),
        ],
        width=FULL_WIDTH,
        vlines=vlines,
    )


BENCHMARK_COLOR = "#dd6b20"
LEAD_WIDTH = 760.0  # the lead chart sits beside the headline table


def performance_svg(
    dates: Sequence[str], returns: np.ndarray, benchmark: np.ndarray, labels: tuple[str, str], title: str
) -> str:
    """Equity of a stream and of its benchmark (top, growth of 1.0) over both drawdowns (bottom), shared date axis;
    an empty `benchmark` draws the stream alone."""
    r = np.asarray(returns, dtype=np.float64)
    b = np.asarray(benchmark, dtype=np.float64)
    n = min(len(dates), r.size)
    main = Series(np.cumprod(1.0 + r[:n]), EQUITY_COLOR, label=shorten(labels[0], 40), width=1.8)
    equity, drawdowns = [main], [Series(drawdown(r[:n]), DRAWDOWN_COLOR, width=1.0, fill=True)]
    if b.size:
        equity.insert(0, Series(np.cumprod(1.0 + b[:n]), BENCHMARK_COLOR, label=shorten(labels[1], 40), width=1.2))
        drawdowns.append(Series(drawdown(b[:n]), BENCHMARK_COLOR, width=0.9, opacity=0.8))
    return time_series(
        title,
        parse_dates(dates[:n]),
        n,
        [
            Panel(equity, "equity (start = 1.0)", 175.0, hline=1.0, legend=True),
            Panel(drawdowns, "drawdown", 75.0, percent=True, top_zero=True),
        ],
        width=LEAD_WIDTH,
    )


def rolling_svg(dates: Sequence[str], panels: Sequence[tuple[str, bool, Sequence[tuple[str, np.ndarray, str]]]]) -> str:
    """Rolling statistics over a shared date axis: per panel (y label, percent?, [(label, values, colour), ...])."""
    n = len(dates)
    drawn = [
        Panel(
            [Series(np.asarray(v, dtype=np.float64)[:n], c, label=shorten(lab, 40), width=1.3) for lab, v, c in lines],
            ylabel,
            150.0,
            percent=percent,
            hline=None if percent else 0.0,
            legend=True,
        )
        for ylabel, percent, lines in panels
    ]
    return time_series("Rolling statistics", parse_dates(dates), n, drawn, width=FULL_WIDTH)


def exposure_svg(dates: Sequence[str], gross: np.ndarray, net: np.ndarray) -> str:
    """Gross and net exposure of the book per row (fractions of equity), shared date axis."""
    n = len(dates)
    lines = [
        Series(np.asarray(gross, dtype=np.float64)[:n], NEUTRAL_COLOR, label="gross", width=1.4),
        Series(np.asarray(net, dtype=np.float64)[:n], EQUITY_COLOR, label="net", width=1.4),
    ]
    panel = Panel(lines, "exposure", 150.0, percent=True, hline=0.0, legend=True)
    return time_series("Exposure (target weights at each rebalance)", parse_dates(dates), n, [panel], width=FULL_WIDTH)


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

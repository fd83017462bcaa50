"""Line charts over a date axis: equity over drawdown (in-sample, the walk-forward's books, a stream beside its
benchmark), rolling statistics and exposure."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np

from dataflows.report.plots.style import (
    BENCHMARK_COLOR,
    BOOK_COLORS,
    BOOK_LABELS,
    DRAWDOWN_COLOR,
    EQUITY_COLOR,
    FULL_WIDTH,
    LEAD_WIDTH,
    NEUTRAL_COLOR,
    parse_dates,
)
from dataflows.report.svg import Panel, Series, shorten, time_series
from dataflows.validation.metrics import drawdown


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

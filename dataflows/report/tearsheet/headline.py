"""The tearsheet's first screen: the stream the page leads with (the walk-forward out of sample, or the in-sample
stream without a backtest) beside its benchmark — headline metrics, equity and drawdown — then its monthly returns,
rolling Sharpe and volatility, worst drawdowns and exposure (`dataflows.validation.metrics` definitions)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from dataflows.report import plots
from dataflows.report.data import IN_SAMPLE, OUT_OF_SAMPLE, POOL, BacktestView, Performance, TearsheetData
from dataflows.report.page import day, figure, headline_rows, is_finite, pct
from dataflows.validation import metrics as M

ROLLING = 63  # rows of the rolling Sharpe and volatility (a quarter of trading days)
WORST = 5  # drawdown episodes listed
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def derived_performance(data: TearsheetData) -> Performance:
    """The stream to lead with when the nodes did not set one: the backtest's profile book against the raw EW book,
    else the in-sample stream recovered from its equity curve (no benchmark)."""
    bt = data.backtest
    if bt is not None:
        empty = np.empty(0)
        return Performance(
            OUT_OF_SAMPLE,
            list(bt.dates),
            np.asarray(bt.returns.get("profile", empty), dtype=np.float64),
            POOL,
            np.asarray(bt.returns.get("raw_ew", empty), dtype=np.float64),
            bt.periods_per_year,
        )
    equity = np.asarray(data.equity, dtype=np.float64).ravel()
    returns = equity / np.concatenate([[1.0], equity[:-1]]) - 1.0 if equity.size else equity
    return Performance(IN_SAMPLE, list(data.dates), returns, "", np.empty(0))


Rows = tuple[list[str], np.ndarray, np.ndarray, str]


def cut_rows(lead: Performance) -> Rows:
    """Days, returns and benchmark returns cut to a common length, and a warning when the lengths differ."""
    dates = [day(d) for d in lead.dates]
    r = np.asarray(lead.returns, dtype=np.float64).ravel()
    b = np.asarray(lead.benchmark_returns, dtype=np.float64).ravel()
    n = min(len(dates), r.size, *([b.size] if b.size else []))
    sizes = {len(dates), r.size, *([b.size] if b.size else [])}
    warn = ""
    if len(sizes) > 1:
        warn = (
            f"Lengths differ: {len(dates)} dates, {r.size} returns, {b.size} benchmark returns; showing the first {n}."
        )
    return dates[:n], r[:n], b[:n] if b.size else b, warn


def headline_section(lead: Performance, cut: Rows, bt: BacktestView | None) -> dict[str, Any]:
    """The first screen: span, benchmark, notes, headline metrics of the stream and its benchmark, and their chart."""
    dates, r, b, warn = cut
    out_of_sample = lead.sample == OUT_OF_SAMPLE
    title = "Out of sample: the walk-forward" if out_of_sample else "In-sample: the training window"
    if not dates:
        return {"title": title, "empty": True, "notes": lead.notes, "warn": warn}
    span = f"{dates[0]} → {dates[-1]} · {len(dates):,} days"
    if out_of_sample and bt is not None and bt.windows:
        span += f" · {len(bt.windows)} windows"
    columns = {"this sleeve": M.series_metrics(r, lead.periods_per_year)}
    if b.size:
        columns[lead.benchmark] = M.series_metrics(b, lead.periods_per_year)
    what = "the walk-forward's profile book" if out_of_sample else "in-sample"
    caption = f"Growth of 1.0 of the sleeve ({what})" + (" and of the benchmark" if b.size else "") + "; drawdowns."
    return {
        "title": title,
        "empty": False,
        "span": span,
        "benchmark": lead.benchmark if b.size else "none",
        "notes": lead.notes,
        "warn": warn,
        "columns": list(columns),
        "headline": headline_rows(columns),
        "chart": figure(
            caption,
            plots.performance_svg,
            dates,
            r,
            b,
            ("this sleeve", lead.benchmark),
            "Equity and drawdown, " + ("out of sample" if out_of_sample else "in-sample"),
        ),
    }


def _signed(value: float, decimals: int = 1) -> dict[str, str]:
    """A return as text and its colour class."""
    if not is_finite(value):
        return {"text": "", "cls": ""}
    return {"text": pct(value, decimals), "cls": "gain" if value > 0 else "loss" if value < 0 else ""}


def _days(dates: Sequence[str]) -> np.ndarray | None:
    """Dates as datetime64[D], or None when any does not parse."""
    try:
        return np.array([day(d) for d in dates], dtype="datetime64[D]")
    except ValueError:
        return None


def monthly_section(lead: Performance, cut: Rows) -> dict[str, Any]:
    """Returns per year × month and per year (and the benchmark's year), or why there are none."""
    dates, r, b, _ = cut
    days = _days(dates)
    if not dates or days is None:
        return {"rows": [], "why": "no dated rows" if not dates else "the dates do not parse as days"}
    years, table, yearly = M.monthly_returns(days, r)
    bench = dict(zip(*M.monthly_returns(days, b)[::2], strict=True)) if b.size else {}
    rows = [
        {
            "year": year,
            "months": [_signed(v) for v in table[i]],
            "total": _signed(yearly[i]),
            "benchmark": _signed(bench.get(year, math.nan)),
        }
        for i, year in enumerate(years)
    ]
    return {"rows": rows, "months": _MONTHS, "benchmark": bool(bench), "label": lead.benchmark, "why": ""}


def rolling_section(lead: Performance, cut: Rows) -> dict[str, Any]:
    """Rolling Sharpe and volatility of the stream and its benchmark (a quarter, or a third of short streams)."""
    dates, r, b, _ = cut
    n = len(dates)
    window = ROLLING if n >= 2 * ROLLING else n // 3
    if window < 5:
        return {"chart": None, "why": f"too few rows ({n}) for a rolling window"}
    ppy = lead.periods_per_year
    streams = [("this sleeve", r, plots.EQUITY_COLOR)] + (
        [(lead.benchmark, b, plots.BENCHMARK_COLOR)] if b.size else []
    )
    panels = [
        (f"{window}-day Sharpe", False, [(lab, M.rolling_sharpe(x, window, ppy), c) for lab, x, c in streams]),
        (f"{window}-day volatility", True, [(lab, M.rolling_vol(x, window, ppy), c) for lab, x, c in streams]),
    ]
    caption = f"Sharpe and annual volatility of the last {window} days (the headline's definitions)."
    return {"chart": figure(caption, plots.rolling_svg, dates, panels), "why": ""}


def drawdowns_section(cut: Rows) -> dict[str, Any]:
    """The worst episodes: start = the last day at the high, lengths in calendar days (rows if dates do not parse)."""
    dates, r, _, _ = cut
    days = _days(dates)

    def span(a: int, b: int) -> int:
        return int((days[b] - days[a]).astype(int)) if days is not None else b - a

    rows = []
    for k, d in enumerate(M.drawdown_periods(r, WORST), 1):
        start, end = max(d.peak, 0), d.recovery if d.recovery is not None else len(dates) - 1
        rows.append(
            {
                "rank": k,
                "start": dates[start],
                "trough": dates[d.trough],
                "recovery": dates[d.recovery] if d.recovery is not None else "not recovered",
                "open": d.recovery is None,
                "depth": pct(-d.depth),
                "length": f"{span(start, end):,}" + ("+" if d.recovery is None else ""),
                "to_trough": f"{span(start, d.trough):,}",
            }
        )
    return {"rows": rows, "unit": "days" if days is not None else "rows"}


def exposure_section(lead: Performance, cut: Rows) -> dict[str, Any] | None:
    """Gross and net exposure per row; None when the stream does not carry them for every row."""
    dates = cut[0]
    gross, net = np.asarray(lead.gross, dtype=np.float64), np.asarray(lead.net, dtype=np.float64)
    if not dates or gross.size < len(dates) or net.size < len(dates):
        return None
    caption = "Sum of |target weights| (gross) and of signed targets (net) set at each rebalance; 0 = cash."
    return {"chart": figure(caption, plots.exposure_svg, dates, gross, net)}

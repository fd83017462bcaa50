"""The tearsheet's walk-forward details (out of sample): setup, every book's metrics, selection and optimization
alphas, the stitched equity, one row per test window, and the forensic report (flagged, fallback and failed windows)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dataflows.report import plots
from dataflows.report.data import BACKTEST_BOOKS, BacktestView
from dataflows.report.page import NA, day, figure, fmt, pct, ratio
from dataflows.report.tearsheet.formats import RATIO_HINTS, badge, int_or_none, metric_cell, to_float
from dataflows.validation import metrics as M

_BOOK_NAMES = {"profile": "profile", "filtered_ew": "filtered EW", "raw_ew": "raw EW"}
_BACKTEST_METRICS = (*M.KEYS, "turnover_per_rebalance", "annual_turnover", "costs_total")


def _books(bt: BacktestView) -> list[str]:
    """Books to show: the known ones in display order, then any other the view carries."""
    seen = set(bt.metrics) | set(bt.equity)
    return [b for b in BACKTEST_BOOKS if b in seen] + sorted(seen - set(BACKTEST_BOOKS))


def _book_name(book: str) -> str:
    """A book's display name."""
    return _BOOK_NAMES.get(book, book)


def _cell(value: Any) -> str:
    """Text of a table value; None and non-finite floats as n/a."""
    if value is None or (isinstance(value, float | np.floating) and not math.isfinite(float(value))):
        return NA
    return str(value)


def _book_metric(name: str, value: Any) -> str:
    """A book metric: costs as percentages with 3 decimals, ratios with 2, anything else by its name."""
    if "cost" in name or "fee" in name or "slippage" in name:
        return pct(value, 3)
    if any(h in name.lower() for h in RATIO_HINTS):
        return ratio(value)
    return metric_cell(name, value)


def _flag_reasons(bt: BacktestView) -> dict[int, list[str]]:
    """Window index → "book: reason" lines of the forensic report."""
    out: dict[int, list[str]] = {}
    for f in bt.flags:
        w = int_or_none(f.get("window"))
        if w is None:
            continue
        reasons = f.get("reasons") or ["flagged"]
        out.setdefault(w, []).append(f"{_book_name(str(f.get('book', '?')))}: {'; '.join(map(str, reasons))}")
    return out


def _failed(bt: BacktestView) -> set[int]:
    """Windows that failed (held cash), from the forensic report or the window records."""
    failed = {int(w) for w in bt.failed_windows}
    return failed | {w for rec in bt.windows if rec.get("error") and (w := int_or_none(rec.get("window"))) is not None}


def _with_fallback(bt: BacktestView) -> set[int]:
    """Windows whose optimizer fell back, from the forensic report or the window records."""
    fb = {int(w) for w in bt.fallback_windows}
    return fb | {
        w for rec in bt.windows if rec.get("fallback_used") and (w := int_or_none(rec.get("window"))) is not None
    }


def walk_forward_section(bt: BacktestView) -> dict[str, Any]:
    """The walk-forward's details: setup, every book, alphas, every window, forensics."""
    flagged, failed, fallback = _flag_reasons(bt), _failed(bt), _with_fallback(bt)
    return {
        "summary": _backtest_summary(bt, flagged, failed, fallback),
        "charts": _backtest_charts(bt, flagged),
        "metrics": _backtest_metrics(bt),
        "alpha": _alpha(bt),
        "windows": _windows(bt, flagged, failed, fallback),
        "forensic": _forensic(bt, flagged, failed, fallback),
    }


def _backtest_summary(bt: BacktestView, flagged: dict, failed: set[int], fallback: set[int]) -> list[tuple[str, str]]:
    p = bt.params
    setup = NA
    if {"train", "test", "step"} <= set(p):
        setup = (
            f"train {p['train']} / test {p['test']} / step {p['step']} rows"
            + (" (anchored)" if p.get("anchored") else "")
            + f" · fees {pct(p.get('fees'), 3)} · slippage {pct(p.get('slippage'), 3)}"
            + (f" · eligibility {p['eligibility']}" if p.get("eligibility") else "")
        )
    profile = bt.metrics.get("profile", {})
    return [
        ("period", f"{day(bt.dates[0])} → {day(bt.dates[-1])}" if bt.dates else NA),
        ("rows", f"{len(bt.dates):,}"),
        ("windows", f"{len(bt.windows):,}"),
        ("failed windows (cash)", f"{len(failed):,}"),
        ("windows with a fallback", f"{len(fallback):,}"),
        ("flagged windows", f"{len(flagged):,}"),
        ("profile total return", pct(profile.get("total_return"))),
        ("profile Sharpe", ratio(profile.get("sharpe"))),
        ("setup", setup),
    ]


def _backtest_charts(bt: BacktestView, flagged: dict) -> dict[str, Any]:
    dates = [day(d) for d in bt.dates]
    curves = {b: np.asarray(bt.equity[b], dtype=np.float64).ravel() for b in _books(bt) if b in bt.equity}
    drawdown = np.asarray(bt.drawdown, dtype=np.float64).ravel()
    n = min([len(dates), drawdown.size, *(c.size for c in curves.values())])
    out: dict[str, Any] = {"equity": None, "windows": None, "warn": ""}
    if n == 0:
        return out
    if any(c.size != len(dates) for c in curves.values()) or drawdown.size != len(dates):
        sizes = ", ".join(f"{_book_name(b)} {c.size}" for b, c in curves.items())
        out["warn"] = (
            f"Lengths differ: {len(dates)} dates, equity {sizes}, {drawdown.size} drawdown points; "
            f"showing the first {n}."
        )
    starts = [day(rec.get("test_start")) for rec in bt.windows if rec.get("test_start")]
    out["equity"] = figure(
        "Stitched out-of-sample equity of the profile and the two equal-weight baselines (dotted lines: window "
        "starts), and the profile's drawdown.",
        plots.backtest_equity_svg,
        dates[:n],
        {b: c[:n] for b, c in curves.items()},
        drawdown[:n],
        starts,
    )
    if bt.windows:
        books = _books(bt)
        out["windows"] = figure(
            "Total return of each test window per book; ▼ marks a window the forensic report flags.",
            plots.window_returns_svg,
            [day(rec.get("test_start") or NA) for rec in bt.windows],
            {b: np.array([to_float(rec.get(f"{b}_total_return")) for rec in bt.windows]) for b in books},
            [int_or_none(rec.get("window")) in flagged for rec in bt.windows],
        )
    return out


def _backtest_metrics(bt: BacktestView) -> dict[str, Any]:
    books = [b for b in _books(bt) if b in bt.metrics]
    keys = [k for k in _BACKTEST_METRICS if any(k in bt.metrics[b] for b in books)]
    keys += sorted({k for b in books for k in bt.metrics[b]} - set(keys) - {"rows"})
    rows = [
        (M.LABELS.get(k, k.replace("_", " ")), [_book_metric(k, bt.metrics[b].get(k)) for b in books]) for k in keys
    ]
    for label, values in (("turnover (sum)", bt.turnover), ("costs (sum)", bt.costs)):
        if values:
            rows.append((label, [_book_metric(label, values.get(b)) for b in books]))
    return {"books": [_book_name(b) for b in books], "rows": rows}


def _alpha(bt: BacktestView) -> list[tuple[str, str, str]]:
    keys = list(dict.fromkeys([*bt.selection_alpha, *bt.optimization_alpha]))
    return [
        (
            k.replace("_", " "),
            _book_metric(k, bt.selection_alpha.get(k)),
            _book_metric(k, bt.optimization_alpha.get(k)),
        )
        for k in keys
    ]


def _windows(bt: BacktestView, flagged: dict, failed: set[int], fallback: set[int]) -> list[dict[str, Any]]:
    out = []
    for rec in bt.windows:
        w = int_or_none(rec.get("window"))
        classes, status = [], []
        if w in failed:
            classes.append("fail")
            status.append(f"✘ cash: {rec.get('error') or 'failed'}")
        if w in flagged:
            classes.append("flagged")
            status.append("⚑ flagged — " + " | ".join(flagged[w]))
        if w in fallback and w not in failed:
            classes.append("fallback")
        method, primary = rec.get("method"), rec.get("primary")
        switched = bool(rec.get("fallback_used") and primary and method and primary != method)
        out.append(
            {
                "id": _cell(w),
                "cls": " ".join(classes),
                "start": day(rec.get("test_start")),
                "end": day(rec.get("test_end")),
                "rows": _cell(rec.get("test_rows")) + (" (partial)" if rec.get("partial") else ""),
                "cells": [
                    pct(rec.get("profile_total_return")),
                    ratio(rec.get("profile_sharpe")),
                    pct(rec.get("filtered_ew_total_return")),
                    pct(rec.get("raw_ew_total_return")),
                    pct(rec.get("selection_alpha")),
                    pct(rec.get("optimization_alpha")),
                    pct(rec.get("profile_turnover")),
                    pct(rec.get("profile_costs"), 3),
                    _cell(rec.get("stage")),
                ],
                "regime": badge(rec["regime"]) if rec.get("regime") else None,
                "optimizer": f"{primary} → {method}" if switched else (method or NA),
                "switched": switched,
                "fallback": w in fallback,
                "status": status,
            }
        )
    return out


def _forensic(bt: BacktestView, flagged: dict, failed: set[int], fallback: set[int]) -> dict[str, Any]:
    t = bt.thresholds
    rule = (
        f"|annualized Sharpe| > {fmt(t.get('abs_sharpe'), 1)} or window return > {pct(t.get('total_return'), 0)}"
        if t
        else "the forensic thresholds"
    )
    flags = [
        {
            "window": _cell(f.get("window")),
            "book": _book_name(str(f.get("book"))),
            "start": day(f.get("test_start")),
            "end": day(f.get("test_end")),
            "return": pct(f.get("total_return")),
            "sharpe": ratio(f.get("sharpe")),
            "reasons": "; ".join(map(str, f.get("reasons") or [])),
        }
        for f in bt.flags
    ]
    by_window = {int_or_none(rec.get("window")): rec for rec in bt.windows}

    def field(w: int, key: str) -> str:
        value = by_window.get(w, {}).get(key)
        return day(value) if key == "test_start" else _cell(value)

    return {
        "rule": rule,
        "flags": flags,
        "flagged_windows": len(flagged),
        "fallback": [
            (w, field(w, "test_start"), field(w, "primary"), field(w, "method"), field(w, "attempts"))
            for w in sorted(fallback)
        ],
        "failed": [(w, field(w, "test_start"), field(w, "error")) for w in sorted(failed)],
        "windows": len(bt.windows),
    }

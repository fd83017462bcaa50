"""`BacktestResult` → the plain values the tearsheet and plots read: `BacktestView` (the walk-forward's books, windows
and forensics) and `Performance` (the profile book beside the profile's benchmark, what the page leads with).

Dates become days (YYYY-MM-DD) here: the walk-forward's table and forensic report carry ISO timestamps of daily bars.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from dataflows.errors import ConfigError
from dataflows.report.data import BACKTEST_BOOKS, OUT_OF_SAMPLE, POOL, BacktestView, Performance
from dataflows.returns import ReturnsPanel
from dataflows.timestamps import iso
from dataflows.validation import metrics as M
from dataflows.validation.walkforward import RAW_EW, BacktestResult, History, book_targets

_DATE_KEYS = ("train_start", "train_end", "test_start", "test_end")


def equity_curve(returns: np.ndarray) -> np.ndarray:
    """Equity after each row, compounding `returns` from 1.0."""
    return np.cumprod(1.0 + np.asarray(returns, dtype=np.float64))


def _clean(value: Any) -> Any:
    """Non-finite floats → None, numpy scalars → Python, recursively (the view holds plain values).

    Not a round trip through `atomic.json_bytes`: that sorts keys, and here key order is display order (the alpha
    table lists total return, annual return, Sharpe as the walk-forward wrote them)."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _days(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records with their ISO timestamps of daily bars (`test_start`, ...) cut to the day."""
    return [{k: v[:10] if k in _DATE_KEYS and isinstance(v, str) else v for k, v in rec.items()} for rec in records]


def _symbols(result: BacktestResult, symbols: Sequence[str] | None) -> list[str]:
    """The simulation's column order: given, or every decision's eligible set when no eligibility rule applied."""
    n = next(iter(result.simulations.values())).exposure.shape[1] if result.simulations else 0
    if symbols is not None:
        out = [str(s) for s in symbols]
    elif result.params.eligibility is None and result.decisions:
        out = [str(s) for s in result.decisions[0].eligible]  # every panel symbol, in panel order
    else:
        return []
    return out if len(out) == n else []


def backtest_view(result: BacktestResult, symbols: Sequence[str] | None = None) -> BacktestView:
    """The view of `result`; `symbols` (the history panel's, in order) enables the drift monitor under a rule."""
    books = [b for b in BACKTEST_BOOKS if b in result.returns]
    returns = {b: np.asarray(result.returns[b], dtype=np.float64) for b in books}
    equity = {b: equity_curve(r) for b, r in returns.items()}
    sims = result.simulations
    cols = _symbols(result, symbols)
    targets: dict[str, np.ndarray] = {}
    realized: dict[str, np.ndarray] = {}
    if cols:
        for b in books:
            targets[b] = book_targets(result.decisions, cols, b)
            realized[b] = np.asarray(sims[b].exposure, dtype=np.float64)
    forensic = result.forensic
    return BacktestView(
        dates=[iso(int(d))[:10] for d in result.dates],
        equity=equity,
        drawdown=M.drawdown(returns.get("profile", np.zeros(len(result.dates)))),
        windows=_days(_clean(result.windows.to_dicts())),
        metrics=_clean({b: dict(result.metrics["books"][b]) for b in books}),
        selection_alpha=_clean(dict(result.metrics.get("selection_alpha", {}))),
        optimization_alpha=_clean(dict(result.metrics.get("optimization_alpha", {}))),
        turnover={b: float(np.sum(sims[b].turnover)) for b in books if b in sims},
        costs={b: float(np.sum(sims[b].costs)) for b in books if b in sims},
        flags=_days(_clean(list(forensic.get("flagged", [])))),
        fallback_windows=[int(w) for w in forensic.get("fallback_windows", [])],
        failed_windows=[int(w) for w in forensic.get("failed_windows", [])],
        thresholds=_clean(dict(forensic.get("thresholds", {}))),
        returns=returns,
        periods_per_year=int(result.periods_per_year),
        params=_clean(result.params.as_dict()),
        symbols=cols,
        targets=targets,
        realized=realized,
    )


def benchmark_stream(
    symbol: str, panel: ReturnsPanel, rows: np.ndarray, what: str, pool: np.ndarray, pool_label: str
) -> tuple[str, np.ndarray, list[str]]:
    """(label, returns, notes) of `symbol` bought and held over panel `rows` (a row without its bar is a flat day);
    when the panel has no bar of it on those rows, the pool's, and a note that says so."""
    n = int(np.size(rows))
    if symbol in panel.symbols:
        r = panel.returns[rows, panel.symbols.index(symbol)]
        missing = ~np.isfinite(r)
        if not missing.all():
            k = int(missing.sum())
            notes = [f"benchmark {symbol} has no bar on {k} of {n} {what} dates (counted as flat days)"] if k else []
            return f"{symbol}, bought and held", np.where(missing, 0.0, r), notes
        why = f"no bar on any of the {n} {what} dates"
    else:
        why = f"no {what} returns (unhealthy, or too short a history)"
    return pool_label, pool, [f"benchmark {symbol} has {why}: compared with the {pool_label} instead"]


def check_benchmark(symbol: str | None, universe: Sequence[str]) -> None:
    """`profile.benchmark` must be null or one of the sleeve's candidates (the universe its history is drawn from);
    one that is a candidate without data is not an error (the report says so)."""
    if symbol is not None and symbol not in set(universe):
        msg = (
            f"profile.benchmark={symbol!r} is not among the sleeve's {len(set(universe))} candidates (its walk-forward "
            f"history's universe; see candidates.json); name one of them or use null for the {POOL}"
        )
        raise ConfigError(msg)


def backtest_performance(result: BacktestResult, history: History, benchmark: str | None) -> Performance:
    """The profile book out of sample beside `benchmark` (checked by `check_benchmark`): None = the raw EW book (the
    equal-weight pool), or a symbol of the walk-forward history bought and held over the same rows."""
    panel = history.panel
    label, bench, notes = POOL, np.asarray(result.returns[RAW_EW], dtype=np.float64), []
    if benchmark is not None:
        rows = np.searchsorted(panel.dates, result.dates)
        label, bench, notes = benchmark_stream(benchmark, panel, rows, "out-of-sample", bench, POOL)
    lengths = [d.window.test_stop - d.window.test_start for d in result.decisions]
    books = [d.books.get("profile", {}) for d in result.decisions]
    return Performance(
        sample=OUT_OF_SAMPLE,
        dates=[iso(int(d))[:10] for d in result.dates],
        returns=np.asarray(result.returns["profile"], dtype=np.float64),
        benchmark=label,
        benchmark_returns=bench,
        periods_per_year=int(result.periods_per_year),
        notes=notes,
        gross=np.repeat([math.fsum(abs(w) for w in b.values()) for b in books], lengths)[: result.dates.size],
        net=np.repeat([math.fsum(b.values()) for b in books], lengths)[: result.dates.size],
    )

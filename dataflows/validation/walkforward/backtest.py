"""The walk-forward loop: decide every window point in time, simulate the books over the stitched test rows, measure.

The books are simulated with vectorbt's `from_orders` accounting (`dataflows.validation.simulate`: a numba kernel,
equal to vectorbt in the tests), one row per test row. If every window fails, the backtest fails.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dataflows import columns as C
from dataflows.sleeve import PERIODS
from dataflows.validation.simulate import simulate_books, warm_simulation
from dataflows.validation.walkforward.decisions import BOOKS, Decider, WindowDecision
from dataflows.validation.walkforward.history import History, eligible_symbols
from dataflows.validation.walkforward.plan import WalkForwardError, WalkForwardParams, walk_forward_windows
from dataflows.validation.walkforward.result import BacktestResult, backtest_metrics, forensic_report, window_table


def book_targets(decisions: Sequence[WindowDecision], symbols: Sequence[str], book: str) -> np.ndarray:
    """R×N signed targets of one book (zeros = cash where a window has no such book)."""
    col = {s: j for j, s in enumerate(symbols)}
    out = np.zeros((len(decisions), len(symbols)))
    for k, d in enumerate(decisions):
        for s, w in d.books.get(book, {}).items():
            out[k, col[s]] = w
    return out


def periods_per_year(asset_class: Sequence[str]) -> int:
    """365 when any asset is crypto (24/7 rows), else 252."""
    return PERIODS[C.CRYPTO] if C.CRYPTO in set(asset_class) else PERIODS[C.EQUITY]


def run_backtest(history: History, decide: Decider, params: WalkForwardParams) -> BacktestResult:
    """Walk forward over `history`: decide each window point in time, simulate the books, measure, report."""
    windows = walk_forward_windows(history.panel.dates.size, params)
    warm_simulation()
    decisions = tuple(decide(history, w, eligible_symbols(history, w.test_start, params.eligibility)) for w in windows)
    if all(d.error for d in decisions):
        msg = f"every one of {len(decisions)} walk-forward windows failed; first: {decisions[0].error}"
        raise WalkForwardError(msg)
    first, stop = windows[0].test_start, windows[-1].test_stop
    rows = np.array([w.test_start - first for w in windows], dtype=np.int64)
    symbols = history.panel.symbols
    targets = {b: book_targets(decisions, symbols, b) for b in BOOKS}
    dates = history.panel.dates[first:stop]
    sims = simulate_books(
        history.panel.returns[first:stop], rows, targets, fees=params.fees, slippage=params.slippage, index=dates
    )
    ppy = periods_per_year(history.panel.asset_class)
    table = window_table(decisions, sims, rows, dates, ppy, history.panel.dates)
    return BacktestResult(
        params=params,
        periods_per_year=ppy,
        dates=dates,
        returns={b: sims[b].returns for b in BOOKS},
        windows=table,
        metrics=backtest_metrics(sims, decisions, params, ppy, dates, symbols),
        forensic=forensic_report(table, decisions, params),
        decisions=decisions,
        simulations=sims,
    )

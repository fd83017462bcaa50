"""Walk-forward validation of one sleeve: windows on rows, point-in-time eligibility, per-window decisions, books.

The plan (`plan.py`: parameters and the windows on rows) is walked by `run_backtest` (`backtest.py`): for each
window the eligible symbols as of the row before it (`history.py`, point in time), the decider's three books from
the training rows only (`decisions.py`: the live sleeve's `dataflows.sleeve.decide`, or every symbol straight into
the optimizer), then the books simulated over the stitched test rows (`dataflows.validation.simulate`) and measured
into a `BacktestResult` (`result.py`: returns, windows table, metrics, forensic report). Method notes:
`docs/validation.md`.
"""

from dataflows.validation.walkforward.backtest import book_targets, periods_per_year, run_backtest
from dataflows.validation.walkforward.decisions import (
    BOOKS,
    FILTERED_EW,
    PROFILE,
    RAW_EW,
    Decider,
    OptimizerDecider,
    SleeveDecider,
    WindowDecision,
)
from dataflows.validation.walkforward.decisions import _unselected as _unselected  # tests build selections with it
from dataflows.validation.walkforward.history import History, eligible_symbols, load_history
from dataflows.validation.walkforward.plan import (
    EligibilityRule,
    WalkForwardError,
    WalkForwardParams,
    Window,
    walk_forward_windows,
)
from dataflows.validation.walkforward.result import WINDOW_METRICS, BacktestResult

__all__ = [
    "BOOKS",
    "FILTERED_EW",
    "PROFILE",
    "RAW_EW",
    "WINDOW_METRICS",
    "BacktestResult",
    "Decider",
    "EligibilityRule",
    "History",
    "OptimizerDecider",
    "SleeveDecider",
    "WalkForwardError",
    "WalkForwardParams",
    "Window",
    "WindowDecision",
    "book_targets",
    "eligible_symbols",
    "load_history",
    "periods_per_year",
    "run_backtest",
    "walk_forward_windows",
]

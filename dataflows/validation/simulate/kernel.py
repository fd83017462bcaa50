"""The default simulation engine, `kernels.simulate.simulate_targets_nb`, and `simulate_books`, which runs an engine.

The kernel is vectorbt's `from_orders` order accounting for one cash-sharing group, written as one numba loop over
rebalances. It exists for two costs of vectorbt on this path: its import (~1.1 s of every run) and its per-row
call-sequence insertion sort, quadratic in the columns on *every* row (54 s of a 3-book × 2,000-column × 1,280-row
walk-forward, against well under a second for the kernel). Call `warm_simulation(engine)` once per process before
timing anything (numba cache load or compile; vectorbt's import).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import numpy as np

from dataflows.validation.simulate.contract import (
    ABS_TOL,
    REL_TOL,
    BookSimulation,
    SimulationError,
    check_inputs,
    price_levels,
)
from dataflows.validation.simulate.vectorbt_engine import simulate_on_vectorbt

KERNEL = "kernel"
VECTORBT = "vectorbt"
ENGINES = (KERNEL, VECTORBT)


@functools.cache
def warm_simulation(engine: str = KERNEL) -> None:
    """Load `engine` once per process (numba cache or compile; vectorbt's import) with a tiny run of the real types."""
    r = np.array([[0.01, -0.02], [0.0, 0.01], [0.02, 0.0]])
    w = np.array([[0.5, -0.5], [0.3, 0.0]])
    simulate_books(r, np.array([0, 2]), {"a": w, "b": -w}, fees=0.001, slippage=0.001, engine=engine)


def simulate_books(
    returns: np.ndarray,
    rebalance_rows: np.ndarray,
    books: Mapping[str, np.ndarray],
    *,
    fees: float,
    slippage: float,
    index: np.ndarray | None = None,
    engine: str = KERNEL,
) -> dict[str, BookSimulation]:
    """Simulate every book (each its own cash-sharing portfolio) on `engine`; the books share `returns` and rows.

    `index` (int64 epoch ms per row) labels vectorbt's rows; the kernel does not need it.
    """
    if engine not in ENGINES:
        msg = f"unknown simulation engine {engine!r}; expected one of {ENGINES}"
        raise SimulationError(msg)
    if not books:
        msg = "no book to simulate"
        raise SimulationError(msg)
    if engine == VECTORBT:
        return simulate_on_vectorbt(returns, rebalance_rows, books, fees=fees, slippage=slippage, index=index)
    from kernels.simulate import simulate_targets_nb

    out: dict[str, BookSimulation] = {}
    for name, targets in books.items():
        r, rows, w = check_inputs(returns, rebalance_rows, targets)
        levels = price_levels(r, rows, w)
        values, rets, held, traded, fee, slip, filled = simulate_targets_nb(
            np.ascontiguousarray(levels[:-1]),
            np.ascontiguousarray(levels[1:]),
            rows,
            np.ascontiguousarray(w),
            float(fees),
            float(slippage),
            REL_TOL,
            ABS_TOL,
        )
        before = np.concatenate([[1.0], values[:-1]])[rows]  # equity at the previous close = at the order price
        last = np.append(rows[1:] - 1, r.shape[0] - 1)
        exposure = held * levels[1:][last] / values[last][:, None]
        out[name] = BookSimulation(values, rets, traded / before, fee / before, slip / before, exposure, filled)
    return out

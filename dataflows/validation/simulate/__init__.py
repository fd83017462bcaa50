"""Book simulation: signed target weights at rebalance rows → daily equity, vectorbt's accounting, three engines.

Engines (`simulate_books(..., engine=)`): `"kernel"` (the default, what the walk-forward runs; `kernel.py`) is a
numba loop over rebalances; `"vectorbt"` runs `vectorbt.Portfolio.from_orders` itself (`vectorbt_engine.py`); and
`simulate_reference` is an independent plain-loop NumPy reference (`reference.py`, which also states the accounting
and its one departure from vectorbt, "Trimming"). Tests hold the kernel and the NumPy reference equal (1e-10) on
every book, and vectorbt equal to both on books whose buys the cash always covers. The array contract, the short cap
and the result type are in `contract.py`. Method notes: `docs/validation.md`.

Timing. A rebalance at row t is decided with information up to the close of row t−1 and executed at that close:
the order price of row t is the close of row t−1 (vectorbt `price=`), the valuation of row t is its own close
(`close=`). So row t's return already belongs to the new book, and the rebalance's fees and slippage are charged
to row t (the first day of the window that caused them), never to the previous window.
"""

from dataflows.validation.simulate.contract import (
    SHORT_CAP,
    BookSimulation,
    SimulationError,
    governing_targets,
    order_sizes,
    price_levels,
)
from dataflows.validation.simulate.kernel import ENGINES, KERNEL, VECTORBT, simulate_books, warm_simulation
from dataflows.validation.simulate.reference import simulate_reference

__all__ = [
    "ENGINES",
    "KERNEL",
    "SHORT_CAP",
    "VECTORBT",
    "BookSimulation",
    "SimulationError",
    "governing_targets",
    "order_sizes",
    "price_levels",
    "simulate_books",
    "simulate_reference",
    "warm_simulation",
]

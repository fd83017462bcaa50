"""What every simulation engine shares: the array contract and its checks, price levels with the short cap,
target-percent orders, and the `BookSimulation` result.

Array contract: `returns` is T×N float64 simple returns of the simulated rows (rows = time oldest first, columns =
symbols, NaN = no bar = the price did not move); `rebalance_rows` are strictly increasing row indices into it;
`targets` is R×N signed weights, row k the book from `rebalance_rows[k]` on (a fraction of equity; LONG > 0,
SHORT < 0, 0 = no position). Equity starts at 1.0 (cash) before row 0.

Short cap. The optimizers price a SHORT atom as −min(r, 1): a short loses at most 100% of its notional per bar.
Held shorts get the same cap here: the price path of a column is built from min(r, 1) on the bars during which
the book holds it short (the sign of the governing target), and from r otherwise. Every engine applies it; the
NumPy reference builds its prices independently inside its loop. Over one bar a capped short equals the atom stream
exactly; over several bars a *held* short compounds as 2 − Π(1 + r) (units stay fixed) while the atom stream
compounds as Π(1 − r) (rebalanced every bar) — the simulation is the held one, because that is what the book does
between rebalances; with a rebalance every row the two agree (tested).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dataflows.errors import DataflowsError

SHORT_CAP = 1.0
"""Largest per-bar return a held short pays for (a short loses at most 100% of its notional per bar)."""

REL_TOL = 1e-9  # vectorbt's closeness tolerances (vectorbt.utils.math_), mirrored by the NumPy reference
ABS_TOL = 1e-12


class SimulationError(DataflowsError):
    """Simulation inputs are inconsistent (shapes, rows, prices that reach zero)."""


@dataclass(frozen=True, eq=False)
class BookSimulation:
    """One simulated book: daily equity and returns, and per-rebalance trading (fractions of equity before it)."""

    values: np.ndarray  # [T] equity at each row's close (1.0 before row 0)
    returns: np.ndarray  # [T] daily simple returns (row 0 against the initial 1.0)
    turnover: np.ndarray  # [R] traded notional at the order price / equity before the rebalance
    fees: np.ndarray  # [R] fees paid / equity before the rebalance
    slippage: np.ndarray  # [R] slippage paid (notional × slippage) / equity before the rebalance
    exposure: np.ndarray  # [R, N] signed drifted exposure (position value / equity) on each window's last row
    filled: np.ndarray  # [R] fraction of every buy executed (1.0: the cash covered them; NaN: vectorbt, not known)

    @property
    def costs(self) -> np.ndarray:
        """Fees plus slippage per rebalance, as a fraction of equity."""
        return self.fees + self.slippage


def check_inputs(returns: np.ndarray, rebalance_rows: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, ...]:
    r = np.asarray(returns, dtype=np.float64)
    rows = np.asarray(rebalance_rows, dtype=np.int64)
    w = np.asarray(targets, dtype=np.float64)
    if r.ndim != 2 or r.shape[0] == 0:
        msg = f"returns must be a non-empty T×N array, got shape {r.shape}"
        raise SimulationError(msg)
    if np.isinf(r).any():
        msg = "returns contain ±inf; use NaN for a missing bar"
        raise SimulationError(msg)
    if rows.ndim != 1 or rows.size == 0 or (np.diff(rows) <= 0).any() or rows[0] < 0 or rows[-1] >= r.shape[0]:
        msg = f"rebalance_rows must be strictly increasing rows of the {r.shape[0]}-row panel, got {rows.tolist()[:10]}"
        raise SimulationError(msg)
    if w.shape != (rows.size, r.shape[1]) or not np.isfinite(w).all():
        msg = f"targets must be finite with shape (rebalances, assets) = {(rows.size, r.shape[1])}, got {w.shape}"
        raise SimulationError(msg)
    return r, rows, w


def governing_targets(n_rows: int, rebalance_rows: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """T×N: the target in force during each row (zeros before the first rebalance)."""
    rows = np.asarray(rebalance_rows, dtype=np.int64)
    k = np.searchsorted(rows, np.arange(n_rows), side="right") - 1
    out = np.zeros((n_rows, targets.shape[1]))
    held = k >= 0
    out[held] = targets[k[held]]
    return out


def price_levels(returns: np.ndarray, rebalance_rows: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """(T+1)×N price levels from 1.0: row i+1 = row i × (1 + r'), r' = min(r, SHORT_CAP) while held short, NaN → 0."""
    r, rows, w = check_inputs(returns, rebalance_rows, targets)
    eff = np.where(np.isnan(r), 0.0, r)
    short = governing_targets(r.shape[0], rows, w) < 0
    eff = np.where(short, np.minimum(eff, SHORT_CAP), eff)
    levels = np.empty((r.shape[0] + 1, r.shape[1]))
    levels[0] = 1.0
    np.cumprod(1.0 + eff, axis=0, out=levels[1:])
    _check_positive(levels, (w != 0).any(axis=0))
    return levels


def _check_positive(levels: np.ndarray, traded: np.ndarray) -> None:
    """Raise when a column the book ever holds reaches a price of 0 (it could not be traded out of)."""
    bad = np.argwhere(~(levels > 0) & traded[None, :])
    if bad.size:
        row, col = bad[0]
        msg = (
            f"the price path of column {col} reaches {levels[row, col]!r} at row {row - 1}: a return of −100% or "
            "worse cannot be traded through; drop the symbol (it should be quarantined) or fix its bars"
        )
        raise SimulationError(msg)


def order_sizes(rebalance_rows: np.ndarray, targets: np.ndarray, n_rows: int) -> np.ndarray:
    """T×N target-percent orders: NaN (no order) except on rebalance rows where the column is or was held."""
    size = np.full((n_rows, targets.shape[1]), np.nan)
    prev = np.zeros(targets.shape[1])
    for k, row in enumerate(np.asarray(rebalance_rows, dtype=np.int64)):
        active = (targets[k] != 0) | (prev != 0)
        size[row, active] = targets[k, active]
        prev = targets[k]
    return size

"""The rounding's inputs (`Book`) and result (`Rounded`), the checks a rounded book must pass, and greedy rounding.

Greedy rounding truncates each final position toward zero on its lot grid and drops orders below the min notional:
the yardstick the program must beat, and the book used where it is feasible and better.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dataflows.errors import DataflowsError
from dataflows.trade.rounding.grid import lots_quantity

BUDGET_RTOL = 1e-12  # float noise allowed on Σ|q|·p <= E


class RoundingError(DataflowsError):
    """No portfolio of whole lots fits the inputs (e.g. holdings that cannot be traded exceed the equity)."""


@dataclass(frozen=True)
class Book:
    """Inputs of the rounding, arrays of one entry per symbol."""

    weight: np.ndarray  # target signed weights (fractions of equity)
    price: np.ndarray  # reference prices (> 0)
    lot: np.ndarray  # lot sizes (> 0); NaN = fractional, no rounding
    held: np.ndarray  # current quantities (signed)
    capital: float  # cash, quote currency
    bid: np.ndarray | None = None  # buy limits (<= price); None = price
    ask: np.ndarray | None = None  # sell limits (>= price); None = price
    min_notional: np.ndarray | None = None  # 0 / NaN = none

    def __post_init__(self) -> None:
        n = len(self.weight)
        for name in ("weight", "price", "lot", "held", "bid", "ask", "min_notional"):
            value = getattr(self, name)
            default = {"bid": self.price, "ask": self.price, "min_notional": np.zeros(n)}.get(name)
            arr = np.asarray(default if value is None else value, dtype=np.float64)
            if arr.shape != (n,):
                msg = f"{name} has shape {arr.shape}, expected ({n},)"
                raise ValueError(msg)
            object.__setattr__(self, name, arr)
        ok = np.isfinite(self.price) & (self.price > 0) & np.isfinite(self.weight) & np.isfinite(self.held)
        if not ok.all() or not (np.isnan(self.lot) | (self.lot > 0)).all():
            msg = "prices must be finite and > 0, weights and holdings finite, lots > 0 or NaN"
            raise ValueError(msg)
        if (self.bid > self.price * (1 + 1e-12)).any() or (self.ask < self.price * (1 - 1e-12)).any():
            msg = "buy limits must be <= the price and sell limits >= it"
            raise ValueError(msg)

    @property
    def equity(self) -> float:
        return float(self.capital + np.dot(self.held, self.price))


@dataclass(frozen=True)
class Rounded:
    """The rounded book: orders in lots, final quantities and weights, and how well they track the target."""

    lots: np.ndarray  # order in lots (float64 holding integers; fractional symbols: the quantity, lot NaN)
    order: np.ndarray  # order quantity (signed, buy > 0)
    quantity: np.ndarray  # final quantity h + order
    weight: np.ndarray  # final weight at the reference prices
    equity: float
    method: str  # "milp" | "greedy" | "none" (nothing to trade)
    status: str  # the solver's message
    greedy_l1: float | None  # greedy rounding's L1 error (None: greedy is infeasible)

    def l1(self, target: np.ndarray) -> float:
        return float(np.abs(self.weight - target).sum())

    @property
    def gross(self) -> float:
        return float(np.abs(self.weight).sum())


def greedy_book(book: Book) -> Rounded:
    """Greedy rounding: each final position truncated toward zero on its lot grid; orders below the min notional
    dropped. May break the budget (when holdings that cannot be traded remain)."""
    equity = book.equity
    ideal = book.weight * equity / book.price
    k = np.zeros(len(ideal))
    for i in range(len(ideal)):
        lot = book.lot[i]
        if not np.isfinite(lot):
            k[i] = ideal[i] - book.held[i]
            continue
        steps = (ideal[i] - book.held[i]) / lot
        k[i] = math.floor(steps + 1e-9) if ideal[i] >= 0 else math.ceil(steps - 1e-9)
        final = book.held[i] + k[i] * lot
        if ideal[i] >= 0 and final < 0:  # off-grid holdings: truncation never crosses zero
            k[i] = math.ceil(-book.held[i] / lot - 1e-9)
        elif ideal[i] < 0 and final > 0:
            k[i] = math.floor(-book.held[i] / lot + 1e-9)
    k = _drop_small(book, k)
    return _result(book, k, "greedy", "greedy truncation", None)


def _drop_small(book: Book, k: np.ndarray) -> np.ndarray:
    out = k.copy()
    for i in range(len(k)):
        if out[i] != 0 and _notional(book, i, out[i]) < book.min_notional[i] * (1 - 1e-9):
            out[i] = 0.0
    return out


def _notional(book: Book, i: int, k: float) -> float:
    lot = book.lot[i] if np.isfinite(book.lot[i]) else 1.0
    limit = book.bid[i] if k > 0 else book.ask[i]
    return abs(k) * lot * limit


def _budget_ok(book: Book, r: Rounded) -> bool:
    return float(np.dot(np.abs(r.quantity), book.price)) <= r.equity * (1 + BUDGET_RTOL)


def _notionals_ok(book: Book, r: Rounded) -> bool:
    return all(
        r.lots[i] == 0
        or not (book.min_notional[i] > 0)
        or _notional(book, i, r.lots[i]) >= book.min_notional[i] * (1 - 1e-9)
        for i in range(len(r.lots))
    )


def _result(book: Book, k: np.ndarray, method: str, status: str, greedy_l1: float | None) -> Rounded:
    order = np.array([lots_quantity(k[i], book.lot[i]) for i in range(len(k))])
    quantity = book.held + order
    equity = book.equity
    return Rounded(k, order, quantity, quantity * book.price / equity, equity, method, status, greedy_l1)

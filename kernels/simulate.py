"""Book simulation kernel: target weights at rebalance rows → daily equity, with vectorbt's order accounting.

This is vectorbt's `Portfolio.from_orders(size_type="targetpercent", direction="both", cash_sharing=True,
call_seq="auto", update_value=False, init_cash=1.0)` for one cash-sharing group, restricted to what the walk-forward
uses, written as one loop over rebalances. `dataflows.validation.simulate` documents the accounting and tests it
against vectorbt itself and against an independent NumPy reference. Why a kernel: vectorbt walks every row × column
and, with `call_seq="auto"`, insertion-sorts every row's columns (quadratic in the columns, and worst on the rows
without orders, whose NaN sizes each walk the whole row): 54 s for 3 books × 2,000 columns × 1,280 rows, and its
import costs ~1.1 s of every run. Here only rebalance rows trade, sorted once with a stable O(N log N) sort, and the
rows between them are a product of fixed positions and closes.

Array contract:

- `price` and `close` are (T, N) float64, rows = time (oldest first), columns = assets: row t's order price (the
  previous close) and valuation close. Finite and > 0 wherever the book may hold the asset (callers check).
- `rows` is (R,) int64, strictly increasing rows of the panel; `targets` is (R, N) float64 signed target weights
  (fractions of the book's value at the order price; 0 = no position), finite.
- Returned: `values` (T,) equity at each row's close (1.0 before row 0), `returns` (T,) vectorbt's returns of it,
  `held` (R, N) units held after each rebalance, and per rebalance (R,) the traded notional at the order price
  (`traded`, no slippage), the fees paid and the slippage paid (notional × slippage) — in currency units.

Order semantics (vectorbt 0.2x `execute_order_nb`, `buy_nb`, `sell_nb`, `lock_cash=False`, no size limits):

- On a rebalance row the group value is cash + Σ units × price (column order); a column trades when its target or
  its previous target is non-zero. Orders run in ascending order of their approximate value (target × value −
  units × price; ties keep column order): sells before buys.
- Each order first snaps cash and units within tolerance of 0 to 0; target units = target × value / price, and the
  difference is bought (price × (1 + slippage), fees on the cash spent, trimmed to the cash available) or sold
  (price × (1 − slippage), fees on the proceeds; a short sale's proceeds are cash). Additions that cancel within
  tolerance give exactly 0. Tolerances are vectorbt's (`rel_tol`, `abs_tol`).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def is_close_nb(a: float, b: float, rel_tol: float, abs_tol: float) -> bool:
    """a ≈ b (never for NaN or ±inf), vectorbt's `is_close_nb`."""
    if np.isnan(a) or np.isnan(b) or np.isinf(a) or np.isinf(b):
        return False
    if a == b:
        return True
    return abs(a - b) <= max(rel_tol * max(abs(a), abs(b)), abs_tol)


@njit(cache=True)
def add_nb(a: float, b: float, rel_tol: float, abs_tol: float) -> float:
    """a + b, exactly 0 when the two cancel within tolerance (vectorbt's `add_nb`)."""
    if np.sign(a) != np.sign(b):
        if is_close_nb(abs(a), abs(b), rel_tol, abs_tol):
            return 0.0
    elif is_close_nb(a + b, 0.0, rel_tol, abs_tol):
        return 0.0
    return a + b


@njit(cache=True)
def simulate_targets_nb(
    price: np.ndarray,
    close: np.ndarray,
    rows: np.ndarray,
    targets: np.ndarray,
    fees: float,
    slippage: float,
    rel_tol: float,
    abs_tol: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(values, returns, held, traded, fees_paid, slippage_paid) of one book; see the module docstring."""
    n_rows, n = close.shape
    n_reb = rows.size
    values = np.empty(n_rows)
    returns = np.empty(n_rows)
    held = np.zeros((n_reb, n))
    traded = np.zeros(n_reb)
    fees_paid = np.zeros(n_reb)
    slip_paid = np.zeros(n_reb)
    pos = np.zeros(n)
    prev_target = np.zeros(n)
    order_value = np.empty(n)
    cash = 1.0
    k = 0
    for i in range(n_rows):
        if k < n_reb and rows[k] == i:
            # every row vectorbt visits snaps each column's units and the cash; only rebalance rows read them
            if is_close_nb(cash, 0.0, rel_tol, abs_tol):
                cash = 0.0
            for j in range(n):
                if pos[j] != 0.0 and is_close_nb(pos[j], 0.0, rel_tol, abs_tol):
                    pos[j] = 0.0
            value = cash
            for j in range(n):
                if pos[j] != 0.0:
                    value += pos[j] * price[i, j]
            n_active = 0
            for j in range(n):
                if targets[k, j] != 0.0 or prev_target[j] != 0.0:
                    order_value[n_active] = targets[k, j] * value - pos[j] * price[i, j]
                    n_active += 1
            active = np.empty(n_active, dtype=np.int64)
            m = 0
            for j in range(n):
                if targets[k, j] != 0.0 or prev_target[j] != 0.0:
                    active[m] = j
                    m += 1
            order = np.argsort(order_value[:n_active], kind="mergesort")  # stable: ties keep column order
            snapped_value = 0.0 if is_close_nb(value, 0.0, rel_tol, abs_tol) else value
            for idx in order:
                j = active[idx]
                if is_close_nb(cash, 0.0, rel_tol, abs_tol):
                    cash = 0.0
                if is_close_nb(pos[j], 0.0, rel_tol, abs_tol):
                    pos[j] = 0.0
                p = price[i, j]
                if np.isnan(snapped_value) or snapped_value <= 0.0:
                    continue  # vectorbt ignores (NaN) or rejects (≤ 0) a target percent of such a value
                size = targets[k, j] * snapped_value / p - pos[j]
                if size > 0.0:
                    if cash == 0.0:
                        continue  # rejected: no cash to buy with
                    adj = p * (1.0 + slippage)
                    req = size * adj
                    req_fees = req * fees
                    total = req + req_fees
                    if is_close_nb(total, cash, rel_tol, abs_tol) or total < cash:
                        units, paid, spent = size, req_fees, total
                    else:
                        budget = cash / (1.0 + fees)
                        if budget <= 0.0:
                            continue  # rejected: cannot cover the fees
                        units, paid, spent = budget / adj, cash - budget, cash
                    if is_close_nb(size, 0.0, rel_tol, abs_tol):
                        continue  # ignored: nothing to buy
                    cash = add_nb(cash, -spent, rel_tol, abs_tol)
                    pos[j] = add_nb(pos[j], units, rel_tol, abs_tol)
                else:
                    units = -size
                    if is_close_nb(units, 0.0, rel_tol, abs_tol):
                        continue  # ignored: nothing to sell
                    adj = p * (1.0 - slippage)
                    got = units * adj
                    paid = got * fees
                    net = add_nb(got, -paid, rel_tol, abs_tol)
                    if net < 0.0:
                        continue  # rejected: proceeds do not cover the fees
                    cash = cash + net
                    pos[j] = add_nb(pos[j], -units, rel_tol, abs_tol)
                traded[k] += units * p
                fees_paid[k] += paid
                slip_paid[k] += units * p * slippage
            for j in range(n):
                held[k, j] = pos[j]
                prev_target[j] = targets[k, j]
            k += 1
        v = cash
        for j in range(n):
            if pos[j] != 0.0:
                v += pos[j] * close[i, j]
        values[i] = v
        before = 1.0 if i == 0 else values[i - 1]
        if before == 0.0:
            returns[i] = 0.0 if v == 0.0 else np.inf * np.sign(v)
        else:
            r = (v - before) / before
            returns[i] = -r if before < 0.0 else r
    return values, returns, held, traded, fees_paid, slip_paid

"""Book simulation kernel: target weights at rebalance rows → daily equity, with vectorbt's order accounting.

This is vectorbt's `Portfolio.from_orders(size_type="targetpercent", direction="both", cash_sharing=True,
call_seq="auto", update_value=False, init_cash=1.0)` for one cash-sharing group, restricted to what the walk-forward
uses, written as one loop over rebalances — except for one rule: when the cash left after the sells does not cover
every buy, all buys are trimmed pro rata (vectorbt trims the last buys of its call sequence, so the book depended on
the column order). `dataflows.validation.simulate` documents the accounting and tests it against vectorbt itself
(where cash never binds) and against an independent NumPy reference (always). Why a kernel: vectorbt walks every
row × column and, with `call_seq="auto"`, insertion-sorts every row's columns (quadratic in the columns, and worst on
the rows without orders, whose NaN sizes each walk the whole row): 54 s for 3 books × 2,000 columns × 1,280 rows,
and its import costs ~1.1 s of every run. Here only rebalance rows trade, in two linear passes (sells, then buys),
and the rows between them are a product of fixed positions and closes.

Array contract:

- `price` and `close` are (T, N) float64, rows = time (oldest first), columns = assets: row t's order price (the
  previous close) and valuation close. Finite and > 0 wherever the book may hold the asset (callers check).
- `rows` is (R,) int64, strictly increasing rows of the panel; `targets` is (R, N) float64 signed target weights
  (fractions of the book's value at the order price; 0 = no position), finite.
- Returned: `values` (T,) equity at each row's close (1.0 before row 0), `returns` (T,) vectorbt's returns of it,
  `held` (R, N) units held after each rebalance, per rebalance (R,) the traded notional at the order price
  (`traded`, no slippage), the fees paid and the slippage paid (notional × slippage) — in currency units — and
  `filled` (R,), the fraction of every buy that was executed (1.0 when the cash covered them, 0.0 when there was
  no cash, and 1.0 on a rebalance without buys).

Order semantics (vectorbt 0.2x `execute_order_nb`, `buy_nb`, `sell_nb`, `lock_cash=False`, no size limits):

- On a rebalance row the cash and units within tolerance of 0 are snapped to 0 and the group value is
  cash + Σ units × price; a column trades when its target or its previous target is non-zero, by
  target × value / price − units held (vectorbt's sizes: its approximate order values sort sells before buys, and
  a sell never changes another column's size). Sizes within tolerance of 0 are ignored.
- Sells first, in any order (they only add to cash): price × (1 − slippage), fees on the proceeds; a short sale's
  proceeds are cash. Additions that cancel within tolerance give exactly 0. Tolerances are vectorbt's (`rel_tol`,
  `abs_tol`).
- Then buys at price × (1 + slippage), fees on the cash spent. If their total cost is within tolerance of or below
  the cash, each is bought in full (exactly vectorbt's result); otherwise each is bought at the same fraction
  `filled` = cash / total cost of its size and the cash ends at exactly 0. vectorbt instead fills the buys in full
  in ascending order of their approximate value (ties in column order) and trims the one that runs out of cash
  and rejects the rest, so a permutation of the columns moved its equity. With pro-rata trimming every step is a
  sum over columns, and a permutation changes the result only by floating-point rounding (~1e-16).
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
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(values, returns, held, traded, fees_paid, slippage_paid, filled) of one book; see the module docstring."""
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
    size = np.zeros(n)
    filled = np.ones(n_reb)
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
            if is_close_nb(value, 0.0, rel_tol, abs_tol):
                value = 0.0
            # vectorbt ignores (NaN) or rejects (<= 0) a target percent of such a value: no orders
            n_orders = 0 if np.isnan(value) or value <= 0.0 else n
            # sizes first, from the units held before the rebalance: the orders do not see each other
            n_buys = 0
            for j in range(n_orders):
                size[j] = 0.0
                if targets[k, j] == 0.0 and prev_target[j] == 0.0:
                    continue
                s = targets[k, j] * value / price[i, j] - pos[j]
                if is_close_nb(s, 0.0, rel_tol, abs_tol):
                    continue  # ignored: nothing to trade
                size[j] = s
                if s > 0.0:
                    n_buys += 1
            # sells (and short sales): proceeds net of slippage and fees are cash
            for j in range(n_orders):
                if size[j] >= 0.0:
                    continue
                p = price[i, j]
                units = -size[j]
                got = units * p * (1.0 - slippage)
                paid = got * fees
                net = add_nb(got, -paid, rel_tol, abs_tol)
                if net < 0.0:
                    continue  # rejected: proceeds do not cover the fees
                cash = cash + net
                pos[j] = add_nb(pos[j], -units, rel_tol, abs_tol)
                traded[k] += units * p
                fees_paid[k] += paid
                slip_paid[k] += units * p * slippage
            # buys: every one in full when the cash covers them all, else every one scaled by the same fraction
            if is_close_nb(cash, 0.0, rel_tol, abs_tol):
                cash = 0.0
            fill = 1.0
            if n_buys > 0:
                need = 0.0
                for j in range(n_orders):
                    if size[j] > 0.0:
                        need += size[j] * price[i, j] * (1.0 + slippage) * (1.0 + fees)
                if cash == 0.0:
                    fill = 0.0  # rejected: no cash to buy with
                elif not (is_close_nb(need, cash, rel_tol, abs_tol) or need < cash):
                    fill = cash / need
                spent = 0.0
                for j in range(n_orders):
                    if size[j] <= 0.0 or fill == 0.0:
                        continue
                    p = price[i, j]
                    units = size[j] * fill
                    req = units * p * (1.0 + slippage)
                    paid = req * fees
                    spent += req + paid
                    pos[j] = add_nb(pos[j], units, rel_tol, abs_tol)
                    traded[k] += units * p
                    fees_paid[k] += paid
                    slip_paid[k] += units * p * slippage
                cash = 0.0 if fill < 1.0 else add_nb(cash, -spent, rel_tol, abs_tol)
            filled[k] = fill
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
    return values, returns, held, traded, fees_paid, slip_paid, filled

"""Whole-lot rounding of target weights: a mixed-integer program (scipy.optimize.milp, HiGHS), not a truncation.

Per symbol i: target weight w_i (signed, a fraction of equity), reference price p_i, lot l_i (NaN: fractional),
current quantity h_i (signed), limit prices bid_i <= p_i <= ask_i (the tick-rounded buy and sell limits) and min
notional m_i (0: none). Equity E = capital + Σ h_i·p_i. An order is k_i whole lots (k_i > 0 buys), so the final
quantity is q_i = h_i + k_i·l_i — a position off the lot grid keeps its remainder, as on an exchange — and its weight
x_i = q_i·p_i / E. The program:

    minimise    Σ_i |x_i − w_i|                                   (L1 weight error)
    subject to  Σ_i |x_i| <= 1                                    (gross exposure <= equity)
                k_i = 0  or  k_i·l_i·bid_i >= m_i  or  −k_i·l_i·ask_i >= m_i      (min notional at the limit)
                q_i >= min(0, h_i) for w_i >= 0,  q_i <= max(0, h_i) for w_i <= 0   (never the wrong sign)

The budget is leverage 1 on gross exposure: a short counts at its gross value |q_i|·p_i, as if fully collateralised,
and its proceeds never fund a long. Long-only, it says Σ buys <= capital + Σ sells, at the reference prices; at the
limits it holds a fortiori (buys are priced at or below p_i, sells at or above). The sign rule keeps a sale from
opening a short to shed dust, and a long target from leaving a short it did not have. Linearised with
e_i >= ±(x_i − w_i), g_i >= ±x_i, Σ g_i <= 1 and per-symbol buy/sell binaries for the min notional; each x_i is
bounded to within greedy rounding's L1 error of w_i (an optimum cannot be further off), which keeps the binaries'
big-M small.

Greedy rounding (each position truncated toward zero on its lot grid, sub-minimum orders dropped) is computed too:
where it is feasible and better, its book is used and said so (`method = "greedy"`).

Modules: `book` (the inputs, the rounded book, its checks and greedy rounding), `milp` (the program: its scaling,
the fine lots, HiGHS), `grid` (tick and lot arithmetic in decimal, shared with the orders table).
"""

from __future__ import annotations

import math

from dataflows.trade.rounding.book import (
    BUDGET_RTOL,
    Book,
    Rounded,
    RoundingError,
    _budget_ok,
    _notionals_ok,
    greedy_book,
)
from dataflows.trade.rounding.grid import lots_quantity, min_lots, on_grid, tick_limits
from dataflows.trade.rounding.milp import FINE, TIME_LIMIT_S, UNIT, _solve

__all__ = [
    "BUDGET_RTOL",
    "FINE",
    "TIME_LIMIT_S",
    "UNIT",
    "Book",
    "Rounded",
    "RoundingError",
    "greedy_book",
    "lots_quantity",
    "min_lots",
    "on_grid",
    "round_book",
    "tick_limits",
]


def round_book(book: Book, *, greedy_fallback: bool = True) -> Rounded:
    """The L1-optimal whole-lot book under the budget and min notionals (see the module docstring).
    `greedy_fallback=False` returns the program's book even where greedy rounding is better (tests)."""
    equity = book.equity
    if not equity > 0:
        msg = (
            f"equity is {equity:.2f} (capital {book.capital:.2f} + holdings at the reference prices): nothing to invest"
        )
        raise RoundingError(msg)
    greedy = greedy_book(book)
    greedy_l1 = greedy.l1(book.weight) if _budget_ok(book, greedy) and _notionals_ok(book, greedy) else None
    if len(book.weight) == 0:
        return greedy
    room, status, solved = 0.0, "", None
    bound = 2.0 if greedy_l1 is None else greedy_l1 + 1e-9  # an optimum is no worse than greedy
    for _ in range(4):  # tolerance repairs: each retry leaves out the overshoot the solver accepted
        try:
            found, status = _solve(book, equity, room, bound)
        except RoundingError as exc:  # the program's margins can exclude what greedy found
            status = str(exc)
            break
        if not _notionals_ok(book, found):
            break
        if _budget_ok(book, found):
            solved = found
            break
        room += found.gross - 1.0 + 1e-9
    if solved is None and greedy_l1 is None:
        msg = f"no whole-lot portfolio within the budget and min notionals was found ({status})"
        raise RoundingError(msg)
    better = greedy_l1 is not None and greedy_l1 < (math.inf if solved is None else solved.l1(book.weight)) - 1e-15
    if solved is None or (better and greedy_fallback):
        return _replace(greedy, greedy_l1=greedy_l1, status=f"greedy is better than the program ({status})")
    return _replace(solved, greedy_l1=greedy_l1, status=status)


def _replace(r: Rounded, **changes: object) -> Rounded:
    import dataclasses

    return dataclasses.replace(r, **changes)

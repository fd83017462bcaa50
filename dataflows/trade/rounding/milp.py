"""The whole-lot program (the package docstring states it) as a scipy.optimize.milp model, solved by HiGHS.

Scaling. HiGHS's tolerances are absolute (1e-7 on rows, 1e-6 on integrality), so inside the program weights are
basis points (`UNIT`): a row tolerance is 1e-11 of equity. One lot weighs c_i = l_i·p_i / E. A lot worth less than
`FINE` (1e-6) of equity is not an integer variable (its range would run to millions of lots): its weight is
continuous in the program (its min-notional rows with half a lot of margin), and afterwards each such symbol takes
the floor or the ceiling of its fractional order — the smaller position first, then the other where it tracks
better, best gain per unit of budget first, while the budget lasts. Every other lot is an integer variable counted
from the lattice point nearest the target, with min-notional thresholds in whole lots. The solution is checked
exactly (budget to 1e-12 relative, every notional); a budget broken by the solver's tolerance is solved again with
that much less room. So the book is exact (the L1 optimum over whole lots) when every lot weighs >= 1e-6 of
equity — a differential test against enumeration pins it — and within a few such lots of it otherwise. HiGHS
runs for at most `TIME_LIMIT_S`; then the best book found is used and the solver status says so (with its gap).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from dataflows.trade.rounding.book import Book, Rounded, RoundingError, _notional, _result
from dataflows.trade.rounding.grid import min_lots

FINE = 1e-6  # a lot weighing less than this fraction of equity is rounded after the solve (see above)
UNIT = 1e4  # weights are basis points inside the program (HiGHS's tolerances are absolute)
TIME_LIMIT_S = 10.0  # then the best book found is used and its gap reported


def _solve(book: Book, equity: float, room: float, bound: float) -> tuple[Rounded, str]:
    """One MILP solve with `room` less budget, each weight within `bound` (an upper bound on the optimal L1 error)
    of its target; returns the rounded book and HiGHS's message. Inside, weights are in basis points (`UNIT`), so
    HiGHS's absolute tolerances (1e-7 on rows, 1e-6 on the gap) are 1e-11 and 1e-10 of equity."""
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import coo_array

    n = len(book.weight)
    p = book.price
    x0 = book.held * p / equity
    lot_known = np.isfinite(book.lot)
    c = np.where(lot_known, book.lot * p / equity, np.nan)
    coarse = lot_known & (c >= FINE)
    fine = lot_known & ~coarse
    a = np.zeros(n)  # coarse: the order (lots) to the lattice point nearest the target
    a[coarse] = np.round((book.weight[coarse] - x0[coarse]) / c[coarse])
    x_lo, x_hi = np.maximum(book.weight - bound, -1.0), np.minimum(book.weight + bound, 1.0)
    x_lo = np.where(book.weight >= 0, np.maximum(x_lo, np.minimum(0.0, x0)), x_lo)  # never the wrong sign: no
    x_hi = np.where(book.weight <= 0, np.minimum(x_hi, np.maximum(0.0, x0)), x_hi)  # short for a long or a sale
    k_lo = np.where(coarse, np.ceil((x_lo - x0) / np.where(coarse, c, 1.0) - 1e-9), 0.0)
    k_hi = np.where(coarse, np.floor((x_hi - x0) / np.where(coarse, c, 1.0) + 1e-9), 0.0)
    # the model, in basis points: x = r + d·v (coarse: v = lots from a; otherwise v = x itself); weights under
    # 1e-12 of equity are zeros to HiGHS (denormal-sized right-hand sides stop it with a solve error)
    w = np.where(np.abs(book.weight) < 1e-12, 0.0, book.weight) * UNIT
    base = np.where(np.abs(x0) < 1e-12, 0.0, x0) * UNIT
    d = np.where(coarse, np.nan_to_num(c) * UNIT, 1.0)
    r = np.where(coarse, base + d * a, 0.0)

    cost, lo, hi, integral = [], [], [], []
    rows, cols, vals, rlo, rhi = [], [], [], [], []

    def var(cost_: float, lo_: float, hi_: float, int_: int) -> int:
        cost.append(cost_), lo.append(lo_), hi.append(hi_), integral.append(int_)
        return len(cost) - 1

    def row(entries: list[tuple[int, float]], low: float, high: float) -> None:
        index = len(rlo)
        for j, v in entries:
            rows.append(index), cols.append(j), vals.append(v)
        rlo.append(low), rhi.append(high)

    v_of, g_of = np.zeros(n, dtype=int), np.zeros(n, dtype=int)
    trades: dict[int, tuple[int, int]] = {}  # symbol → its (buy, sell) binaries
    for i in range(n):
        if coarse[i]:
            v_of[i] = var(0.0, k_lo[i] - a[i], k_hi[i] - a[i], 1)
        else:
            v_of[i] = var(0.0, x_lo[i] * UNIT, x_hi[i] * UNIT, 0)
        e = var(1.0, 0.0, bound * UNIT, 0)
        g_of[i] = var(0.0, 0.0, np.inf, 0)
        v, di, ri = v_of[i], d[i], r[i]
        row([(e, 1.0), (v, -di)], ri - w[i], np.inf)
        row([(e, 1.0), (v, di)], w[i] - ri, np.inf)
        row([(g_of[i], 1.0), (v, -di)], ri, np.inf)
        row([(g_of[i], 1.0), (v, di)], -ri, np.inf)
        m = book.min_notional[i]
        if not (np.isfinite(m) and m > 0):
            continue
        fb, fa = book.bid[i] / p[i], book.ask[i] / p[i]  # trade weight → notional / E at the limit
        if coarse[i]:  # whole lots: half a lot below the threshold is the same integer constraint, with slack
            need_b = (min_lots(m, book.lot[i], book.bid[i]) - 0.5) * c[i] * fb
            need_a = (min_lots(m, book.lot[i], book.ask[i]) - 0.5) * c[i] * fa
        elif fine[i]:  # rounded after the solve: half a lot of margin, so either neighbour still qualifies
            need_b = (min_lots(m, book.lot[i], book.bid[i]) + 0.5) * c[i] * fb + 1e-9
            need_a = (min_lots(m, book.lot[i], book.ask[i]) + 0.5) * c[i] * fa + 1e-9
        else:
            need_b, need_a = m / equity + 1e-9, m / equity + 1e-9
        big = max(abs(x_lo[i] - x0[i]), abs(x_hi[i] - x0[i])) * max(fb, fa) + max(need_b, need_a) + 1e-6
        need_b, need_a, big = need_b * UNIT, need_a * UNIT, big * UNIT
        buy, sell = var(0.0, 0.0, 1.0, 1), var(0.0, 0.0, 1.0, 1)
        trades[i] = (buy, sell)
        shift = ri - base[i]  # trade (bp) = shift + d·v
        row([(v, di * fb), (buy, -need_b), (sell, big)], -shift * fb, np.inf)
        row([(v, di * fa), (buy, -big), (sell, need_a)], -np.inf, -shift * fa)
        row([(buy, 1.0), (sell, 1.0)], -np.inf, 1.0)
    budget = (1.0 - room - (1e-9 if (~coarse).any() else 0.0)) * UNIT  # continuous weights: row tolerance
    row([(int(j), 1.0) for j in g_of], -np.inf, budget)

    matrix = coo_array((vals, (rows, cols)), shape=(len(rlo), len(cost))).tocsr()
    for presolve in (True, False):  # HiGHS's presolve sometimes ends in a "solve error" the plain search avoids
        with _quiet_stdout():  # HiGHS's C++ prints debug lines to fd 1, where the CLI prints only its result
            res = milp(
                np.asarray(cost),
                constraints=LinearConstraint(matrix, np.asarray(rlo), np.asarray(rhi)),
                integrality=np.asarray(integral),
                bounds=Bounds(np.asarray(lo), np.asarray(hi)),
                options={"mip_rel_gap": 0.0, "time_limit": TIME_LIMIT_S, "presolve": presolve},
            )
        if res.status != 4:  # 4: HiGHS stopped on an error, not on an answer
            break
    if res.x is None:
        msg = f"no whole-lot portfolio fits the budget and min notionals: {res.message}"
        raise RoundingError(msg)
    k = np.zeros(n)
    steps: dict[int, float] = {}  # fine symbols: the order in (fractional) lots the program chose
    for i in range(n):
        value = res.x[v_of[i]]
        if i in trades and max(res.x[trades[i][0]], res.x[trades[i][1]]) < 0.5:
            continue  # no order (a continuous variable may sit a tolerance away from it)
        if coarse[i]:
            k[i] = a[i] + round(value)
        elif fine[i]:
            steps[i] = (value / UNIT - x0[i]) / c[i]
        else:
            k[i] = (value / UNIT - x0[i]) * equity / p[i]
    _round_fine(book, k, steps, x0, c, 1.0 - room)
    status = str(res.message) + ("" if res.status == 0 else f" (gap {getattr(res, 'mip_gap', float('nan')):.2g})")
    return _result(book, k, "milp", status, None), status


def _round_fine(
    book: Book, k: np.ndarray, steps: dict[int, float], x0: np.ndarray, c: np.ndarray, budget: float
) -> None:
    """Whole lots for the fine symbols (in place): each starts at whichever neighbour of the program's fractional
    order (floor or ceil, both past the min notional by the margin) has the smaller gross weight, then takes the
    other one where that lowers the error, best gain per unit of budget first, while the budget lasts."""
    w = book.weight
    options = {}
    for i, t in steps.items():
        ends = sorted({math.floor(t), math.ceil(t)}, key=lambda j: abs(x0[i] + j * c[i]))
        ends = [j for j in ends if j == 0 or _notional(book, i, j) >= book.min_notional[i] * (1 - 1e-9)]
        k[i] = ends[0] if ends else 0.0
        if len(ends) > 1:
            options[i] = ends[1]
    x = np.where(np.isfinite(c), x0 + k * np.nan_to_num(c), k * book.price / book.equity + x0)
    left = budget - float(np.abs(x).sum())
    moves = []
    for i, j in options.items():
        alt = x0[i] + j * c[i]
        gain = abs(x[i] - w[i]) - abs(alt - w[i])
        cost = abs(alt) - abs(x[i])
        if gain > 0:
            moves.append((-gain / max(cost, 1e-300), i, j, cost))
    for _, i, j, cost in sorted(moves):
        if cost <= left:
            k[i], left = j, left - cost


@contextmanager
def _quiet_stdout() -> Iterator[None]:
    """File descriptor 1 points to /dev/null while the block runs (native code bypasses `sys.stdout`)."""
    import os
    import sys

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as sink:
            os.dup2(sink.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)

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

Scaling. HiGHS's tolerances are absolute (1e-7 on rows, 1e-6 on integrality), so inside the program weights are
basis points (`UNIT`): a row tolerance is 1e-11 of equity. One lot weighs c_i = l_i·p_i / E. A lot worth less than
`FINE` (1e-6) of equity is not an integer variable (its range would run to millions of lots): its weight is
continuous in the program (its min-notional rows with half a lot of margin), and afterwards each such symbol takes
the floor or the ceiling of its fractional order — the smaller position first, then the other where it tracks
better, best gain per unit of budget first, while the budget lasts. Every other lot is an integer variable counted
from the lattice point nearest the target, with min-notional thresholds in whole lots. The solution is checked
exactly (budget to 1e-12 relative, every notional); a budget broken by the solver's tolerance is solved again with
that much less room. So the book is exact (the L1 optimum over whole lots) when every lot weighs >= 1e-6 of
equity — a differential test against enumeration pins it — and within a few such lots of it otherwise. Greedy
rounding (each position truncated toward zero on its lot grid, sub-minimum orders dropped) is computed too: where
it is feasible and better, its book is used and said so (`method = "greedy"`). HiGHS runs for at most
`TIME_LIMIT_S`; then the best book found is used and the solver status says so (with its gap).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from dataflows.errors import DataflowsError

FINE = 1e-6  # a lot weighing less than this fraction of equity is rounded after the solve (see above)
BUDGET_RTOL = 1e-12  # float noise allowed on Σ|q|·p <= E
UNIT = 1e4  # weights are basis points inside the program (HiGHS's tolerances are absolute)
TIME_LIMIT_S = 10.0  # then the best book found is used and its gap reported


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


def tick_limits(price: np.ndarray, tick: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(buy limits, sell limits): each price rounded down (buys) or up (sells) to its tick; NaN tick = the price.

    A buy never pays more, a sell never receives less, than the price the portfolio was sized at."""
    bid, ask = np.array(price, dtype=np.float64), np.array(price, dtype=np.float64)
    for i, (p, t) in enumerate(zip(price, tick, strict=True)):
        if np.isfinite(t) and t > 0:
            bid[i] = max(on_grid(p, t, "down"), t)
            ask[i] = on_grid(p, t, "up")
    return bid, ask


def on_grid(value: float, step: float, direction: str) -> float:
    """`value` rounded down/up/to the nearest multiple of `step`, in decimal arithmetic (67966.93 with tick 0.1 →
    67966.9, never 67966.90000000001); a value within 1e-9 steps of the grid counts as on it."""
    from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

    v, s = Decimal(repr(float(value))), Decimal(repr(float(step)))
    ratio = v / s
    nearest = ratio.to_integral_value(ROUND_HALF_EVEN)
    if abs(ratio - nearest) <= Decimal("1e-9"):
        n = nearest
    else:
        n = ratio.to_integral_value({"down": ROUND_FLOOR, "up": ROUND_CEILING, "nearest": ROUND_HALF_EVEN}[direction])
    return float(n * s)


def lots_quantity(lots: float, lot: float) -> float:
    """k lots as a quantity without binary noise (3 × 0.1 = 0.3)."""
    from decimal import Decimal

    if not np.isfinite(lot):
        return float(lots)
    return float(Decimal(round(float(lots))) * Decimal(repr(float(lot))))


def min_lots(min_notional: float, lot: float, limit: float) -> int:
    """The fewest whole lots whose notional at `limit` reaches `min_notional` (0 when there is none)."""
    if not (np.isfinite(min_notional) and min_notional > 0):
        return 0
    return max(1, math.ceil(min_notional / (lot * limit) - 1e-9))


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


def _replace(r: Rounded, **changes: object) -> Rounded:
    import dataclasses

    return dataclasses.replace(r, **changes)


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

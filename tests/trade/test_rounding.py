"""Whole-lot rounding (`dataflows.trade.rounding`): properties over random books (hypothesis), exactness against
enumeration, greedy floor-rounding as the yardstick, and the direction of tick rounding."""

from __future__ import annotations

import itertools
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dataflows.trade.rounding import (
    BUDGET_RTOL,
    FINE,
    Book,
    RoundingError,
    greedy_book,
    on_grid,
    round_book,
    tick_limits,
)

PROPS = settings(max_examples=120, deadline=None)


@st.composite
def books(draw: st.DrawFn, *, coarse_only: bool = False, max_n: int = 6) -> Book:
    """Signed targets (Σ|w| <= 1), prices on their ticks, lots from 1e-6 to 10 (or unknown), holdings on or off the
    lot grid, min notionals; `coarse_only`: every lot weighs >= FINE of equity (the exact regime)."""
    n = draw(st.integers(1, max_n))
    raw = np.array(draw(st.lists(st.floats(-1, 1), min_size=n, max_size=n)))
    assume(np.abs(raw).sum() > 1e-6)
    w = raw / np.abs(raw).sum() * draw(st.floats(0.2, 1.0))
    tick = 10.0 ** np.array(draw(st.lists(st.integers(-6, 0), min_size=n, max_size=n)))
    price = np.array([t * draw(st.integers(10, 10**6)) for t in tick])
    price = np.array([on_grid(p, t, "nearest") for p, t in zip(price, tick, strict=True)])
    capital = draw(st.floats(100, 1e6))
    lot = 10.0 ** np.array(draw(st.lists(st.integers(-6, 1), min_size=n, max_size=n)), dtype=np.float64)
    if coarse_only:  # from the finest lot that weighs >= FINE of twice the capital, up to 10^4 times that
        floor = np.ceil(np.log10(2 * FINE * capital / price))
        lot = 10.0 ** (floor + np.array(draw(st.lists(st.integers(0, 4), min_size=n, max_size=n))))
    else:
        lot = np.where(np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n))) & (n > 1), np.nan, lot)
    held = np.zeros(n)
    if draw(st.booleans()):
        units = np.array(draw(st.lists(st.integers(-50, 50), min_size=n, max_size=n)), dtype=np.float64)
        step = np.nan_to_num(lot, nan=1.0) * (1.0 if coarse_only else draw(st.sampled_from([1.0, 0.37])))
        held = units * step * np.maximum(1.0, capital / price / 200 // np.nan_to_num(lot, nan=1.0))
    minimum = np.array(draw(st.lists(st.sampled_from([0.0, 1.0, 5.0, 10.0, 100.0]), min_size=n, max_size=n)))
    bid, ask = tick_limits(price, tick)
    book = Book(w, price, lot, held, capital, bid, ask, minimum)
    assume(book.equity > 0)
    if coarse_only:
        assume((lot * price / book.equity >= FINE).all())
    return book


def _checked(book: Book, r) -> None:
    """Integers, arithmetic, budget and min notionals of a rounded book."""
    for i in range(len(r.lots)):
        if np.isfinite(book.lot[i]):
            assert r.lots[i] == int(r.lots[i])  # whole lots
            assert r.order[i] == pytest.approx(r.lots[i] * book.lot[i], rel=1e-12, abs=1e-12)
        if r.lots[i] != 0 and book.min_notional[i] > 0:
            limit = book.bid[i] if r.lots[i] > 0 else book.ask[i]
            assert abs(r.order[i]) * limit >= book.min_notional[i] * (1 - 1e-9)
    np.testing.assert_allclose(r.quantity, book.held + r.order, rtol=1e-12, atol=1e-12)
    assert float(np.dot(np.abs(r.quantity), book.price)) <= r.equity * (1 + BUDGET_RTOL)  # never over budget


@PROPS
@given(books())
def test_whole_lots_within_budget_and_never_worse_than_greedy(book: Book) -> None:
    try:
        r = round_book(book)
    except RoundingError:  # holdings that can be neither sold (min notional) nor kept (budget): said, not solved
        greedy = greedy_book(book)
        assert float(np.dot(np.abs(greedy.quantity), book.price)) > greedy.equity * (1 + BUDGET_RTOL)
        return
    _checked(book, r)
    if r.greedy_l1 is not None:
        assert r.l1(book.weight) <= r.greedy_l1 + 1e-15


@PROPS
@given(books(coarse_only=True))
def test_the_program_alone_beats_greedy_where_it_is_exact(book: Book) -> None:
    """Lots of >= 1e-5 of equity are integer variables: the program's own book is never worse than greedy's."""
    try:
        r = round_book(book, greedy_fallback=False)
    except RoundingError:
        return
    _checked(book, r)
    assert r.method == "milp"
    if r.greedy_l1 is not None:
        assert r.l1(book.weight) <= r.greedy_l1 + 1e-12


def _enumerate(book: Book) -> float | None:
    """The best L1 error over every whole-lot book (None: none is feasible)."""
    e, best = book.equity, None
    reach = [int((e / p + abs(h)) / lot) + 1 for p, h, lot in zip(book.price, book.held, book.lot, strict=True)]
    for ks in itertools.product(*(range(-k, k + 1) for k in reach)):
        k = np.array(ks, dtype=np.float64)
        q = book.held + k * book.lot
        if float(np.dot(np.abs(q), book.price)) > e * (1 + BUDGET_RTOL):
            continue
        limit = np.where(k > 0, book.bid, book.ask)
        if ((k != 0) & (np.abs(k) * book.lot * limit < book.min_notional * (1 - 1e-9))).any():
            continue
        h, w = book.held, book.weight
        if ((w >= 0) & (q < np.minimum(0, h))).any() or ((w <= 0) & (q > np.maximum(0, h))).any():
            continue  # a position of the wrong sign
        err = float(np.abs(q * book.price / e - book.weight).sum())
        best = err if best is None else min(best, err)
    return best


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.floats(-1, 1), min_size=1, max_size=3),
    st.lists(st.sampled_from([1.0, 2.0, 5.0]), min_size=3, max_size=3),
    st.lists(st.integers(2000, 9000), min_size=3, max_size=3),
    st.lists(st.integers(-3, 3), min_size=3, max_size=3),
    st.lists(st.sampled_from([0.0, 30.0, 80.0]), min_size=3, max_size=3),
    st.integers(50, 300),
)
def test_exact_against_enumeration(raw, lots, cents, held, minimum, capital) -> None:
    """Small books with coarse lots: the program finds the enumerated optimum (L1 to 1e-12), or both find none."""
    n = len(raw)
    assume(sum(abs(x) for x in raw) > 1e-3)
    w = np.array(raw) / sum(abs(x) for x in raw) * 0.95
    price = np.array(cents[:n]) / 100.0
    lot = np.array(lots[:n])
    book = Book(w, price, lot, np.array(held[:n]) * lot, float(capital), min_notional=np.array(minimum[:n]))
    assume(book.equity > 0)
    best = _enumerate(book)
    try:
        r = round_book(book, greedy_fallback=False)
    except RoundingError:
        assert best is None
        return
    assert best is not None
    assert r.l1(w) == pytest.approx(best, abs=1e-12)


@PROPS
@given(st.integers(2, 12), st.integers(0, 2**32 - 1))
def test_exact_when_lots_are_fine(n: int, seed: int) -> None:
    """No holdings, no min notional, lots far finer than the positions: every symbol is within one lot of its
    target, so the error vanishes with the lot (Σ c_i, c_i = one lot's weight)."""
    rng = np.random.default_rng(seed)
    w = rng.dirichlet(np.ones(n)) * np.where(rng.random(n) < 0.3, -1, 1)
    price = 10 ** rng.uniform(-2, 4, n)
    lot = 10.0 ** rng.integers(-8, -4, n)
    book = Book(w, price, lot, np.zeros(n), 1e5)
    r = round_book(book)
    c = lot * price / book.equity
    _checked(book, r)
    assert r.l1(w) <= c.sum() + 1e-12


def test_short_targets_sell_and_count_at_gross_value() -> None:
    """A short target is a sell to a negative quantity; it takes budget like a long (gross <= equity)."""
    book = Book(np.array([0.5, -0.5]), np.array([10.0, 20.0]), np.array([1.0, 1.0]), np.zeros(2), 1000.0)
    r = round_book(book)
    assert r.order.tolist() == [50.0, -25.0] and r.quantity.tolist() == [50.0, -25.0]
    assert r.gross == pytest.approx(1.0)
    over = Book(np.array([0.7, -0.7]), np.array([10.0, 20.0]), np.array([1.0, 1.0]), np.zeros(2), 1000.0)
    assert round_book(over).gross <= 1.0 + 1e-12  # Σ|w| = 1.4: the program cuts to the budget


def test_the_program_beats_greedy_where_rounding_up_fits() -> None:
    """Greedy truncates every position; the program rounds up where the budget lets it (here: the cheap one)."""
    w = np.array([0.5, 0.3, 0.2])
    book = Book(w, np.array([30.0, 70.0, 9.0]), np.ones(3), np.zeros(3), 1000.0)
    r = round_book(book)
    greedy = greedy_book(book)
    assert greedy.quantity.tolist() == [16.0, 4.0, 22.0]
    assert r.method == "milp" and r.l1(w) < greedy.l1(w)
    assert float(np.dot(r.quantity, book.price)) <= 1000.0


def _small(target: float, held: float = 0.0) -> Book:
    """A 3- or 2-unit order of a 1.00 symbol beside a big one, min notional 5 on both."""
    return Book(np.array([target, 0.9]), np.ones(2), np.ones(2), np.array([held, 0.0]), 1000.0 - held,
                min_notional=np.array([5.0, 5.0]))  # fmt: skip


def test_min_notional_drops_or_raises_an_order() -> None:
    """Below the minimum an order is placed at the minimum or not at all, whichever tracks the target better."""
    assert round_book(_small(0.003)).order[0] == 5.0  # 3 wanted: 5 is 2 off, nothing is 3 off
    assert round_book(_small(0.002)).order[0] == 0.0  # 2 wanted: nothing is 2 off, 5 is 3 off
    kept = round_book(_small(0.0, held=3.0))  # 3 held, not a target: a sale of 3 is below the minimum
    assert kept.order[0] == 0.0 and kept.quantity[0] == 3.0  # kept (a sale of 5 would open a short: never)


def test_no_equity_is_an_error() -> None:
    with pytest.raises(RoundingError, match="equity"):
        round_book(Book(np.array([1.0]), np.array([10.0]), np.array([1.0]), np.array([-5.0]), 0.0))


@PROPS
@given(st.integers(1, 10**9), st.integers(-8, 2), st.sampled_from([1, 2, 5, 25]))
def test_tick_rounding_direction(units: int, exponent: int, mult: int) -> None:
    """Buys round down to the tick, sells up; both are multiples of the tick in decimal, within one tick."""
    tick = float(Decimal(mult) * Decimal(10) ** exponent)
    price = float(Decimal(units) * Decimal(10) ** (exponent - 1)) + 0.0  # generally off the grid
    bid, ask = tick_limits(np.array([price]), np.array([tick]))
    b, a = float(bid[0]), float(ask[0])
    assert b <= price <= a or b == tick  # a price below one tick buys at one tick
    for v in (b, a):
        ratio = Decimal(repr(v)) / Decimal(repr(tick))
        assert ratio == ratio.to_integral_value()  # on the grid, no binary noise (67966.9, not 67966.90000000001)
    assert Decimal(repr(a)) - Decimal(repr(b)) <= Decimal(repr(tick))  # at most one tick apart (in decimal)
    on = float(Decimal(units) * Decimal(repr(tick)))
    on_bid, on_ask = tick_limits(np.array([on]), np.array([tick]))
    assert on_bid[0] == on_ask[0] == on  # a price on the grid is its own limit both ways


def test_tick_examples_and_unknown_tick() -> None:
    bid, ask = tick_limits(np.array([67966.93, 0.30000000000000004, 5.0]), np.array([0.1, 0.1, np.nan]))
    assert bid.tolist() == [67966.9, 0.3, 5.0] and ask.tolist() == [67967.0, 0.3, 5.0]

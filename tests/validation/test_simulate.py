"""Book simulation: the kernel against the NumPy reference (1e-10), short accounting, the short cap, metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dataflows.synthesis import synthesize_atoms
from dataflows.validation import metrics as M
from dataflows.validation.simulate import (
    SimulationError,
    price_levels,
    simulate_books,
    simulate_reference,
)

FEES, SLIP = 0.001, 0.0005


def _returns(t: int = 160, n: int = 6, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    r = rng.standard_t(4, (t, n)) * 0.02
    r[5:9, 2] = np.nan  # no bar: the price does not move
    r[min(47, t - 1), 1] = 1.5  # +150% in one bar: a short held through it loses 100% of its notional, not 150%
    return r


def _books(n: int, rows: int, seed: int = 2) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.0, 1.0, (rows, n))
    w[:, 0] = 0.0  # never held
    w[1, 4] = 0.0  # dropped for one window, then back
    w /= w.sum(axis=1, keepdims=True)
    ls = w.copy()
    ls[:, n // 2 :] *= -1.0
    ls /= np.abs(ls).sum(axis=1, keepdims=True)
    return {"long": w, "short": -w, "long_short": ls}


REBALANCES = np.array([0, 20, 40, 60, 80, 100, 120, 140])


@pytest.fixture(scope="module")
def simulated() -> tuple[np.ndarray, dict[str, np.ndarray], dict]:
    r = _returns()
    books = _books(r.shape[1], REBALANCES.size)
    return r, books, simulate_books(r, REBALANCES, books, fees=FEES, slippage=SLIP)


@pytest.mark.parametrize("book", ["long", "short", "long_short"])
def test_the_kernel_equals_the_numpy_reference(simulated, book: str) -> None:
    r, books, sims = simulated
    ref = simulate_reference(r, REBALANCES, books[book], fees=FEES, slippage=SLIP)
    got = sims[book]
    np.testing.assert_allclose(got.returns, ref.returns, rtol=0, atol=1e-10)
    np.testing.assert_allclose(got.values, ref.values, rtol=0, atol=1e-10)
    np.testing.assert_allclose(got.turnover, ref.turnover, rtol=0, atol=1e-10)
    np.testing.assert_allclose(got.fees, ref.fees, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got.slippage, ref.slippage, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got.exposure, ref.exposure, rtol=0, atol=1e-10)
    np.testing.assert_allclose(got.filled, ref.filled, rtol=0, atol=1e-12)
    assert got.costs.min() > 0  # every rebalance traded and paid


def test_books_keep_their_sign_between_rebalances(simulated) -> None:
    _r, books, sims = simulated
    short = sims["short"].exposure
    assert (short <= 0).all() and (short.sum(axis=1) < 0).all()  # drifted, never renormalised into a long book
    long = sims["long"].exposure
    assert (long >= 0).all() and (long.sum(axis=1) > 0).all()
    ls = sims["long_short"].exposure
    np.testing.assert_array_equal(np.sign(ls), np.sign(books["long_short"]))


def test_a_short_book_on_falling_assets_earns_every_day() -> None:
    rng = np.random.default_rng(3)
    r = -rng.uniform(0.01, 0.03, (60, 2))  # both assets fall every day
    rows = np.arange(0, 60, 5)
    w = np.tile([-0.5, -0.5], (rows.size, 1))
    sim = simulate_books(r, rows, {"short": w}, fees=FEES, slippage=SLIP)["short"]
    assert (sim.returns > 0).all()
    assert (sim.exposure < 0).all()
    ref = simulate_reference(r, rows, w, fees=FEES, slippage=SLIP)
    np.testing.assert_allclose(sim.returns, ref.returns, rtol=0, atol=1e-10)


def test_a_short_loses_at_most_its_notional_in_one_bar() -> None:
    r = np.array([[0.0, 0.0], [3.0, 0.0], [0.1, 0.0]])  # +300% while held short
    w = np.array([[-0.5, 0.0]])
    sim = simulate_books(r, np.array([0]), {"s": w}, fees=0.0, slippage=0.0)["s"]
    assert sim.returns[1] == pytest.approx(-0.5, abs=1e-12)  # 50% short x a capped +100%, not x 300%
    np.testing.assert_allclose(price_levels(r, np.array([0]), w)[:, 0], [1.0, 1.0, 2.0, 2.2])
    long = simulate_books(r, np.array([0]), {"l": -w}, fees=0.0, slippage=0.0)["l"]
    assert long.returns[1] == pytest.approx(1.5, abs=1e-12)  # a long gets the whole +300% (cap is shorts only)


def test_rebalanced_every_row_without_costs_equals_the_atom_streams() -> None:
    r = _returns(80, 4, seed=5)
    symbols = [f"S{j}" for j in range(4)]
    atoms = ["S0|x|LONG", "S1|x|SHORT", "S2|x|SHORT", "S3|x|LONG"]
    streams = np.nan_to_num(np.asarray(synthesize_atoms(r, symbols, atoms).values))  # LONG r, SHORT −min(r, 1)
    gross = np.array([0.3, 0.2, 0.25, 0.25])
    signed = gross * np.array([1, -1, -1, 1])
    rows = np.arange(80)
    sim = simulate_books(r, rows, {"b": np.tile(signed, (80, 1))}, fees=0.0, slippage=0.0)["b"]
    np.testing.assert_allclose(sim.returns, streams @ gross, rtol=0, atol=1e-12)


def test_nothing_trades_between_rebalances() -> None:
    r = _returns(40, 3, seed=7)
    w = np.array([[0.5, -0.3, 0.2], [0.1, 0.1, -0.4]])
    rows = np.array([0, 25])
    sim = simulate_reference(r, rows, w, fees=FEES, slippage=SLIP)
    levels = price_levels(r, rows, w)
    units = sim.exposure[0] * sim.values[24] / levels[25]  # units held at the end of window 0
    cash = sim.values[24] - units @ levels[25]
    np.testing.assert_allclose(sim.values[1:25], cash + levels[2:26] @ units, rtol=1e-12)  # held, drifting


def test_bad_inputs_are_named() -> None:
    r = np.zeros((5, 2))
    with pytest.raises(SimulationError, match="strictly increasing"):
        simulate_reference(r, np.array([2, 1]), np.zeros((2, 2)), fees=0.0, slippage=0.0)
    with pytest.raises(SimulationError, match="shape"):
        simulate_reference(r, np.array([0]), np.zeros((1, 3)), fees=0.0, slippage=0.0)
    dead = np.array([[0.0, 0.0], [-1.0, 0.0], [0.0, 0.0]])
    with pytest.raises(SimulationError, match="−100%"):
        price_levels(dead, np.array([0]), np.array([[1.0, 0.0]]))
    assert price_levels(dead, np.array([0]), np.array([[0.0, 1.0]]))[2, 0] == 0.0  # never held: no harm


def test_metrics_are_annualized_once() -> None:
    r = np.array([0.01, -0.02, 0.03, 0.0, -0.01])
    m = M.series_metrics(r, 365)
    assert m["total_return"] == pytest.approx(np.prod(1 + r) - 1)
    assert m["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(365))
    assert m["annual_vol"] == pytest.approx(r.std(ddof=1) * math.sqrt(365))
    downside = math.sqrt(np.mean(np.minimum(r, 0) ** 2))
    assert m["sortino"] == pytest.approx(r.mean() / downside * math.sqrt(365))
    assert m["annual_return"] == pytest.approx((1 + m["total_return"]) ** (365 / 5) - 1)
    assert m["max_drawdown"] == pytest.approx(1 - (1.01 * 0.98) / 1.01)
    assert m["cvar_95"] == pytest.approx(0.02)  # the worst row of five
    flat = M.series_metrics(np.zeros(4), 252)
    assert flat["sharpe"] is None and flat["sortino"] is None and flat["max_drawdown"] == 0.0


def test_buys_the_cash_cannot_cover_are_trimmed_pro_rata() -> None:
    """From cash, a fully invested long book with costs: every column gets the same fraction of its target."""
    r = _returns(30, 5, seed=9)
    w = np.array([[0.1, 0.2, 0.2, 0.2, 0.3]])
    rows = np.array([0])
    for sim in (
        simulate_books(r, rows, {"b": w}, fees=0.01, slippage=0.002)["b"],
        simulate_reference(r, rows, w, fees=0.01, slippage=0.002),
    ):
        fill = sim.filled[0]
        assert fill == pytest.approx(1 / (1.01 * 1.002), abs=1e-12)  # all the cash, spread over every buy
        units = sim.exposure[0] * sim.values[-1] / price_levels(r, rows, w)[-1]  # held since row 0's order price 1.0
        np.testing.assert_allclose(units, w[0] * fill, rtol=0, atol=1e-12)
        assert sim.turnover[0] == pytest.approx(fill, abs=1e-12)

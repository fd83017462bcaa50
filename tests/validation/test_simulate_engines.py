"""The simulation engines agree: the numba kernel (the walk-forward's) and the NumPy reference always, vectorbt
wherever the cash covers every buy; and no engine of ours depends on the column order."""

from __future__ import annotations

import numpy as np
import pytest

from dataflows.validation.simulate import (
    ENGINES,
    SimulationError,
    simulate_books,
    simulate_reference,
    warm_simulation,
)

FIELDS = ("values", "returns", "turnover", "fees", "slippage", "exposure")


def _case(seed: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], float, float]:
    """Random returns with missing bars and a > 100% bar, long/short/levered books, sparse targets, costs."""
    rng = np.random.default_rng(seed)
    t, n = int(rng.integers(5, 120)), int(rng.integers(1, 25))
    r = rng.normal(0.0, 0.05, (t, n))
    r[rng.random((t, n)) < 0.05] = np.nan
    if seed % 5 == 0:
        r[int(rng.integers(0, t)), 0] = 1.5  # a held short pays at most 100% of it
    rows = np.arange(0, t, int(rng.integers(1, 10)))
    w = rng.normal(0.0, 1.0, (rows.size, n))
    w[rng.random(w.shape) < 0.4] = 0.0
    if seed % 3 == 0:
        w = np.abs(w)
    w = w / np.maximum(np.abs(w).sum(axis=1, keepdims=True), 1e-12) * float(rng.choice([0.5, 1.0, 1.3]))
    books = {"a": w, "b": -w, "c": np.abs(w)}  # long/short, its mirror, long only (buys trimmed to the cash)
    return r, rows, books, float(rng.choice([0.0, 0.001, 0.01])), float(rng.choice([0.0, 0.0005, 0.01]))


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    for engine in ENGINES:
        warm_simulation(engine)


@pytest.mark.parametrize("seed", range(24))
def test_kernel_equals_the_reference(seed: int) -> None:
    r, rows, books, fees, slip = _case(seed)
    kernel = simulate_books(r, rows, books, fees=fees, slippage=slip)
    for name, targets in books.items():
        ref = simulate_reference(r, rows, targets, fees=fees, slippage=slip)
        for field in (*FIELDS, "filled"):
            got = getattr(kernel[name], field)
            np.testing.assert_allclose(got, getattr(ref, field), rtol=0, atol=1e-10, err_msg=f"{name}.{field}")


@pytest.mark.parametrize("seed", range(24))
def test_kernel_equals_vectorbt_where_the_cash_covers_every_buy(seed: int) -> None:
    """Pro-rata trimming departs from vectorbt only on rebalances whose buys the cash does not cover."""
    r, rows, books, fees, slip = _case(seed)
    kernel = simulate_books(r, rows, books, fees=fees, slippage=slip)
    vbt = simulate_books(r, rows, books, fees=fees, slippage=slip, engine="vectorbt")
    for name in books:
        if (kernel[name].filled < 1.0).any():
            continue  # cash bound somewhere: vectorbt trims in its call-sequence order (module docstring)
        for field in FIELDS:
            got = getattr(kernel[name], field)
            np.testing.assert_allclose(got, getattr(vbt[name], field), rtol=0, atol=1e-10, err_msg=f"{name}.{field}")


def test_the_random_cases_cover_free_and_binding_cash() -> None:
    filled = []
    for seed in range(24):
        r, rows, books, fees, slip = _case(seed)
        filled += [sim.filled for sim in simulate_books(r, rows, books, fees=fees, slippage=slip).values()]
    free = sum(bool((f == 1.0).all()) for f in filled)
    assert free >= 30 and len(filled) - free >= 20  # 48 and 24 of 72 books when written


def _binding_case(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
    """A random book whose buys the cash does not cover: weights on a coarse grid (ties, as in equal-weight books),
    fully invested or levered long, sometimes long/short, with fees and slippage."""
    rng = np.random.default_rng(100 + seed)
    t, n = int(rng.integers(30, 120)), int(rng.integers(3, 20))
    r = rng.normal(0.0, 0.04, (t, n))
    r[rng.random((t, n)) < 0.05] = np.nan
    rows = np.arange(0, t, int(rng.integers(1, 15)))
    w = rng.integers(0, 4, (rows.size, n)).astype(np.float64)  # 0..3 units of a grid: many equal weights
    w[:, [0, -1]] = np.maximum(w[:, [0, -1]], 1.0)
    w = w / w.sum(axis=1, keepdims=True) * float(rng.choice([1.0, 1.2]))
    if seed % 3 == 2:  # a few shorts: their proceeds are cash, but not enough for the longs
        short = w[:, : n // 3 + 1]
        w[:, : n // 3 + 1] = -0.1 * short / short.sum(axis=1, keepdims=True)
        w[:, n // 3 + 1 :] *= 1.15 / w[:, n // 3 + 1 :].sum(axis=1, keepdims=True)
    return r, rows, w, float(rng.choice([0.001, 0.01])), float(rng.choice([0.0005, 0.01]))


@pytest.mark.parametrize("seed", range(30))
def test_a_permutation_of_the_columns_does_not_move_the_book(seed: int) -> None:
    """Buys trimmed pro rata: permuting the columns changes equity by rounding only (it moved by up to 1.4e-2 when
    the last buys in column order were trimmed)."""
    r, rows, w, fees, slip = _binding_case(seed)
    base = simulate_books(r, rows, {"b": w}, fees=fees, slippage=slip)["b"]
    base_ref = simulate_reference(r, rows, w, fees=fees, slippage=slip)
    assert (base.filled < 1.0).any()  # the cash binds: the case tests the trimming rule
    rng = np.random.default_rng(seed)
    for _ in range(4):
        p = rng.permutation(r.shape[1])
        sim = simulate_books(r[:, p], rows, {"b": w[:, p]}, fees=fees, slippage=slip)["b"]
        ref = simulate_reference(r[:, p], rows, w[:, p], fees=fees, slippage=slip)
        for got, want in ((sim, base), (ref, base_ref)):
            for field in ("values", "returns", "turnover", "fees", "slippage", "filled"):
                np.testing.assert_allclose(getattr(got, field), getattr(want, field), rtol=0, atol=1e-12)
            np.testing.assert_allclose(got.exposure, want.exposure[:, p], rtol=0, atol=1e-12)


def test_vectorbt_trims_in_column_order_and_the_kernel_does_not() -> None:
    """The departure, shown: five equal-weight columns, fees; vectorbt's equity depends on which column is last."""
    rng = np.random.default_rng(7)
    r = rng.normal(0.0, 0.03, (40, 5))
    rows = np.array([0, 10, 20, 30])
    w = np.full((rows.size, 5), 0.2)
    p = np.array([4, 3, 2, 1, 0])
    books = {"x": w}
    vbt = simulate_books(r, rows, books, fees=0.01, slippage=0.001, engine="vectorbt")["x"].values
    vbt_p = simulate_books(r[:, p], rows, books, fees=0.01, slippage=0.001, engine="vectorbt")["x"].values
    ours = simulate_books(r, rows, books, fees=0.01, slippage=0.001)["x"].values
    ours_p = simulate_books(r[:, p], rows, books, fees=0.01, slippage=0.001)["x"].values
    assert np.abs(vbt - vbt_p).max() > 1e-5
    assert np.abs(ours - ours_p).max() < 1e-12


def test_a_book_that_rebalances_every_row_and_holds_cash_between() -> None:
    rng = np.random.default_rng(3)
    r = rng.normal(0.0, 0.02, (30, 4))
    w = np.zeros((30, 4))
    w[::2, 1] = 0.8  # in and out every other row
    w[1::2, 2] = -0.6
    rows = np.arange(30)
    kernel = simulate_books(r, rows, {"x": w}, fees=0.002, slippage=0.001)["x"]
    vbt = simulate_books(r, rows, {"x": w}, fees=0.002, slippage=0.001, engine="vectorbt")["x"]
    for field in FIELDS:
        np.testing.assert_allclose(getattr(kernel, field), getattr(vbt, field), rtol=0, atol=1e-12)
    assert (kernel.turnover > 0).all()


def test_the_default_engine_is_the_kernel_and_engines_are_checked() -> None:
    r, rows, books, fees, slip = _case(1)
    a = simulate_books(r, rows, books, fees=fees, slippage=slip)
    b = simulate_books(r, rows, books, fees=fees, slippage=slip, engine="kernel")
    assert all(np.array_equal(a[k].values, b[k].values) for k in books)
    with pytest.raises(SimulationError, match="unknown simulation engine 'pandas'"):
        simulate_books(r, rows, books, fees=fees, slippage=slip, engine="pandas")
    with pytest.raises(SimulationError, match="no book"):
        simulate_books(r, rows, {}, fees=fees, slippage=slip)


def test_the_kernel_scales_linearly_in_the_columns() -> None:
    """2,000 columns × 600 rows × 3 books: vectorbt's per-row insertion sort took minutes here; the kernel is quick."""
    rng = np.random.default_rng(0)
    t, n = 600, 2000
    r = rng.normal(0.0, 0.03, (t, n))
    rows = np.arange(0, t, 30)
    pool = np.full((rows.size, n), 1.0 / n)
    picks = np.zeros((rows.size, n))
    for k in range(rows.size):
        picks[k, rng.choice(n, 25, replace=False)] = 1.0 / 25
    sims = simulate_books(r, rows, {"raw_ew": pool, "filtered_ew": picks, "short": -picks}, fees=0.001, slippage=5e-4)
    ref = simulate_reference(r, rows, picks, fees=0.001, slippage=5e-4)
    np.testing.assert_allclose(sims["filtered_ew"].values, ref.values, rtol=0, atol=1e-10)
    assert np.isfinite(sims["raw_ew"].values).all() and sims["raw_ew"].exposure.shape == (rows.size, n)

"""Book simulation: signed target weights at rebalance rows → daily equity, vectorbt's accounting, three engines.

Engines (`simulate_books(..., engine=)`): `"kernel"` (the default, what the walk-forward runs) is
`kernels.simulate.simulate_targets_nb`, vectorbt's `from_orders` order accounting for one cash-sharing group written
as one numba loop over rebalances; `"vectorbt"` runs `vectorbt.Portfolio.from_orders` itself; and
`simulate_reference` is an independent plain-loop NumPy reference. Tests hold the kernel and the reference equal
(1e-10) on every book, and vectorbt equal to both on books whose buys the cash always covers (see "Trimming"). The
kernel exists for two costs of vectorbt on this path: its import (~1.1 s of every run) and its per-row call-sequence
insertion sort, quadratic in the columns on *every* row (54 s of a 3-book × 2,000-column × 1,280-row walk-forward,
against well under a second for the kernel).

Array contract: `returns` is T×N float64 simple returns of the simulated rows (rows = time oldest first, columns =
symbols, NaN = no bar = the price did not move); `rebalance_rows` are strictly increasing row indices into it;
`targets` is R×N signed weights, row k the book from `rebalance_rows[k]` on (a fraction of equity; LONG > 0,
SHORT < 0, 0 = no position). Equity starts at 1.0 (cash) before row 0.

Timing. A rebalance at row t is decided with information up to the close of row t−1 and executed at that close:
the order price of row t is the close of row t−1 (vectorbt `price=`), the valuation of row t is its own close
(`close=`). So row t's return already belongs to the new book, and the rebalance's fees and slippage are charged
to row t (the first day of the window that caused them), never to the previous window.

Accounting (vectorbt's, `direction="both"`, `size_type="targetpercent"`, one cash-sharing group per book):
- positions are units; a target w means w × equity / price units, equity = cash + Σ units × price, valued at the
  order price once per rebalance (`update_value=False`), sells before buys (`call_seq="auto"`);
- a short sale adds its proceeds to cash (proceeds are cash, the liability is the negative position); buys spend
  cash and are trimmed to the cash available (so a fully invested long book ends a rebalance slightly under 100%
  after fees, never on margin) — pro rata, see "Trimming";
- between rebalances nothing trades: positions drift with prices, and reported exposures are position value /
  equity, signed. They are never renormalised (the origin divided drifted weights by *net* exposure, which is
  negative for a short book, and so flipped short books long).

Trimming: the one departure from vectorbt. When the cash left after the sells does not cover every buy (a fully
invested long book with fees or slippage, at every rebalance), each buy is filled at the same fraction
cash / (total cost of the buys) of its size, so the cash ends at exactly 0 and every column is under its target by
the same relative amount (`BookSimulation.filled` records the fraction per rebalance). vectorbt fills the buys in
full one after the other, in ascending order of their approximate order value with ties in column order, trims the
one that runs out of cash and rejects the rest: which assets end under target depended on the column order (ties
are the rule for equal-weight books), and permuting 5 columns of identical inputs moved equity by 4e-4. With
pro-rata trimming a permutation of the columns changes equity only by floating-point rounding (tested on random
books with binding cash to 1e-12). Where the cash covers every buy the two rules are the same computation, and the
kernel and the reference equal vectorbt to 1e-10 (tested on such books only); where it binds they differ by a
fraction of the costs (the trimmed notional is about fees + slippage of the buys).

Short cap. The optimizers price a SHORT atom as −min(r, 1): a short loses at most 100% of its notional per bar.
Held shorts get the same cap here: the price path of a column is built from min(r, 1) on the bars during which
the book holds it short (the sign of the governing target), and from r otherwise. Both simulators apply it; the
reference builds its prices independently inside its loop. Over one bar a capped short equals the atom stream
exactly; over several bars a *held* short compounds as 2 − Π(1 + r) (units stay fixed) while the atom stream
compounds as Π(1 − r) (rebalanced every bar) — the simulation is the held one, because that is what the book does
between rebalances; with a rebalance every row the two agree (tested).

vectorbt is imported only by the `"vectorbt"` engine (≈1–3 s import; its kernels compile once, ≈10–20 s, then load
from numba's cache); call `warm_simulation(engine)` once per process before timing anything.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from dataflows.errors import DataflowsError

SHORT_CAP = 1.0
"""Largest per-bar return a held short pays for (a short loses at most 100% of its notional per bar)."""

_REL_TOL = 1e-9  # vectorbt's closeness tolerances (vectorbt.utils.math_), mirrored by the reference
_ABS_TOL = 1e-12


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


# --------------------------------------------------------------------------- inputs


def _check(returns: np.ndarray, rebalance_rows: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, ...]:
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
    r, rows, w = _check(returns, rebalance_rows, targets)
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


# --------------------------------------------------------------------------- engines

KERNEL = "kernel"
VECTORBT = "vectorbt"
ENGINES = (KERNEL, VECTORBT)


@functools.cache
def warm_simulation(engine: str = KERNEL) -> None:
    """Load `engine` once per process (numba cache or compile; vectorbt's import) with a tiny run of the real types."""
    r = np.array([[0.01, -0.02], [0.0, 0.01], [0.02, 0.0]])
    w = np.array([[0.5, -0.5], [0.3, 0.0]])
    simulate_books(r, np.array([0, 2]), {"a": w, "b": -w}, fees=0.001, slippage=0.001, engine=engine)


def simulate_books(
    returns: np.ndarray,
    rebalance_rows: np.ndarray,
    books: Mapping[str, np.ndarray],
    *,
    fees: float,
    slippage: float,
    index: np.ndarray | None = None,
    engine: str = KERNEL,
) -> dict[str, BookSimulation]:
    """Simulate every book (each its own cash-sharing portfolio) on `engine`; the books share `returns` and rows.

    `index` (int64 epoch ms per row) labels vectorbt's rows; the kernel does not need it.
    """
    if engine not in ENGINES:
        msg = f"unknown simulation engine {engine!r}; expected one of {ENGINES}"
        raise SimulationError(msg)
    if not books:
        msg = "no book to simulate"
        raise SimulationError(msg)
    if engine == VECTORBT:
        return _simulate_on_vectorbt(returns, rebalance_rows, books, fees=fees, slippage=slippage, index=index)
    from kernels.simulate import simulate_targets_nb

    out: dict[str, BookSimulation] = {}
    for name, targets in books.items():
        r, rows, w = _check(returns, rebalance_rows, targets)
        levels = price_levels(r, rows, w)
        values, rets, held, traded, fee, slip, filled = simulate_targets_nb(
            np.ascontiguousarray(levels[:-1]),
            np.ascontiguousarray(levels[1:]),
            rows,
            np.ascontiguousarray(w),
            float(fees),
            float(slippage),
            _REL_TOL,
            _ABS_TOL,
        )
        before = np.concatenate([[1.0], values[:-1]])[rows]  # equity at the previous close = at the order price
        last = np.append(rows[1:] - 1, r.shape[0] - 1)
        exposure = held * levels[1:][last] / values[last][:, None]
        out[name] = BookSimulation(values, rets, traded / before, fee / before, slip / before, exposure, filled)
    return out


def _simulate_on_vectorbt(
    returns: np.ndarray,
    rebalance_rows: np.ndarray,
    books: Mapping[str, np.ndarray],
    *,
    fees: float,
    slippage: float,
    index: np.ndarray | None = None,
) -> dict[str, BookSimulation]:
    """Every book in one vectorbt `Portfolio.from_orders` call (one cash-sharing group per book); vectorbt's own
    values and returns come back. Its auto call sequence sorts every row of every group: quadratic in the columns.
    It trims buys in call-sequence order, not pro rata: equal to the kernel only where the cash covers every buy."""
    import pandas as pd

    try:
        import vectorbt as vbt
    except ImportError:
        msg = "engine='vectorbt' needs vectorbt, a test/benchmark peer: install the dev group (uv sync --group dev)"
        raise SimulationError(msg) from None

    names = list(books)
    r = np.asarray(returns, dtype=np.float64)
    n_rows, n = r.shape
    closes, prices, sizes = [], [], []
    for name in names:
        _r, rows, w = _check(r, rebalance_rows, books[name])
        levels = price_levels(_r, rows, w)
        closes.append(levels[1:])
        prices.append(levels[:-1])
        sizes.append(order_sizes(rows, w, n_rows))
    idx = pd.RangeIndex(n_rows) if index is None else pd.DatetimeIndex(np.asarray(index, dtype="datetime64[ms]"))
    idx.name = "row"
    columns = pd.MultiIndex.from_product([names, range(n)], names=["book", "col"])
    close = pd.DataFrame(np.hstack(closes), index=idx, columns=columns)
    price = pd.DataFrame(np.hstack(prices), index=idx, columns=columns)
    size = pd.DataFrame(np.hstack(sizes), index=idx, columns=columns)
    pf = vbt.Portfolio.from_orders(
        close,
        size,
        size_type="targetpercent",
        direction="both",
        price=price,
        fees=fees,
        slippage=slippage,
        init_cash=1.0,
        cash_sharing=True,
        group_by="book",
        call_seq="auto",
        freq="1D",
    )
    values = pf.value().to_numpy().reshape(n_rows, -1)  # one group comes back as a Series
    rets = pf.returns().to_numpy().reshape(n_rows, -1)
    assets = pf.assets().to_numpy().reshape(n_rows, -1)
    rec = pf.orders.values
    rows = np.asarray(rebalance_rows, dtype=np.int64)
    group_names = list(pf.wrapper.get_columns())
    out: dict[str, BookSimulation] = {}
    price_all = price.to_numpy()
    close_all = close.to_numpy()
    for b, name in enumerate(names):
        g = group_names.index(name)
        v = values[:, g]
        mine = (rec["col"] >= b * n) & (rec["col"] < (b + 1) * n)
        col, row, units, paid = rec["col"][mine], rec["idx"][mine], rec["size"][mine], rec["fees"][mine]
        notional = units * price_all[row, col]
        before = np.concatenate([[1.0], v[:-1]])[rows]  # equity at the previous close = equity at the order price
        k = np.searchsorted(rows, row)
        turnover = np.bincount(k, notional, minlength=rows.size) / before
        fee = np.bincount(k, paid, minlength=rows.size) / before
        slip = np.bincount(k, notional * slippage, minlength=rows.size) / before
        last = np.append(rows[1:] - 1, n_rows - 1)
        pos_value = assets[last][:, b * n : (b + 1) * n] * close_all[last][:, b * n : (b + 1) * n]
        exposure = pos_value / v[last][:, None]
        out[name] = BookSimulation(v, rets[:, g], turnover, fee, slip, exposure, np.full(rows.size, np.nan))
    return out


# --------------------------------------------------------------------------- NumPy reference


def _close(a: float, b: float) -> bool:
    if a == b:
        return True
    return abs(a - b) <= max(_REL_TOL * max(abs(a), abs(b)), _ABS_TOL)


def _add(a: float, b: float) -> float:
    """a + b, snapped to 0 when the two cancel within tolerance."""
    zero = _close(abs(a), abs(b)) if np.sign(a) != np.sign(b) else _close(a + b, 0.0)
    return 0.0 if zero else a + b


def simulate_reference(
    returns: np.ndarray, rebalance_rows: np.ndarray, targets: np.ndarray, *, fees: float, slippage: float
) -> BookSimulation:
    """The same book with plain loops: units, cash, short proceeds as cash, pro-rata trimmed buys, capped shorts.

    Independent of vectorbt and of `price_levels`: prices are compounded here, row by row, from the raw returns.
    """
    r, rows, w = _check(returns, rebalance_rows, targets)
    n_rows, n = r.shape
    pos = np.zeros(n)
    cash = 1.0
    prev_close = np.ones(n)
    target_now = np.zeros(n)
    values = np.empty(n_rows)
    record = {key: np.zeros(rows.size) for key in ("turnover", "fees", "slippage")} | {"filled": np.ones(rows.size)}
    exposure = np.zeros((rows.size, n))
    traded = (w != 0).any(axis=0)
    reb = {int(t): k for k, t in enumerate(rows)}
    k_now = -1
    for i in range(n_rows):
        k = reb.get(i)
        if k is not None:
            cash = _rebalance(pos, cash, prev_close, target_now, w[k], fees, slippage, k, record)
            target_now, k_now = w[k], k
        step = np.where(np.isnan(r[i]), 0.0, r[i])
        step = np.where(target_now < 0, np.minimum(step, SHORT_CAP), step)
        close = prev_close * (1.0 + step)
        if not (close[traded] > 0).all():
            msg = f"a held column's price reaches zero at row {i}"
            raise SimulationError(msg)
        values[i] = cash + float(np.sum(pos * close))
        if k_now >= 0 and (i + 1 == n_rows or (i + 1) in reb):
            exposure[k_now] = pos * close / values[i]
        prev_close = close
    returns_out = np.empty(n_rows)
    returns_out[0] = values[0] - 1.0
    returns_out[1:] = values[1:] / values[:-1] - 1.0
    return BookSimulation(
        values, returns_out, record["turnover"], record["fees"], record["slippage"], exposure, record["filled"]
    )


def _rebalance(
    pos: np.ndarray,
    cash: float,
    price: np.ndarray,
    held_target: np.ndarray,
    target: np.ndarray,
    fees: float,
    slippage: float,
    k: int,
    record: dict[str, np.ndarray],
) -> float:
    """Trade `pos` (in place) to `target` at `price`: sells, then buys filled pro rata when the cash is short.

    Returns the new cash and records trading per rebalance in `record` (turnover, fees, slippage, filled)."""
    cash = 0.0 if _close(cash, 0.0) else cash
    for j in range(pos.size):
        pos[j] = 0.0 if _close(pos[j], 0.0) else pos[j]
    value = cash + sum(pos[j] * price[j] for j in range(pos.size) if pos[j] != 0)
    value = 0.0 if _close(value, 0.0) else value
    if not value > 0:
        return cash  # nothing to take a target percent of
    sizes = {}
    for j in range(pos.size):
        if target[j] != 0 or held_target[j] != 0:
            delta = target[j] * value / price[j] - pos[j]
            if not _close(delta, 0.0):
                sizes[j] = delta
    traded = {j: 0.0 for j in sizes}
    paid_total = 0.0
    for j, delta in sizes.items():  # sells: proceeds net of slippage and fees are cash
        if delta < 0:
            got = -delta * price[j] * (1 - slippage)
            cash = cash + _add(got, -got * fees)
            pos[j] = _add(pos[j], delta)
            traded[j], paid_total = -delta, paid_total + got * fees
    cash = 0.0 if _close(cash, 0.0) else cash
    buys = {j: delta for j, delta in sizes.items() if delta > 0}
    cost = {j: delta * price[j] * (1 + slippage) * (1 + fees) for j, delta in buys.items()}
    need = sum(cost.values())
    covered = not buys or (cash > 0 and (_close(need, cash) or need < cash))
    fill = 1.0 if covered else cash / need  # 0.0 without cash
    for j, delta in buys.items():
        pos[j] = _add(pos[j], delta * fill)
        traded[j] = delta * fill
        paid_total += cost[j] * fill * fees / (1 + fees)
    cash = 0.0 if fill < 1.0 else _add(cash, -sum(cost.values()))
    record["turnover"][k] = sum(traded[j] * price[j] for j in traded) / value
    record["fees"][k] = paid_total / value
    record["slippage"][k] = sum(traded[j] * price[j] * slippage for j in traded) / value
    record["filled"][k] = fill
    return cash

"""`simulate_reference`: the NumPy reference engine, plain loops over rows, independent of vectorbt and the kernel.

Accounting (vectorbt's, `direction="both"`, `size_type="targetpercent"`, one cash-sharing group per book):
- positions are units; a target w means w × equity / price units, equity = cash + Σ units × price, valued at the
  order price once per rebalance (`update_value=False`), sells before buys (`call_seq="auto"`);
- a short sale adds its proceeds to cash (proceeds are cash, the liability is the negative position); buys spend
  cash and are trimmed to the cash available (so a fully invested long book ends a rebalance slightly under 100%
  after fees, never on margin) — pro rata, see "Trimming";
- between rebalances nothing trades: positions drift with prices, and reported exposures are position value /
  equity, signed. They are never renormalised (dividing drifted weights by *net* exposure, negative for a short
  book, would flip short books long).

Trimming: the one departure from vectorbt. When the cash left after the sells does not cover every buy (a fully
invested long book with fees or slippage, at every rebalance), each buy is filled at the same fraction
cash / (total cost of the buys) of its size, so the cash ends at exactly 0 and every column is under its target by
the same relative amount (`BookSimulation.filled` records the fraction per rebalance). vectorbt fills the buys in
full one after the other, in ascending order of their approximate order value with ties in column order, trims the
one that runs out of cash and rejects the rest: which assets end under target depended on the column order (ties
are the rule for equal-weight books), and permuting 5 columns of identical inputs moved equity by 4e-4. With
pro-rata trimming a permutation of the columns changes equity only by floating-point rounding (tested on random
books with binding cash to 1e-12). Where the cash covers every buy the two rules are the same computation, and the
kernel and this engine equal vectorbt to 1e-10 (tested on such books only); where it binds they differ by a
fraction of the costs (the trimmed notional is about fees + slippage of the buys).
"""

from __future__ import annotations

import numpy as np

from dataflows.validation.simulate.contract import (
    ABS_TOL,
    REL_TOL,
    SHORT_CAP,
    BookSimulation,
    SimulationError,
    check_inputs,
)


def _close(a: float, b: float) -> bool:
    if a == b:
        return True
    return abs(a - b) <= max(REL_TOL * max(abs(a), abs(b)), ABS_TOL)


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
    r, rows, w = check_inputs(returns, rebalance_rows, targets)
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

"""The `"vectorbt"` simulation engine: every book through `vectorbt.Portfolio.from_orders` itself.

vectorbt's accounting with `direction="both"`, `size_type="targetpercent"`, one cash-sharing group per book,
`call_seq="auto"` (sells before buys) and `update_value=False`; the kernel and the NumPy reference reproduce it
except for the trimming of buys the cash does not cover (`dataflows.validation.simulate.reference`, "Trimming").
vectorbt is imported only here (≈1–3 s import; its kernels compile once, ≈10–20 s, then load from numba's cache).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from dataflows.validation.simulate.contract import (
    BookSimulation,
    SimulationError,
    check_inputs,
    order_sizes,
    price_levels,
)


def simulate_on_vectorbt(
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
        _r, rows, w = check_inputs(r, rebalance_rows, books[name])
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

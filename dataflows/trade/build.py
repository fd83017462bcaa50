"""The orders table: targets and holdings → whole-lot orders with their limits, statuses and notes.

Capital is cash in the prices' quote currency; several quote currencies (USDT, USDC) count as one unit. Equity
E = capital + Σ holdings × price; target quantity = weight × E / price, rounded to whole lots by
`dataflows.trade.rounding` (budget: gross exposure <= E). A lot the venue does not publish is `trade.default_lot`,
else the quantity stays fractional; each such row says so in `note`. Limits: buys at the price rounded down to the
tick, sells rounded up. A symbol held but not in the weights has target 0: it is sold (bought back if short).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import polars as pl

from dataflows import columns as C
from dataflows.errors import DataflowsError
from dataflows.trade.rounding import Book, lots_quantity, round_book, tick_limits
from dataflows.trade.summary import _summary, _tracking_error
from dataflows.trade.targets import RunTargets, _fill_from_lakehouse

COLUMNS = (
    C.SYMBOL, "side", "order_quantity", "target_quantity", "current_quantity", "limit_price", "notional", "price",
    "price_bar", "target_weight", "final_weight", C.LOT_SIZE, C.TICK_SIZE, C.MIN_NOTIONAL, "status", "note",
)  # fmt: skip


@dataclass(frozen=True)
class Orders:
    """orders.csv's rows and orders.json's summary."""

    table: pl.DataFrame
    summary: dict[str, Any]


def build_orders(
    run: RunTargets,
    *,
    capital: float,
    holdings: dict[str, float],
    default_lot: float | None = None,
    lakehouse: Any = None,
    risk_days: int = 365,
    source: str = "none",
) -> Orders:
    """The orders that take `holdings` (+ `capital` in cash) to the run's targets, in whole lots (see the module)."""
    table = run.table
    missing = [s for s in holdings if s not in set(table[C.SYMBOL].to_list())]
    if missing:
        extra = pl.DataFrame({C.SYMBOL: missing, "target_weight": [0.0] * len(missing)})
        table = pl.concat([table, extra], how="diagonal_relaxed")
    table = _fill_from_lakehouse(table, run, lakehouse)
    notes: dict[str, list[str]] = {s: [] for s in table[C.SYMBOL].to_list()}
    for s in missing:
        notes[s].append("not in the weights: target 0")
    priced = table.filter(pl.col("price").is_not_null() & (pl.col("price") > 0))
    unpriced = table.filter(~pl.col(C.SYMBOL).is_in(priced[C.SYMBOL].to_list()))
    lacking = unpriced.filter(pl.col("target_weight") != 0)[C.SYMBOL].to_list()
    if lacking:
        msg = f"run {run.run_id}: no price for target symbol(s) {lacking} in its weights files or the lakehouse"
        raise DataflowsError(msg)

    symbols = priced[C.SYMBOL].to_list()
    w = priced["target_weight"].to_numpy().astype(np.float64)
    price = priced["price"].to_numpy().astype(np.float64)
    tick = priced[C.TICK_SIZE].fill_null(np.nan).to_numpy().astype(np.float64)
    lot = priced[C.LOT_SIZE].fill_null(np.nan).to_numpy().astype(np.float64)
    minimum = priced[C.MIN_NOTIONAL].fill_null(np.nan).to_numpy().astype(np.float64)
    held = np.array([holdings.get(s, 0.0) for s in symbols])
    for i, s in enumerate(symbols):
        if not np.isfinite(lot[i]):
            notes[s].append(
                f"lot unknown: trade.default_lot={default_lot} used"
                if default_lot is not None
                else "lot unknown: fractional quantity (set trade.default_lot to round)"
            )
        if not np.isfinite(tick[i]):
            notes[s].append("tick unknown: limit = price")
        if not np.isfinite(minimum[i]):
            notes[s].append("min notional unknown: not checked")
    lot_used = np.where(np.isfinite(lot), lot, np.nan if default_lot is None else default_lot)
    bid, ask = tick_limits(price, tick)
    book = Book(w, price, lot_used, held, float(capital), bid, ask, np.nan_to_num(minimum, nan=0.0))
    rounded = round_book(book)
    equity = rounded.equity
    ideal = w * equity / price

    rows = []
    for i, s in enumerate(symbols):
        k, order = rounded.lots[i], rounded.order[i]
        side = "buy" if k > 0 else "sell" if k < 0 else ""
        limit = bid[i] if k > 0 else ask[i] if k < 0 else math.nan
        status = "order" if k != 0 else "none"
        wanted = _nearest_order(ideal[i], held[i], lot_used[i])  # the order to the nearest whole-lot position
        small = np.isfinite(minimum[i]) and wanted != 0 and _notional(wanted, bid[i], ask[i]) < minimum[i]
        if k == 0 and wanted != 0:
            if small:
                status = "dropped"
                notional_w = _notional(wanted, bid[i], ask[i])
                notes[s].append(f"order of {_fmt(wanted)} ({notional_w:.2f}) below min notional {_fmt(minimum[i])}")
            else:
                notes[s].append("not traded: the budget goes further elsewhere")
        elif small and abs(order - wanted) > 1e-9 * max(1.0, abs(wanted)):
            notes[s].append(f"min notional {_fmt(minimum[i])}: order {_fmt(order)} instead of {_fmt(wanted)}")
        rows.append(
            {
                C.SYMBOL: s,
                "side": side,
                "order_quantity": order,
                "target_quantity": _add(held[i], order),
                "current_quantity": held[i],
                "limit_price": limit if k != 0 else None,
                "notional": _mul(abs(order), limit) if k != 0 else 0.0,
                "price": price[i],
                "price_bar": priced["price_bar"][i],
                "target_weight": w[i],
                "final_weight": rounded.weight[i],
                C.LOT_SIZE: None if not np.isfinite(lot_used[i]) else lot_used[i],
                C.TICK_SIZE: None if not np.isfinite(tick[i]) else tick[i],
                C.MIN_NOTIONAL: None if not np.isfinite(minimum[i]) else minimum[i],
                "status": status,
                "note": "; ".join(notes[s]),
            }
        )
    for s in unpriced[C.SYMBOL].to_list():
        rows.append(
            {
                C.SYMBOL: s,
                "side": "",
                "order_quantity": 0.0,
                "current_quantity": holdings.get(s, 0.0),
                "target_weight": 0.0,
                "status": "unpriced",
                "note": "; ".join(
                    [*notes[s], "no price at the decision bar: not valued, no order (trade it yourself)"]
                ),
            }
        )
    frame = pl.DataFrame(rows, schema=_schema(), orient="row").select(COLUMNS)
    summary = _summary(run, rounded, book, frame, capital, source)
    summary["tracking_error"] = _tracking_error(run, lakehouse, symbols, rounded.weight - w, risk_days)
    return Orders(frame, summary)


def _nearest_order(ideal: float, held: float, lot: float) -> float:
    """The order (quantity) to the lattice point nearest the ideal quantity."""
    if not np.isfinite(lot):
        return ideal - held
    return lots_quantity(round((ideal - held) / lot), lot)


def _notional(quantity: float, bid: float, ask: float) -> float:
    return abs(quantity) * (bid if quantity > 0 else ask)


def _add(a: float, b: float) -> float:
    return float(Decimal(repr(float(a))) + Decimal(repr(float(b))))


def _mul(a: float, b: float) -> float:
    return float(Decimal(repr(float(a))) * Decimal(repr(float(b))))


def _fmt(x: float) -> str:
    return f"{x:.10g}"


def _schema() -> dict:
    floats = ("order_quantity", "target_quantity", "current_quantity", "limit_price", "notional", "price")
    floats += ("target_weight", "final_weight", C.LOT_SIZE, C.TICK_SIZE, C.MIN_NOTIONAL)
    return {
        C.SYMBOL: pl.String,
        "side": pl.String,
        **dict.fromkeys(floats, pl.Float64),
        "price_bar": pl.String,
        "status": pl.String,
        "note": pl.String,
    }

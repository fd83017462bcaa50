"""orders.json's summary (money, weight error, ex-ante tracking error) and the two lines a trader reads first."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import polars as pl

from dataflows import columns as C
from dataflows.errors import DataflowsError
from dataflows.trade.rounding import Book
from dataflows.trade.targets import RunTargets, _decision_ms

BUDGET_RULE = (
    "gross exposure <= equity (leverage 1): a short counts at |quantity| x price, as if fully collateralised, "
    "and its proceeds never fund a long"
)


def _summary(
    run: RunTargets, rounded: Any, book: Book, frame: pl.DataFrame, capital: float, source: str
) -> dict[str, Any]:
    d = rounded.weight - book.weight
    traded = frame.filter(pl.col("status") == "order")
    spent = float((traded["order_quantity"] * traded["limit_price"]).sum()) if traded.height else 0.0
    bars = [b for b in frame["price_bar"].to_list() if b]
    return {
        "run_id": run.run_id,
        "run_dir": str(run.run_dir),
        "kind": run.kind,
        "as_of": run.as_of,
        "price_bar": max(bars) if bars else None,
        "holdings": source,
        "capital": float(capital),
        "holdings_value": float(np.dot(book.held, book.price)),
        "equity": rounded.equity,
        "budget": BUDGET_RULE,
        "gross_target": float(np.abs(book.weight).sum()),
        "gross_final": rounded.gross,
        "unallocated": rounded.equity * (1.0 - rounded.gross),
        "cash_after": float(capital) - spent,
        "buy_notional": float(traded.filter(pl.col("side") == "buy")["notional"].sum()),
        "sell_notional": float(traded.filter(pl.col("side") == "sell")["notional"].sum()),
        "orders": traded.height,
        "dropped": int((frame["status"] == "dropped").sum()),
        "unpriced": int((frame["status"] == "unpriced").sum()),
        "weight_error": {"l1": float(np.abs(d).sum()), "l2": float(np.sqrt((d * d).sum())), "max": _max_abs(d)},
        "greedy_l1": rounded.greedy_l1,
        "method": rounded.method,
        "solver": rounded.status,
        "currency": "prices in their quote currency; several quote currencies count as one unit",
    }


def _max_abs(d: np.ndarray) -> float:
    return float(np.abs(d).max()) if d.size else 0.0


def _tracking_error(run: RunTargets, lakehouse: Any, symbols: list[str], d: np.ndarray, days: int) -> dict[str, Any]:
    """Ex-ante tracking error √(dᵀΣd) of the rounded book against the targets, Σ the sample covariance of daily
    returns over `days` days ending at the decision bar (the lakehouse's bars); or why it could not be had."""
    from dataflows.returns import build_returns, dense

    moved = [j for j in range(len(symbols)) if d[j] != 0.0]
    if not moved:
        return {"daily": 0.0, "annualized": 0.0, "basis": "the rounded book equals the targets"}
    if lakehouse is None or run.venue is None:
        return {"daily": None, "annualized": None, "reason": "no lakehouse or venue to read returns from"}
    names = [symbols[j] for j in moved]
    end = _decision_ms(run)
    try:
        panel = build_returns(
            lakehouse, run.venue, run.timeframe, names, {s: run.classes.get(s, C.CRYPTO) for s in names},
            end_ms=end, days=days,
        )  # fmt: skip
        x, first = dense(panel.returns, min_rows=30, labels=names)
    except (DataflowsError, ValueError) as exc:
        return {"daily": None, "annualized": None, "reason": f"covariance not at hand: {exc}"}
    cov = np.atleast_2d(np.cov(x, rowvar=False))
    dv = d[moved]
    daily = float(np.sqrt(max(float(dv @ cov @ dv), 0.0)))
    dates = panel.dates[first:]
    span_days = (int(dates[-1]) - int(dates[0])) / 86_400_000 + 1
    per_year = x.shape[0] * 365.25 / span_days
    return {
        "daily": daily,
        "annualized": daily * math.sqrt(per_year),
        "basis": f"sample covariance of {x.shape[0]} daily returns ({_day(int(dates[0]))} to {_day(int(dates[-1]))})",
    }


def _day(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).date().isoformat()


def summary_line(s: dict[str, Any]) -> str:
    """Two lines a trader reads first: the orders, the money, the error."""
    te = s.get("tracking_error") or {}
    te_text = (
        f"ex-ante tracking error {100 * te['daily']:.3g}% daily ({100 * te['annualized']:.3g}% annualized)"
        if te.get("daily") is not None
        else f"tracking error: {te.get('reason', 'n/a')}"
    )
    greedy = s.get("greedy_l1")
    return (
        f"orders for {s['run_id']}: {s['orders']} order(s), buys {s['buy_notional']:,.2f}, sells "
        f"{s['sell_notional']:,.2f}, {s['dropped']} dropped below min notional, {s['unpriced']} unpriced; equity "
        f"{s['equity']:,.2f}, cash after {s['cash_after']:,.2f}, unallocated {s['unallocated']:,.2f}\n"
        f"weight error L1 {100 * s['weight_error']['l1']:.3g}% of equity (greedy rounding "
        + ("infeasible" if greedy is None else f"{100 * greedy:.3g}%")
        + f"; {s['method']}), {te_text}"
    )

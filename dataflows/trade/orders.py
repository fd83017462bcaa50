"""The orders of a finished run: its target weights and the trader's capital and holdings → orders.csv, orders.json.

The steps live in their own modules: `targets` (the run's weights, prices and venue metadata), `holdings` (the
holdings file or the account's balances), `build` (whole-lot orders through `rounding`) and `summary`
(orders.json's summary). This module runs them for the `orders` verb and writes its files; a run's own orders are
nodes (`dataflows.nodes.trade`). Method note: docs/orders.md.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

from dataflows.errors import ConfigError
from dataflows.trade.build import COLUMNS, Orders, build_orders
from dataflows.trade.holdings import account_venue, holdings_from_balances, read_holdings
from dataflows.trade.summary import BUDGET_RULE, summary_line
from dataflows.trade.targets import RunTargets, load_run

__all__ = [
    "BUDGET_RULE",
    "COLUMNS",
    "Orders",
    "RunTargets",
    "account_venue",
    "build_orders",
    "check_run_trade",
    "holdings_from_balances",
    "load_run",
    "orders_for_run",
    "orders_of_folder",
    "orders_verb",
    "read_holdings",
    "resolve_run",
    "summary_line",
    "write_orders",
]

log = logging.getLogger("dataflows.trade")


def orders_for_run(run_dir: Path, trade: Any, *, data_root: Path, venue: Any = None) -> Orders:
    """Orders for the run in `run_dir` under the `trade` settings (`TradeConfig`); `venue` replaces the account's
    ccxt venue for `trade.balances` (tests)."""
    from dataflows.lakehouse.store import Lakehouse

    run = load_run(run_dir)
    holdings, cash, source = {}, {}, "none"
    if trade.holdings is not None:
        holdings, source = read_holdings(trade.holdings), str(Path(trade.holdings).expanduser().resolve())
    elif trade.balances:
        account = venue if venue is not None else account_venue(run.venue_config)
        holdings, cash = holdings_from_balances(account.balances(), run.table)
        source = f"{account.name} balances (ccxt fetch_balance)"
    capital = trade.capital
    if capital is None:
        if not trade.balances:
            msg = "trade.capital is not set: give the cash to invest, e.g. trade.capital=100000"
            raise ConfigError(msg)
        capital = float(sum(cash.values()))
    lakehouse = Lakehouse(data_root, read_only=True) if (data_root / "lakehouse").is_dir() else None
    out = build_orders(
        run,
        capital=float(capital),
        holdings=holdings,
        default_lot=trade.default_lot,
        lakehouse=lakehouse,
        risk_days=trade.risk_days,
        source=source,
    )
    if cash:
        out.summary["cash_balances"] = cash
    return out


def orders_of_folder(run_dir: Path, trade: Any, *, data_root: Path) -> Orders:
    """`orders_for_run`, with its summary logged: a run's or a meta's own orders (`dataflows.nodes.trade`,
    `dataflows.meta.dag`), built from the files its savers wrote."""
    orders = orders_for_run(run_dir, trade, data_root=data_root)
    for line in summary_line(orders.summary).splitlines():
        log.info("%s", line)
    return orders


def write_orders(folder: Path, orders: Orders) -> dict[str, Path]:
    """orders.csv and orders.json in `folder` (atomic writes)."""
    from dataflows.lakehouse import atomic

    folder.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = folder / "orders.csv", folder / "orders.json"
    atomic.write_bytes(csv_path, orders.table.write_csv().encode())
    atomic.write_json(json_path, orders.summary)
    return {"csv": csv_path, "json": json_path}


def check_run_trade(settings: Any) -> None:
    """`run`'s trade keys, checked before the run starts: `trade.run` belongs to the `orders` verb, and
    `trade.balances` needs a ccxt venue (`ConfigError`, exit 2)."""
    trade = settings.trade
    if trade.run is not None:
        msg = "trade.run names the run the `orders` verb reads; `run` trades its own weights (trade.capital=...)"
        raise ConfigError(msg)
    if trade.balances and settings.venue.kind != "ccxt":
        msg = (
            f"trade.balances=true reads a ccxt account; this run's venue is {settings.venue.kind} (use trade.holdings)"
        )
        raise ConfigError(msg)


def resolve_run(settings: Any) -> Path:
    """`trade.run`: a run folder, or a run id under `data.root/runs/`; it must have finished ok."""
    from dataflows.runs import require_finished

    given = settings.trade.run
    if not given:
        msg = "orders needs a run: python -m dataflows orders data/runs/<RUN_ID> trade.capital=100000"
        raise ConfigError(msg)
    path = Path(given).expanduser()
    folder = path if path.is_dir() else settings.data_root / "runs" / given
    if not folder.is_dir():
        msg = f"trade.run={given!r}: no such run folder ({path} or {settings.data_root / 'runs' / given})"
        raise ConfigError(msg)
    require_finished(folder.resolve(), what=f"trade.run={given!r}")
    return folder.resolve()


def orders_verb(settings: Any, resolved: dict) -> int:
    """`python -m dataflows orders RUN_DIR trade.capital=... [trade.holdings=FILE | trade.balances=true]`: writes
    `RUN_DIR/orders/<UTC time>/orders.csv` + `orders.json` (the run's own files stay as they are), prints a summary
    on stderr and the folder on stdout."""
    import sys

    run_dir = resolve_run(settings)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    root = Path((manifest.get("inputs") or {}).get("lakehouse") or settings.data_root / "lakehouse").parent
    orders = orders_for_run(run_dir, settings.trade, data_root=root)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    folder = run_dir / "orders" / stamp
    files = write_orders(folder, orders)
    sys.stderr.write(summary_line(orders.summary) + f"\norders: {files['csv']}\n")
    sys.stdout.write(f"{folder}\n")
    return 0

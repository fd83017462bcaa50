"""Trading the weights (`trade.capital`, `trade.holdings`, `trade.balances`): the orders that turn the holdings into
this run's weights, in whole lots (`dataflows.trade`), saved as orders.csv and orders.json.

The orders are built from the run folder's own files, as the `orders` verb builds them for a finished run: they take
the records of weights.csv and candidates.json, so both are saved first."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from hamilton.function_modifiers import config, source, tag, value

from dataflows.artifacts import save_to
from dataflows.config import TradeConfig
from dataflows.lakehouse.store import Lakehouse
from dataflows.trade.build import Orders


@config.when(trade=True)
def trade_orders(
    weights_csv_file: dict, candidates_file: dict, trade_config: TradeConfig, lakehouse: Lakehouse
) -> Orders:
    """Whole-lot orders from the holdings (file or ccxt account) to this run's weights under the capital budget."""
    from dataflows.trade.orders import orders_of_folder

    run_dir = Path(weights_csv_file["path"]).parent  # candidates.json beside it gives each symbol's venue and class
    assert Path(candidates_file["path"]).parent == run_dir
    return orders_of_folder(run_dir, trade_config, data_root=Path(lakehouse.root).parent)


@config.when(trade=True)
@save_to.run_csv(run_dir=source("run_dir"), file=value("orders.csv"), output_name_="orders_file")
def orders_table(trade_orders: Orders) -> pl.DataFrame:
    """orders.csv: one line per symbol (quantity in lots, limit price, notional, the weight reached, a note)."""
    return trade_orders.table


@config.when(trade=True)
@tag(manifest="orders", target_="orders_summary")
@save_to.run_json(run_dir=source("run_dir"), file=value("orders.json"), output_name_="orders_summary_file")
def orders_summary(trade_orders: Orders) -> dict:
    """orders.json: capital, cash left, the weight errors of the rounding and of greedy, the tracking error."""
    return trade_orders.summary

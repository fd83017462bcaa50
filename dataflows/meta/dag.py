"""The meta DAG: sleeve decisions fanned out, then meta-returns, meta-optimization, flattening and their files.

It composes sleeve DAGs (each task runs one), so it sits above the single-sleeve driver and has its own
(`dataflows.meta.execute.build_meta_driver`, dynamic execution for the `Parallelizable` fan-out). It runs in two
parts around the driver's own work (`dataflows.meta.execute`):

    sleeve_inputs (input: the one data phase, `dataflows.meta.sleeves.prepare`)
      ─▶ sleeve_task (Parallelizable) ─▶ sleeve_output (pure; a Ray worker or in-process) ─▶ sleeve_outputs (Collect)
    [the driver saves each sleeve's folder, reads pinned runs, composes nested metas → sleeve_results]
    sleeve_results (input) ─▶ meta_sleeves ─▶ meta_returns ─▶ meta_weights ─▶ flattened, and the savers of each
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
from hamilton.function_modifiers import config, source, tag, value
from hamilton.htypes import Collect, Parallelizable

from dataflows.artifacts import save_to
from dataflows.meta import sleeves
from dataflows.meta.flatten import Flattened, SleeveBook, flatten, meta_optimize
from dataflows.meta.model import MetaPlan, MetaWeights, SleeveResult, survivors
from dataflows.trade.build import Orders


def sleeve_task(sleeve_inputs: sleeves.Prepared, meta_plan: MetaPlan) -> Parallelizable[sleeves.SleeveInputs]:
    """One decision task per profile sleeve; on Ray the inputs go to the object store once and travel by reference."""
    items = list(sleeve_inputs.inputs)
    if meta_plan.settings.executor.kind == "ray" and items:
        import ray

        if ray.is_initialized():
            items = [ray.put(i) for i in items]
    yield from items


def sleeve_output(sleeve_task: sleeves.SleeveInputs) -> sleeves.SleeveOutput:
    """One sleeve's decision (pure: no lakehouse, no shared path); failures are returned, not raised."""
    if not isinstance(sleeve_task, sleeves.SleeveInputs):  # a Ray object reference
        import ray

        sleeve_task = ray.get(sleeve_task)
    return sleeves.decide(sleeve_task)


def sleeve_outputs(sleeve_output: Collect[sleeves.SleeveOutput]) -> dict[str, sleeves.SleeveOutput]:
    """Every decision's output by sleeve folder."""
    return {o.key: o for o in sleeve_output}


def meta_sleeves(sleeve_results: list[SleeveResult], meta_plan: MetaPlan) -> list[SleeveResult]:
    """The sleeves that enter the meta-portfolio: a failure fails the run, or is dropped if the meta allows it."""
    return survivors(sleeve_results, meta_plan.spec)


@save_to.run_parquet(run_dir=source("run_dir"), file=value("meta_returns.parquet"), output_name_="meta_returns_file")
def meta_returns(meta_sleeves: list[SleeveResult]) -> pl.DataFrame:
    """One column per sleeve's return stream, inner-joined on dates (never zero-filled)."""
    frame: pl.DataFrame | None = None
    for r in meta_sleeves:
        col = pl.DataFrame({"date": r.dates, r.name: r.returns}, schema={"date": pl.Int64, r.name: pl.Float64})
        frame = col if frame is None else frame.join(col, on="date", how="inner")
    assert frame is not None
    if frame.height < 2:
        from dataflows.errors import DataflowsError

        spans = {r.name: (int(r.dates[0]), int(r.dates[-1])) if len(r.dates) else None for r in meta_sleeves}
        msg = f"the sleeves' return streams share {frame.height} date(s); cannot estimate their covariance: {spans}"
        raise DataflowsError(msg)
    return frame.sort("date")


def meta_weights(meta_returns: pl.DataFrame, meta_sleeves: list[SleeveResult], meta_plan: MetaPlan) -> MetaWeights:
    """The meta's method across the sleeves' streams (`risk_parity`, `hrp`, `min_variance` from the optimizer
    registry), then the sleeve bounds (constraints for min_variance, a proportional projection otherwise)."""
    names = [r.name for r in meta_sleeves]
    lo, hi = meta_plan.bounds(names)
    w, raw = meta_optimize(meta_returns.select(names).to_numpy(), meta_plan.spec.method, lo, hi)
    return MetaWeights(tuple(names), w, raw, meta_plan.spec.method, lo, hi)


@save_to.run_parquet(run_dir=source("run_dir"), file=value("meta_stream.parquet"), output_name_="meta_stream_file")
def meta_stream(meta_returns: pl.DataFrame, meta_weights: MetaWeights) -> pl.DataFrame:
    """The meta-portfolio's own daily return stream (what a parent meta sees when this meta is its sleeve)."""
    x = meta_returns.select(list(meta_weights.sleeves)).to_numpy()
    return pl.DataFrame({"date": meta_returns["date"], "returns": x @ meta_weights.weights})


def flattened(meta_weights: MetaWeights, meta_sleeves: list[SleeveResult], meta_plan: MetaPlan) -> Flattened:
    """Signed per-symbol weights: net = Σ W_s·net_s, gross = Σ W_s·|w_s|, conserved, per-asset cap enforced."""
    books = [
        SleeveBook(
            r.name,
            tuple(r.weights["symbol"].to_list()),
            r.weights["weight"].to_numpy().astype(np.float64),
            r.weights["net_weight"].to_numpy().astype(np.float64),
        )
        for r in meta_sleeves
    ]
    return flatten(meta_weights.as_dict(), books, meta_plan.spec.max_asset_weight)


@save_to.run_csv(run_dir=source("run_dir"), file=value("meta_weights.csv"), output_name_="meta_weights_file")
def meta_weights_table(meta_weights: MetaWeights) -> pl.DataFrame:
    """meta_weights.csv: sleeve, weight, method (+ raw weight before bounds and the bounds)."""
    return meta_weights.table()


@save_to.run_csv(run_dir=source("run_dir"), file=value("flattened_weights.csv"), output_name_="flattened_weights_file")
def flattened_table(flattened: Flattened) -> pl.DataFrame:
    """flattened_weights.csv: symbol, gross, net, sleeves (lineage: sleeve=contribution;...), cap scale."""
    return pl.DataFrame(
        {
            "symbol": list(flattened.symbols),
            "gross": flattened.gross,
            "net": flattened.net,
            "sleeves": [";".join(f"{k}={v:.10g}" for k, v in flattened.lineage[s].items()) for s in flattened.symbols],
            "cap_scale": flattened.scale,
        }
    ).sort("gross", descending=True)


@config.when(net_by_base=True)
@save_to.run_csv(run_dir=source("run_dir"), file=value("netted_weights.csv"), output_name_="netted_weights_file")
def netted_table(flattened: Flattened) -> pl.DataFrame:
    """netted_weights.csv (`meta.net_by_base`): the book per base currency; orders keep the per-quote lines."""
    from dataflows.meta.flatten import net_by_base

    netted = net_by_base(flattened)
    return pl.DataFrame(
        {
            "base": list(netted.bases),
            "gross": netted.gross,
            "net": netted.net,
            "symbols": [";".join(f"{k}={v:.10g}" for k, v in netted.members[b].items()) for b in netted.bases],
        }
    ).sort("gross", descending=True)


@config.when(trade=True)
def trade_orders(flattened_weights_file: dict, sleeves_file: dict, meta_plan: MetaPlan) -> Orders:
    """Whole-lot orders from the holdings to the flattened book (`trade.capital`, `trade.holdings`, `trade.balances`),
    built from the meta folder's files as the `orders` verb builds them."""
    from dataflows.trade.orders import orders_of_folder

    run_dir = Path(flattened_weights_file["path"]).parent  # the sleeves' weights and candidates are below it
    assert Path(sleeves_file["path"]).parent == run_dir
    return orders_of_folder(run_dir, meta_plan.settings.trade, data_root=meta_plan.settings.data_root)


@config.when(trade=True)
@save_to.run_csv(run_dir=source("run_dir"), file=value("orders.csv"), output_name_="orders_file")
def orders_table(trade_orders: Orders) -> pl.DataFrame:
    """orders.csv: one line per symbol of the flattened book."""
    return trade_orders.table


@config.when(trade=True)
@tag(manifest="orders", target_="orders_summary")
@save_to.run_json(run_dir=source("run_dir"), file=value("orders.json"), output_name_="orders_summary_file")
def orders_summary(trade_orders: Orders) -> dict:
    """orders.json: capital, cash left, the rounding's weight errors, the tracking error."""
    return trade_orders.summary


@save_to.run_json(run_dir=source("run_dir"), file=value("sleeves.json"), output_name_="sleeves_file")
def sleeves_document(sleeve_results: list[SleeveResult], meta_sleeves: list[SleeveResult]) -> list:
    """sleeves.json: per sleeve its kind, status, reason, stream, folder and whether it was dropped."""
    kept = {r.name for r in meta_sleeves}
    return [r.summary(dropped=not r.ok and bool(kept)) for r in sleeve_results]

"""Meta-portfolio stage: one data phase, sleeve decisions fanned out, meta-returns, meta-optimization, flattening.

This module defines a `Parallelizable` node, so Hamilton can only load it with dynamic execution enabled; it has its
own driver (`dataflows.meta.run.build_meta_driver`), never mixed with the single-sleeve stage modules.

    meta_plan ─▶ sleeve_inputs (driver: discovery + one data phase for all sleeves, see dataflows.meta.sleeves)
      ─▶ sleeve_task (Parallelizable) ─▶ sleeve_output (pure; a Ray worker or in-process) ─▶ sleeve_outputs (Collect)
      ─▶ sleeve_results (driver: folders, pinned runs, nested metas) ─▶ meta_sleeves
      ─▶ meta_returns ─▶ meta_weights ─▶ flattened ─▶ *_file nodes
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
from hamilton.htypes import Collect, Parallelizable

from dataflows.lakehouse import atomic
from dataflows.meta import sleeves
from dataflows.meta.flatten import Flattened, SleeveBook, flatten, meta_optimize
from dataflows.meta.run import MetaPlan, MetaWeights, SleeveResult, survivors


def sleeve_inputs(meta_plan: MetaPlan) -> sleeves.Prepared:
    """Discovery, the data phase for the union of every profile sleeve's candidates (nested metas included), each
    sleeve's folder, gate and inputs: everything that reads the lakehouse, in the driver."""
    return sleeves.prepare(meta_plan)


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


def sleeve_results(
    sleeve_outputs: dict[str, sleeves.SleeveOutput], sleeve_inputs: sleeves.Prepared, meta_plan: MetaPlan
) -> list[SleeveResult]:
    """Every sleeve's result in config order; the driver writes each folder (a nested meta is composed here)."""
    from dataflows.meta.run import sleeve_results as results

    return results(meta_plan, sleeve_inputs, sleeve_outputs)


def meta_sleeves(sleeve_results: list[SleeveResult], meta_plan: MetaPlan) -> list[SleeveResult]:
    """The sleeves that enter the meta-portfolio: a failure fails the run, or is dropped if the meta allows it."""
    return survivors(sleeve_results, meta_plan.spec)


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


def meta_returns_file(meta_returns: pl.DataFrame, meta_stream: pl.DataFrame, meta_plan: MetaPlan) -> Path:
    """meta_returns.parquet (date + one column per sleeve) and meta_stream.parquet (date, returns)."""
    atomic.write_parquet(meta_plan.run_dir / "meta_stream.parquet", meta_stream)
    path = meta_plan.run_dir / "meta_returns.parquet"
    atomic.write_parquet(path, meta_returns)
    return path


def meta_weights_file(meta_weights: MetaWeights, meta_plan: MetaPlan) -> Path:
    """meta_weights.csv: sleeve, weight, method (+ raw weight before bounds and the bounds)."""
    path = meta_plan.run_dir / "meta_weights.csv"
    atomic.write_bytes(path, meta_weights.table().write_csv().encode())
    return path


def flattened_weights_file(flattened: Flattened, meta_plan: MetaPlan) -> Path:
    """flattened_weights.csv: symbol, gross, net, sleeves (lineage: sleeve=contribution;...), cap scale."""
    table = pl.DataFrame(
        {
            "symbol": list(flattened.symbols),
            "gross": flattened.gross,
            "net": flattened.net,
            "sleeves": [";".join(f"{k}={v:.10g}" for k, v in flattened.lineage[s].items()) for s in flattened.symbols],
            "cap_scale": flattened.scale,
        }
    ).sort("gross", descending=True)
    path = meta_plan.run_dir / "flattened_weights.csv"
    atomic.write_bytes(path, table.write_csv().encode())
    if meta_plan.spec.net_by_base:  # the book per base currency; orders keep the per-quote lines above
        from dataflows.meta.flatten import net_by_base

        netted = net_by_base(flattened)
        view = pl.DataFrame(
            {
                "base": list(netted.bases),
                "gross": netted.gross,
                "net": netted.net,
                "symbols": [";".join(f"{k}={v:.10g}" for k, v in netted.members[b].items()) for b in netted.bases],
            }
        ).sort("gross", descending=True)
        atomic.write_bytes(meta_plan.run_dir / "netted_weights.csv", view.write_csv().encode())
    return path

"""Executing a meta plan: the one data phase, the sleeve fan-out (the meta DAG's first part), the driver's work on the
results (each sleeve's folder saved, pinned runs read, nested metas composed), then the meta DAG's second part —
meta-returns, meta-weights, flattening and their files — under the run recorder."""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import socket
import time
from typing import Any

import numpy as np
import polars as pl

from dataflows.errors import DataflowsError
from dataflows.meta.model import IN_SAMPLE, OUT_OF_SAMPLE, MetaPlan, SleeveJob, SleeveResult

__all__ = ["FAN_OUT", "META_OUTPUTS", "build_meta_driver", "execute_plan", "fan_out", "sleeve_results"]

log = logging.getLogger("dataflows.meta")

FAN_OUT = ("sleeve_outputs",)
META_OUTPUTS = (
    "meta_sleeves",
    "meta_returns",
    "meta_stream",
    "meta_weights",
    "flattened",
    "sleeves_document",
)  # besides every saver and manifest value of the meta DAG (the orders' summary when it trades)


def build_meta_driver(spec: Any, executor: Any = None, adapters: tuple = (), trade: bool = False) -> Any:
    """A dynamic-execution Hamilton driver over the meta DAG (`dataflows.meta.dag`), the fan-out on `executor`;
    `trade`: the flattened book is traded (the top-level meta of a run with `trade.capital`/`trade.balances`)."""
    from hamilton import driver
    from hamilton.execution.executors import SynchronousLocalTaskExecutor

    from dataflows.meta import dag

    builder = (
        driver.Builder()
        .enable_dynamic_execution(allow_experimental_mode=True)
        .with_modules(dag)
        .with_config({"net_by_base": bool(spec.net_by_base), "trade": trade})
        .with_local_executor(SynchronousLocalTaskExecutor())
        .with_remote_executor(executor or SynchronousLocalTaskExecutor())
    )
    if adapters:
        builder = builder.with_adapters(*adapters)
    return builder.build()


def meta_outputs(dr: Any) -> list[str]:
    """The meta DAG's second part: its values and every saver (the meta folder's files)."""
    from dataflows.driver import MANIFEST_TAG, SAVER_TAG

    tagged = [v.name for v in dr.list_available_variables() if v.tags.get(SAVER_TAG) or MANIFEST_TAG in v.tags]
    return [*META_OUTPUTS, *tagged]


def fan_out(plan: MetaPlan, prepared: Any, executor: Any = None, timings: dict | None = None) -> dict[str, Any]:
    """Every profile sleeve's decision (`SleeveOutput`) by folder: the meta DAG's first part, on `executor`."""
    from dataflows.driver import node_timer

    if not prepared.inputs:
        return {}
    dr = build_meta_driver(plan.spec, executor, adapters=(node_timer(timings),))
    return dr.execute(list(FAN_OUT), inputs={"meta_plan": plan, "sleeve_inputs": prepared})["sleeve_outputs"]


def sleeve_results(plan: MetaPlan, prepared: Any, outputs: dict[str, Any]) -> list[SleeveResult]:
    """The results of `plan`'s sleeves in config order, in the driver: a profile sleeve's decision saved into its
    folder (`dataflows.meta.sleeves.finish`), a pinned run read, a nested meta composed from its own sleeves."""
    from dataflows.meta import sleeves
    from dataflows.meta.folders import pinned_sleeve

    out = []
    for job in sorted(plan.jobs(), key=lambda j: j.index):
        key, spec = str(job.run_dir), job.spec
        t0 = time.perf_counter()
        try:
            if spec.kind == "pinned":
                result = pinned_sleeve(job)
            elif spec.kind == "meta":
                result = _nested_sleeve(job, prepared, outputs)
            elif key in prepared.failed:
                result = sleeves.failed_before_task(prepared, job)
            else:
                result = sleeves.finish(outputs[key], prepared, job)
        except Exception as exc:  # reported per sleeve; the meta decides (fail, or drop if allowed)
            reason = str(exc) if isinstance(exc, DataflowsError) else f"{exc.__class__.__name__}: {exc}"
            log.warning("sleeve %s (%s) failed: %s", spec.name, spec.label, reason)
            result = SleeveResult(job.index, spec.name, spec.kind, spec.label, False, reason, key)
        if spec.kind != "profile":
            worker = f"{socket.gethostname()}:{os.getpid()}"
            result = dataclasses.replace(result, seconds=time.perf_counter() - t0, worker=worker)
        out.append(result)
    return out


def _nested_sleeve(job: SleeveJob, prepared: Any, outputs: dict[str, Any]) -> SleeveResult:
    """A nested meta (its own meta DAG's second part over its sleeves' results): its flattened weights and stream
    are one sleeve. Its folder and `running` manifest were made before its sleeves' (`sleeves.prepare`)."""
    from dataflows.meta.model import nested_plan

    spec = job.spec
    plan = nested_plan(job)
    record = prepared.records[str(job.run_dir)]
    results = compose(plan, record, sleeve_results(plan, prepared, outputs))
    flat = results["flattened"]
    weights = pl.DataFrame({"symbol": list(flat.symbols), "weight": flat.gross, "net_weight": flat.net})
    stream = results["meta_stream"]
    kinds = {r.stream for r in results["meta_sleeves"]}
    kind = OUT_OF_SAMPLE if kinds == {OUT_OF_SAMPLE} else IN_SAMPLE
    dates = stream["date"].to_numpy().astype(np.int64)
    rets = stream["returns"].to_numpy().astype(np.float64)
    return SleeveResult(
        job.index, spec.name, spec.kind, spec.label, True, None, str(job.run_dir), kind, dates, rets, weights, 0.0, {}
    )


def compose(plan: MetaPlan, record: Any, results: list[SleeveResult], prepared: Any = None) -> dict[str, Any]:
    """The meta DAG's second part over the sleeves' results. With a `record`, under the `RunRecorder` adapter: on
    success its files, report.html and an `ok` manifest, on failure a `failed` one (reason and exit code)."""
    from dataflows.driver import run_recorder, trades

    adapters = ()
    if record is not None:
        adapters = (run_recorder(record, functools.partial(summarize_meta, plan, record.ctx, prepared, results)),)
    try:
        trade = prepared is not None and trades(plan.settings)  # nested metas never trade
        dr = build_meta_driver(plan.spec, adapters=adapters, trade=trade)
        inputs = {"meta_plan": plan, "sleeve_results": results, "run_dir": plan.run_dir}
        return dr.execute(meta_outputs(dr), inputs=inputs)
    except BaseException as exc:
        if record is not None:
            record.fail(exc)
        raise


def execute_plan(plan: MetaPlan, record: Any = None, executor: Any = None) -> dict[str, Any]:
    """A whole meta: the one data phase, the fan-out, the sleeves' folders, then the meta itself. With a `record`
    (a run) the meta's manifest is kept; without (benchmarks), only its sleeves' are."""
    from dataflows.meta import sleeves

    timings = record.timings if record is not None else {}
    try:
        t0 = time.perf_counter()
        prepared = sleeves.prepare(plan)
        timings["data_phase"] = round(time.perf_counter() - t0, 6)
        outputs = fan_out(plan, prepared, executor, timings)
        results = sleeve_results(plan, prepared, outputs)
    except BaseException as exc:
        if record is not None:
            record.fail(exc)
        raise
    return compose(plan, record, results, prepared) | {"sleeve_inputs": prepared, "sleeve_results": results}


def summarize_meta(
    plan: MetaPlan, ctx: Any, prepared: Any, sleeves: list[SleeveResult], results: dict[str, Any]
) -> dict[str, Any]:
    """The meta's manifest fields, after rendering its report.html from the files its savers wrote."""
    from dataflows.driver import file_records

    extra = _meta_summary(plan, results)
    extra["files"] = file_records(results)
    extra["report"] = _meta_report(plan, ctx, extra)
    extra["sleeve_seconds"] = {r.name: round(r.seconds, 3) for r in sleeves}
    if prepared is not None:  # the top-level meta ran the one data phase of all its sleeves
        extra["data_phase"] = prepared.union | {"inputs_bytes": prepared.inputs_bytes}
    if "orders_summary" in results:  # trade.*: the flattened book, traded
        extra["orders"] = results["orders_summary"]
    return {"inputs": {"lakehouse": str(plan.settings.data_root / "lakehouse")}, "extra": extra}


def _meta_report(plan: MetaPlan, ctx: Any, extra: dict[str, Any]) -> str | None:
    """Render the meta's own report.html (after its other files); a broken report never fails the run."""
    from dataflows.report.meta_report import render_meta_report

    try:
        path = render_meta_report(plan.run_dir, {"run_id": ctx.run_id, "as_of": ctx.as_of.isoformat(), **extra})
    except Exception as exc:
        log.warning("meta %s: report.html not written: %s", plan.spec.name, exc, exc_info=True)
        return None
    return path.name


def _meta_summary(plan: MetaPlan, results: dict[str, Any]) -> dict[str, Any]:
    sleeves = results.get("sleeves_document") or []
    body: dict[str, Any] = {
        "meta": {"name": plan.spec.name, "method": plan.spec.method, "depth": plan.spec.depth},
        "sleeves": sleeves,
        "dropped_sleeves": [s["sleeve"] for s in sleeves if s["dropped"]],
    }
    if "meta_weights" in results:
        mw = results["meta_weights"]
        streams = {r.name: r.stream for r in results["meta_sleeves"]}
        body["meta_weights"] = [row | {"stream": streams[row["sleeve"]]} for row in mw.table().to_dicts()]
    if "flattened" in results:
        flat = results["flattened"]
        body["flattening"] = flat.checks | {"max_asset_weight": plan.spec.max_asset_weight}
        order = np.argsort(-flat.gross)[:10]
        body["top_weights"] = [
            {"symbol": flat.symbols[i], "gross": float(flat.gross[i]), "net": float(flat.net[i])} for i in order
        ]
    return body

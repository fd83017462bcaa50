"""Step 3 of a meta's sleeves, in the driver: a decision's artifacts saved into the sleeve's folder by the sleeve
DAG's own savers, its manifest ended, and its `SleeveResult` for the meta."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from dataflows.meta.model import IN_SAMPLE, SleeveResult
from dataflows.meta.sleeves.data_phase import Prepared
from dataflows.meta.sleeves.task import SLEEVE_STAGES, SleeveOutput

__all__ = ["failed_before_task", "finish"]

log = logging.getLogger("dataflows.meta")


def finish(output: SleeveOutput, prepared: Prepared, job: Any) -> SleeveResult:
    """Save a decision's artifacts into the sleeve's folder and end its manifest; returns its `SleeveResult`."""
    from dataflows.lakehouse.store import Lakehouse
    from dataflows.single import summarize_run

    key, spec = output.key, job.spec
    record = prepared.records[key]
    record.timings.update(output.timings)
    record.body["worker"] = output.worker
    if not output.ok:
        if output.failed_node:
            record.body["failed_node"] = output.failed_node
        record.finish("failed", error=output.reason, exit_code=output.exit_code)
        log.warning("sleeve %s (%s) failed: %s", spec.name, spec.label, output.reason)
        return SleeveResult(job.index, spec.name, spec.kind, spec.label, False, output.reason, key)
    settings = next(i.settings for i in prepared.inputs if i.key == key)
    folder = Path(key)
    try:
        saved = save(settings, folder, output.artifacts)
        results = prepared.data[key] | output.results | saved
        record.finish("ok", **summarize_run(settings, record.ctx, Lakehouse(settings.data_root), results))
    except Exception as exc:
        record.fail(exc)
        raise
    stream = output.artifacts["sleeve_returns"]
    metrics = {
        k: float(v) if isinstance(v, float | np.floating) else v
        for k, v in output.results["in_sample"]["metrics"].items()
    }
    return SleeveResult(
        job.index,
        spec.name,
        spec.kind,
        spec.label,
        True,
        None,
        key,
        str(stream["stream"][0]) if stream.height else IN_SAMPLE,
        stream["date"].to_numpy().astype(np.int64),
        stream["returns"].to_numpy().astype(np.float64),
        output.results["weights_table"].select("symbol", "weight", "net_weight"),
        output.seconds,
        metrics,
        output.worker,
    )


def save(settings: Any, folder: Path, artifacts: dict[str, Any]) -> dict[str, Any]:
    """Run the sleeve DAG's savers of the decision stages over `artifacts` (their nodes' values): the same savers,
    file names and formats as a single run's; returns each saver's record."""
    from dataflows.driver import build_driver, outputs_of, saved_node

    dr = build_driver(settings)
    savers = [n for n in outputs_of(dr, SLEEVE_STAGES) if saved_node(dr, n) in artifacts]
    inputs = {"run_dir": folder, "settings": settings, "as_of_ms": settings.as_of_ms, "run_id": folder.name}
    return dr.execute(savers, inputs=inputs, overrides=artifacts)


def failed_before_task(prepared: Prepared, job: Any) -> SleeveResult:
    """The result of a sleeve that failed in the driver (discovery or its health gate), never submitted."""
    key, spec = str(job.run_dir), job.spec
    reason = prepared.failed[key][0]
    log.warning("sleeve %s (%s) failed: %s", spec.name, spec.label, reason)
    return SleeveResult(job.index, spec.name, spec.kind, spec.label, False, reason, key)

"""Step 2 of a meta's sleeves, on a worker or in-process: one sleeve's decision over its `SleeveInputs`. Pure: it never
opens the lakehouse or a path of the driver's and writes nothing; it returns the values its savers would write (the
driver saves them, `finish.py`), the values the manifest records, its node timings, or its failure in one line."""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from dataflows.meta.sleeves.data_phase import SleeveInputs

__all__ = ["SLEEVE_STAGES", "SleeveOutput", "decide"]

SLEEVE_STAGES = {"sleeve", "reporting", "validation"}  # the stages a decision runs (the data phase ran in the driver)


@dataclass(frozen=True)
class SleeveOutput:
    """What a decision task returns: the saved nodes' values and the manifest's, or its failure."""

    key: str
    ok: bool
    reason: str | None = None
    exit_code: int = 0
    failed_node: str | None = None
    artifacts: dict[str, Any] = field(default_factory=dict)  # node → value, for the sleeve's savers
    results: dict[str, Any] = field(default_factory=dict)  # manifest values (sleeve_weights, weights_table, ...)
    timings: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    worker: str = ""


def decide(inputs: SleeveInputs) -> SleeveOutput:
    """Run one sleeve's decision over its inputs (pure: no lakehouse, no shared path); failures are returned."""
    from dataflows.driver import node_timer, quiet_hamilton
    from dataflows.runs import failure

    quiet_hamilton()  # a failed sleeve is one line, never Hamilton's tracebacks
    t0 = time.perf_counter()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    timings: dict[str, float] = {}
    timer = node_timer(timings)
    try:
        artifacts, results = _decide(inputs, timer)
    except Exception as exc:
        reason, code = failure(exc)  # logged once, by the driver (`finish`)
        return SleeveOutput(
            inputs.key, False, reason, code, timer.failed_node, timings=timings, worker=worker,
            seconds=time.perf_counter() - t0,
        )  # fmt: skip
    return SleeveOutput(
        inputs.key, True, artifacts=artifacts, results=results, timings=timings, seconds=time.perf_counter() - t0,
        worker=worker,
    )  # fmt: skip


def _decide(inputs: SleeveInputs, timer: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the saved nodes' values, the manifest's values): the sleeve DAG from the data phase's boundary on, with
    its savers left out."""
    from dataflows.driver import MANIFEST_TAG, build_driver, outputs_of, saved_node

    settings = inputs.settings
    dr = build_driver(settings, adapters=(timer,))
    wanted = outputs_of(dr, SLEEVE_STAGES)
    saved = {name: saved_node(dr, name) for name in wanted if saved_node(dr, name) is not None}
    manifest = [n for n in wanted if n not in saved and MANIFEST_TAG in dr.graph.nodes[n].tags]
    manifest.append("in_sample")  # the sleeve's in-sample metrics, for the meta's summary
    inputs_ = {"settings": settings, "as_of_ms": settings.as_of_ms, "run_id": inputs.folder_name}
    res = dr.execute([*dict.fromkeys(saved.values()), *manifest], inputs=inputs_, overrides=inputs.overrides)
    return {node: res[node] for node in saved.values()}, {n: res[n] for n in manifest}

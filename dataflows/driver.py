"""The one Hamilton driver factory, shared by `run`, `audit` and `viz` (so the picture is the DAG that runs)."""

from __future__ import annotations

import time
from typing import Any

from dataflows.config import Settings

SAVER_TAG = "hamilton.data_saver"  # the tag Hamilton puts on every saver node

STAGES: dict[str, tuple[str, ...]] = {
    "config": ("config",),
    "data": ("venue", "discovery", "audit", "fetch", "guard", "metadata", "features", "health"),
    "sleeve": ("aggregation", "sleeve"),
    "reporting": ("reporting",),
    "validation": ("validation",),
    "trade": ("trade",),
}
"""The stage modules of `dataflows.nodes`, in pipeline order, by stage (the DAG picture groups them so)."""

LAKEHOUSE_TAG = "lakehouse"  # `@tag(lakehouse="writes")`: a node that changes the lakehouse (an output of the run)
MANIFEST_TAG = "manifest"  # `@tag(manifest="...")`: a value the run's manifest records (an output of the run)


def node_modules() -> list:
    """The stage modules, in pipeline order."""
    import importlib

    return [importlib.import_module(f"dataflows.nodes.{m}") for mods in STAGES.values() for m in mods]


_STAGE_OF_MODULE = {f"dataflows.nodes.{m}": stage for stage, mods in STAGES.items() for m in mods}


def stage_of(dr: Any, name: str) -> str:
    """The stage of a node: its module's, or for a saver (which has no module) the stage of the node it saves."""
    by_module = _STAGE_OF_MODULE
    graph = dr.graph.nodes
    node = graph[name]
    if "module" in node.tags:
        return by_module.get(node.tags["module"], "other")
    saved = saved_node(dr, name)
    return by_module.get(graph[saved].tags.get("module", ""), "other") if saved else "other"


def saved_node(dr: Any, name: str) -> str | None:
    """The node a saver saves (None when `name` is not a saver)."""
    node = dr.graph.nodes[name]
    if not node.tags.get(SAVER_TAG):
        return None
    return next(d.name for d in node.dependencies if d.name != "run_dir")


def run_outputs(dr: Any, settings: Settings) -> list[str]:
    """What `run` asks the DAG for, read from the graph's tags: every saver (the run folder's files), every node that
    writes the lakehouse and every value the manifest records — of the data phase alone with `flow.data_only`.
    Skipped stages (validation, plots) are not in the graph at all (`hamilton_config`)."""
    return outputs_of(dr, {"data"} if settings.flow.data_only else set(STAGES))


def outputs_of(dr: Any, stages: set[str]) -> list[str]:
    """The savers, lakehouse writers and manifest values of these stages."""
    out = []
    for var in dr.list_available_variables():
        tags = var.tags
        wanted = tags.get(SAVER_TAG) or LAKEHOUSE_TAG in tags or MANIFEST_TAG in tags
        if wanted and stage_of(dr, var.name) in stages:
            out.append(var.name)
    return out


def run_inputs(settings: Settings, lakehouse: Any, run_dir: Any) -> dict[str, Any]:
    """The driver's inputs of a run: the settings, the lakehouse, the run's clock and id; `run_dir` only savers take."""
    return {
        "settings": settings,
        "lakehouse": lakehouse,
        "as_of_ms": settings.as_of_ms,
        "run_id": run_dir.name,
        "run_dir": run_dir,
    }


def file_records(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The records (path in the run folder, bytes, sha256) of every file the savers among `results` wrote, a folder
    saver's files one by one, sorted by path: the manifest's list of the run's files."""
    out: list[dict[str, Any]] = []
    for value in results.values():
        if isinstance(value, dict) and "sha256" in value:
            out.append(value)
        elif isinstance(value, dict) and isinstance(value.get("files"), list):
            out.extend(value["files"])
    return sorted(({k: r[k] for k in ("file", "bytes", "sha256")} for r in out), key=lambda r: r["file"])


def hamilton_config(settings: Settings) -> dict[str, Any]:
    """Config that chooses node variants (`@config.when`). No key may equal a node name."""
    return {
        "venue_kind": settings.venue.kind,
        "validate": not (settings.flow.skip_validation or settings.flow.data_only),
        "plots": not (settings.flow.skip_analysis or settings.flow.data_only),
        "trade": trades(settings),
    }


def trades(settings: Settings) -> bool:
    """Whether a run also trades its weights (`trade.capital` or `trade.balances`)."""
    return settings.trade.capital is not None or bool(settings.trade.balances)


def run_recorder(record: Any, summarize: Any = None) -> Any:
    """The Hamilton lifecycle adapter that owns a run's record (`dataflows.runs.RunRecord`): per-node wall times,
    the failing node, and the final manifest when the graph ends — `ok` after `summarize(results)` (which returns
    the manifest's extra fields and may write the last files), or `failed` with the one-line reason and exit code.

    `summarize` must be picklable (a module-level function or a `functools.partial` of one): on Ray the adapter
    travels with each task. Built lazily so importing this module does not import Hamilton."""
    return _recorder_class()(record, summarize)


def node_timer(timings: dict[str, float] | None = None) -> Any:
    """A Hamilton adapter that adds each node's wall time (seconds) into `timings` and remembers the first node
    that failed (`.failed_node`); what the run recorder does besides finishing the manifest."""
    return _adapter_classes()[0](timings if timings is not None else {})


_ADAPTERS: list[type] = []


def _recorder_class() -> type:
    return _adapter_classes()[1]


def _adapter_classes() -> list[type]:
    if _ADAPTERS:
        return _ADAPTERS
    from hamilton.lifecycle import GraphExecutionHook, NodeExecutionHook

    class NodeTimer(NodeExecutionHook):
        def __init__(self, timings: dict[str, float]) -> None:
            self.timings = timings
            self.failed_node: str | None = None
            self._t0: dict[str, float] = {}

        def run_before_node_execution(self, *, node_name: str, task_id: str | None = None, **_: Any) -> None:
            self._t0[f"{task_id}/{node_name}"] = time.perf_counter()

        def run_after_node_execution(
            self, *, node_name: str, success: bool, task_id: str | None = None, **_: Any
        ) -> None:
            t0 = self._t0.pop(f"{task_id}/{node_name}", None)
            if t0 is not None:
                self.timings[node_name] = round(self.timings.get(node_name, 0.0) + time.perf_counter() - t0, 6)
            if not success and self.failed_node is None:
                self.failed_node = node_name

    class RunRecorder(NodeTimer, GraphExecutionHook):
        def __init__(self, record: Any, summarize: Any = None) -> None:
            super().__init__(record.timings)
            self.record = record
            self.summarize = summarize

        def run_before_graph_execution(self, **_: Any) -> None:
            self._t0.clear()

        def run_after_graph_execution(
            self, *, success: bool, error: Exception | None, results: dict | None, **_: Any
        ) -> None:
            from dataflows.runs import OK

            if error is not None or not success:
                if error is not None:
                    if self.failed_node and not self.record.finished:
                        self.record.body["failed_node"] = self.failed_node
                    self.record.fail(error)
                return
            if results is None:  # a BaseException (Ctrl-C) passed through: the caller records it
                return
            try:
                extra = self.summarize(results) if self.summarize is not None else {}
            except Exception as exc:  # the run's last step failed: recorded, and re-raised to the caller
                self.record.fail(exc)
                raise
            self.record.finish(OK, **(extra or {}))

    _ADAPTERS.extend([NodeTimer, RunRecorder])
    return _ADAPTERS


def quiet_hamilton() -> None:
    """Hamilton logs every node exception with its traceback (executors, graph functions) and a chat invitation;
    ours are recorded in the manifest and reported in one line, so those loggers only speak when critical."""
    import logging

    for name in ("hamilton.driver", "hamilton.execution"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def build_driver(settings: Settings, adapters: tuple = ()) -> Any:
    """A Hamilton driver over every stage module, configured for `settings`."""
    from hamilton import driver

    builder = driver.Builder().with_modules(*node_modules()).with_config(hamilton_config(settings))
    if adapters:
        builder = builder.with_adapters(*adapters)
    return builder.build()

"""The one Hamilton driver factory, shared by `run`, `audit` and `viz` (so the picture is the DAG that runs)."""

from __future__ import annotations

import time
from typing import Any

from dataflows.config import Settings

# What each verb asks the DAG for.
DATA_PHASE_OUTPUTS = (
    "candidates_json",
    "audit_json",
    "symbol_metadata",
    "features_update",
    "ratings_check",
    "healthy_symbols",
    "health_table",
)
SLEEVE_OUTPUTS = ("selection_json", "analysis_json", "weights_files", "report_html", "sleeve_weights", "weights_table")
AUDIT_OUTPUTS = ("audit_before_table",)


VALIDATION_OUTPUTS = ("backtest_files",)


def run_outputs(settings: Settings) -> list[str]:
    """What `run` asks the DAG for: the data phase, then (unless flow.data_only) the sleeve and its validation."""
    if settings.flow.data_only:
        return list(DATA_PHASE_OUTPUTS)
    validation = () if settings.flow.skip_validation else VALIDATION_OUTPUTS
    plots = () if settings.flow.skip_analysis else ("postanalysis_plots",)
    return [*DATA_PHASE_OUTPUTS, *SLEEVE_OUTPUTS, *validation, *plots]


def node_modules() -> list:
    """The stage modules, in pipeline order."""
    from dataflows.nodes import (
        aggregation,
        analysis,
        audit,
        discovery,
        features,
        fetch,
        guard,
        health,
        metadata,
        optimization,
        reporting,
        selection,
        synthesis,
        validation,
        venue,
    )

    return [
        venue,
        discovery,
        audit,
        fetch,
        guard,
        metadata,
        features,
        health,
        aggregation,
        selection,
        synthesis,
        analysis,
        optimization,
        reporting,
        validation,
    ]


def hamilton_config(settings: Settings) -> dict[str, Any]:
    """Config that chooses node variants (`@config.when`). No key may equal a node name."""
    return {
        "venue_kind": settings.venue.kind,
        "validate": not (settings.flow.skip_validation or settings.flow.data_only),
    }


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

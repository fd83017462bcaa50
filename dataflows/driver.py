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
        "executor_kind": settings.executor.kind,
        "optimizer": settings.method,
        "validate": not (settings.flow.skip_validation or settings.flow.data_only),
    }


class NodeTimer:
    """Hamilton lifecycle hook recording each node's wall time (for the manifest)."""

    def __new__(cls):  # built lazily so importing this module does not import Hamilton
        from hamilton.lifecycle import NodeExecutionHook

        class _Timer(NodeExecutionHook):
            def __init__(self) -> None:
                self.timings: dict[str, float] = {}
                self._t0: dict[str, float] = {}

            def run_before_node_execution(self, *, node_name: str, **_: Any) -> None:
                self._t0[node_name] = time.perf_counter()

            def run_after_node_execution(self, *, node_name: str, **_: Any) -> None:
                self.timings[node_name] = round(time.perf_counter() - self._t0.pop(node_name, time.perf_counter()), 6)

        return _Timer()


def build_driver(settings: Settings, adapters: tuple = ()) -> Any:
    """A Hamilton driver over every stage module, configured for `settings`."""
    from hamilton import driver

    builder = driver.Builder().with_modules(*node_modules()).with_config(hamilton_config(settings))
    if adapters:
        builder = builder.with_adapters(*adapters)
    return builder.build()

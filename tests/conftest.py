"""Shared fixtures: composed settings on the synthetic venue and a data-phase runner with an injectable venue."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

os.environ.setdefault("HAMILTON_AUTOLOAD_EXTENSIONS", "0")
os.environ.setdefault("HAMILTON_TELEMETRY_ENABLED", "false")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

AS_OF = "2026-06-30"


def compose(overrides: list[str] | None = None) -> Any:
    """Compose `conf/config.yaml` with overrides, exactly as the CLI does (returns a DictConfig)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from dataflows.config import conf_dir, register_schema

    register_schema()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base=None):
        return hydra_compose(config_name="config", overrides=overrides or [])


def make_settings(data_root: Path, *overrides: str) -> Any:
    from dataflows.config import settings_from_cfg

    base = [f"data.root={data_root}", f"run.as_of={AS_OF}", "data.progress=false", "data.retry_wait_s=0.01"]
    return settings_from_cfg(compose([*base, *overrides]))


def run_data_phase(
    settings: Any, *, venue: Any = None, outputs: tuple[str, ...] | None = None, overrides: dict | None = None
) -> dict:
    """Execute the data-phase DAG in-process; `venue` replaces the configured venue node (to count its calls)."""
    from dataflows.driver import build_driver, outputs_of, run_inputs
    from dataflows.lakehouse.store import Lakehouse
    from dataflows.runs import new_run

    ctx = new_run(settings)
    dr = build_driver(settings)
    inputs = run_inputs(settings, Lakehouse(settings.data_root), ctx.run_dir)
    wanted = [*(outputs or outputs_of(dr, {"data"})), "repair_report", "audit_after"]
    extra = dict(overrides or {}) | ({"venue": venue} if venue is not None else {})
    result = dr.execute(wanted, inputs=inputs, overrides=extra or None)
    result["run_dir"] = ctx.run_dir
    return result


def synthetic_venue(settings: Any, **kwargs: Any) -> Any:
    """The venue `run` would build for `settings` (so tests can count its calls), with `kwargs` overriding."""
    from dataflows.nodes.venue import _synthetic_kwargs
    from dataflows.venues.synthetic import SyntheticVenue

    return SyntheticVenue(**(_synthetic_kwargs(settings.venue, settings.as_of_ms) | kwargs))

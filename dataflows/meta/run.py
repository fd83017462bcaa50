"""Meta runs: the entry point, the executor choice and the meta plan; every sleeve runs in its own folder.

`run_meta(settings, resolved)` is what `python -m dataflows run meta=<name>` calls. The meta DAG lives in
`dataflows.meta.dag` (a `Parallelizable` fan-out over sleeves, one `Collect`; executed by `dataflows.meta.execute`);
one code path serves both executors: `meta_executor(settings)` returns (task executor, shutdown) — Hamilton's
`SynchronousLocalTaskExecutor` for `executor=local`, `dataflows.meta.executors.RaySleeveExecutor` (Ray tasks; the
driver waits instead of spinning) for `executor=ray` (Ray started only if it is not running yet, with the workers'
environment set, and shut down only if we started it; numba kernels are warmed in the driver first so workers
load them from the on-disk cache).

Run folder of a meta run `data/runs/<RUN_ID>/`:
- `sleeves/<sleeve>/`: each sleeve's own, isolated run folder (the single-sleeve contract: manifest.json,
  weights.parquet/csv, selection.json, report.html, ...) plus `sleeve_returns.parquet` (date, returns, stream);
  a pinned sleeve's folder holds only `pinned.json` (which run, its path, the sha256 of the weights it used);
  a nested meta's folder is a whole meta run folder.
- `meta_returns.parquet` (date + one column per sleeve, inner join), `meta_stream.parquet`, `meta_weights.csv`,
  `flattened_weights.csv`, `sleeves.json` (per sleeve: kind, status, reason, stream, folder, dropped or not),
  `report.html` (the meta's own page, linking each sleeve's report), `manifest.json`.

Every run folder here (the meta's, each profile sleeve's, each nested meta's) holds a `running` manifest from its
first moment, ended `ok`/`failed` by the `RunRecorder` lifecycle adapter (`dataflows.runs`, `dataflows.driver`).
A pinned sleeve must name a run that finished `ok` (checked when the config is parsed and again when it is read).

Return streams: a sleeve whose run folder has `backtest/returns.parquet` (walk-forward validation) contributes its
out-of-sample stream (column `profile`); otherwise its in-sample stream (the `in_sample` node's returns over the
training window; for a pinned run without one, its weights file applied to the lakehouse returns of its training
window). `sleeves.json` and `meta_weights.csv` say which (`stream: out_of_sample | in_sample`).

Sleeves share the lakehouse only through its API (fetch leases de-duplicate concurrent fetches across processes)
and write only into their own folders.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dataflows.config import RunConfig, Settings
from dataflows.errors import ConfigError
from dataflows.meta.config import parse_meta
from dataflows.meta.model import MetaPlan

__all__ = ["execute_meta", "meta_executor", "meta_plan_for", "run_meta"]

log = logging.getLogger("dataflows.meta")


def meta_executor(settings: Settings) -> tuple[Any, Callable[[], None]]:
    """(Hamilton task executor for the sleeve fan-out, shutdown) for `executor.kind` (local | ray)."""
    from dataflows.meta.executors import local_executor, ray_executor

    if settings.executor.kind != "ray":
        return local_executor()
    return ray_executor(settings.executor.address, settings.executor.num_cpus)


def execute_meta(plan: MetaPlan, executor: Any = None) -> dict[str, Any]:
    """Run a meta plan without the meta's own manifest (benchmarks); its sleeves' folders and manifests are written
    as in a run."""
    from dataflows.meta.execute import execute_plan

    return execute_plan(plan, None, executor)


def meta_plan_for(settings: Settings, *, run_dir: Path | None = None, run_id: str = "viz") -> MetaPlan:
    """Parse `settings.meta` and fix the clock: every sleeve sees the same as_of."""
    assert settings.meta is not None
    spec = parse_meta(dict(settings.meta), data_root=settings.data_root)
    base = dataclasses.replace(settings, run=RunConfig(as_of=settings.as_of.isoformat(), id=None), meta=None)
    return MetaPlan(spec, base, run_dir or settings.data_root / "runs" / run_id, run_id)


def run_meta(settings: Settings, resolved: dict) -> int:
    """`run` with a meta config: sleeves in their own folders, meta outputs, manifest; prints the run folder."""
    from dataflows.runs import new_record

    if settings.flow.data_only:
        msg = "flow.data_only=true does not apply to a meta run (sleeves need their weights)"
        raise ConfigError(msg)
    plan = meta_plan_for(settings)
    run_id = settings.run.id or f"{settings.as_of:%Y%m%dT%H%M%SZ}_{plan.spec.name}_meta_{secrets.token_hex(3)}"
    named = dataclasses.replace(settings, run=dataclasses.replace(settings.run, id=run_id))
    record = new_record(named, kind="meta", config=resolved)
    ctx = record.ctx
    plan = dataclasses.replace(plan, run_dir=ctx.run_dir, run_id=ctx.run_id)
    spec, kind = plan.spec, settings.executor.kind
    log.info(
        "meta run %s (%s, %d sleeves, executor %s) → %s", ctx.run_id, spec.name, len(spec.sleeves), kind, ctx.run_dir
    )
    try:
        executor, shutdown = meta_executor(settings)
    except BaseException as exc:
        record.fail(exc)
        raise
    from dataflows.meta.execute import execute_plan

    try:
        execute_plan(plan, record, executor)
    finally:
        shutdown()
    from dataflows.console import print_summary

    print_summary(ctx.run_dir)
    sys.stdout.write(f"{ctx.run_dir}\n")
    return 0

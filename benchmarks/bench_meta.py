"""Meta-portfolio fan-out: 4 sleeves on Ray (one local cluster, 2 CPUs) against the same 4 run sequentially.

Both run the identical meta DAG (`dataflows.meta.run.execute_meta`), differing only in the sleeve executor:
Hamilton's `SynchronousLocalTaskExecutor` (baseline) or `RaySleeveExecutor` on a Ray started once before timing
(`dataflows.meta.executors.ray_executor`, exactly what `executor=ray` uses).
Ray start-up (`ray.init`) is measured separately and reported as its own row, never inside the ratio.

Input: the synthetic venue as of 2026-06-30 in a temporary data root; an untimed sequential run fills the
lakehouse first, so every timed run reads a warm lakehouse (no fetches) and measures sleeve compute: data-phase
audit, selection, optimization, reports. Walk-forward validation is skipped inside the sleeves (when the flow has
the switch) so the case measures the fan-out, not vectorbt's per-process compilation. Correctness first: the Ray
run's meta weights and flattened weights must equal the sequential run's exactly.

Target: Ray ≤ 0.59× sequential (≥ 1.7× speed-up). On this 2-core machine the ceiling is 2×, minus the work that
stays serial (meta-optimization, pickling sleeve results back) and contention with whatever else runs here.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._harness import Row, cli, rows_against, time_it

AS_OF = "2026-06-30"
SLEEVES = (  # crypto_long_short's `long` and `short`, plus two more long sleeves with other optimizers
    "+meta.sleeves.mv={profile: crypto_long, optimizer: min_variance}",
    "+meta.sleeves.rp={profile: crypto_long, optimizer: risk_parity}",
    "meta.min_weight=0.1",
)


def _settings(root: Path, *overrides: str) -> Any:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from dataflows.config import FlowConfig, conf_dir, register_schema, settings_from_cfg

    register_schema()
    fast = ["flow.skip_validation=true"] if "skip_validation" in FlowConfig.__dataclass_fields__ else []
    base = [f"data.root={root}", f"run.as_of={AS_OF}", "data.progress=false", "meta=crypto_long_short", *fast]
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base=None):
        cfg = compose(config_name="config", overrides=[*base, *SLEEVES, *overrides])
    return settings_from_cfg(cfg)


def _run_once(settings: Any, executor: Any, tag: list[int]) -> dict[str, Any]:
    import dataclasses

    from dataflows.meta.run import execute_meta, meta_plan_for

    tag[0] += 1
    run_id = f"bench_{os.getpid()}_{tag[0]}"
    run_dir = settings.data_root / "runs" / run_id
    run_dir.mkdir(parents=True)
    plan = dataclasses.replace(meta_plan_for(settings), run_dir=run_dir, run_id=run_id)
    return execute_meta(plan, executor)


def run(repeat: int, warmup: int, quick: bool) -> list[Row]:
    """Time the 4-sleeve meta sequentially and on Ray (start-up excluded, reported separately)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("HAMILTON_AUTOLOAD_EXTENSIONS", "0")
    os.environ.setdefault("HAMILTON_TELEMETRY_ENABLED", "false")
    import numpy as np
    import ray

    from dataflows.meta.executors import local_executor, ray_executor, warm_kernels

    with tempfile.TemporaryDirectory(prefix="bench_meta_") as tmp:
        root = Path(tmp) / "data"
        settings = _settings(root)
        tag = [0]
        local, _ = local_executor()
        reference = _run_once(settings, local, tag)  # fills the lakehouse; the correctness reference
        warm_kernels()

        if ray.is_initialized():
            msg = "bench_meta starts its own Ray; a Ray is already running in this process"
            raise RuntimeError(msg)
        t0 = time.perf_counter()
        remote, shutdown = ray_executor("local", num_cpus=2)  # what `executor=ray` uses
        startup = time.perf_counter() - t0
        try:
            got = _run_once(settings, remote, tag)  # also warms the workers (imports, numba cache loads)
            ref_w, got_w = reference["meta_weights"], got["meta_weights"]
            assert ref_w.sleeves == got_w.sleeves, "meta sleeves differ"
            assert np.array_equal(ref_w.weights, got_w.weights), "meta weights differ"
            assert np.array_equal(reference["flattened"].net, got["flattened"].net), "flattened weights differ"
            n = 1 if quick else max(repeat, 1)
            timings = {
                "sequential": time_it(lambda: _run_once(settings, local, tag), n, 0 if quick else warmup),
                "ray": time_it(lambda: _run_once(settings, remote, tag), n, 0 if quick else warmup),
            }
        finally:
            shutdown()
    case = "meta 4 sleeves, 2 CPUs"
    rows = rows_against(case, timings, "sequential", targets={"ray": 1 / 1.7}, notes={"ray": "start-up excluded"})
    rows.append(Row(case=case, impl="ray start-up", seconds=startup, median=startup, note="ray.init, once"))
    return rows


if __name__ == "__main__":
    cli(run, __doc__.splitlines()[0])

"""Task executors for the sleeve fan-out: in-process, or Ray (started once, guarded, shut down only by its starter).

Hamilton's dynamic-execution loop (`run_graph_to_completion`) polls its task futures in a tight `while` loop, and
`RayTaskExecutor`'s futures answer at once, so the driver process spins a whole core while the sleeves run. On a
2-core machine that halves the workers' CPU. `RaySleeveExecutor` submits the same Ray tasks and hands back futures
that wait in `ray.wait` (`poll` seconds at most) while their task is still running: the loop then wakes on a
completion or a short timeout instead of spinning, and the driver sleeps while the workers compute.

`ray.wait` rather than a `concurrent.futures` wait on `ObjectRef.future()`: inside a Ray task (a nested meta fans
its own sleeves out from a worker) Ray lends the waiting task's CPU to others only while it is blocked in
`ray.get`/`ray.wait`; waiting on a Python future holds the CPU, and on a 1-CPU Ray the sub-sleeves never start.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from hamilton.execution import executors
from hamilton.execution.grouping import TaskImplementation

logger = logging.getLogger("dataflows.meta")
POLL_SECONDS = 0.005

WORKER_THREAD_VARS = (
    "POLARS_MAX_THREADS",
    "NUMBA_NUM_THREADS",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
)


class RayWaitingFuture(executors.TaskFuture):
    """A Ray task's future whose `get_state` waits up to `poll` seconds (in `ray.wait`) while the task runs."""

    def __init__(self, ref: Any, poll: float = POLL_SECONDS) -> None:
        self.ref = ref
        self.poll = poll
        self._done = False
        self._outcome: tuple[Any, BaseException | None] | None = None  # (result, error), fetched once

    def _ready(self) -> bool:
        if not self._done:
            import ray

            ready, _ = ray.wait([self.ref], timeout=self.poll)
            self._done = bool(ready)
        return self._done

    def get_state(self) -> executors.TaskState:
        if not self._ready():
            return executors.TaskState.RUNNING
        try:
            self.get_result()
        except Exception:
            logger.exception("sleeve task failed")
            return executors.TaskState.FAILED
        return executors.TaskState.SUCCESSFUL

    def get_result(self) -> Any:
        if not self._ready():
            return None
        if self._outcome is None:
            import ray

            try:
                self._outcome = (ray.get(self.ref), None)
            except Exception as exc:
                self._outcome = (None, exc)
        value, error = self._outcome
        if error is not None:
            raise error
        return value


class RaySleeveExecutor(executors.TaskExecutor):
    """Hamilton tasks as Ray tasks on a Ray this process already initialized; the driver waits, it does not spin."""

    def __init__(self, poll: float = POLL_SECONDS) -> None:
        self.poll = poll
        self._remote: Any = None

    def init(self) -> None:
        import ray

        if not ray.is_initialized():
            msg = "RaySleeveExecutor needs ray.init() first (see dataflows.meta.executors.ray_executor)"
            raise RuntimeError(msg)
        self._remote = ray.remote(executors.base_execute_task)

    def finalize(self) -> None:
        self._remote = None

    def submit_task(self, task: TaskImplementation) -> executors.TaskFuture:
        if self._remote is None:
            self.init()
        return RayWaitingFuture(self._remote.remote(task=task), self.poll)

    def can_submit_task(self) -> bool:
        return True  # Ray queues what it cannot run yet


def local_executor() -> tuple[Any, Callable[[], None]]:
    """(Hamilton's in-process executor, no-op shutdown)."""
    return executors.SynchronousLocalTaskExecutor(), lambda: None


def ray_executor(address: str | None = None, num_cpus: int | None = None) -> tuple[Any, Callable[[], None]]:
    """(RaySleeveExecutor, shutdown): Ray is started here unless this process already runs one, and `shutdown`
    stops it only if it was started here. `address` None or "local" starts a local Ray with `num_cpus`."""
    own_python_for_workers()
    import ray

    started = False
    if not ray.is_initialized():
        warm_kernels()  # workers then load the compiled kernels from numba's on-disk cache
        address = address or "local"
        kwargs: dict[str, Any] = {"include_dashboard": False, "runtime_env": worker_runtime_env()}
        if address == "local":
            kwargs["num_cpus"] = num_cpus
        else:
            probe_address(address)
        # Ray starts its workers at nice 15 by default: on a machine doing anything else they then lose the CPU
        os.environ.setdefault("RAY_worker_niceness", "0")
        plain_worker_logs()
        try:
            ray.init(address=address, **kwargs)
        except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
            raise _connect_error(address, exc) from exc
        started = True
        warm_workers()
    return RaySleeveExecutor(), (ray.shutdown if started else lambda: None)


PROBE_SECONDS = 3.0
"""How long `probe_address` waits for a TCP connection to the Ray head before calling it unreachable."""


def probe_address(address: str) -> None:
    """Fail in seconds, naming `executor.address`, when nothing listens there (Ray itself retries for 30-120 s)."""
    import socket

    from dataflows.errors import ConfigError

    target = address.removeprefix("ray://")
    if target in ("auto", ""):
        return
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        msg = f"executor.address={address!r} is not host:port or ray://host:port (e.g. ray://10.0.0.5:10001)"
        raise ConfigError(msg)
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_SECONDS):
            pass
    except OSError as exc:
        msg = (
            f"executor.address={address!r} is unreachable ({exc.__class__.__name__}: {exc}): start the head there "
            "(`ray start --head`, client port 10001 for ray://) or fix the address"
        )
        raise ConfigError(msg) from exc


def _connect_error(address: str, exc: BaseException) -> Exception:
    """Ray's connection failure as one line naming the address and the likely cause."""
    from dataflows.errors import ConfigError

    text = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
    lowered = str(exc).lower()
    if "auth" in lowered or "token" in lowered:
        cause = "token authentication differs: set RAY_AUTH_MODE (and the token) the same on the driver and the cluster"
    elif "version" in lowered:
        cause = "the cluster runs another Ray or Python version: install the same versions as this environment"
    else:
        cause = "check that a Ray head listens there and accepts this client"
    return ConfigError(f"executor.address={address!r}: cannot connect to Ray ({text[:200]}); {cause}")


def worker_runtime_env() -> dict[str, Any]:
    """Ray workers import the installed package (editable checkout on PYTHONPATH too) with Hamilton kept quiet."""
    repo = str(Path(__file__).resolve().parents[2])
    path = os.pathsep.join(p for p in (repo, os.environ.get("PYTHONPATH", "")) if p)
    env = {
        "PYTHONPATH": path,
        "HAMILTON_AUTOLOAD_EXTENSIONS": "0",
        "HAMILTON_TELEMETRY_ENABLED": "false",
        "RAY_USAGE_STATS_ENABLED": "0",
        # one sleeve per CPU: each worker computes single-threaded instead of every worker oversubscribing the
        # machine with its own polars / numba / BLAS thread pools
        **dict.fromkeys(WORKER_THREAD_VARS, "1"),
    }
    return {"env_vars": env}


def own_python_for_workers() -> None:
    """Workers run this environment's Python. Under `uv run`, Ray's uv hook would otherwise start every worker with
    `uv run ...` in an uploaded copy of the current folder: uv re-resolves the project there (offline it hangs or
    fails, and a folder without the project has nothing to resolve). Ray reads the switch when it is imported and
    when it starts, so it is set before the import and on the loaded constant."""
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    import sys

    constants = sys.modules.get("ray._private.ray_constants")
    if constants is not None and os.environ["RAY_ENABLE_UV_RUN_RUNTIME_ENV"] == "0":
        constants.RAY_ENABLE_UV_RUN_RUNTIME_ENV = False


def plain_worker_logs() -> None:
    """Workers' log lines reach the driver's stderr without ANSI colour codes when nobody watches a terminal (piped
    or CI): no colour on the `(task pid=...)` prefix, and no colourised `[repeated Nx]` de-duplication notes."""
    from dataflows.console import interactive

    if not interactive():
        os.environ.setdefault("RAY_COLOR_PREFIX", "0")
        os.environ.setdefault("RAY_DEDUP_LOGS", "0")


def warm_workers() -> None:
    """Start one task per Ray CPU that imports the sleeve DAG's modules and loads the numba kernels from the on-disk
    cache, without waiting: the workers warm up while the driver runs the
    data phase, and the sleeves then land on warm workers."""
    import ray

    cpus = int(ray.cluster_resources().get("CPU", 1))
    task = ray.remote(num_cpus=1)(_warm_worker)
    for _ in range(max(cpus, 1)):
        task.remote()


def _warm_worker() -> None:
    from dataflows.driver import node_modules

    node_modules()  # every stage module of the sleeve DAG (and what they import at module level)
    warm_kernels()


def warm_kernels() -> None:
    """Compile (or load from cache) the numba kernels the sleeves use, once, in the driver."""
    from dataflows.portfolio.hrp import hrp_weights
    from kernels.ratings import technical_ratings
    from kernels.toxic import toxic_scan

    rng = np.random.default_rng(0)
    close = np.cumprod(1.0 + rng.normal(0, 0.01, (80, 3)), axis=0)
    volume = rng.uniform(1.0, 2.0, (80, 3))
    toxic_scan(close, volume)
    technical_ratings(close * 1.01, close * 0.99, close, volume)
    hrp_weights(np.diff(close, axis=0) / close[:-1])

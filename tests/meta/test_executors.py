"""The sleeve executors: Ray futures that wait instead of spinning, and a fan-out that also works from inside a task.

All but the first test need Ray (`-m ray`): they share one local 2-CPU Ray per module.
"""

from __future__ import annotations

import os
import time

import pytest
from hamilton.execution.executors import TaskState

from dataflows.meta.executors import RaySleeveExecutor, RayWaitingFuture, local_executor
from tests.meta import fanout_nodes

RAY_WARNINGS = (
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning:ray.*"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
)


def ray_test(fn: object) -> object:
    for mark in (pytest.mark.ray, *RAY_WARNINGS):
        fn = mark(fn)
    return fn


def test_local_executor_and_ray_executor_without_ray() -> None:
    executor, shutdown = local_executor()
    assert executor.can_submit_task()
    shutdown()
    ray = pytest.importorskip("ray")
    if not ray.is_initialized():
        with pytest.raises(RuntimeError, match=r"ray\.init"):
            RaySleeveExecutor().init()


def _sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def _boom() -> None:
    msg = "boom"
    raise ValueError(msg)


@ray_test
def test_ray_future_reports_running_then_the_outcome(ray_cluster: object) -> None:
    import ray

    slow = RayWaitingFuture(ray.remote(_sleep).remote(1.0), poll=0.01)
    assert slow.get_state() == TaskState.RUNNING and slow.get_result() is None
    t0 = time.perf_counter()
    done = RayWaitingFuture(slow.ref, poll=30.0)
    assert done.get_state() == TaskState.SUCCESSFUL  # woke on the result, not after the 30 s poll
    assert time.perf_counter() - t0 < 15.0
    assert done.get_result() == 1.0
    failed = RayWaitingFuture(ray.remote(_boom).remote(), poll=5.0)
    assert failed.get_state() == TaskState.FAILED
    with pytest.raises(ValueError, match="boom"):
        failed.get_result()


@ray_test
def test_ray_driver_waits_without_burning_a_core(ray_cluster: object) -> None:
    """Hamilton's loop polls its futures; with Ray's plain futures the driver spun a core while the sleeves ran."""
    fanout_nodes._fan_out(2, 0.05, RaySleeveExecutor())  # warm the workers
    wall, cpu = time.perf_counter(), time.process_time()
    assert fanout_nodes._fan_out(4, 0.6, RaySleeveExecutor()) == pytest.approx(2.4)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert cpu < 0.3 * wall, f"the driver used {cpu:.2f} s of CPU in {wall:.2f} s of waiting"


@ray_test
def test_nested_fan_out_from_inside_ray_tasks_does_not_deadlock(ray_cluster: object) -> None:
    """Two parents hold both CPUs and each fans out two children: only a wait that lends the CPU lets them run."""
    import ray

    parent = ray.remote(fanout_nodes._fan_out)
    refs = [parent.remote(2, 0.2, RaySleeveExecutor()) for _ in range(2)]
    ready, _ = ray.wait(refs, num_returns=2, timeout=120)
    assert len(ready) == 2, "nested fan-out deadlocked: the parents kept their CPUs while waiting"
    assert ray.get(refs) == [pytest.approx(0.4)] * 2


@pytest.mark.parametrize("address", ["ray://127.0.0.1:1", "127.0.0.1:1", "no-port", "ray://host:notaport"])
def test_unreachable_ray_address_is_one_line_within_seconds(address: str) -> None:
    """Ray itself retries an unreachable head for 30 s (ray://) to 2 minutes (GCS address); we probe first."""
    import socket

    from dataflows.errors import ConfigError
    from dataflows.meta.executors import _connect_error, probe_address

    start = time.perf_counter()
    with pytest.raises(ConfigError, match=r"executor\.address=") as info:
        probe_address(address)
    assert time.perf_counter() - start < 10 and "\n" not in str(info.value)
    with socket.socket() as listener:  # something listens: the probe passes, Ray's own answer is then translated
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        probe_address(f"ray://127.0.0.1:{listener.getsockname()[1]}")
    err = _connect_error("ray://h:1", ConnectionError("Authentication failed: invalid token\nmore"))
    assert "RAY_AUTH_MODE" in str(err) and "\n" not in str(err)


WORKER_LOGS = """
import logging, os, sys
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
from dataflows.meta.executors import ray_executor
_, shutdown = ray_executor("local", num_cpus=1)
import ray, time

@ray.remote
def say() -> int:
    logging.getLogger("worker").warning("hello from a worker")
    return 1

ray.get([say.remote() for _ in range(3)])
time.sleep(1.5)  # the log monitor forwards worker lines asynchronously
shutdown()
"""


@pytest.mark.ray
def test_worker_logs_reach_a_pipe_without_ansi_codes(tmp_path) -> None:
    """Piped (not a terminal): the workers' lines carry no colour codes and are not collapsed into coloured notes."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")} | {"PYTHONPATH": str(repo)}
    done = subprocess.run(
        [sys.executable, "-c", WORKER_LOGS], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in (done.stdout + done.stderr).splitlines() if "hello from a worker" in line]
    assert len(lines) == 3, done.stderr[-2000:]
    assert "\x1b[" not in done.stdout + done.stderr


def test_workers_run_this_python_not_uv_run(monkeypatch) -> None:
    """Under `uv run`, Ray's uv hook would start workers with `uv run` in an uploaded copy of the current folder
    (a README test from a fresh folder hung there): the switch is off before Ray starts, and on a loaded Ray too."""
    import sys
    import types

    from dataflows.meta.executors import own_python_for_workers

    monkeypatch.delenv("RAY_ENABLE_UV_RUN_RUNTIME_ENV", raising=False)
    loaded = types.SimpleNamespace(RAY_ENABLE_UV_RUN_RUNTIME_ENV=True)
    monkeypatch.setitem(sys.modules, "ray._private.ray_constants", loaded)
    own_python_for_workers()
    assert os.environ["RAY_ENABLE_UV_RUN_RUNTIME_ENV"] == "0" and loaded.RAY_ENABLE_UV_RUN_RUNTIME_ENV is False

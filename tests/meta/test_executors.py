"""The sleeve executors: futures that wait instead of spinning, and a Ray driver that stays idle while tasks run."""

from __future__ import annotations

import concurrent.futures
import threading
import time

import pytest
from hamilton.execution.executors import TaskState

from dataflows.meta.executors import RaySleeveExecutor, WaitingFuture, local_executor
from tests.meta import fanout_nodes


def test_waiting_future_reports_running_then_the_outcome() -> None:
    running: concurrent.futures.Future = concurrent.futures.Future()
    assert WaitingFuture(running, poll=0.01).get_state() == TaskState.RUNNING
    assert WaitingFuture(running).get_result() is None
    running.set_result({"x": 1})
    assert WaitingFuture(running).get_state() == TaskState.SUCCESSFUL
    assert WaitingFuture(running).get_result() == {"x": 1}
    failed: concurrent.futures.Future = concurrent.futures.Future()
    failed.set_exception(ValueError("boom"))
    assert WaitingFuture(failed).get_state() == TaskState.FAILED


def test_waiting_future_wakes_on_completion_not_after_the_poll() -> None:
    fut: concurrent.futures.Future = concurrent.futures.Future()
    threading.Timer(0.05, fut.set_result, args=(1,)).start()
    t0 = time.perf_counter()
    state = WaitingFuture(fut, poll=30.0).get_state()
    assert state == TaskState.SUCCESSFUL
    assert time.perf_counter() - t0 < 10.0  # woke on the result, far before the 30 s poll


def test_ray_executor_refuses_to_run_without_ray() -> None:
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        pytest.skip("a Ray is running in this process")
    with pytest.raises(RuntimeError, match=r"ray\.init"):
        RaySleeveExecutor().init()


def test_local_executor_shutdown_is_a_no_op() -> None:
    executor, shutdown = local_executor()
    assert executor.can_submit_task()
    shutdown()


@pytest.mark.ray
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::FutureWarning:ray.*")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_ray_driver_waits_without_burning_a_core(ray_cluster: object) -> None:
    """Hamilton's loop polls its futures; with Ray's plain futures the driver spun a core while the sleeves ran."""
    from hamilton import driver
    from hamilton.execution.executors import SynchronousLocalTaskExecutor

    dr = (
        driver.Builder()
        .enable_dynamic_execution(allow_experimental_mode=True)
        .with_modules(fanout_nodes)
        .with_local_executor(SynchronousLocalTaskExecutor())
        .with_remote_executor(RaySleeveExecutor())
        .build()
    )
    dr.execute(["total"], inputs={"n": 2, "seconds": 0.05})  # warm the workers
    wall, cpu = time.perf_counter(), time.process_time()
    assert dr.execute(["total"], inputs={"n": 4, "seconds": 0.6})["total"] == pytest.approx(2.4)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert cpu < 0.3 * wall, f"the driver used {cpu:.2f} s of CPU in {wall:.2f} s of waiting"

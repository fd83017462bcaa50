"""Fixtures of the meta tests: a local Ray per module, started the way `executor=ray` starts it."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[object]:
    """One local Ray for this module (2 CPUs), shut down after it (the Ray benchmark starts its own); never `ray stop`."""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    import ray

    from dataflows.meta.executors import ray_executor

    _, shutdown = ray_executor("local", num_cpus=2)
    yield ray
    shutdown()

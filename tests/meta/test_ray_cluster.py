"""A meta run against a Ray head started from another folder: one lakehouse (the driver's), weights equal to local.

The test starts its own head (`ray start --head` on free ports, its own `--temp-dir`, from a folder that is not the
driver's) and stops it by killing only the processes whose command line names that temp dir — never `ray stop`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

REPO = Path(__file__).resolve().parents[2]
RAY = Path(sys.executable).with_name("ray")
ARGS = ("meta=crypto_long_short", "run.as_of=2026-06-30", "data.progress=false", "venue.n_crypto=60")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _kill_ours(marker: str) -> None:
    """SIGKILL every process whose command line contains `marker` (our head's temp dir), nothing else."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline:
            with contextlib.suppress(OSError):
                os.kill(int(pid), signal.SIGKILL)


def _run(cwd: Path, *args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dataflows", "run", *ARGS, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.ray
@pytest.mark.slow
def test_head_started_elsewhere_uses_the_drivers_lakehouse(tmp_path):
    if not RAY.exists():
        pytest.skip("ray CLI not installed beside this Python")
    head_dir, driver, local = tmp_path / "head", tmp_path / "driver", tmp_path / "local"
    for d in (head_dir, driver, local):
        d.mkdir()
    temp = Path("/tmp") / f"dfray{os.getpid()}"  # Ray's socket paths must stay short
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    port = _free_port()
    start = [
        str(RAY),
        "start",
        "--head",
        f"--port={port}",
        f"--temp-dir={temp}",
        "--num-cpus=2",
        "--include-dashboard=false",
    ]
    try:
        subprocess.run(start, cwd=head_dir, env=env, check=True, capture_output=True, timeout=120)
        ray_run = _run(driver, "executor=ray", f"executor.address=127.0.0.1:{port}", "data.root=./data", env=env)
        assert ray_run.returncode == 0, ray_run.stderr[-2000:]
    finally:
        _kill_ours(str(temp))
        time.sleep(1)
        shutil.rmtree(temp, ignore_errors=True)
    local_run = _run(local, "executor=local", "data.root=./data", env=env)
    assert local_run.returncode == 0, local_run.stderr[-2000:]
    assert (driver / "data" / "lakehouse").is_dir()
    assert not (head_dir / "data").exists()  # before: the workers built a second lakehouse in their own folder
    (ray_dir,) = (driver / "data" / "runs").iterdir()
    (local_dir,) = (local / "data" / "runs").iterdir()
    for name in ("flattened_weights.csv", "meta_weights.csv"):
        ray_w, local_w = pl.read_csv(ray_dir / name), pl.read_csv(local_dir / name)
        assert ray_w.drop([c for c in ray_w.columns if c == "method"]).equals(
            local_w.drop([c for c in local_w.columns if c == "method"])
        ), name

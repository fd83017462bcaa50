"""Who, where and with what a run runs: package versions, the git state and environment of the checkout, the
command line, and the process that owns a `running` manifest (pid, its start time, host) with its liveness check."""

from __future__ import annotations

import dataclasses
import functools
import importlib.metadata
import os
import platform
import shlex
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

PACKAGES = (
    "portfolio-dataflows",
    "apache-hamilton",
    "polars",
    "pyarrow",
    "numpy",
    "numba",
    "scipy",
    "cvxpy",
    "clarabel",
    "ccxt",
    "vectorbt",
    "ray",
    "hydra-core",
    "omegaconf",
)


@functools.cache
def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


@functools.cache
def git_state() -> dict[str, Any]:
    """Commit and dirtiness of the checkout the package runs from (None outside a git checkout); asked once per
    process (a meta run records it in every sleeve's manifest)."""
    repo = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = (
            subprocess.run(
                ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
                timeout=5,
                check=True,
            ).stdout.strip()
            != ""
        )
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": dirty}


@functools.cache
def environment() -> dict[str, Any]:
    """Platform, interpreter and the sha256 of `uv.lock` beside the package (None when installed from a wheel):
    with the git commit, what reproducing this run needs."""
    from dataflows.lakehouse.store import file_hash

    lock = Path(__file__).resolve().parents[2] / "uv.lock"
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "uv_lock_sha256": file_hash(lock) if lock.is_file() else None,
    }


def command_line() -> str:
    """The command as the user typed it (`__main__` turns argv[0] into `dataflows <verb>`)."""
    argv = list(sys.argv)
    if argv and argv[0].startswith("dataflows "):
        argv = ["python", "-m", "dataflows", *argv[0].split()[1:], *argv[1:]]
    return shlex.join(argv)


def process_start(pid: int) -> int | None:
    """Start time of `pid` in clock ticks since boot (Linux /proc), None where unknown. Tells a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def process_alive(pid: int, started: int | None) -> bool:
    """Whether `pid` is a live process on this host (not a zombie) that started at `started` (if recorded)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    except OSError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # without /proc, trust kill(0); with it, the process has just gone
        return not Path("/proc/self").exists()
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):
        return False
    return started is None or int(fields[19]) == started


def owner() -> dict[str, Any]:
    """pid, process start and host of this process (who a `running` manifest belongs to)."""
    pid = os.getpid()
    return {"pid": pid, "pid_start": process_start(pid), "host": socket.gethostname()}


def jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = dataclasses.asdict(obj)
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj

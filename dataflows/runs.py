"""Run folders and manifests: `data/runs/<RUN_ID>/`, where everything a run produces lives.

The manifest records the resolved config, package versions, git commit, content hashes of the lakehouse data read,
per-node timings and the outcome — enough to reproduce or audit the run.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import platform
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dataflows.config import Settings
from dataflows.errors import ConfigError
from dataflows.lakehouse import atomic
from dataflows.lakehouse.keys import contained, validate_run_id

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


@dataclass(frozen=True)
class RunContext:
    """Identity and folder of one run."""

    run_id: str
    run_dir: Path
    as_of: dt.datetime
    started_at: dt.datetime


def new_run(settings: Settings, *, kind: str = "run") -> RunContext:
    """Create the run folder (a run id names a new, empty folder: runs are never overwritten)."""
    as_of = settings.as_of
    run_id = settings.run.id or f"{as_of:%Y%m%dT%H%M%SZ}_{settings.profile.name}_{kind}_{secrets.token_hex(3)}"
    validate_run_id(run_id)
    runs = settings.data_root / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    run_dir = contained(runs, run_id)
    if run_dir.exists() and any(run_dir.iterdir()):
        msg = f"run.id={run_id!r} already exists at {run_dir}; runs are immutable, choose another id"
        raise ConfigError(msg)
    run_dir.mkdir(exist_ok=True)
    return RunContext(run_id, run_dir, as_of, dt.datetime.now(dt.UTC))


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_state() -> dict[str, Any]:
    """Commit and dirtiness of the checkout the package runs from (None outside a git checkout)."""
    repo = Path(__file__).resolve().parent.parent
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


def write_manifest(
    ctx: RunContext,
    *,
    config: dict,
    timings: dict[str, float],
    outcome: str,
    error: str | None,
    inputs: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> Path:
    """manifest.json in the run folder (written on success and on failure)."""
    finished = dt.datetime.now(dt.UTC)
    body = {
        "run_id": ctx.run_id,
        "as_of": ctx.as_of.isoformat(),
        "started_at": ctx.started_at.isoformat(),
        "finished_at": finished.isoformat(),
        "seconds": round((finished - ctx.started_at).total_seconds(), 3),
        "outcome": outcome,
        "error": error,
        "config": config,
        "packages": package_versions(),
        "git": git_state(),
        "inputs": inputs,
        "node_timings_s": timings,
        **(extra or {}),
    }
    path = ctx.run_dir / "manifest.json"
    atomic.write_json(path, body)
    return path


class Outcome:
    """How a run ended: `ok`, `failed` (a `DataflowsError`: bad input, health gate, ...) or `crashed` (a bug)."""

    def __init__(self) -> None:
        self.status, self.error = "ok", None

    def __enter__(self) -> Outcome:
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> bool:
        from dataflows.errors import DataflowsError

        if isinstance(exc, DataflowsError):
            self.status, self.error = "failed", str(exc)
        elif isinstance(exc, Exception):
            self.status, self.error = "crashed", f"{exc.__class__.__name__}: {exc}"
        return False  # never swallows: the caller's `finally` records the outcome, then the error propagates

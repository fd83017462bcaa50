"""Run folders and their manifests: `data/runs/<RUN_ID>/`, where everything a run produces lives.

Lifecycle of `manifest.json` (every write atomic: temp file, fsync, rename):

- `running`: written before the folder appears under its name (the folder is built as a hidden temp folder, the
  manifest written into it, then renamed into place), with the resolved config, command line, as_of, start time,
  and the pid, process start time and host of the process that owns the run.
- `ok` / `failed`: rewritten when the run ends, with the finish time, per-node timings, lakehouse hashes and, when
  failed, the one-line reason and the exit code (`dataflows.runs.RunRecord`, driven by the Hamilton lifecycle
  adapter `dataflows.driver.RunRecorder`).
- `interrupted` is never written: a reader reports a `running` manifest as `interrupted` when it was written on
  this host and its process is gone (no such pid, a zombie, or a pid reused by a process that started later).
  A `running` run of another host stays `running` (its liveness cannot be checked from here).

`run_state(folder)` is the one reader; `require_finished` is what pinning and comparing use: anything but `ok`
(running, interrupted, failed, no manifest, unreadable manifest) is refused with one line naming the run and state.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import importlib.metadata
import json
import os
import platform
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dataflows.config import Settings
from dataflows.errors import ConfigError, DataflowsError
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
RUNNING, OK, FAILED, INTERRUPTED = "running", "ok", "failed", "interrupted"
NO_MANIFEST, UNREADABLE = "no manifest", "unreadable manifest"
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class RunContext:
    """Identity and folder of one run."""

    run_id: str
    run_dir: Path
    as_of: dt.datetime
    started_at: dt.datetime


# --------------------------------------------------------------------------------------------- data root


def check_data_root(settings: Settings, *, create: bool = True) -> Path:
    """`data.root` exists (created if needed), is a folder and is writable; else one `ConfigError` naming it.
    `create=False` (readers such as `audit`) only refuses a root that is, or lies under, a file."""
    root = settings.data_root
    where = f"data.root={settings.data.root!r}"
    hint = "set data.root to a writable folder (it is created if missing)"
    blocker = next((p for p in (root, *root.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        what = "is a file" if blocker == root else f"is inside {blocker}, which is a file"
        msg = f"{where} {what}, not a folder; {hint}"
        raise ConfigError(msg)
    if not create:
        return root
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / f".write-probe-{os.getpid()}-{secrets.token_hex(3)}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        msg = f"{where} is not a writable folder ({exc.strerror or exc.__class__.__name__}: {root}); {hint}"
        raise ConfigError(msg) from None
    return root


# --------------------------------------------------------------------------------------------- identity


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


@functools.cache
def environment() -> dict[str, Any]:
    """Platform, interpreter and the sha256 of `uv.lock` beside the package (None when installed from a wheel):
    with the git commit, what reproducing this run needs."""
    from dataflows.lakehouse.store import file_hash

    lock = Path(__file__).resolve().parent.parent / "uv.lock"
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


# --------------------------------------------------------------------------------------------- the record


@dataclass
class RunRecord:
    """The manifest of one run, from `running` to `ok` / `failed` (each state written atomically)."""

    ctx: RunContext
    body: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return self.ctx.run_dir / MANIFEST

    @property
    def finished(self) -> bool:
        return self.body.get("outcome") in (OK, FAILED)

    def write(self) -> None:
        atomic.write_json(self.path, self.body)

    def finish(
        self,
        outcome: str,
        *,
        error: str | None = None,
        exit_code: int = 0,
        inputs: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Write the final manifest (`ok` or `failed`, with reason and exit code); only the first call counts."""
        if self.finished:
            return
        finished = dt.datetime.now(dt.UTC)
        self.body |= {
            "finished_at": finished.isoformat(),
            "seconds": round((finished - self.ctx.started_at).total_seconds(), 3),
            "outcome": outcome,
            "error": error,
            "exit_code": exit_code,
            "node_timings_s": dict(self.timings),
            **({"inputs": inputs} if inputs is not None else {}),
            **(extra or {}),
        }
        self.write()

    def fail(self, exc: BaseException) -> None:
        """Record `exc` as the run's failure (no-op once finished)."""
        error, code = failure(exc)
        self.finish(FAILED, error=error, exit_code=code)


def interrupt_of(exc: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C / SIGTERM (`app.Terminated`) behind `exc`, also when a library caught it and raised its own error
    in its place (found through `__cause__` / `__context__`), else None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def failure(exc: BaseException) -> tuple[str, int]:
    """(one-line reason, exit code) of an exception ending a run."""
    if isinstance(exc, DataflowsError):
        return str(exc), exc.exit_code
    interrupted = interrupt_of(exc)
    if interrupted is not None:  # Ctrl-C, or SIGTERM turned into one by the CLI (`app.Terminated`)
        return str(interrupted) or "interrupted (Ctrl-C)", int(getattr(interrupted, "exit_code", 130))
    if isinstance(exc, SystemExit):
        code = exc.code if isinstance(exc.code, int) else 1
        return f"stopped (SystemExit {exc.code})", code
    first = (str(exc).splitlines() or [""])[0]
    return f"{exc.__class__.__name__}: {first}", 1


def start_record(ctx: RunContext, config: Any, *, kind: str = "run") -> RunRecord:
    body = {
        "run_id": ctx.run_id,
        "kind": kind,
        "outcome": RUNNING,
        "error": None,
        "exit_code": None,
        "as_of": ctx.as_of.isoformat(),
        "started_at": ctx.started_at.isoformat(),
        "command": command_line(),
        **owner(),
        "config": jsonable(config),
        "packages": dict(package_versions()),
        "git": dict(git_state()),
        "environment": dict(environment()),
    }
    return RunRecord(ctx, body)


def new_run(settings: Settings, *, kind: str = "run", config: Any = None) -> RunContext:
    """`new_record` for callers that only need the folder."""
    return new_record(settings, kind=kind, config=config).ctx


def new_record(settings: Settings, *, kind: str = "run", config: Any = None) -> RunRecord:
    """Create the run folder holding a `running` manifest from its first moment (a run id names a new folder:
    runs are never overwritten). The folder is built hidden beside its target, then renamed into place."""
    as_of = settings.as_of
    run_id = settings.run.id or f"{as_of:%Y%m%dT%H%M%SZ}_{settings.profile.name}_{kind}_{secrets.token_hex(3)}"
    validate_run_id(run_id)
    check_data_root(settings)
    runs = settings.data_root / "runs"
    try:
        runs.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        msg = f"data.root={settings.data.root!r}: cannot create {runs} ({exc.strerror}); set data.root to a writable folder"
        raise ConfigError(msg) from None
    run_dir = contained(runs, run_id)
    exists = f"run.id={run_id!r} already exists at {run_dir}; runs are immutable, choose another id"
    if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
        raise ConfigError(exists)
    ctx = RunContext(run_id, run_dir, as_of, dt.datetime.now(dt.UTC))
    record = start_record(ctx, config if config is not None else settings, kind=kind)
    return place(record, exists)


def place(record: RunRecord, exists_msg: str) -> RunRecord:
    """Write the `running` manifest into a hidden temp folder, then rename it to the run folder (refused if a
    non-empty folder took the name meanwhile)."""
    final = record.ctx.run_dir
    tmp = final.with_name(f".{final.name}.new-{os.getpid()}-{secrets.token_hex(3)}")
    tmp.mkdir(parents=True)
    try:
        atomic.write_json(tmp / MANIFEST, record.body)
        try:
            os.rename(tmp, final)  # atomic; replaces only an empty folder
        except OSError as exc:
            raise ConfigError(exists_msg) from exc
        atomic._fsync_dir(final.parent)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return record


# --------------------------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class RunState:
    """What a run folder says about its run: `ok`, `failed`, `running`, `interrupted`, `no manifest` or
    `unreadable manifest`, with the reason and the manifest (empty when there is none)."""

    run_id: str
    folder: Path
    state: str
    reason: str | None
    manifest: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.state == OK

    def describe(self) -> str:
        why = f": {self.reason}" if self.reason else ""
        return f"run {self.run_id!r} is {self.state}{why}"


def run_state(folder: Path) -> RunState:
    """Read a run folder's manifest; a `running` manifest whose process died on this host is `interrupted`."""
    path = folder / MANIFEST
    if not path.is_file():
        return RunState(folder.name, folder, NO_MANIFEST, "the folder has no manifest.json", {})
    try:
        body = json.loads(path.read_text())
        if not isinstance(body, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        return RunState(folder.name, folder, UNREADABLE, f"{exc.__class__.__name__}: {exc}", {})
    outcome = body.get("outcome")
    if outcome == RUNNING:
        here = body.get("host") == socket.gethostname()
        pid = body.get("pid")
        if here and isinstance(pid, int) and not process_alive(pid, body.get("pid_start")):
            reason = f"its process {pid} on {body.get('host')} is gone without finishing (killed or crashed)"
            return RunState(folder.name, folder, INTERRUPTED, reason, body)
        where = "this host" if here else f"host {body.get('host')!r}"
        return RunState(folder.name, folder, RUNNING, f"process {pid} on {where} has not finished it", body)
    if outcome == FAILED or outcome == "crashed":
        return RunState(folder.name, folder, FAILED, body.get("error"), body)
    if outcome == OK:
        return RunState(folder.name, folder, OK, None, body)
    return RunState(folder.name, folder, UNREADABLE, f"unknown outcome {outcome!r}", body)


def require_finished(folder: Path, *, what: str) -> RunState:
    """The run's state if it finished `ok`; otherwise a `ConfigError` (exit 2) naming `what`, the id and state."""
    state = run_state(folder)
    if not state.ok:
        msg = f"{what}: {state.describe()}; only runs that finished ok can be pinned or compared"
        raise ConfigError(msg)
    return state


def list_runs(root: Path) -> list[RunState]:
    """Every run folder under `root/runs` (hidden temp and interrupted-attempt folders skipped), by name."""
    runs = root / "runs"
    if not runs.is_dir():
        return []
    return [run_state(p) for p in sorted(runs.iterdir()) if p.is_dir() and not p.name.startswith(".")]

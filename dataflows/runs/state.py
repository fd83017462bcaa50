"""Reading a run folder: its state (`ok`, `failed`, `running`, `interrupted`, `no manifest`, `unreadable manifest`)
and reason, the refusal of anything unfinished for pinning and comparing, and the listing of `data.root/runs`.

`interrupted` is never written: a `running` manifest reads as `interrupted` when it was written on this host and its
process is gone (no such pid, a zombie, or a pid reused by a process that started later). A `running` run of another
host stays `running` (its liveness cannot be checked from here).
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dataflows.errors import ConfigError
from dataflows.runs.identity import process_alive

RUNNING, OK, FAILED, INTERRUPTED = "running", "ok", "failed", "interrupted"
NO_MANIFEST, UNREADABLE = "no manifest", "unreadable manifest"
MANIFEST = "manifest.json"


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

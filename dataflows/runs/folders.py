"""Run folders under `data.root/runs/<RUN_ID>/`: the data root checked writable, and a new folder that holds a
`running` manifest from its first moment (built as a hidden temp folder, the manifest written into it, then renamed
into place; a run id names a new folder, runs are never overwritten)."""

from __future__ import annotations

import datetime as dt
import os
import secrets
import shutil
from pathlib import Path
from typing import Any

from dataflows.config import Settings
from dataflows.errors import ConfigError
from dataflows.lakehouse import atomic
from dataflows.lakehouse.keys import contained, validate_run_id
from dataflows.runs.record import RunContext, RunRecord, start_record
from dataflows.runs.state import MANIFEST


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

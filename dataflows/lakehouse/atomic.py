"""Crash-safe file writes: write a temp file beside the target, fsync it, rename over the target, fsync the folder.

A crash at any point leaves either the old file or the new one, never a torn file. Leftover temp files
(`.<name>.<pid>.<token>.tmp`) are harmless and removed by `sweep_temps`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson

TEMP_SUFFIX = ".tmp"


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temp path to write; on success it atomically replaces `target`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}{TEMP_SUFFIX}")
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_bytes(target: Path, data: bytes) -> None:
    """Atomically write `data` to `target`."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def json_bytes(obj: Any) -> bytes:
    """The project's one JSON encoding: indented, key-sorted, newline-terminated; NaN and infinities become null,
    numpy scalars and arrays plain numbers, dataclasses objects, anything else `str` (orjson)."""
    return orjson.dumps(obj, default=_json_default, option=_JSON_OPTIONS) + b"\n"


_JSON_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):  # numpy scalars orjson leaves to us (float16, bytes_, ...)
        return value.item()
    return str(value)


def write_json(target: Path, obj: Any) -> None:
    """Atomically write `obj` as JSON (`json_bytes`)."""
    write_bytes(target, json_bytes(obj))


def write_parquet(target: Path, frame: Any) -> None:
    """Atomically write a Polars frame as Parquet (zstd, statistics on)."""
    with atomic_path(target) as tmp:
        frame.write_parquet(tmp, compression="zstd", statistics=True)


def sweep_temps(folder: Path, older_than_s: float = 3600.0) -> int:
    """Remove temp files of writers that died (their pid is gone) or older than `older_than_s`; returns how many."""
    if not folder.exists():
        return 0
    cutoff, removed = time.time() - older_than_s, 0
    for tmp in folder.rglob(f".*{TEMP_SUFFIX}"):
        parts = tmp.name.split(".")
        pid = int(parts[-3]) if len(parts) >= 4 and parts[-3].isdigit() else None
        with contextlib.suppress(FileNotFoundError):
            if (pid is not None and pid != os.getpid() and not pid_alive(pid)) or tmp.stat().st_mtime < cutoff:
                tmp.unlink()
                removed += 1
    return removed


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

"""Numba kernels: NumPy in, NumPy out, no `dataflows` import (the bottom layer).

Numba's on-disk cache (`cache=True`) checks only the source file that defines a kernel, while a kernel compiled here
also inlines kernels of other files (the fused ratings pass calls the vote rules, the pre-passes and the indicator
kernels). So importing this package compares one digest of every kernel source with the digest the cache was built
from and, when they differ (an upgrade, an edit), drops the package's cache files before anything loads them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

__all__ = ["cache_folder", "sources_digest"]

_ROOT = Path(__file__).resolve().parent
_STAMP = "kernels-sources.sha256"


def sources_digest() -> str:
    """sha256 over every kernel source file (path and bytes)."""
    h = hashlib.sha256()
    for path in sorted(_ROOT.rglob("*.py")):
        h.update(path.relative_to(_ROOT).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def cache_folder() -> Path:
    """Where numba caches this package: `NUMBA_CACHE_DIR` mirrors the source tree; by default each folder's
    `__pycache__` (the stamp then lives in `kernels/__pycache__`)."""
    base = os.environ.get("NUMBA_CACHE_DIR")
    return Path(base) / _ROOT.relative_to(_ROOT.anchor) if base else _ROOT


def _cache_files(folder: Path) -> list[Path]:
    return [p for pattern in ("*.nbi", "*.nbc") for p in folder.rglob(pattern)]


def _refresh_cache() -> None:
    """Drop cached kernels built from other sources; a read-only checkout (or a race with another process) is left
    to numba, which recompiles what it cannot load."""
    folder = cache_folder()
    stamp = (folder / "__pycache__" if folder == _ROOT else folder) / _STAMP
    digest = sources_digest()
    with contextlib.suppress(OSError):
        if stamp.is_file() and stamp.read_text().strip() == digest:
            return
        for path in _cache_files(folder):
            path.unlink(missing_ok=True)
        stamp.parent.mkdir(parents=True, exist_ok=True)
        tmp = stamp.with_name(f".{stamp.name}.{os.getpid()}")
        tmp.write_text(digest + "\n")
        os.replace(tmp, stamp)


_refresh_cache()

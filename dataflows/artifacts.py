"""The run folder's files as Hamilton savers: every file a run writes is a `@save_to.<saver>(...)` node over one of
these adapters, so it shows in the DAG, and each writes atomically (`dataflows.lakehouse.atomic`).

A saver gets the run folder (`run_dir`, a driver input only savers take) and the file's path inside it (`file`); it
returns the file's record — relative path, bytes and sha256 — which the manifest lists. Usage in a node module:

    @save_to.run_json(run_dir=source("run_dir"), file=value("candidates.json"), output_name_="candidates_file")
    def candidates_document(...) -> dict: ...

Node modules import `save_to` from here: importing this module registers the adapters with Hamilton first, so
`save_to.run_json` and its siblings resolve.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
from pathlib import Path
from typing import Any

import polars as pl
from hamilton import registry
from hamilton.function_modifiers import save_to
from hamilton.io.data_adapters import DataSaver

from dataflows.lakehouse import atomic

__all__ = ["RunCsv", "RunFiles", "RunJson", "RunParquet", "RunText", "file_record", "register", "save_to"]


def file_record(run_dir: Path, path: Path, body: bytes) -> dict[str, Any]:
    """What a saver returns: the file's path relative to the run folder and where it is, its size and sha256."""
    rel = path.relative_to(run_dir).as_posix()
    return {"file": rel, "path": str(path), "bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()}


@dataclasses.dataclass
class _RunFile(DataSaver):
    """A file of the run folder: `run_dir / file`."""

    run_dir: Path
    file: str

    @property
    def path(self) -> Path:
        return Path(self.run_dir) / self.file

    def _write(self, body: bytes) -> dict[str, Any]:
        atomic.write_bytes(self.path, body)
        return file_record(Path(self.run_dir), self.path, body)


@dataclasses.dataclass
class RunJson(_RunFile):
    """A JSON document (`atomic.json_bytes`: sorted keys, NaN → null, numpy values as numbers)."""

    @classmethod
    def applicable_types(cls) -> list[type]:
        return [dict, list]

    @classmethod
    def name(cls) -> str:
        return "run_json"

    def save_data(self, data: Any) -> dict[str, Any]:
        return self._write(atomic.json_bytes(data))


@dataclasses.dataclass
class RunParquet(_RunFile):
    """A Polars frame as Parquet (zstd, statistics)."""

    @classmethod
    def applicable_types(cls) -> list[type]:
        return [pl.DataFrame]

    @classmethod
    def name(cls) -> str:
        return "run_parquet"

    def save_data(self, data: pl.DataFrame) -> dict[str, Any]:
        buffer = io.BytesIO()  # encoded once: the bytes written are the bytes hashed
        data.write_parquet(buffer, compression="zstd", statistics=True)
        return self._write(buffer.getvalue())


@dataclasses.dataclass
class RunCsv(_RunFile):
    """A Polars frame as CSV (Polars' own writer)."""

    @classmethod
    def applicable_types(cls) -> list[type]:
        return [pl.DataFrame]

    @classmethod
    def name(cls) -> str:
        return "run_csv"

    def save_data(self, data: pl.DataFrame) -> dict[str, Any]:
        return self._write(data.write_csv().encode())


@dataclasses.dataclass
class RunText(_RunFile):
    """A text file (UTF-8), e.g. an HTML page."""

    @classmethod
    def applicable_types(cls) -> list[type]:
        return [str]

    @classmethod
    def name(cls) -> str:
        return "run_text"

    def save_data(self, data: str) -> dict[str, Any]:
        return self._write(data.encode())


@dataclasses.dataclass
class RunFiles(_RunFile):
    """A folder of files (`file` is the folder): {relative name: bytes}; returns the record of each."""

    @classmethod
    def applicable_types(cls) -> list[type]:
        return [dict]

    @classmethod
    def name(cls) -> str:
        return "run_files"

    def save_data(self, data: dict[str, bytes]) -> dict[str, Any]:
        run_dir = Path(self.run_dir)
        records = []
        for rel, body in sorted(data.items()):
            target = self.path / rel
            atomic.write_bytes(target, body)
            records.append(file_record(run_dir, target, body))
        return {"file": self.file, "files": records}


_SAVERS = (RunJson, RunParquet, RunCsv, RunText, RunFiles)


def register() -> None:
    """Add the run-folder savers to Hamilton's registry (idempotent)."""
    for cls in _SAVERS:
        if cls not in registry.SAVER_REGISTRY.get(cls.name(), []):
            registry.register_adapter(cls)


register()

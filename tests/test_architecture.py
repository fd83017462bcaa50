"""The codebase's shape, checked: imports only go down (the import-linter contract in pyproject.toml), node modules
write no file themselves (every file of a run is a saver), and modules stay small enough to read."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_imports_only_go_down() -> None:
    """kernels ← library ← dataflows.nodes ← driver ← orchestration ← app, inside functions too (import-linter)."""
    import subprocess
    import sys

    # its own process: import-linter configures logging (dictConfig), which would disable this process's loggers
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(lint), "--config", str(ROOT / "pyproject.toml")], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            out |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
    return out


@pytest.mark.parametrize(
    "module", sorted([*(ROOT / "dataflows" / "nodes").glob("*.py"), ROOT / "dataflows" / "meta" / "dag.py"])
)
def test_node_modules_write_no_file_themselves(module: Path) -> None:
    """A node returns its artifact; the run folder's files are written by savers (`dataflows.artifacts`)."""
    writers = {"dataflows.lakehouse.atomic", "dataflows.lakehouse.atomic.write_json"}
    assert not _imports(module) & writers
    text = module.read_text()
    assert ".write_text(" not in text and ".write_bytes(" not in text and "write_parquet(" not in text


def test_modules_stay_small_enough_to_read() -> None:
    """Each concern in a module of at most 300 lines (package `__init__`s and small shared pieces may be shorter)."""
    sizes = {p.relative_to(ROOT).as_posix(): len(p.read_text().splitlines()) for p in _modules()}
    assert {m: n for m, n in sizes.items() if n > 300} == {}


def _modules() -> list[Path]:
    return sorted([*(ROOT / "dataflows").rglob("*.py"), *(ROOT / "kernels").rglob("*.py")])

"""The multirun comparison table: `python -m dataflows run -m profile=a,b` writes comparison.csv/.md to the sweep."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from dataflows.config import FlowConfig
from dataflows.meta.sweep import comparison_row, metrics

REPO = Path(__file__).resolve().parents[2]
FAST = ["flow.skip_validation=true"] if "skip_validation" in FlowConfig.__dataclass_fields__ else []


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = os.environ | {"HAMILTON_AUTOLOAD_EXTENSIONS": "0", "HAMILTON_TELEMETRY_ENABLED": "false"}
    return subprocess.run(
        [sys.executable, "-m", "dataflows", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=280
    )


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    root = tmp_path_factory.mktemp("sweep") / "data"
    proc = _cli(
        "run",
        "-m",
        "profile=crypto_long,crypto_short",
        "run.as_of=2026-06-30",
        f"data.root={root}",
        "data.progress=false",
        *FAST,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return root, proc


def test_multirun_writes_the_comparison_table(sweep: tuple[Path, subprocess.CompletedProcess]) -> None:
    root, proc = sweep
    sweeps = list((root / "sweeps").iterdir())
    assert len(sweeps) == 1
    folder = sweeps[0]
    table = pl.read_csv(folder / "comparison.csv")
    assert table["profile"].to_list() == ["crypto_long", "crypto_short"]
    assert table["job"].to_list() == [0, 1] and set(table["status"]) == {"COMPLETED"}
    assert (table["assets"] > 0).all() and table["sharpe"].is_not_null().all()
    printed = [line for line in proc.stdout.splitlines() if "/runs/" in line]
    assert sorted(table["run_dir"].to_list()) == sorted(printed)  # each row is the run its job printed
    for row in table.iter_rows(named=True):
        pointer = json.loads((folder / str(row["job"]) / "run.json").read_text())
        assert pointer["run_dir"] == row["run_dir"] and f"profile={row['profile']}" in pointer["overrides"]
        weights = pl.read_parquet(Path(row["run_dir"]) / "weights.parquet")
        assert weights["symbol"][0] in row["top_weights"]
    md = (folder / "comparison.md").read_text()
    assert "| crypto_long |" in md and "| crypto_short |" in md


def test_single_run_writes_no_sweep_files(sweep: tuple[Path, subprocess.CompletedProcess], tmp_path: Path) -> None:
    root, _ = sweep
    proc = _cli("run", "run.as_of=2026-06-30", f"data.root={root}", "data.progress=false", *FAST, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not (tmp_path / "run.json").exists() and len(list((root / "sweeps").iterdir())) == 1


def test_a_failing_job_neither_stops_the_sweep_nor_loses_the_table(tmp_path: Path) -> None:
    root = tmp_path / "data"
    args = ["run", "-m", "optimizer=no_such_method,hrp", "profile=crypto_short", "run.as_of=2026-06-30"]
    proc = _cli(*args, f"data.root={root}", "data.progress=false", *FAST, cwd=REPO)
    assert proc.returncode == 2, proc.stderr[-2000:]  # the worst job's code, after every job ran
    assert "1 of 2 sweep job(s) failed" in proc.stderr
    (folder,) = list((root / "sweeps").iterdir())
    table = pl.read_csv(folder / "comparison.csv").sort("job")
    assert table["job"].to_list() == [0, 1]
    failed, ok = table.row(0, named=True), table.row(1, named=True)
    assert failed["status"].startswith("FAILED (exit 2): ") and "no_such_method" in failed["status"]
    assert failed["run_dir"] is None and failed["assets"] is None
    assert ok["status"] == "COMPLETED" and ok["optimizer"].startswith("hrp") and ok["assets"] > 0
    assert "FAILED (exit 2)" in (folder / "comparison.md").read_text()


def test_comparison_row_of_a_meta_run(tmp_path: Path) -> None:
    folder = tmp_path / "runs" / "m1"
    folder.mkdir(parents=True)
    manifest = {
        "run_id": "m1",
        "outcome": "ok",
        "meta": {"name": "crypto_long_short", "method": "risk_parity"},
        "sleeves": [{"stream": "out_of_sample", "status": "ok"}, {"stream": "in_sample", "status": "ok"}],
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "meta_weights.csv").write_text("sleeve,weight,method\na,0.5,risk_parity\nb,0.5,risk_parity\n")
    pl.DataFrame({"symbol": ["X", "Y"], "gross": [0.7, 0.3], "net": [0.7, -0.3]}).write_csv(
        folder / "flattened_weights.csv"
    )
    days = np.arange(20, dtype=np.int64) * 86_400_000
    pl.DataFrame({"date": days, "returns": np.full(20, 0.001)}).write_parquet(folder / "meta_stream.parquet")
    row = comparison_row({"job": 3, "overrides": ["meta=x"], "status": "COMPLETED", "run_dir": str(folder)})
    assert row["kind"] == "meta" and row["profile"] == "crypto_long_short" and row["optimizer"] == "risk_parity"
    assert row["stream"] == "in_sample" and row["assets"] == 2 and row["top_weights"] == "X +70.0%, Y -30.0%"
    assert row["days"] == 20 and row["annual_return"] == pytest.approx(1.001**365 - 1)


def test_metrics_annualize_by_calendar() -> None:
    weekdays = np.array([d for d in range(28) if (d + 3) % 7 < 5], dtype=np.int64) * 86_400_000
    r = np.full(len(weekdays), 0.001)
    assert metrics(weekdays, r)["annual_return"] == pytest.approx(1.001**252 - 1)

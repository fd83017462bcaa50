"""The CLI as a user runs it: `python -m dataflows run|audit|viz` in a subprocess, exit codes and one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "dataflows", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_run_then_audit(tmp_path):
    root = tmp_path / "data"
    done = cli("run", "run.as_of=2026-06-30", f"data.root={root}", "run.id=first", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    run_dir = Path(done.stdout.strip().splitlines()[-1])
    assert run_dir == root.resolve() / "runs" / "first"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["outcome"] == "ok" and manifest["run_id"] == "first" and manifest["exit_code"] == 0
    assert manifest["config"]["run"]["as_of"] == "2026-06-30"
    assert manifest["packages"]["polars"] and manifest["node_timings_s"]["repair_report"] > 0
    import hashlib

    env = manifest["environment"]  # what reproducing the run needs, beside the git commit and the command line
    assert env["uv_lock_sha256"] == hashlib.sha256((REPO / "uv.lock").read_bytes()).hexdigest()
    assert env["platform"] and env["python"].startswith("3.")
    assert manifest["command"].endswith(f"run run.as_of=2026-06-30 data.root={root} run.id=first")
    assert all(len(h) == 64 for h in manifest["inputs"]["ohlcv_sha256"].values())
    assert {p.name for p in run_dir.iterdir()} >= {
        "manifest.json",
        "candidates.json",
        "audit.json",
        "selection.json",
        "analysis.json",
        "weights.parquet",
        "weights.csv",
        "report.html",
        "backtest",
    }
    metrics = json.loads((run_dir / "backtest" / "metrics.json").read_text())
    # the closing summary (stderr) says what the files say; stdout is only the folder
    assert done.stdout.strip() == str(run_dir)
    profile, pool = metrics["books"]["profile"], metrics["books"]["raw_ew"]
    assert f"return {100 * profile['total_return']:+.1f}% · Sharpe {profile['sharpe']:.2f}" in done.stderr
    assert f"equal-weight pool  return {100 * pool['total_return']:+.1f}%" in done.stderr
    assert f"report: {run_dir / 'report.html'}" in done.stderr
    assert manifest["sleeve"]["covariance"] == "sample" and manifest["sleeve"]["dust"]["min_weight"] == 1e-4
    top = manifest["sleeve"]["top_weights"][0]
    assert f"{top['symbol']} {100 * top['net_weight']:+.1f}%" in done.stderr
    assert "stage: walk-forward" in done.stderr  # not a terminal: one line per stage
    assert "WARNING" not in done.stderr  # the embedded venue's planted defects are excluded quietly (INFO)
    assert not list(tmp_path.glob("*.log")) and not (tmp_path / "outputs").exists()

    audit = cli("audit", "run.as_of=2026-06-30", f"data.root={root}", cwd=tmp_path)
    assert audit.returncode == 0, audit.stderr
    assert "FRESH" in audit.stdout and "TOXIC" in audit.stdout and "PUMP/USDT" in audit.stdout

    again = cli("run", "run.as_of=2026-06-30", f"data.root={root}", "run.id=first", cwd=tmp_path)
    assert again.returncode != 0 and "already exists" in again.stderr


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("run", "run.id=../../etc"), "run.id"),
        (("run", "data.colour=red"), "colour"),
        (("run", "data.history_days=many"), "history_days"),
        (("frobnicate",), "unknown verb"),
    ],
)
def test_errors_are_one_line_and_non_zero(tmp_path, args, fragment):
    done = cli(*args, f"data.root={tmp_path / 'data'}", cwd=tmp_path)
    assert done.returncode != 0
    assert fragment in done.stderr
    assert "Traceback" not in done.stderr


def test_health_gate_failure_exits_non_zero_naming_symbol(tmp_path):
    done = cli(
        "run",
        "run.as_of=2026-06-30",
        f"data.root={tmp_path / 'data'}",
        "scanner=crypto_liquid_long",
        "+scanner.universe.include=[PURGED/USDT]",
        "+scanner.filters.liquid=null",
        cwd=tmp_path,
    )
    assert done.returncode == 3
    assert "PURGED/USDT: UNREPAIRABLE" in done.stderr and "Traceback" not in done.stderr
    manifest = json.loads(next((tmp_path / "data" / "runs").glob("*/manifest.json")).read_text())
    assert manifest["outcome"] == "failed" and "PURGED/USDT" in manifest["error"] and manifest["exit_code"] == 3
    assert manifest["failed_node"] and manifest["pid"] and manifest["finished_at"]


def test_help_lists_verbs(tmp_path):
    done = cli("--help", cwd=tmp_path)
    assert done.returncode == 0 and all(verb in done.stdout for verb in ("run", "audit", "viz", "runs"))


def test_viz_writes_a_picture_or_says_how(tmp_path):
    out = tmp_path / "dag.svg"
    done = cli("viz", f"viz.output={out}", cwd=tmp_path)
    if shutil.which("dot") is None:
        assert done.returncode != 0 and "apt-get install graphviz" in done.stderr
    else:
        assert done.returncode == 0, done.stderr
        text = out.read_text()
        assert out.stat().st_size > 1000 and "<svg" in text
        for node in ("candidates", "repair_report", "healthy_symbols", "venue"):
            assert node in text

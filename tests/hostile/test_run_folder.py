"""Run folders under SIGKILL and SIGTERM: a run killed in its sleeve phase never looks finished.

`python -m dataflows run` (synthetic venue, the 4-symbol `crypto_short` profile, no plots) is killed with SIGKILL
as soon as a sleeve-phase file appears (selection.json, weights.csv, backtest/returns.parquet), optionally after a
random delay. Every killed folder must hold a `running` manifest from its first moment (polled while the run
starts), read as `interrupted` by the listing and pinning code, be refused as a pinned sleeve (one line, exit 2)
and never be compared as ok. A few kills run by default; `-m slow` runs a larger campaign.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dataflows.errors import ConfigError
from dataflows.runs import INTERRUPTED, OK, RUNNING, list_runs, run_state
from tests.conftest import AS_OF, make_settings
from tests.hostile.test_cli_inputs import cli

REPO = Path(__file__).resolve().parents[2]
FAST = ("profile=crypto_short", "flow.skip_analysis=true", "data.progress=false", "data.retry_wait_s=0.01")
SLEEVE_FILES = ("selection.json", "weights.csv", "backtest/returns.parquet")


def _start(root: Path, run_id: str, *extra: str) -> subprocess.Popen:
    env = os.environ | {"PYTHONPATH": str(REPO), "HAMILTON_TELEMETRY_ENABLED": "false"}
    args = [sys.executable, "-m", "dataflows", "run", f"run.as_of={AS_OF}", f"data.root={root}", f"run.id={run_id}"]
    return subprocess.Popen(
        [*args, *FAST, *extra], cwd=root.parent, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def _run_until(
    proc: subprocess.Popen, folder: Path, wait_for: str, delay: float, sig: int, stderr: list[str] | None = None
) -> str:
    """Poll every 5 ms until `folder/wait_for` exists, wait `delay`, send `sig`. Whenever the folder is seen, its
    manifest must be there. Returns 'killed' or 'finished' (the run ended before the signal); the process's stderr
    is appended to `stderr` when given (to explain an unexpected exit)."""
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if folder.exists():
                assert (folder / "manifest.json").is_file(), f"{folder} exists without manifest.json"
            if (folder / wait_for).exists():
                time.sleep(delay)
                if proc.poll() is not None:
                    return "finished"
                proc.send_signal(sig)
                proc.wait(timeout=60)
                return "killed"
            if proc.poll() is not None:
                return "finished"
            time.sleep(0.005)
        pytest.fail(f"{wait_for} never appeared in {folder}")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=60)
        if proc.stderr is not None:
            if stderr is not None:
                stderr.append(proc.stderr.read())
            proc.stderr.close()
    return "finished"


@pytest.fixture(scope="module")
def warm_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root whose lakehouse holds the short profile's bars, and one finished run (`ok_run`)."""
    root = tmp_path_factory.mktemp("killed") / "data"
    proc = _start(root, "ok_run")
    assert proc.wait(timeout=300) == 0, proc.stderr.read() if proc.stderr else ""
    if proc.stderr is not None:
        proc.stderr.close()
    return root


def _assert_unfinished_and_refused(root: Path, run_id: str, pid: int) -> None:
    from dataflows.meta.config import parse_meta
    from dataflows.meta.sweep import comparison_row

    folder = root / "runs" / run_id
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["outcome"] == RUNNING and manifest["pid"] == pid and manifest["host"] == socket.gethostname()
    assert manifest["run_id"] == run_id and manifest["as_of"] and manifest["started_at"] and manifest["config"]
    assert run_state(folder).state == INTERRUPTED
    assert {s.run_id: s.state for s in list_runs(root)}[run_id] == INTERRUPTED
    raw = {"sleeves": {"long": "crypto_long", "short": {"profile": "crypto_short", "run_id": run_id}}}
    with pytest.raises(ConfigError, match=rf"'{run_id}' is interrupted"):
        parse_meta(raw, data_root=root)
    row = comparison_row({"job": 0, "overrides": [], "status": "COMPLETED", "run_dir": str(folder)})
    assert row["status"].startswith("NOT OK (run interrupted") and row["sharpe"] is None


def _campaign(root: Path, points: list[tuple[str, float]], tag: str) -> dict[str, int]:
    counts = {"killed": 0, "finished": 0}
    for i, (wait_for, delay) in enumerate(points):
        run_id = f"{tag}{i}"
        proc = _start(root, run_id)
        outcome = _run_until(proc, root / "runs" / run_id, wait_for, delay, signal.SIGKILL)
        folder = root / "runs" / run_id
        if outcome == "killed" and run_state(folder).state == OK:
            outcome = "finished"  # killed while exiting, after its manifest said ok: a finished run
        counts[outcome] += 1
        if outcome == "killed":
            assert proc.returncode == -signal.SIGKILL
            _assert_unfinished_and_refused(root, run_id, proc.pid)
        else:  # finished before the kill: ok, and only after every file was written
            assert run_state(folder).state == OK
            for name in ("weights.csv", "selection.json", "report.html", "backtest/metrics.json"):
                assert (folder / name).is_file(), name
    return counts


def test_sigkill_in_the_sleeve_phase_never_looks_finished(warm_root: Path) -> None:
    counts = _campaign(warm_root, [(f, 0.0) for f in SLEEVE_FILES], "kill")
    print(f"SIGKILL default: {counts}")
    assert counts["killed"] >= 2, counts
    # the CLI refuses to pin one of them: one line naming the run and its state, exit 2
    pin = "meta.sleeves.short={profile: crypto_short, run_id: kill0}"
    assert run_state(warm_root / "runs" / "kill0").state == INTERRUPTED  # killed at selection.json: mid-sleeve
    code, _, err = cli("run", "meta=crypto_long_short", pin, f"data.root={warm_root}", f"run.as_of={AS_OF}")
    assert code == 2 and "Traceback" not in err
    (line,) = [x for x in err.splitlines() if x.startswith("error: ")]
    assert "meta.sleeves.short.run_id: run 'kill0' is interrupted" in line
    assert run_state(warm_root / "runs" / "ok_run").state == OK  # the control: a finished run stays pinnable
    code, out, err = cli("runs", f"data.root={warm_root}")  # the listing says so too
    assert code == 0 and "Traceback" not in err
    states = {line.split()[0]: line.split()[1] for line in out.splitlines()[1:-1]}
    killed = [run_id for run_id, state in states.items() if run_id.startswith("kill") and state != OK]
    assert states["ok_run"] == OK and len(killed) == counts["killed"]
    assert all(states[run_id] == INTERRUPTED for run_id in killed)


@pytest.mark.slow
def test_sigkill_campaign(warm_root: Path) -> None:
    rng = random.Random(11)
    points = [(rng.choice(SLEEVE_FILES), rng.uniform(0.0, 0.3)) for _ in range(40)]
    counts = _campaign(warm_root, points, "campaign")  # a late kill may land after the run finished: then it is ok
    print(f"SIGKILL campaign: {counts} ({len(points)} runs)")
    assert counts["killed"] >= len(points) // 2, counts


@pytest.mark.slow  # timing-dependent in a fresh clone (cold numba cache): see the closing note
def test_sigterm_ends_the_run_as_failed(warm_root: Path) -> None:
    proc = _start(warm_root, "termed")
    stderr: list[str] = []
    assert _run_until(proc, warm_root / "runs" / "termed", "selection.json", 0.0, signal.SIGTERM, stderr) == "killed"
    assert proc.returncode == 143, stderr[0][-3000:]
    manifest = json.loads((warm_root / "runs" / "termed" / "manifest.json").read_text())
    assert manifest["outcome"] == "failed" and manifest["exit_code"] == 143
    assert manifest["error"] == "terminated by SIGTERM" and manifest["finished_at"]


META = ("meta=crypto_long_short", "meta.sleeves.long=crypto_short", "flow.skip_validation=true")


def test_sigkill_in_a_meta_sleeve_leaves_every_folder_interrupted(warm_root: Path) -> None:
    proc = _start(warm_root, "meta_killed", *META)
    folder = warm_root / "runs" / "meta_killed"
    # the driver writes a sleeve's audit.json while it prepares the sleeves, well before their decisions come back
    assert _run_until(proc, folder, "sleeves/long/audit.json", 0.0, signal.SIGKILL) == "killed"
    assert run_state(folder).state == INTERRUPTED
    assert run_state(folder / "sleeves" / "long").state == INTERRUPTED


@pytest.mark.slow  # timing-dependent in a fresh clone (cold numba cache): see the closing note
def test_sigterm_in_a_meta_sleeve_ends_it_as_failed(warm_root: Path) -> None:
    proc = _start(warm_root, "meta_termed", *META)
    folder = warm_root / "runs" / "meta_termed"
    assert _run_until(proc, folder, "sleeves/long/audit.json", 0.0, signal.SIGTERM) == "killed"
    assert proc.returncode == 143
    for where in (folder, folder / "sleeves" / "long"):
        body = json.loads((where / "manifest.json").read_text())
        assert (body["outcome"], body["exit_code"], body["error"]) == ("failed", 143, "terminated by SIGTERM"), where


def test_manifest_lifecycle_fields(warm_root: Path) -> None:
    body = json.loads((warm_root / "runs" / "ok_run" / "manifest.json").read_text())
    assert body["outcome"] == "ok" and body["exit_code"] == 0 and body["error"] is None
    assert body["command"].startswith("python -m dataflows run ") and "run.id=ok_run" in body["command"]
    assert body["pid"] > 0 and body["host"] == socket.gethostname() and body["started_at"] < body["finished_at"]
    assert body["node_timings_s"]["selection_result"] > 0 and body["sleeve"]["optimizer"]


def _write(folder: Path, body: dict | None) -> Path:
    folder.mkdir(parents=True)
    if body is not None:
        (folder / "manifest.json").write_text(json.dumps(body))
    return folder


def test_run_state_rules(tmp_path: Path) -> None:
    from dataflows.runs import process_start

    host, me = socket.gethostname(), os.getpid()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    cases = {
        "alive": ({"outcome": "running", "pid": me, "pid_start": process_start(me), "host": host}, "running"),
        "dead": ({"outcome": "running", "pid": dead.pid, "host": host}, "interrupted"),
        "reused": ({"outcome": "running", "pid": me, "pid_start": 1, "host": host}, "interrupted"),
        "remote": ({"outcome": "running", "pid": dead.pid, "host": "elsewhere.invalid"}, "running"),
        "done": ({"outcome": "ok"}, "ok"),
        "failed": ({"outcome": "failed", "error": "x"}, "failed"),
        "legacy_crash": ({"outcome": "crashed", "error": "x"}, "failed"),
        "bare": (None, "no manifest"),
        "odd": ({"outcome": "maybe"}, "unreadable manifest"),
    }
    for name, (body, state) in cases.items():
        assert run_state(_write(tmp_path / "runs" / name, body)).state == state, name
    (tmp_path / "runs" / ".hidden.new-1").mkdir()
    assert sorted(s.run_id for s in list_runs(tmp_path)) == sorted(cases)


def test_a_failure_before_the_graph_is_recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Anything that stops a run after its folder exists (here: building the driver) ends the manifest as failed."""
    from dataflows import driver
    from dataflows.app import run

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("no driver today")

    monkeypatch.setattr(driver, "build_driver", broken)
    settings = make_settings(tmp_path / "data", "run.id=early")
    with pytest.raises(RuntimeError):
        run(settings, {"test": True})
    body = json.loads((tmp_path / "data" / "runs" / "early" / "manifest.json").read_text())
    assert body["outcome"] == "failed" and body["error"] == "RuntimeError: no driver today" and body["exit_code"] == 1


def test_a_sigterm_wrapped_by_a_library_is_still_a_termination() -> None:
    """A library that catches the SIGTERM (`app.Terminated`) and raises its own error must not turn exit 143 into 1."""
    from dataflows.app import Terminated
    from dataflows.runs import failure

    def library_call() -> None:
        try:
            raise Terminated("terminated by SIGTERM")
        except BaseException as inner:
            raise RuntimeError("compilation failed") from inner

    with pytest.raises(RuntimeError) as wrapped:
        library_call()
    assert failure(wrapped.value) == ("terminated by SIGTERM", 143)
    assert failure(RuntimeError("plain")) == ("RuntimeError: plain", 1)

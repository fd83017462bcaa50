"""Hostile config and CLI inputs: every case exits non-zero with the documented code, names the input it refuses,
and prints no traceback. In-process through `dataflows.__main__.main` (Hydra composes exactly as on the command
line) to stay fast; a few cases run as real subprocesses, where logging goes to the process's own stderr.

Exit codes: 1 = Hydra refused a key, type or group option while composing; 2 = bad input or config value (ours).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hostile._dispatch import cli

REPO = Path(__file__).resolve().parents[2]
AS_OF = "run.as_of=2026-06-30"
PIN = "meta.sleeves.short={{profile: crypto_short, run_id: {}}}"


def cli_subprocess(*args: str, cwd: Path) -> tuple[int, str, str]:
    env = os.environ | {"PYTHONPATH": str(REPO), "HAMILTON_TELEMETRY_ENABLED": "false"}
    done = subprocess.run(
        [sys.executable, "-m", "dataflows", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    return done.returncode, done.stdout, done.stderr


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _fake_run(root: Path, run_id: str, manifest: dict | str | None, profile: str = "crypto_short") -> None:
    """A run folder as a killed, running, failed or foreign run leaves it (weights present: only state decides)."""
    folder = root / "runs" / run_id
    folder.mkdir(parents=True)
    (folder / "weights.parquet").write_bytes(b"")
    (folder / "weights.csv").write_text("symbol,weight\n")
    if isinstance(manifest, str):
        (folder / "manifest.json").write_text(manifest)
    elif manifest is not None:
        body = {"run_id": run_id, "config": {"profile": {"name": profile}}} | manifest
        (folder / "manifest.json").write_text(json.dumps(body))


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("hostile")
    root = base / "data"
    host = socket.gethostname()
    _fake_run(root, "killed", {"outcome": "running", "pid": _dead_pid(), "pid_start": None, "host": host})
    _fake_run(root, "reused_pid", {"outcome": "running", "pid": os.getpid(), "pid_start": -1, "host": host})
    _fake_run(root, "elsewhere", {"outcome": "running", "pid": 1, "host": "another-host.invalid"})
    _fake_run(root, "broke", {"outcome": "failed", "error": "health gate failed", "exit_code": 3})
    _fake_run(root, "bare", None)
    _fake_run(root, "torn", "{")
    _fake_run(root, "longrun", {"outcome": "ok"}, profile="crypto_long")
    (root / "runs" / "taken").mkdir(parents=True)
    (root / "runs" / "taken" / "candidates.json").write_text("{}")
    afile = base / "afile"
    afile.write_text("not a folder\n")
    return {"root": root, "afile": afile, "base": base}


def _pin(run_id: str) -> tuple[str, ...]:
    return ("meta=crypto_long_short", PIN.format(run_id))


# (id, args (`{root}`, `{afile}`, `{base}` substituted), exit code, fragment that names the input)
CASES = [
    ("unknown-verb", ("frobnicate",), 2, "frobnicate"),
    ("unknown-profile", ("run", "profile=nope"), 1, "profile/nope"),
    ("unknown-venue", ("run", "venue=nope"), 1, "venue/nope"),
    ("unknown-executor", ("run", "executor=nope"), 1, "executor/nope"),
    ("unknown-scanner", ("run", "scanner=nope"), 2, "scanner=nope"),
    ("unknown-meta", ("run", "meta=nope"), 2, "meta=nope"),
    ("unknown-scanner-audit", ("audit", "scanner=../profile/crypto_long"), 2, "scanner="),
    ("unknown-meta-viz", ("viz", "meta=nope", "viz.output={base}/m.svg"), 2, "meta=nope"),
    ("unknown-key", ("run", "data.colour=red"), 1, "data.colour"),
    ("appended-unknown-key", ("run", "+data.colour=red"), 2, "data.colour"),
    ("appended-nested-key", ("run", "+profile.validation.foo=1"), 2, "profile.validation.foo"),
    ("unknown-hydra-key", ("run", "hydra.foo=1"), 1, "hydra.foo"),
    ("bad-int", ("run", "data.history_days=many"), 1, "history_days"),
    ("bad-int-seed", ("audit", "venue.seed=xyz"), 1, "venue.seed"),
    ("zero-window", ("run", "data.history_days=0"), 2, "data.history_days"),
    ("negative-train-days", ("run", "profile.train_days=-1"), 2, "profile.train_days"),
    ("zero-validation-train", ("run", "profile.validation.train=0"), 2, "profile.validation.train"),
    ("negative-validation-test", ("run", "profile.validation.test=-1"), 2, "profile.validation.test"),
    ("cap-above-one", ("run", "profile.weight_cap=1.5"), 2, "profile.weight_cap"),
    ("negative-cap", ("run", "profile.weight_cap=-0.1"), 2, "profile.weight_cap"),
    ("zero-min-winners", ("run", "profile.min_winners=0"), 2, "profile.min_winners"),
    ("negative-fees", ("run", "profile.validation.fees=-1"), 2, "profile.validation.fees"),
    ("zero-concurrency", ("run", "data.concurrency=0"), 2, "data.concurrency"),
    ("negative-retry-wait", ("run", "data.retry_wait_s=-1"), 2, "data.retry_wait_s"),
    ("negative-lease", ("run", "data.lease_s=-1"), 2, "data.lease_s"),
    ("negative-lease-wait", ("run", "data.lease_wait_s=-1"), 2, "data.lease_wait_s"),
    ("negative-gap", ("run", "data.max_gap_bars=-1"), 2, "data.max_gap_bars"),
    ("error-rate-one", ("run", "venue.error_rate=2"), 2, "venue.error_rate"),
    ("bad-timeframe", ("run", "data.timeframe=7x"), 2, "7x"),
    ("bad-optimizer", ("run", "optimizer=nope"), 2, "optimizer"),
    ("bad-linkage", ("run", "profile.linkage=nope"), 2, "profile.linkage"),
    ("bad-as-of", ("run", "run.as_of=notadate"), 2, "run.as_of"),
    ("as-of-month-13", ("run", "run.as_of=2026-13-45"), 2, "run.as_of"),
    ("as-of-hour-25", ("run", "run.as_of=2026-06-30T25:00"), 2, "run.as_of"),
    ("run-id-traversal", ("run", "run.id=../../etc"), 2, "run.id"),
    ("run-id-slash", ("run", "run.id=a/b"), 2, "run.id"),
    ("run-id-hidden", ("run", "run.id=.hidden"), 2, "run.id"),
    ("run-id-space", ("run", "run.id=with space"), 2, "run.id"),
    ("run-id-empty", ("run", "run.id="), 2, "run.id"),
    ("run-id-exists", ("run", "run.id=taken"), 2, "already exists"),
    ("root-is-file", ("run", "data.root={afile}"), 2, "data.root"),
    ("root-under-file", ("run", "data.root={afile}/sub"), 2, "data.root"),
    ("audit-root-is-file", ("audit", "data.root={afile}"), 2, "data.root"),
    ("runs-root-is-file", ("runs", "data.root={afile}"), 2, "data.root"),
    ("executor-ray-single", ("run", "executor=ray"), 2, "executor=ray"),
    ("meta-data-only", ("run", "meta=crypto_long_short", "flow.data_only=true"), 2, "flow.data_only"),
    ("meta-bad-method", ("run", "meta=crypto_long_short", "meta.method=foo"), 2, "meta.method"),
    ("meta-new-sleeve-key", ("run", "meta=crypto_long_short", "meta.sleeves.x=crypto_long"), 1, "meta.sleeves.x"),
    ("meta-bad-sleeve", ("run", "meta=crypto_long_short", "meta.sleeves.short=nope"), 2, "nope"),
    ("pin-interrupted", ("run", *_pin("killed")), 2, "'killed' is interrupted"),
    ("pin-reused-pid", ("run", *_pin("reused_pid")), 2, "'reused_pid' is interrupted"),
    ("pin-running-elsewhere", ("run", *_pin("elsewhere")), 2, "'elsewhere' is running"),
    ("pin-failed", ("run", *_pin("broke")), 2, "'broke' is failed"),
    ("pin-no-manifest", ("run", *_pin("bare")), 2, "'bare' is no manifest"),
    ("pin-torn-manifest", ("run", *_pin("torn")), 2, "'torn' is unreadable manifest"),
    ("pin-missing", ("run", *_pin("no_such_run")), 2, "no_such_run"),
    ("pin-bad-id", ("run", *_pin("../etc")), 2, "run_id"),
    ("pin-other-profile", ("run", *_pin("longrun")), 2, "'longrun' is a 'crypto_long' run"),
    ("files-without-path", ("run", "venue=files"), 2, "venue.path"),
    ("files-missing-folder", ("run", "venue=files", "venue.path={base}/nowhere"), 2, "nowhere"),
    ("ccxt-without-exchange", ("run", "venue=ccxt"), 2, "venue.exchange"),
    ("viz-bad-suffix", ("viz", "viz.output={base}/dag.txt"), 2, "viz.output"),
    ("viz-under-file", ("viz", "viz.output={afile}/dag.svg"), 2, "viz.output"),
]


@pytest.mark.parametrize(("args", "code", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_input_is_one_clear_error(
    env: dict[str, Path], args: tuple[str, ...], code: int, fragment: str
) -> None:
    for key, value in env.items():
        args = tuple(a.replace(f"{{{key}}}", str(value)) for a in args)
    extra = [] if args[0] == "frobnicate" else [f"data.root={env['root']}", AS_OF, "data.progress=false"]
    if any(a.startswith("data.root=") for a in args):
        extra = extra[1:]
    before = {p.name for p in (env["root"] / "runs").iterdir()}
    got, out, err = cli(args[0], *extra, *args[1:])  # the case's overrides come last: they win
    assert got == code, (got, err[-2000:])
    assert fragment in err, err[-2000:]
    assert "Traceback" not in err and "Traceback" not in out
    if code == 2 and args[0] != "frobnicate":  # ours: one line naming the input
        lines = [line for line in err.splitlines() if line.startswith("error: ")]
        assert len(lines) == 1, err
    for new in {p.name for p in (env["root"] / "runs").iterdir()} - before:  # refused inside the run: recorded
        manifest = json.loads((env["root"] / "runs" / new / "manifest.json").read_text())
        assert manifest["outcome"] == "failed" and manifest["exit_code"] == code and fragment in manifest["error"]


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (("run", "scanner=nope"), 2, "scanner=nope"),
        (("run", "data.root={afile}"), 2, "data.root"),
        (("run", "data.root={afile}/sub"), 2, "data.root"),
        (("run", *_pin("killed")), 2, "'killed' is interrupted"),
    ],
    ids=["scanner", "root-file", "root-under-file", "pin-killed"],
)
def test_hostile_input_in_a_real_process(
    env: dict[str, Path], tmp_path: Path, args: tuple[str, ...], code: int, fragment: str
) -> None:
    args = tuple(a.replace("{afile}", str(env["afile"])) for a in args)
    extra = [] if any(a.startswith("data.root=") for a in args) else [f"data.root={env['root']}"]
    got, _, err = cli_subprocess(*args, *extra, AS_OF, cwd=tmp_path)
    assert got == code and fragment in err and "Traceback" not in err, err[-2000:]
    assert len(err.strip().splitlines()) == 1, err  # nothing but the error line


def test_a_failed_meta_sleeve_is_one_line_per_sleeve(tmp_path: Path) -> None:
    """Both sleeves are the 4-symbol short profile; one cannot hold its cap. No Hamilton executor tracebacks."""
    bad = "meta.sleeves.short={profile: crypto_short, profile_overrides: {weight_cap: 0.01}}"
    args = ("run", "meta=crypto_long_short", "meta.sleeves.long=crypto_short", bad)
    fast = ("flow.skip_validation=true", "flow.skip_analysis=true", "data.progress=false")
    got, _, err = cli_subprocess(*args, *fast, f"data.root={tmp_path / 'data'}", AS_OF, cwd=tmp_path)
    assert got == 2, err[-3000:]
    assert "Traceback" not in err and "hamilton" not in err, err[-3000:]
    assert sum("sleeve short" in line or "sleeve 'short'" in line for line in err.splitlines()) == 2  # log + error
    (error,) = [line for line in err.splitlines() if line.startswith("error: ")]
    assert "sleeve 'short' (crypto_short) failed" in error and "weight_cap" in error
    (run_dir,) = (tmp_path / "data" / "runs").iterdir()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["outcome"] == "failed" and manifest["exit_code"] == 2 and "sleeve 'short'" in manifest["error"]
    sleeve = json.loads((run_dir / "sleeves" / "short" / "manifest.json").read_text())
    assert sleeve["outcome"] == "failed" and "weight_cap" in sleeve["error"]

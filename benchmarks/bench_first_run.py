"""The newcomer's path: a fresh clone, the README's first command, then the same command again.

1. `git clone` of this checkout into a temporary folder;
2. `python3 -m uv sync` there (only the main job's dependencies; uv's package cache is whatever this machine has —
   warm on a development machine, so this measures linking and bytecode compilation, not downloads);
3. the first `uv run python -m dataflows run` (numba's cache is empty in a fresh clone: every kernel compiles once);
4. the same command again, `repeat` times (warm: lakehouse filled, kernels loaded from numba's cache).

Rows: each step's wall time; the first run's ratio to the warm run (the one-time cost of compilation), and where
the first run's time goes (its slowest stages from the run's manifest). `--quick` skips the clone and the install
and measures a cold numba cache in this checkout (`NUMBA_CACHE_DIR` set to an empty folder).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._harness import Row, cli

REPO = Path(__file__).resolve().parents[1]
TARGET_FIRST_WEIGHTS_S = 45.0  # from a fresh clone with a warm package cache; reported, not asserted


def _timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=1800, check=False)
    seconds = time.perf_counter() - t0
    assert done.returncode == 0, f"{' '.join(cmd)} exited {done.returncode}:\n{done.stderr[-3000:]}"
    return seconds, done.stdout


def _slowest(run_dir: Path, k: int = 4) -> str:
    """The run's slowest nodes from its manifest, e.g. `features_update 12.7 s, sleeve_decision 5.9 s`."""
    timings = json.loads((run_dir / "manifest.json").read_text()).get("node_timings_s", {})
    top = sorted(timings.items(), key=lambda kv: -kv[1])[:k]
    return ", ".join(f"{name} {s:.1f} s" for name, s in top)


def run(repeat: int, warmup: int, quick: bool) -> list[Row]:
    """Time install, first run and warm runs of the README's first command."""
    del warmup  # the first run is the point: nothing is warmed up before it
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_PROJECT"))}
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    case = "first run, README command"
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench_first_") as tmp:
        if quick:
            work, cmd = REPO, [sys.executable, "-m", "dataflows", "run", f"data.root={Path(tmp) / 'data'}"]
            env["NUMBA_CACHE_DIR"] = str(Path(tmp) / "numba")
        else:
            work = Path(tmp) / "clone"
            subprocess.run(["git", "clone", "-q", str(REPO), str(work)], check=True, timeout=300)
            uv = [sys.executable, "-m", "uv"] if shutil.which("uv") is None else ["uv"]
            install, _ = _timed([*uv, "sync", "-q"], work, env)
            rows.append(Row(case, "install (uv sync)", install, install, note="warm package cache"))
            cmd = [*uv, "run", "python", "-m", "dataflows", "run"]
        first, out = _timed(cmd, work, env)
        note = f"slowest: {_slowest(Path(out.strip().splitlines()[-1]))}"
        warm = [_timed(cmd, work, env)[0] for _ in range(max(repeat, 1))]
    best, median = min(warm), statistics.median(warm)
    rows.append(Row(case, "warm run", best, median, note="lakehouse filled, numba cache warm"))
    rows.append(Row(case, "first run", first, first, baseline="warm run", ratio=first / best, note=note))
    if not quick:
        total = rows[0].seconds + first
        rows.append(Row(case, "clone to first weights", total, total, note=f"target ~{TARGET_FIRST_WEIGHTS_S:.0f} s"))
    return rows


if __name__ == "__main__":
    cli(run, __doc__.splitlines()[0])

"""Scale: the whole pipeline end to end on the synthetic venue at 100 → 500 → 2,000 symbols × 1,460 days.

Each size runs `python -m dataflows run` in its own subprocess (its peak RSS is that process's own, read with
`os.wait4`) on a fresh data root, twice:

1. cold, `flow.data_only=true`: discovery, audit, fetch of every bar, toxic guard, metadata, ratings backfill,
   health gate — the data phase on an empty lakehouse;
2. warm, the full run on the filled lakehouse: the data phase again (nothing to fetch), the sleeve (aggregation →
   HTR selection → synthesis → analysis → optimization → weights, report and plots) and the walk-forward
   validation (per-window HTR decisions + simulation of three books, metrics, files).

Stages come from the manifest's per-node timings: the data phase is every node the data-only run has, the
walk-forward is `walk_forward_params` + `backtest_*`, the sleeve is everything else. Growth between sizes is the
exponent k of t ∝ n^k (n = healthy symbols). Overrides: `venue.n_crypto=N data.history_days=1460
scanner=crypto_liquid_long +scanner.limit=null +scanner.filters.liquid=null health.strict=false` (every listed
crypto pair is a candidate; a symbol the venue cannot serve for 1,460 days is excluded and reported, not fatal).
The profile is the default `crypto_long` (HRP, walk-forward 180 training / 30 test rows: 43 windows).

Asserted: every run completes and its peak RSS stays ≤ 2.5 GB (the budget for 2,000 × 1,460). The time
targets (2,000 warm end to end ≤ 60 s) are printed, not asserted: absolute times on this shared 2-core machine are
noise-prone, and the suite never gates on them. `--quick`: 40 and 80 symbols × 400 days, regime caps off (a
smoke run).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks._harness import Row, cli

ROOT = Path(__file__).resolve().parents[1]
SIZES = (100, 500, 2000)
QUICK_SIZES = (40, 80)
DAYS, QUICK_DAYS = 1460, 400
AS_OF = "2026-06-30"
RSS_BUDGET_MB = 2.5 * 1024
WARM_TARGET_S = 60.0  # 2,000 symbols × 1,460 days, warm, end to end
WALK_FORWARD = ("walk_forward_params", "backtest_history", "backtest_result", "backtest_returns_file")


@dataclass(frozen=True)
class Run:
    """One `python -m dataflows run` subprocess."""

    wall: float  # seconds
    rss_mb: float  # the process's peak resident set
    manifest: dict

    @property
    def nodes(self) -> dict[str, float]:
        return dict(self.manifest.get("node_timings_s") or {})


def overrides(root: Path, n: int, days: int, quick: bool = False) -> list[str]:
    """The CLI overrides of one size: every listed crypto pair a candidate, `days` of history."""
    # a few dozen symbols in a CRISIS regime cannot meet its 15% cluster cap: the smoke run drops the regime caps
    smoke = ["profile.regime_caps=false"] if quick else []
    return [
        *smoke,
        f"data.root={root}",
        f"run.as_of={AS_OF}",
        "data.progress=false",
        f"venue.n_crypto={n}",
        f"data.history_days={days}",
        "scanner=crypto_liquid_long",
        "+scanner.limit=null",
        "+scanner.filters.liquid=null",
        "health.strict=false",
    ]


def run_cli(args: list[str], log: Path) -> Run:
    """Run the CLI in a child process; its wall time, its own peak RSS (`wait4`) and the manifest it wrote."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HAMILTON_TELEMETRY_ENABLED": "false"}
    with log.open("w") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "dataflows", "run", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=out
        )
        stdout = proc.stdout.read().decode() if proc.stdout else ""
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage (RUSAGE_CHILDREN would be the max of all)
        wall = time.perf_counter() - t0
        code = proc.returncode = os.waitstatus_to_exitcode(status)
    if code != 0:
        tail = log.read_text(errors="replace")[-2000:]
        msg = f"`dataflows run {' '.join(args)}` exited {code}:\n{tail}"
        raise AssertionError(msg)
    run_dir = Path(stdout.strip().splitlines()[-1])
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["outcome"] == "ok", f"run {run_dir} ended {manifest['outcome']}"
    return Run(wall=wall, rss_mb=usage.ru_maxrss / 1024.0, manifest=manifest)


@dataclass(frozen=True)
class Size:
    """The measurements of one universe size."""

    n: int  # venue.n_crypto
    healthy: int
    cold: Run  # data phase only, empty lakehouse
    warm: Run  # full run, filled lakehouse

    def stages(self) -> dict[str, float]:
        data_nodes = set(self.cold.nodes)
        warm = self.warm.nodes
        walk = sum(v for k, v in warm.items() if k in WALK_FORWARD)
        data_warm = sum(v for k, v in warm.items() if k in data_nodes)
        sleeve = sum(v for k, v in warm.items() if k not in data_nodes and k not in WALK_FORWARD)
        return {
            "data phase cold": sum(self.cold.nodes.values()),
            "data phase warm": data_warm,
            "sleeve": sleeve,
            "walk-forward": walk,
            "warm run, wall": self.warm.wall,
        }


def measure(n: int, days: int, tmp: Path, quick: bool = False) -> Size:
    root = tmp / f"n{n}" / "data"
    args = overrides(root, n, days, quick)
    cold = run_cli([*args, "flow.data_only=true"], tmp / f"n{n}_cold.log")
    warm = run_cli(args, tmp / f"n{n}_warm.log")
    healthy = len(warm.manifest.get("healthy_symbols") or [])
    for run, what in ((cold, "cold data phase"), (warm, "warm full run")):
        assert run.rss_mb <= RSS_BUDGET_MB, f"{n} symbols: {what} peaked at {run.rss_mb:.0f} MB > {RSS_BUDGET_MB:.0f}"
    return Size(n=n, healthy=healthy, cold=cold, warm=warm)


def exponent(t0: float, t1: float, n0: int, n1: int) -> float | None:
    """k in t ∝ n^k between two sizes (None when a time is too small to say)."""
    if min(t0, t1) < 0.05 or n0 == n1:
        return None
    return math.log(t1 / t0) / math.log(n1 / n0)


def top_nodes(run: Run, k: int = 4) -> str:
    return ", ".join(f"{name} {s:.1f}" for name, s in sorted(run.nodes.items(), key=lambda kv: -kv[1])[:k])


def rows_for(sizes: list[Size], days: int) -> list[Row]:
    """Per size and stage one row: its time, its ratio to the smallest size, and the growth exponent in the note."""
    rows: list[Row] = []
    first = sizes[0]
    for i, size in enumerate(sizes):
        case = f"scale {size.n}x{days}"
        stages = size.stages()
        for stage, seconds in stages.items():
            base = first.stages()[stage]
            note = f"{size.healthy} healthy symbols"
            if i:
                prev = sizes[i - 1]
                k = exponent(prev.stages()[stage], seconds, prev.healthy, size.healthy)
                note += f"; grows as n^{k:.2f} from {prev.healthy}" if k is not None else ""
            if stage == "warm run, wall":
                note += f"; peak RSS {size.warm.rss_mb:.0f} MB; slowest nodes: {top_nodes(size.warm)}"
                if size.n == max(SIZES) and days == DAYS:
                    verdict = "yes" if seconds <= WARM_TARGET_S else "NO"
                    note += f"; target <= {WARM_TARGET_S:.0f} s: {verdict}"
            if stage == "data phase cold":
                note += f"; wall {size.cold.wall:.1f} s, peak RSS {size.cold.rss_mb:.0f} MB"
            rows.append(
                Row(
                    case=case,
                    impl=stage,
                    seconds=seconds,
                    median=seconds,
                    baseline="" if i == 0 else f"{stage} @ {first.n}",
                    ratio=None if i == 0 or base <= 0 else seconds / base,
                    note=note,
                )
            )
    return rows


def table(sizes: list[Size]) -> str:
    """The scale table as Markdown (what the README's benchmark table summarizes)."""
    head = (
        "| symbols (healthy) | data cold | data warm | sleeve | walk-forward | warm run wall | peak RSS cold / warm |"
    )
    lines = [head, "|---|---|---|---|---|---|---|"]
    for s in sizes:
        st = s.stages()
        lines.append(
            f"| {s.n} ({s.healthy}) | {st['data phase cold']:.1f} s | {st['data phase warm']:.1f} s | "
            f"{st['sleeve']:.1f} s | {st['walk-forward']:.1f} s | {st['warm run, wall']:.1f} s | "
            f"{s.cold.rss_mb:.0f} / {s.warm.rss_mb:.0f} MB |"
        )
    for a, b in itertools.pairwise(sizes):
        ks = []
        for stage, t1 in b.stages().items():
            k = exponent(a.stages()[stage], t1, a.healthy, b.healthy)
            ks.append(f"{stage} n^{k:.2f}" if k is not None else f"{stage} -")
        lines.append(f"growth {a.n} → {b.n}: " + ", ".join(ks))
    return "\n".join(lines)


def run(repeat: int, warmup: int, quick: bool) -> list[Row]:
    """Every size once (each run is minutes at 2,000 symbols; `repeat`/`warmup` do not apply), then the table."""
    del repeat, warmup
    sizes_n, days = (QUICK_SIZES, QUICK_DAYS) if quick else (SIZES, DAYS)
    with tempfile.TemporaryDirectory(prefix="bench_scale_") as tmp:
        sizes = [measure(n, days, Path(tmp), quick) for n in sizes_n]
    print(table(sizes), file=sys.stderr)
    return rows_for(sizes, days)


if __name__ == "__main__":
    cli(run, __doc__.splitlines()[0])

"""Run the benchmark suite: every `benchmarks/bench_<name>.py`, one table of ratios, one CSV.

    python benchmarks/run.py                         # all cases, full size
    python benchmarks/run.py --only toxic,hrp --repeat 7
    python benchmarks/run.py --quick --repeat 1 --warmup 0   # CI smoke: small inputs, correctness first

Each module's `run(repeat, warmup, quick)` checks correctness before timing and returns `Row`s whose ratios are
measured against a peer or floor in the same run. Results go to `benchmarks/results/<UTC timestamp>.csv`.

Exit codes: 0 all correct (and, with --strict, every target met); 1 a correctness check failed or a case raised;
2 bad arguments; 3 --strict and a target was missed.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import os
import platform
import sys
import time
import traceback
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python benchmarks/run.py` puts benchmarks/ first on sys.path, not the repo root
    sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.markup import escape  # noqa: E402
from rich.table import Table  # noqa: E402

from benchmarks._harness import Row  # noqa: E402

HERE = Path(__file__).resolve().parent
EXIT_FAILED, EXIT_USAGE, EXIT_MISSED = 1, 2, 3


def discover() -> list[str]:
    """Names of every `bench_<name>.py` next to this file, sorted."""
    return sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))


def machine_facts() -> dict[str, str]:
    """Facts that explain timings: cores, platform, library versions and thread pools."""
    import numba
    import numpy as np

    facts = {
        "cores": f"{os.cpu_count()} logical, {len(os.sched_getaffinity(0))} usable"
        if hasattr(os, "sched_getaffinity")
        else f"{os.cpu_count()} logical",
        "platform": f"{platform.platform()} ({platform.machine()})",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": f"{numba.__version__} ({numba.config.NUMBA_NUM_THREADS} threads)",
    }
    try:
        import polars as pl

        facts["polars"] = f"{pl.__version__} ({pl.thread_pool_size()} threads)"
    except ImportError:
        pass
    return facts


def _fmt(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def results_table(rows: list[Row], title: str) -> Table:
    """One line per timed implementation; ratios against the baseline named in the `vs` column."""
    table = Table(title=title, title_justify="left")
    table.add_column("case")
    table.add_column("impl")
    table.add_column("best s", justify="right")
    table.add_column("median s", justify="right")
    table.add_column("vs")
    table.add_column("ratio", justify="right")
    table.add_column("target", justify="right")
    table.add_column("meets target", justify="center")
    table.add_column("note", overflow="fold")
    verdict = {True: "[green]yes[/green]", False: "[bold red]NO[/bold red]", None: "-"}
    for r in rows:
        table.add_row(
            r.case,
            r.impl,
            f"{r.seconds:.4f}",
            f"{r.median:.4f}",
            r.baseline or "(baseline)",
            _fmt(r.ratio, ".3f"),
            "-" if r.target is None else f"<= {r.target:.2f}",
            verdict[r.meets_target],
            escape(r.note),
        )
    return table


def write_csv(rows: list[Row], out_dir: Path, meta: dict[str, object]) -> Path:
    """Write rows (plus run metadata on every line) to `<out_dir>/<UTC timestamp>.csv`; return the path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = out_dir / f"{stamp}.csv"
    n = 1
    while path.exists():  # two runs in the same second
        path = out_dir / f"{stamp}-{n}.csv"
        n += 1
    columns = [f.name for f in fields(Row)] + ["meets_target", *meta]
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        for r in rows:
            writer.writerow({**r.as_dict(), **meta})
    return path


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--only", default="", help="comma-separated case names, e.g. toxic,hrp (default: all)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per implementation (best and median)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs before timing")
    parser.add_argument("--quick", action="store_true", help="small inputs (CI smoke test)")
    parser.add_argument("--strict", action="store_true", help="exit non-zero when a target is missed")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="folder for the CSV")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.warmup < 0:
        parser.error(f"--repeat must be >= 1 and --warmup >= 0, got {args.repeat} and {args.warmup}")
    available = discover()
    args.names = [n.strip() for n in args.only.split(",") if n.strip()] or available
    unknown = sorted(set(args.names) - set(available))
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; available: {', '.join(available) or 'none'}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console() if sys.stdout.isatty() else Console(width=160)  # logs and CI: don't squeeze the table
    facts = machine_facts()
    console.print("[bold]machine[/bold]  " + escape("  |  ".join(f"{k}: {v}" for k, v in facts.items())))
    console.print(f"[bold]run[/bold]      repeat={args.repeat} warmup={args.warmup} quick={args.quick}")

    rows: list[Row] = []
    failed: list[str] = []
    for name in args.names:
        t0 = time.perf_counter()
        console.print(f"[bold]{name}[/bold]: running ...")
        try:
            module = importlib.import_module(f"benchmarks.bench_{name}")
            got = module.run(repeat=args.repeat, warmup=args.warmup, quick=args.quick)
        except AssertionError as e:
            failed.append(f"{name}: correctness check failed: {e}")
            console.print(f"[bold red]{name}: correctness check failed[/bold red]: {escape(str(e))}")
            continue
        except Exception as e:
            failed.append(f"{name}: {type(e).__name__}: {e}")
            console.print(f"[bold red]{name}: raised[/bold red]\n{escape(traceback.format_exc())}")
            continue
        rows.extend(got)
        console.print(f"[bold]{name}[/bold]: correct, {len(got)} rows in {time.perf_counter() - t0:.1f} s")

    if rows:
        console.print(results_table(rows, "ratios = best time / best time of the baseline in the same run"))
        meta = {"quick": args.quick, "repeat": args.repeat, "warmup": args.warmup, **facts}
        console.print(f"CSV: {escape(str(write_csv(rows, args.out, meta)))}")

    targeted = [r for r in rows if r.meets_target is not None]
    missed = [r for r in targeted if not r.meets_target]
    summary = f"{len(targeted) - len(missed)}/{len(targeted)} targets met"
    if missed:
        summary += "; missed: " + ", ".join(
            f"{r.case} {r.impl} vs {r.baseline} ({r.ratio:.3f} > {r.target:.2f})" for r in missed
        )
    if failed:
        summary += f"; {len(failed)} case(s) FAILED: " + "; ".join(failed)
    style = "bold red" if failed or missed else "bold green"
    console.print(f"[{style}]{escape(summary)}[/{style}]", highlight=False)
    if failed:
        return EXIT_FAILED
    if missed and args.strict:
        return EXIT_MISSED
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Shared benchmark plumbing: seeded timing, result rows, ratio reporting.

Every `benchmarks/bench_<name>.py` module defines

    def run(repeat: int, warmup: int, quick: bool) -> list[Row]

which checks correctness first (raising `AssertionError` on a mismatch) and then times each implementation on the
same seeded input. Ratios are always against a peer or floor measured in the same run, never absolute targets.
"""

from __future__ import annotations

import gc
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Row:
    """One timed implementation of one case."""

    case: str  # e.g. "toxic 5000x2520"
    impl: str  # e.g. "kernel", "polars", "numpy"
    seconds: float  # best of `repeat`
    median: float
    baseline: str = ""  # impl this row's ratio is measured against, "" for the baseline itself
    ratio: float | None = None  # seconds / baseline seconds (lower is better)
    target: float | None = None  # the ratio we promise (ratio <= target), None when informative only
    note: str = ""

    @property
    def meets_target(self) -> bool | None:
        if self.target is None or self.ratio is None:
            return None
        return self.ratio <= self.target

    def as_dict(self) -> dict:
        return {**asdict(self), "meets_target": self.meets_target}


def time_it(fn: Callable[[], object], repeat: int, warmup: int) -> tuple[float, float]:
    """Best and median wall time of `fn()` over `repeat` runs after `warmup` untimed runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(max(repeat, 1)):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def quiet(fn: Callable[[], object]) -> Callable[[], object]:
    """Peers warn about things that do not matter here (deprecations, pandas); keep the report readable."""

    def call() -> object:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn()

    return call


def time_interleaved(fns: dict[str, Callable[[], object]], repeat: int, warmup: int) -> dict[str, tuple[float, float]]:
    """Best and median wall time of each callable, run in turns (a, b, a, b, ...).

    Interleaving makes every impl see the same machine load: this 2-core machine is shared, and timing one impl
    after the other lets a load change land on one side of the ratio.
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(max(repeat, 1)):
        for name, fn in fns.items():
            gc.collect()
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: (min(ts), statistics.median(ts)) for name, ts in times.items()}


def rows_against(
    case: str,
    timings: dict[str, tuple[float, float]],
    baseline: str,
    targets: dict[str, float] | None = None,
    notes: dict[str, str] | None = None,
) -> list[Row]:
    """Rows for one case, each with its ratio against `baseline` (best-of times)."""
    targets, notes = targets or {}, notes or {}
    base = timings[baseline][0]
    out = []
    for impl, (best, med) in timings.items():
        is_base = impl == baseline
        out.append(
            Row(
                case=case,
                impl=impl,
                seconds=best,
                median=med,
                baseline="" if is_base else baseline,
                ratio=None if is_base else best / base,
                target=targets.get(impl),
                note=notes.get(impl, ""),
            )
        )
    return out


def cli(run: Callable[[int, int, bool], list[Row]], description: str) -> None:
    """`python benchmarks/bench_<name>.py [--repeat N] [--warmup N] [--quick]`: run one case module and print its rows
    (the suite runner `benchmarks/run.py` is the usual entry point)."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    for row in run(args.repeat, args.warmup, args.quick):
        ratio = "" if row.ratio is None else f"{row.ratio:8.2f}x"
        print(f"{row.case:24} {row.impl:22} {row.seconds:9.4f} s {ratio:>10}  {row.note}")

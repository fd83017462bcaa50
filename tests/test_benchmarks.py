"""Benchmarks as tests: correctness always (one quick smoke run), ratio targets under `-m benchmark`."""

from __future__ import annotations

import importlib

import pytest

from benchmarks.run import discover


@pytest.mark.benchmark
@pytest.mark.parametrize("name", discover())
def test_benchmark_meets_its_targets(name: str) -> None:
    module = importlib.import_module(f"benchmarks.bench_{name}")
    rows = module.run(repeat=3, warmup=1, quick=False)  # raises AssertionError if the implementations disagree
    assert rows, f"bench_{name}.run returned no rows"
    missed = [f"{r.case} {r.impl} vs {r.baseline}: {r.ratio:.3f} > {r.target}" for r in rows if r.meets_target is False]
    assert not missed, "targets missed: " + "; ".join(missed)


def test_toxic_benchmark_smoke() -> None:
    from benchmarks import bench_toxic

    rows = bench_toxic.run(repeat=1, warmup=0, quick=True)  # correctness is checked before timing, or this raises
    assert {r.impl for r in rows} == {"kernel", "polars", "numpy"}
    assert all(r.seconds > 0 for r in rows)
    assert {r.baseline for r in rows if r.impl == "kernel"} == {"polars", "numpy"}

"""Benchmarks as tests: correctness always (one quick smoke run), ratio targets under `-m benchmark`."""

from __future__ import annotations

import importlib

import pytest

from benchmarks.run import discover

LONG_RUNNING = {"scale": 1800}  # seconds: end-to-end runs up to 2,000 symbols (the default timeout is 300 s)


@pytest.mark.benchmark
@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.timeout(LONG_RUNNING[n])) if n in LONG_RUNNING else n for n in discover()],
)
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


def test_scale_benchmark_reports_stages_and_growth() -> None:
    """The scale table's arithmetic on hand-made manifests (the runs themselves are `-m benchmark`)."""
    from benchmarks.bench_scale import Run, Size, exponent, rows_for, table

    def size(n: int, k: float) -> Size:
        data = {"candidates_json": 0.1 * k, "repair_report": 1.0 * k}
        cold = Run(wall=2.0 * k, rss_mb=100.0 * k, manifest={"node_timings_s": data})
        warm_nodes = {**data, "selection_result": 0.5 * k, "backtest_history": 0.2 * k, "backtest_result": 2.0 * k}
        warm = Run(wall=5.0 * k, rss_mb=90.0 * k, manifest={"node_timings_s": warm_nodes, "healthy_symbols": ["x"] * n})
        return Size(n=n, healthy=n, cold=cold, warm=warm)

    small, big = size(100, 1.0), size(400, 4.0)  # every time grows 4x over 4x the symbols: exponent 1
    assert small.stages() == pytest.approx(
        {"data phase cold": 1.1, "data phase warm": 1.1, "sleeve": 0.5, "walk-forward": 2.2, "warm run, wall": 5.0}
    )
    assert exponent(1.0, 4.0, 100, 400) == pytest.approx(1.0) and exponent(0.01, 4.0, 100, 400) is None
    rows = rows_for([small, big], 1460)
    assert [r.impl for r in rows[:5]] == list(small.stages())
    assert all(r.ratio == pytest.approx(4.0) for r in rows[5:]) and "n^1.00" in rows[-1].note
    text = table([small, big])
    assert "| 400 (400) |" in text and "walk-forward n^1.00" in text

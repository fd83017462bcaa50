"""Post-analysis visuals: PNG files + index.html in plots/, the MDS and rolling-volatility maths, degenerate inputs."""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
from pathlib import Path

import numpy as np
import pytest

from dataflows.report.postanalysis import (
    classical_mds,
    dendrogram_order,
    drift_per_window,
    postanalysis_figures,
    rolling_vol,
    write_postanalysis,
)
from tests.report.test_backtest_section import make_backtest

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FIGURES = ("correlation_heatmap", "factor_map", "drift_monitor")


def _winners(n: int = 12, t: int = 250, seed: int = 5) -> tuple[list[str], dict[int, list[str]], np.ndarray]:
    """`n` symbols on 3 return factors (cluster = factor), shuffled so clusters are not contiguous."""
    rng = np.random.default_rng(seed)
    symbols = [f"C{i:02d}/USDT" for i in range(n)]
    factor = rng.permutation(np.arange(n) % 3)
    returns = rng.normal(0.0, 0.02, (t, 3))[:, factor] + rng.normal(0.0, 0.012, (t, n))
    clusters = {c: [s for s, f in zip(symbols, factor, strict=True) if f == c] for c in range(3)}
    return symbols, clusters, returns


def _png_ok(path: Path) -> None:
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 2_000, path


def _index_refs(path: Path) -> set[str]:
    return set(re.findall(r'<img src="([^"]+)"', path.read_text(encoding="utf-8")))


def test_writes_every_figure_and_an_index(tmp_path: Path) -> None:
    symbols, clusters, returns = _winners()
    corr = np.corrcoef(returns, rowvar=False)
    plots = tmp_path / "run" / "plots"
    paths = write_postanalysis(
        plots, symbols=symbols, clusters=clusters, corr=corr, returns=returns, backtest=make_backtest()
    )
    assert set(paths) == {*FIGURES, "index"}
    assert {p.name for p in plots.iterdir()} == {f"{f}.png" for f in FIGURES} | {"index.html"}  # no temp files
    for name in FIGURES:
        assert paths[name] == plots / f"{name}.png"
        _png_ok(paths[name])
    assert _index_refs(paths["index"]) == {f"{f}.png" for f in FIGURES}
    text = paths["index"].read_text(encoding="utf-8")
    assert "12 winners" in text and "8 windows" in text and "Not drawn" not in text
    # deterministic bytes: the same inputs give the same files
    again = write_postanalysis(
        tmp_path / "again", symbols=symbols, clusters=clusters, corr=corr, returns=returns, backtest=make_backtest()
    )
    for name in (*FIGURES, "index"):
        assert again[name].read_bytes() == paths[name].read_bytes(), name


def test_figures_are_returned_and_nothing_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    symbols, clusters, returns = _winners()
    kwargs = {"symbols": symbols, "clusters": clusters, "corr": None, "returns": returns, "backtest": make_backtest()}

    def refuse(*_args: object) -> None:
        raise AssertionError("postanalysis_figures wrote a file")

    monkeypatch.setattr("dataflows.report.postanalysis.figures.write_bytes", refuse)
    monkeypatch.chdir(tmp_path)
    files = postanalysis_figures(**kwargs)
    assert list(tmp_path.iterdir()) == []
    assert list(files) == [*(f"{f}.png" for f in FIGURES), "index.html"]
    monkeypatch.undo()
    paths = write_postanalysis(tmp_path / "plots", **kwargs)
    assert {p.name: p.read_bytes() for p in paths.values()} == files


def test_pyplot_is_never_imported(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys\nfrom pathlib import Path\nfrom tests.report.test_postanalysis import _winners\n"
        "from dataflows.report.postanalysis import write_postanalysis\n"
        "s, c, r = _winners()\n"
        "write_postanalysis(Path(sys.argv[1]), symbols=s, clusters=c, corr=None, returns=r, backtest=None)\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
    )
    root = Path(__file__).parents[2]
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "p")], check=True, timeout=120, cwd=root)
    assert (tmp_path / "p" / "factor_map.png").exists()


def test_without_backtest_the_drift_monitor_is_skipped_and_said_so(tmp_path: Path) -> None:
    symbols, clusters, returns = _winners()
    paths = write_postanalysis(tmp_path, symbols=symbols, clusters=clusters, corr=None, returns=returns, backtest=None)
    assert set(paths) == {"correlation_heatmap", "factor_map", "index"}
    assert _index_refs(paths["index"]) == {"correlation_heatmap.png", "factor_map.png"}
    assert "Not drawn: no backtest in this run." in paths["index"].read_text(encoding="utf-8")


def _all_failed_view():
    bt = make_backtest(4, failed=frozenset(range(4)), flagged=frozenset(), fallback=frozenset())
    return dataclasses.replace(bt, returns={**bt.returns, "profile": np.zeros(len(bt.dates))})


EDGES = {
    "one_symbol": lambda: (["BTC/USDT"], {0: ["BTC/USDT"]}, np.ones((1, 1)), None, make_backtest(1)),
    "two_symbols": lambda: (["A/USDT", "B/USDT"], [0, 1], np.array([[1.0, 0.3], [0.3, 1.0]]), None, None),
    "flat_series_nan_corr": lambda: _flat(),
    "unassigned_clusters": lambda: (*_winners()[:1], [None, *range(11)], None, _winners()[2], None),
    "one_window_one_row": lambda: (*_winners()[:2], None, _winners()[2], make_backtest(1, 1)),
    "all_windows_failed": lambda: (*_winners()[:2], None, _winners()[2], _all_failed_view()),
    "no_drift_data": lambda: (
        *_winners()[:2],
        None,
        _winners()[2],
        dataclasses.replace(make_backtest(), targets={}, realized={}, symbols=[]),
    ),
    "many_assets": lambda: (*_winners(90, 120)[:2], None, _winners(90, 120)[2], make_backtest(60, 5)),
}


def _flat():
    symbols, clusters, returns = _winners()
    returns[:, 3] = 0.0  # a flat series: its correlations are undefined
    return symbols, clusters, None, returns, make_backtest()


@pytest.mark.parametrize("case", sorted(EDGES))
def test_degenerate_inputs_still_draw(tmp_path: Path, case: str) -> None:
    symbols, clusters, corr, returns, bt = EDGES[case]()
    paths = write_postanalysis(tmp_path, symbols=symbols, clusters=clusters, corr=corr, returns=returns, backtest=bt)
    expected = {"correlation_heatmap", "factor_map", "index"} | ({"drift_monitor"} if bt is not None else set())
    assert set(paths) == expected
    for name in expected - {"index"}:
        _png_ok(paths[name])
    assert _index_refs(paths["index"]) == {f"{n}.png" for n in expected - {"index"}}


def test_no_winners_writes_only_the_index(tmp_path: Path) -> None:
    paths = write_postanalysis(tmp_path, symbols=[], clusters={}, corr=np.empty((0, 0)), returns=None, backtest=None)
    assert set(paths) == {"index"} and _index_refs(paths["index"]) == set()
    assert paths["index"].read_text(encoding="utf-8").count("Not drawn") == 3


def test_inputs_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="corr has shape"):
        write_postanalysis(tmp_path, symbols=["A", "B"], clusters={}, corr=np.eye(3), returns=None, backtest=None)
    with pytest.raises(ValueError, match="corr or returns"):
        write_postanalysis(tmp_path, symbols=["A"], clusters={}, corr=None, returns=None, backtest=None)
    with pytest.raises(ValueError, match="cluster ids"):
        write_postanalysis(tmp_path, symbols=["A", "B"], clusters=[0], corr=np.eye(2), returns=None, backtest=None)


# --------------------------------------------------------------------------------------------------------- maths


def test_classical_mds_recovers_a_euclidean_configuration() -> None:
    rng = np.random.default_rng(2)
    points = rng.uniform(-0.6, 0.6, (9, 2))
    d2 = ((points[:, None, :] - points[None, :, :]) ** 2).sum(axis=2)
    assert d2.max() <= 4.0
    corr = 1.0 - d2 / 2.0  # D² = 2(1 − ρ)
    coords, share = classical_mds(corr)
    got = ((coords[:, None, :] - coords[None, :, :]) ** 2).sum(axis=2)
    np.testing.assert_allclose(got, d2, atol=1e-10)
    assert share.sum() == pytest.approx(1.0) and share[0] >= share[1] > 0


def test_dendrogram_order_keeps_blocks_together() -> None:
    symbols, clusters, returns = _winners()
    corr = np.corrcoef(returns, rowvar=False)
    order, tree = dendrogram_order(corr)
    assert tree is not None and sorted(order.tolist()) == list(range(len(symbols)))
    cluster_of = {s: c for c, members in clusters.items() for s in members}
    labels = [cluster_of[symbols[i]] for i in order]
    assert sum(a != b for a, b in itertools.pairwise(labels)) == 2  # three contiguous blocks


def test_rolling_vol_matches_a_slow_reference() -> None:
    r = np.random.default_rng(4).normal(0.0, 0.02, 50)
    got = rolling_vol(r, 10, 365)
    assert np.isnan(got[:9]).all()
    ref = [np.std(r[i - 9 : i + 1], ddof=1) * math.sqrt(365) for i in range(9, 50)]
    np.testing.assert_allclose(got[9:], ref, rtol=1e-12)
    assert np.isnan(rolling_vol(r[:3], 10, 365)).all()


def test_drift_is_half_the_l1_distance() -> None:
    targets = np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 0.0]])
    realized = np.array([[0.6, 0.4, 0.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(drift_per_window(targets, realized), [0.1, 0.0])
    with pytest.raises(ValueError, match="differ"):
        drift_per_window(targets, realized[:, :2])

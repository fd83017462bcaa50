"""Meta-portfolio end to end on the synthetic venue (local executor), config validation, and flattening properties.

The Ray test (`-m ray`) runs the same meta on both executors and asserts identical meta weights.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dataflows.config import FlowConfig, Settings
from dataflows.errors import ConfigError, DataflowsError
from dataflows.meta.config import parse_meta
from dataflows.meta.flatten import FlatteningError, SleeveBook, flatten, project_bounds
from tests.conftest import make_settings as _make_settings

# Most tests skip the sleeves' walk-forward validation (when the config has the switch) to stay fast; the
# module's main meta run keeps it, so out-of-sample streams are exercised whenever validation exists.
FAST = ["flow.skip_validation=true"] if "skip_validation" in FlowConfig.__dataclass_fields__ else []


def make_settings(data_root: Path, *overrides: str) -> Settings:
    return _make_settings(data_root, *FAST, *overrides)


def run_meta_cli(data_root: Path, capsys: pytest.CaptureFixture, *overrides: str) -> Path:
    """`run` with a meta config, in-process, as the CLI does after composing; returns the printed run folder."""
    from dataflows.app import run

    settings = make_settings(data_root, *overrides)
    assert run(settings, {"test": True}) == 0
    return Path(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def shared_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("meta") / "data"


@pytest.fixture(scope="module")
def long_short(shared_root: Path) -> Path:
    from dataflows.meta.run import run_meta

    settings = _make_settings(shared_root, "meta=crypto_long_short")  # with validation, if the flow has it
    assert run_meta(settings, {}) == 0
    runs = sorted((shared_root / "runs").glob("*crypto_long_short_meta*"))
    assert len(runs) == 1
    return runs[0]


def _weights(run_dir: Path) -> dict[str, float]:
    return dict(pl.read_csv(run_dir / "meta_weights.csv").select("sleeve", "weight").iter_rows())


def _flat(run_dir: Path) -> pl.DataFrame:
    return pl.read_csv(run_dir / "flattened_weights.csv")


# ------------------------------------------------------------------------------------------ end to end (local)


def test_sleeves_run_in_their_own_folders(long_short: Path) -> None:
    for sleeve in ("long", "short"):
        folder = long_short / "sleeves" / sleeve
        for name in ("manifest.json", "weights.parquet", "weights.csv", "selection.json", "sleeve_returns.parquet"):
            assert (folder / name).is_file(), name
        assert json.loads((folder / "manifest.json").read_text())["outcome"] == "ok"
    manifest = json.loads((long_short / "manifest.json").read_text())
    assert manifest["outcome"] == "ok" and manifest["dropped_sleeves"] == []
    for s in manifest["sleeves"]:  # out-of-sample when the sleeve was walked forward, else in-sample: said
        oos = (long_short / "sleeves" / s["sleeve"] / "backtest" / "returns.parquet").is_file()
        assert s["stream"] == ("out_of_sample" if oos else "in_sample")
        stream = pl.read_parquet(long_short / "sleeves" / s["sleeve"] / "sleeve_returns.parquet")
        assert set(stream["stream"]) == {s["stream"]}
    assert {r["stream"] for r in manifest["meta_weights"]} == {s["stream"] for s in manifest["sleeves"]}


def test_meta_weights_within_bounds_and_sum_to_one(long_short: Path) -> None:
    table = pl.read_csv(long_short / "meta_weights.csv")
    assert table.columns[:3] == ["sleeve", "weight", "method"]
    assert set(table["method"]) == {"risk_parity"}
    assert table["weight"].sum() == pytest.approx(1.0, abs=1e-12)
    assert (table["weight"] >= 0.2 - 1e-12).all() and (table["weight"] <= 0.8 + 1e-12).all()


def test_meta_returns_inner_join_never_zero_fills(long_short: Path) -> None:
    meta = pl.read_parquet(long_short / "meta_returns.parquet")
    assert meta.columns == ["date", "long", "short"] and meta.null_count().sum_horizontal().item() == 0
    streams = {s: pl.read_parquet(long_short / "sleeves" / s / "sleeve_returns.parquet") for s in ("long", "short")}
    common = set(streams["long"]["date"]) & set(streams["short"]["date"])
    assert set(meta["date"]) == common and meta.height == len(common)
    for s, frame in streams.items():  # each column is that sleeve's stream, value for value
        joined = meta.join(frame, on="date")
        assert np.array_equal(joined[s].to_numpy(), joined["returns"].to_numpy())


def test_flattening_conserves_gross_and_net(long_short: Path) -> None:
    w = _weights(long_short)
    flat = _flat(long_short)
    books = {s: pl.read_parquet(long_short / "sleeves" / s / "weights.parquet") for s in w}
    assert flat["gross"].sum() == pytest.approx(sum(w[s] * books[s]["weight"].sum() for s in w), abs=1e-12)
    assert flat["net"].sum() == pytest.approx(sum(w[s] * books[s]["net_weight"].sum() for s in w), abs=1e-12)
    for row in flat.iter_rows(named=True):  # lineage: which sleeves, which weights
        parts = dict(p.split("=") for p in row["sleeves"].split(";"))
        assert sum(float(v) for v in parts.values()) == pytest.approx(row["net"], abs=1e-9)
        expected = sum(w[s] * b.filter(pl.col("symbol") == row["symbol"])["net_weight"].sum() for s, b in books.items())
        assert row["net"] == pytest.approx(expected, abs=1e-12)
    assert (flat.filter(pl.col("net") < 0)["symbol"].is_in(books["short"]["symbol"].to_list())).all()


def test_per_asset_cap_is_enforced(shared_root: Path, capsys: pytest.CaptureFixture) -> None:
    run_dir = run_meta_cli(shared_root, capsys, "meta=crypto_long_short", "meta.max_asset_weight=0.04")
    flat = _flat(run_dir)
    assert (flat["net"].abs() <= 0.04 + 1e-12).all()
    assert (flat["cap_scale"] < 1).any()  # some symbols were above 4% before the cap
    manifest = json.loads((run_dir / "manifest.json").read_text())
    checks = manifest["flattening"]
    assert checks["sum_gross"] + checks["removed_gross"] == pytest.approx(checks["expected_gross"], abs=1e-12)


def test_failed_sleeve_fails_the_run_with_its_reason(shared_root: Path) -> None:
    from dataflows.meta.run import run_meta

    bad = "meta.sleeves.short={profile: crypto_short, profile_overrides: {weight_cap: 0.01}}"
    settings = make_settings(shared_root, "meta=crypto_long_short", bad)
    with pytest.raises(DataflowsError, match=r"sleeve 'short' \(crypto_short\) failed: .*cap") as err:
        run_meta(settings, {})
    assert "allow_failed_sleeves" in str(err.value)
    failed = [p for p in (shared_root / "runs").glob("*_meta_*") if (p / "manifest.json").is_file()]
    outcomes = [json.loads((p / "manifest.json").read_text())["outcome"] for p in failed]
    assert "failed" in outcomes


def test_failed_sleeve_is_dropped_when_allowed(shared_root: Path, capsys: pytest.CaptureFixture) -> None:
    bad = "meta.sleeves.short={profile: crypto_short, profile_overrides: {weight_cap: 0.01}}"
    run_dir = run_meta_cli(
        shared_root, capsys, "meta=crypto_long_short", bad, "meta.allow_failed_sleeves=true", "meta.max_weight=1.0"
    )
    assert _weights(run_dir) == {"long": pytest.approx(1.0)}
    sleeves = {s["sleeve"]: s for s in json.loads((run_dir / "sleeves.json").read_text())}
    assert (
        sleeves["short"]["dropped"] and sleeves["short"]["status"] == "failed" and "cap" in sleeves["short"]["reason"]
    )
    assert json.loads((run_dir / "manifest.json").read_text())["dropped_sleeves"] == ["short"]


def test_dropping_a_sleeve_can_make_bounds_infeasible(shared_root: Path) -> None:
    from dataflows.meta.run import run_meta

    bad = "meta.sleeves.short={profile: crypto_short, profile_overrides: {weight_cap: 0.01}}"
    settings = make_settings(shared_root, "meta=crypto_long_short", bad, "meta.allow_failed_sleeves=true")
    with pytest.raises(DataflowsError, match=r"max_weights sum to 0\.8 < 1"):
        run_meta(settings, {})


def test_pinned_run_is_used_as_given(shared_root: Path, capsys: pytest.CaptureFixture) -> None:
    from dataflows.app import run

    assert run(make_settings(shared_root, "profile=crypto_short", "run.id=pinned_short"), {}) == 0
    capsys.readouterr()
    pinned = shared_root / "runs" / "pinned_short" / "weights.parquet"
    table = pl.read_parquet(pinned)
    n = table.height
    edited = np.full(n, 0.5 / (n - 1))
    edited[0] = 0.5
    table = table.with_columns(pl.Series("weight", edited), pl.Series("net_weight", -edited))
    table.write_parquet(pinned)  # a person edits the pinned run's weights: the meta must use exactly these

    run_dir = run_meta_cli(
        shared_root,
        capsys,
        "meta=crypto_long_short",
        "meta.sleeves.short={profile: crypto_short, run_id: pinned_short}",
    )
    assert not (run_dir / "sleeves" / "short" / "weights.parquet").exists()  # not re-run
    pointer = json.loads((run_dir / "sleeves" / "short" / "pinned.json").read_text())
    assert pointer["run_id"] == "pinned_short" and pointer["stream"] == "in_sample"
    w_short = _weights(run_dir)["short"]
    flat = _flat(run_dir)
    lineage = {
        s: dict(p.split("=") for p in v.split(";")) for s, v in zip(flat["symbol"], flat["sleeves"], strict=True)
    }
    for sym, v in zip(table["symbol"], table["net_weight"], strict=True):
        assert lineage[sym]["short"] == f"{w_short * v:.10g}"  # the edited weights, exactly (long may hold it too)
    first = table["symbol"][0]
    assert float(lineage[first]["short"]) == pytest.approx(-0.5 * w_short)


def test_a_decision_task_is_pure_and_a_retry_is_harmless(shared_root: Path, tmp_path: Path) -> None:
    """The driver reads everything a sleeve needs; the task never opens the lakehouse or a shared path (here the
    data root is gone while it runs), writes nothing outside its scratch folder, and a retry returns the same."""
    import shutil

    from dataflows.meta import sleeves
    from dataflows.meta.run import meta_plan_for

    root = tmp_path / "data"
    shutil.copytree(shared_root / "lakehouse", root / "lakehouse")
    plan = meta_plan_for(make_settings(root, "meta=crypto_long_short"), run_dir=tmp_path / "run")
    prepared = sleeves.prepare(plan)
    assert not prepared.failed and len(prepared.inputs) == 2
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    root.rename(tmp_path / "moved")  # the decision cannot read the lakehouse, even by accident
    first = [sleeves.decide(i) for i in prepared.inputs]
    again = [sleeves.decide(i) for i in prepared.inputs]
    assert all(o.ok for o in first), [o.reason for o in first]
    assert not root.exists()
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert after == sorted(p if p.parts[0] != "data" else Path("moved", *p.parts[1:]) for p in before)
    for a, b in zip(first, again, strict=True):
        assert a.artifacts.keys() == b.artifacts.keys() and {"priced_weights", "report_html"} <= a.artifacts.keys()
        assert a.artifacts["priced_weights"].equals(b.artifacts["priced_weights"])
        assert a.artifacts["report_html"] == b.artifacts["report_html"]
        assert a.results["weights_table"].equals(b.results["weights_table"])


def test_a_sleeve_folder_left_by_an_interrupted_driver_is_moved_aside(tmp_path: Path) -> None:
    """A folder left half-written (no manifest, or a `running` one of a process now gone) is kept aside; a
    finished sleeve's folder is never reused."""
    import dataclasses

    from dataflows.meta.folders import new_sleeve_record
    from dataflows.meta.run import meta_plan_for

    plan = meta_plan_for(make_settings(tmp_path / "data", "meta=crypto_long_short"))
    (job,) = [j for j in plan.jobs() if j.spec.name == "short"]
    job = dataclasses.replace(job, run_dir=tmp_path / "run" / "sleeves" / "short")
    job.run_dir.mkdir(parents=True)
    (job.run_dir / "candidates.json").write_text("{")  # the dead attempt got this far
    record = new_sleeve_record(job, {"meta_sleeve": "short"}, kind="run")
    (aside,) = (tmp_path / "run" / "sleeves").glob(".short.interrupted-*")
    assert (aside / "candidates.json").read_text() == "{"
    body = json.loads((job.run_dir / "manifest.json").read_text())
    assert body["outcome"] == "running" and body["pid"] == os.getpid()
    record.finish("ok")
    with pytest.raises(DataflowsError, match="already holds a finished sleeve"):
        new_sleeve_record(job, {"meta_sleeve": "short"}, kind="run")
    running = dataclasses.replace(job, run_dir=tmp_path / "run2" / "sleeves" / "short")
    running.run_dir.mkdir(parents=True)
    (running.run_dir / "manifest.json").write_text(json.dumps({"outcome": "running", "pid": 1, "host": "gone"}))
    new_sleeve_record(running, {"meta_sleeve": "short"}, kind="run")
    (aside,) = (tmp_path / "run2" / "sleeves").glob(".short.interrupted-*")
    assert json.loads((aside / "manifest.json").read_text())["host"] == "gone"


def test_missing_pinned_run_is_a_clear_error(shared_root: Path) -> None:
    from dataflows.meta.run import run_meta

    pin = "meta.sleeves.short={profile: crypto_short, run_id: no_such_run}"
    with pytest.raises(ConfigError, match=r"no_such_run.*pinned run not found"):
        run_meta(make_settings(shared_root, "meta=crypto_long_short", pin), {})


def test_nested_meta_acts_as_one_sleeve(shared_root: Path, capsys: pytest.CaptureFixture) -> None:
    run_dir = run_meta_cli(shared_root, capsys, "meta=crypto_core")
    book = run_dir / "sleeves" / "book"
    for name in ("meta_weights.csv", "flattened_weights.csv", "meta_stream.parquet", "manifest.json"):
        assert (book / name).is_file(), name
    assert (book / "sleeves" / "long" / "weights.parquet").is_file()
    w = _weights(run_dir)
    assert set(w) == {"book", "trend"} and sum(w.values()) == pytest.approx(1.0, abs=1e-12)
    assert all(0.3 - 1e-12 <= v <= 0.7 + 1e-12 for v in w.values())
    inner = _flat(book)
    flat = _flat(run_dir)
    assert (flat["net"].abs() <= 0.1 + 1e-12).all()
    trend = set(pl.read_csv(run_dir / "sleeves" / "trend" / "weights.csv")["symbol"].to_list())
    sym = inner.filter((pl.col("net") < 0) & ~pl.col("symbol").is_in(trend))["symbol"][0]  # only the book holds it
    row = flat.filter(pl.col("symbol") == sym)
    expected = max(-0.1, w["book"] * inner.filter(pl.col("symbol") == sym)["net"].item())
    assert row["net"].item() == pytest.approx(expected, abs=1e-12)
    stream = pl.read_parquet(run_dir / "meta_returns.parquet")
    assert stream.columns == ["date", "book", "trend"]


def test_two_sleeves_sharing_symbols_fetch_each_range_once(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from dataflows.lakehouse.store import Lakehouse

    root = tmp_path / "data"
    run_meta_cli(root, capsys, "meta=crypto_long_short", "meta.sleeves.short=crypto_long")
    fetches = Lakehouse(root).registry.fetches()
    assert fetches
    counts = Counter((f["symbol"], f["start_ts"], f["end_ts"], f["kind"]) for f in fetches)
    assert max(counts.values()) == 1


def test_viz_meta_draws_the_meta_dag(shared_root: Path, tmp_path: Path) -> None:
    import dataclasses
    import shutil

    from dataflows.config import VizConfig
    from dataflows.viz import viz

    if shutil.which("dot") is None:
        pytest.skip("graphviz's dot is not installed")
    out = tmp_path / "meta.svg"
    settings = make_settings(shared_root, "meta=crypto_long_short")
    assert viz(dataclasses.replace(settings, viz=VizConfig(output=str(out)))) == 0
    text = out.read_text()
    assert "sleeve fan" in text and "sleeve_results" in text and "flattened_weights.csv" in text


# ------------------------------------------------------------------------------------------ config


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ({"sleeves": {"a": "crypto_long"}, "methd": "hrp"}, r"meta\.methd is not a meta key"),
        ({"sleeves": {"a": {"profile": "crypto_long", "max_wieght": 0.5}}}, r"sleeves\.a\.max_wieght is not a sleeve"),
        ({"sleeves": {"a": "crypto_long"}, "method": "max_sharpe"}, "method='max_sharpe' is not one of"),
        ({"sleeves": {"a": "crypto_long", "b": "crypto_short"}, "min_weight": 0.6}, "min_weights sum to 1.2 > 1"),
        ({"sleeves": {"a": "crypto_long", "b": "crypto_short"}, "max_weight": 0.4}, "max_weights sum to 0.8 < 1"),
        ({"sleeves": {"a": "no_such_profile"}}, "neither a profile"),
        ({"sleeves": {"a": {"profile": "crypto_long", "profile_overrides": {"nope": 1}}}}, "invalid profile"),
        ({"sleeves": {"a": {"profile": "crypto_long", "min_weight": 0.5, "max_weight": 0.4}}}, "min_weight=0.5 >"),
        ({"sleeves": {}}, "sleeves must map"),
        ({"name": "crypto_long_short", "sleeves": {"a": {"meta": "crypto_long_short"}}}, "meta cycle"),
    ],
)
def test_config_errors_name_the_key(raw: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_meta(raw)


def test_nested_parse_and_depth_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    from dataflows.meta import config as meta_config

    spec = parse_meta({"name": "top", "sleeves": {"core": {"meta": "crypto_core"}, "x": "crypto_short"}})
    core = spec.sleeve("core").meta
    assert core is not None and core.depth == 2 and core.sleeve("book").meta.depth == 3  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match="meta cycle: crypto_long_short → crypto_core → crypto_long_short"):
        parse_meta({"name": "crypto_long_short", "sleeves": {"c": {"meta": "crypto_core"}}})
    monkeypatch.setattr(meta_config, "MAX_DEPTH", 2)
    with pytest.raises(ConfigError, match="deeper than 2"):
        parse_meta({"name": "top", "sleeves": {"core": {"meta": "crypto_core"}}})


def test_each_profile_is_composed_once_per_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    import hydra

    calls: list[list[str]] = []
    real = hydra.compose

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(list(kwargs.get("overrides") or []))
        return real(*args, **kwargs)

    monkeypatch.setattr(hydra, "compose", counting)
    raw = {
        "sleeves": {
            "a": "crypto_long",
            "b": {"profile": "crypto_long", "optimizer": "min_variance", "profile_overrides": {"weight_cap": 0.2}},
            "c": "crypto_short",
        }
    }
    spec = parse_meta(raw)
    assert sorted(map(tuple, calls)) == [("profile=crypto_long",), ("profile=crypto_short",)]
    a, b = spec.sleeve("a").profile, spec.sleeve("b").profile
    assert a is not None and b is not None and a.name == b.name == "crypto_long"
    assert b.weight_cap == 0.2 and a.weight_cap != 0.2  # one sleeve's overrides never leak into another's
    parse_meta(raw)  # a new parse composes again: files edited between runs are read afresh
    assert len(calls) == 4


def test_jobs_are_submitted_longest_first_and_results_keep_config_order(tmp_path: Path) -> None:
    from dataflows.meta import sleeves
    from dataflows.meta.execute import sleeve_results
    from dataflows.meta.model import MetaPlan

    raw = {
        "sleeves": {
            "pin": {"profile": "crypto_short", "run_id": "some_run"},
            "plain": "crypto_long",
            "inner": {"meta": "crypto_long_short"},
            "other": "crypto_short",
        }
    }
    plan = MetaPlan(parse_meta(raw), make_settings(tmp_path), tmp_path / "run", "r")
    jobs = plan.jobs()
    assert [j.spec.name for j in jobs] == ["inner", "plain", "other", "pin"]
    assert [j.index for j in jobs] == [2, 1, 3, 0]
    failed = {str(j.run_dir): ("not run", 1) for j in jobs if j.spec.kind == "profile"}
    done = sleeve_results(plan, sleeves.Prepared(failed=failed), {})  # pinned and nested fail: no run, no record
    assert [r.name for r in done] == ["pin", "plain", "inner", "other"]
    assert not any(r.ok for r in done)


def test_package_placed_profile_is_accepted() -> None:
    from tests.conftest import compose

    cfg = compose(["meta=crypto_long_short"])
    from omegaconf import OmegaConf

    profile = OmegaConf.to_container(cfg.profile)
    spec = parse_meta({"sleeves": {"long": profile | {"max_weight": 0.9}, "short": "crypto_short"}})
    assert spec.sleeve("long").profile.name == "crypto_long" and spec.sleeve("long").max_weight == 0.9  # type: ignore[union-attr]


# ------------------------------------------------------------------------------------------ properties


@st.composite
def books_and_weights(draw: st.DrawFn) -> tuple[dict[str, float], list[SleeveBook], float | None]:
    universe = [f"S{i}" for i in range(8)]
    n_sleeves = draw(st.integers(1, 4))
    raw = np.array(draw(st.lists(st.floats(0.01, 1.0), min_size=n_sleeves, max_size=n_sleeves)))
    weights = raw / raw.sum()
    books = []
    for k in range(n_sleeves):
        syms = draw(st.lists(st.sampled_from(universe), min_size=1, max_size=6, unique=True))
        gross = np.array(draw(st.lists(st.floats(0.0, 1.0), min_size=len(syms), max_size=len(syms))))
        gross = gross / gross.sum() if gross.sum() > 0 else np.full(len(syms), 1.0 / len(syms))
        frac = np.array(draw(st.lists(st.floats(-1.0, 1.0), min_size=len(syms), max_size=len(syms))))
        books.append(SleeveBook(f"s{k}", tuple(syms), gross, gross * frac))
    cap = draw(st.one_of(st.none(), st.floats(0.01, 1.0)))
    return {f"s{k}": float(w) for k, w in enumerate(weights)}, books, cap


@settings(max_examples=200, deadline=None)
@given(books_and_weights())
def test_flatten_conserves_and_caps(case: tuple[dict[str, float], list[SleeveBook], float | None]) -> None:
    weights, books, cap = case
    flat = flatten(weights, books, cap)
    exp_gross = sum(weights[b.name] * b.gross.sum() for b in books)
    exp_net = sum(weights[b.name] * b.net.sum() for b in books)
    assert flat.gross.sum() + flat.removed_gross == pytest.approx(exp_gross, abs=1e-12)
    assert flat.net.sum() + flat.removed_net == pytest.approx(exp_net, abs=1e-12)
    assert (flat.gross >= np.abs(flat.net) - 1e-12).all()
    if cap is None:
        assert flat.removed_gross == 0.0
    else:
        assert (np.abs(flat.net) <= cap + 1e-12).all()
    for i, sym in enumerate(flat.symbols):
        assert sum(flat.lineage[sym].values()) == pytest.approx(flat.net[i], abs=1e-12)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_project_bounds_respects_bounds(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 6))
    lo = np.array(data.draw(st.lists(st.floats(0.0, 1.0 / n), min_size=n, max_size=n)))
    hi = np.array([data.draw(st.floats(float(v), 1.0)) for v in lo])
    if hi.sum() < 1:
        hi = np.ones(n)
    w = np.array(data.draw(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n)))
    out = project_bounds(w, lo, hi)
    assert out.sum() == pytest.approx(1.0, abs=1e-12)
    assert (out >= lo - 1e-15).all() and (out <= hi + 1e-15).all()
    inside = (w / w.sum() >= lo) & (w / w.sum() <= hi) if w.sum() > 0 else np.zeros(n, bool)
    if inside.all():  # a no-op when no bound binds
        assert np.allclose(out, w / w.sum(), atol=1e-12)


def test_flatten_rejects_broken_inputs() -> None:
    book = SleeveBook("a", ("X",), np.array([1.0]), np.array([1.0]))
    with pytest.raises(FlatteningError, match="sum to 1"):
        flatten({"a": 0.9}, [book], None)
    with pytest.raises(FlatteningError, match="gross >= \\|net\\|"):
        flatten({"a": 1.0}, [SleeveBook("a", ("X",), np.array([0.5]), np.array([1.0]))], None)
    with pytest.raises(ConfigError, match="infeasible"):
        project_bounds(np.array([0.5, 0.5]), np.array([0.6, 0.6]), np.array([1.0, 1.0]))


# ------------------------------------------------------------------------------------------ Ray


@pytest.mark.ray
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::FutureWarning:ray.*")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_local_and_ray_executors_give_identical_meta_weights(
    ray_cluster: object, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    root = tmp_path / "data"
    ray_dir = run_meta_cli(root, capsys, "meta=crypto_long_short", "executor=ray")
    local_dir = run_meta_cli(root, capsys, "meta=crypto_long_short", "executor=local")
    assert _weights(ray_dir) == _weights(local_dir)
    assert _flat(ray_dir).equals(_flat(local_dir))
    for sleeve in ("long", "short"):  # artifacts written by the workers are in the sleeve folders
        assert (ray_dir / "sleeves" / sleeve / "weights.parquet").is_file()
    counts = Counter((f["symbol"], f["start_ts"], f["end_ts"]) for f in _registry_fetches(root))
    assert max(counts.values()) == 1  # concurrent sleeves on two workers never fetched the same range twice


def _registry_fetches(root: Path) -> list[dict]:
    from dataflows.lakehouse.store import Lakehouse

    return Lakehouse(root).registry.fetches()


@pytest.mark.ray
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::FutureWarning:ray.*")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_nested_meta_fans_out_on_ray_too(ray_cluster: object, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = tmp_path / "data"
    ray_dir = run_meta_cli(root, capsys, "meta=crypto_core", "executor=ray")
    local_dir = run_meta_cli(root, capsys, "meta=crypto_core", "executor=local")
    assert _weights(ray_dir) == _weights(local_dir)
    assert _flat(ray_dir).equals(_flat(local_dir))
    here = f":{os.getpid()}"
    for folder in (ray_dir, ray_dir / "sleeves" / "book"):  # every profile sleeve, nested ones too, on Ray workers
        rows = json.loads((folder / "sleeves.json").read_text())
        workers = {s["sleeve"]: s["worker"] for s in rows if s["kind"] == "profile"}
        assert workers and not any(w.endswith(here) for w in workers.values()), workers
        composed = [s["worker"] for s in rows if s["kind"] == "meta"]  # a nested meta is composed in the driver
        assert all(w.endswith(here) for w in composed), composed
    local = [s["worker"] for s in json.loads((local_dir / "sleeves" / "book" / "sleeves.json").read_text())]
    assert all(w.endswith(here) for w in local)

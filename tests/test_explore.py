"""The read-only verbs a user finds their way with: `list`, `scan`, `config` and `VERB --help`.

In-process through `dataflows.__main__.main` (Hydra composes exactly as on the command line); stdout is a
`StringIO`, so the output is the piped form (tab-separated lines) unless a test hands a terminal-like stream.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import AS_OF, compose, make_settings
from tests.hostile._dispatch import cli

REPO = Path(__file__).resolve().parents[1]
FAST = ("data.progress=false", "data.retry_wait_s=0.01")


def tables(text: str) -> dict[str, list[dict[str, str]]]:
    """Piped output → {title: rows as dicts}: `# title`, a tab-separated header row, tab-separated rows."""
    out: dict[str, list[dict[str, str]]] = {}
    for block in text.strip("\n").split("\n\n"):
        lines = [line for line in block.splitlines() if line]
        assert lines[0].startswith("# "), block
        header = lines[1].split("\t")
        rows = [line.split("\t") for line in lines[2:] if not line.startswith("# ")]
        assert all(len(r) == len(header) for r in rows), block
        out[lines[0][2:]] = [dict(zip(header, r, strict=True)) for r in rows]
    return out


def by_name(rows: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    return {r["name"]: r for r in rows}


def conf_names(group: str) -> list[str]:
    from dataflows.config import conf_dir

    return sorted(p.stem for p in (conf_dir() / group).glob("*.yaml"))


# --------------------------------------------------------------------------------------------- list


def test_list_profiles_piped():
    code, out, err = cli("list", "profiles")
    assert code == 0, err
    [(title, rows)] = tables(out).items()
    assert title.startswith("profiles (conf/profile/") and "default crypto_long" in title
    rows = by_name(rows)
    assert sorted(rows) == conf_names("profile")
    assert rows["crypto_short"]["scanners"] == "crypto_liquid_short"
    assert rows["crypto_short"]["optimizer"] == "hrp"  # not in the file: the typed default
    assert rows["equities_trend"]["optimizer"] == "min_variance"
    assert rows["crypto_long"]["description"] == "Liquid USDT/USDC spot pairs with positive 24h momentum, long."
    assert "┃" not in out and "\x1b[" not in out


def test_list_scanners_shows_inheritance_and_merged_filters():
    code, out, _ = cli("list", "scanners")
    assert code == 0
    rows = by_name(next(iter(tables(out).values())))
    assert sorted(rows) == conf_names("scanner")
    short = rows["crypto_liquid_short"]
    assert short["inherits"] == "crypto_base" and short["direction"] == "SHORT" and short["limit"] == "30"
    assert short["filters"] == "liquid, priced, falling"  # two inherited from crypto_base, one of its own
    assert rows["equities_liquid_long"]["inherits"] == ""
    assert rows["crypto_liquid_long"]["description"] == "Liquid crypto, long."  # the file's leading comment


def test_list_metas_and_venues():
    code, out, _ = cli("list", "metas")
    assert code == 0
    metas = by_name(next(iter(tables(out).values())))
    assert sorted(metas) == conf_names("meta")
    assert metas["crypto_long_short"]["sleeves"] == "long=crypto_long, short=crypto_short"
    assert metas["crypto_core"]["sleeves"].startswith("book=meta:crypto_long_short, trend=crypto_long")
    assert metas["crypto_core"]["method"] == "min_variance"

    code, out, _ = cli("list", "venue")  # the singular works too
    assert code == 0
    venues = by_name(next(iter(tables(out).values())))
    assert {n: r["kind"] for n, r in venues.items()} == {"ccxt": "ccxt", "files": "files", "synthetic": "synthetic"}
    assert "venue.exchange=binance" in venues["ccxt"]["description"]


def test_list_without_a_word_lists_every_group_but_not_runs():
    code, out, _ = cli("list")
    assert code == 0
    titles = [t.split(" ")[0] for t in tables(out)]
    assert titles == ["profiles", "scanners", "metas", "venues", "executors"]
    assert "run_id" not in out


def test_list_on_a_terminal_draws_tables():
    from dataflows.explore import list_groups

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Terminal()
    assert list_groups("profiles", out) == 0
    text = out.getvalue()
    assert "┃" in text and "crypto_short" in text and "\t" not in text


def test_list_runs_is_the_runs_listing(tmp_path):
    folder = tmp_path / "data" / "runs" / "r1"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"run_id": "r1", "outcome": "ok", "as_of": "2026-06-30"}))
    code, out, err = cli("list", "runs", f"data.root={tmp_path / 'data'}")
    assert code == 0, err
    assert [line.split()[:2] for line in out.splitlines()[1:2]] == [["r1", "ok"]]
    assert "1 run(s) in" in out


@pytest.mark.parametrize("args", [("list", "sleeves"), ("list", "profiles", "venue=ccxt"), ("list", "a", "b")])
def test_list_refuses_other_words_in_one_line(args):
    code, out, err = cli(*args)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and "profiles" in err


# --------------------------------------------------------------------------------------------- scan


@pytest.fixture
def counted_venues(monkeypatch):
    """Every synthetic venue the DAG builds, so a test can count its calls."""
    import dataflows.venues.synthetic as synthetic

    built: list = []

    class Counted(synthetic.SyntheticVenue):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            built.append(self)

    monkeypatch.setattr(synthetic, "SyntheticVenue", Counted)
    return built


def reference_candidates(tmp_path: Path, *overrides: str) -> dict:
    """candidates.json as a run writes it for the same config and as_of (the run's own node)."""
    from dataflows.driver import build_driver, run_inputs
    from dataflows.lakehouse.store import Lakehouse

    named = [
        f"++scanner.name={o.split('=', 1)[1]}" for o in overrides if o.startswith("scanner=")
    ]  # as the CLI names it
    settings = make_settings(tmp_path / "ref", *overrides, *named)
    run_dir = tmp_path / "ref_run"
    run_dir.mkdir()
    build_driver(settings).execute(
        ["candidates_file"], inputs=run_inputs(settings, Lakehouse(settings.data_root), run_dir)
    )
    return json.loads((run_dir / "candidates.json").read_text())


@pytest.mark.parametrize("choice", ["profile=crypto_short", "scanner=crypto_liquid_long"])
def test_scan_prints_funnels_and_the_candidates_a_run_starts_from(tmp_path, counted_venues, choice):
    expected = reference_candidates(tmp_path, choice)
    counted_venues.clear()
    root = tmp_path / "scan_root"
    code, out, err = cli("scan", choice, f"run.as_of={AS_OF}", f"data.root={root}", *FAST)
    assert code == 0, err
    shown = tables(out)
    funnels = {t.split(":")[0].removeprefix("scanner "): rows for t, rows in shown.items() if t.startswith("scanner ")}
    assert set(funnels) == set(expected["funnel"])
    if choice.startswith("scanner="):  # named after its file, not its `logic`
        assert set(funnels) == {choice.split("=", 1)[1]}
    for name, steps in expected["funnel"].items():
        assert [(r["step"], int(r["left"])) for r in funnels[name]] == [(s["step"], s["left"]) for s in steps]
    [cands] = [rows for t, rows in shown.items() if " as of " in t and not t.startswith("scanner ")]
    assert [r["symbol"] for r in cands] == [c["symbol"] for c in expected["candidates"]]
    assert [float(r["quote_volume"]) for r in cands] == [c["quote_volume"] for c in expected["candidates"]]
    assert {r["direction"] for r in cands} == {c["direction"] for c in expected["candidates"]}
    assert len(cands) == expected["count"] > 0
    # discovery only: markets and tickers asked, no bar fetched, nothing written (no run folder, no lakehouse)
    assert counted_venues and all(v.calls["ohlcv"] == 0 for v in counted_venues)
    assert sum(v.calls["markets"] for v in counted_venues) >= 1
    assert not root.exists()


def test_scan_direction_follows_the_scanner(tmp_path):
    code, out, err = cli("scan", "profile=crypto_short", f"run.as_of={AS_OF}", f"data.root={tmp_path}", *FAST)
    assert code == 0, err
    [cands] = [rows for t, rows in tables(out).items() if " as of " in t and not t.startswith("scanner ")]
    assert cands and {r["direction"] for r in cands} == {"SHORT"} and all(float(r["change"]) < 0 for r in cands)


def test_scan_finding_nothing_is_one_line_exit_2(tmp_path):
    code, out, err = cli(
        "scan",
        "scanner=crypto_liquid_long",
        "++scanner.filters.liquid.value=1e15",
        f"run.as_of={AS_OF}",
        f"data.root={tmp_path / 'data'}",
        *FAST,
    )
    assert code == 2 and out == ""
    assert err.startswith("error: discovery found no candidates") and err.count("\n") == 1
    assert "filters.liquid" in err and "Traceback" not in err
    assert not (tmp_path / "data").exists()


def test_scan_of_a_meta_says_to_scan_a_sleeve(tmp_path):
    code, out, err = cli("scan", "meta=crypto_long_short", f"data.root={tmp_path}")
    assert code == 2 and out == ""
    assert "long=crypto_long, short=crypto_short" in err and err.count("\n") == 1


# --------------------------------------------------------------------------------------------- config


def test_config_prints_resolved_yaml_with_merged_scanners_and_absolute_root(tmp_path, monkeypatch):
    from dataflows import scanners
    from dataflows.config import conf_dir

    monkeypatch.chdir(tmp_path)
    code, out, err = cli("config", "profile=crypto_short", "data.root=rel/data", f"run.as_of={AS_OF}")
    assert code == 0, err
    doc = yaml.safe_load(out)
    assert doc["data"]["root"] == str(tmp_path.resolve() / "rel" / "data")
    assert doc["profile"]["name"] == "crypto_short" and doc["run"]["as_of"] == AS_OF
    assert list(doc["scanners"]) == ["crypto_liquid_short"]
    short = doc["scanners"]["crypto_liquid_short"]
    spec = scanners.load("crypto_liquid_short", conf_dir() / "scanner")
    assert short["inherits"] == ["crypto_base"]
    assert short["universe"] == spec.universe and short["universe"]["quotes"] == ["USDT", "USDC"]  # from the base
    assert short["filters"] == {f.name: {"field": f.field, "op": f.op, "value": f.value} for f in spec.filters}
    assert set(short["filters"]) == {"liquid", "priced", "falling"}
    assert short["sort"] == {"by": "change", "descending": False} and short["limit"] == 30
    assert "# groups: executor=local profile=crypto_short venue=synthetic" in out
    assert not (tmp_path / "rel").exists()


def test_config_shows_a_chosen_scanner_with_its_overrides():
    code, out, err = cli("config", "scanner=crypto_liquid_long", "++scanner.filters.priced=null")
    assert code == 0, err
    doc = yaml.safe_load(out)
    assert list(doc["scanners"]) == ["crypto_liquid_long"]
    assert set(doc["scanners"]["crypto_liquid_long"]["filters"]) == {"liquid"}  # `priced` removed on the CLI


def test_config_of_a_meta_shows_every_sleeve_scanner():
    code, out, err = cli("config", "meta=crypto_core")
    assert code == 0, err
    doc = yaml.safe_load(out)
    # crypto_core nests crypto_long_short (long + short) beside a second long sleeve
    assert sorted(doc["scanners"]) == ["crypto_liquid_long", "crypto_liquid_short"]


# --------------------------------------------------------------------------------------------- help


def leaf_keys(tree: dict, prefix: str = "") -> list[str]:
    keys = []
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        keys += leaf_keys(value, f"{dotted}.") if isinstance(value, dict) and value else [dotted]
    return keys


def test_help_documents_every_key_of_the_composed_config():
    from omegaconf import OmegaConf

    from dataflows.explore import field_descriptions

    code, out, err = cli("run", "--help")
    assert code == 0, err
    default = OmegaConf.to_container(compose([]), resolve=True)
    keys = leaf_keys(default)
    assert len(keys) > 60
    lines = out.splitlines()
    at = {line.split("=", 1)[0].strip(): i for i, line in enumerate(lines) if line.startswith("  ") and "=" in line}
    missing = [k for k in keys if k not in at]
    assert not missing, missing
    descriptions = field_descriptions()
    undocumented = sorted(k for k in keys if not descriptions.get(k))
    assert not undocumented, f"add a `# comment` beside these fields in dataflows/config/settings.py: {undocumented}"
    for key in keys:  # the description is printed on the key's line, or under it when the value is long
        here, below = lines[at[key]], lines[at[key] + 1]
        assert descriptions[key] in here or (below.startswith(" " * 46) and descriptions[key] in below), key
    assert "profile.optimizer=hrp " in out and "venue.seed=0 " in out and "data.root=./data " in out
    assert "crypto_long*" in out and "synthetic*" in out


def test_help_shows_values_with_the_given_overrides():
    code, out, _ = cli("scan", "profile=equities_trend", "venue.seed=7", "--help")
    assert code == 0
    assert out.startswith("usage: python -m dataflows scan")
    assert "profile.optimizer=min_variance " in out and "venue.seed=7 " in out and "equities_trend*" in out


def test_help_is_fast_it_imports_no_pipeline(tmp_path):
    code = (
        "import sys\nfrom dataflows.__main__ import main\ntry:\n    main(['run', '--help'])\nexcept SystemExit:\n"
        "    pass\nheavy = [m for m in ('polars', 'hamilton', 'numpy', 'numba') if m in sys.modules]\n"
        "sys.stderr.write(repr(heavy))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0 and "profile.scanners=" in done.stdout
    assert done.stderr.strip() == "[]"


def test_usage_names_the_new_verbs_and_what_run_does():
    code, out, _ = cli("--help")
    assert code == 0
    for verb in ("list", "scan", "config", "run", "audit", "viz", "runs"):
        assert f"\n  {verb} " in out, verb
    assert "python -m dataflows scan " in out and "python -m dataflows list scanners" in out
    run_line = out.split("\n  run ", 1)[1].split("\n  scan ", 1)[0]
    assert "walk-forward" in run_line and "report" in run_line and "meta" in run_line

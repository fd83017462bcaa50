"""A meta run has one data phase: the venue's markets and tickers are asked once (for the union of the sleeves'
scanners), the audit, repair, guard and ratings backfill run once for the union of the sleeves' candidates, and each
(symbol, range) is fetched once; each sleeve still scans with its own scanners and gets exactly the files of its
profile run alone."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from dataflows.venues.synthetic import SyntheticVenue
from tests.conftest import make_settings

FAST = ("flow.skip_validation=true", "flow.skip_analysis=true")


@pytest.fixture
def venue_calls(monkeypatch: pytest.MonkeyPatch) -> Counter:
    calls: Counter = Counter()
    for name in ("markets", "tickers"):
        original = getattr(SyntheticVenue, name)

        def counted(self: SyntheticVenue, _original=original, _name=name) -> pl.DataFrame:
            calls[_name] += 1
            return _original(self)

        monkeypatch.setattr(SyntheticVenue, name, counted)
    return calls


def _content(path: Path) -> bytes:
    """A file's bytes; weights.csv without its run_id column (the one thing that names the folder)."""
    if path.name == "weights.csv":
        return pl.read_csv(path).drop("run_id").write_csv().encode()
    return path.read_bytes()


def _run(data_root: Path, capsys: pytest.CaptureFixture, *overrides: str) -> Path:
    from dataflows.app import run

    assert run(make_settings(data_root, *FAST, *overrides), {"test": True}) == 0
    return Path(capsys.readouterr().out.strip().splitlines()[-1])


def test_meta_discovery_runs_once_and_sleeves_match_their_profiles(
    tmp_path: Path, capsys: pytest.CaptureFixture, venue_calls: Counter
) -> None:
    meta = _run(tmp_path / "data", capsys, "meta=crypto_long_short")
    assert venue_calls == Counter(markets=1, tickers=1)  # two sleeves asked twice each before
    for sleeve, profile in (("long", "crypto_long"), ("short", "crypto_short")):
        alone = _run(tmp_path / "data", capsys, f"profile={profile}")
        for name in ("weights.csv", "candidates.json"):
            assert _content(meta / "sleeves" / sleeve / name) == _content(alone / name), (sleeve, name)


def test_three_sleeves_one_data_phase(
    tmp_path: Path, capsys: pytest.CaptureFixture, venue_calls: Counter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """crypto_core: a nested long/short book beside a long sleeve — three profile sleeves, one data phase."""
    import json

    from dataflows.lakehouse import features
    from dataflows.lakehouse.store import Lakehouse

    updates: list[int] = []
    original = features.update

    def counted(lh, venue, timeframe, symbols):
        updates.append(len(symbols))
        return original(lh, venue, timeframe, symbols)

    monkeypatch.setattr(features, "update", counted)
    root = tmp_path / "data"
    meta = _run(root, capsys, "meta=crypto_core")
    assert venue_calls == Counter(markets=1, tickers=1)
    folders = {
        "long": meta / "sleeves" / "book" / "sleeves" / "long",
        "short": meta / "sleeves" / "book" / "sleeves" / "short",
        "trend": meta / "sleeves" / "trend",
    }
    union = set()
    for folder in folders.values():
        union |= {c["symbol"] for c in json.loads((folder / "candidates.json").read_text())["candidates"]}
    assert updates == [len(union)]  # the ratings backfill ran once, for the union
    manifest = json.loads((meta / "manifest.json").read_text())
    assert manifest["data_phase"]["symbols"] == len(union)
    from dataflows.console import meta_summary_lines

    summary = "\n".join(meta_summary_lines(meta, manifest))
    assert f"one data phase for all sleeves: {len(union)} symbols" in summary
    weights = {r["sleeve"]: r["weight"] for r in manifest["meta_weights"]}
    assert f"book {100 * weights['book']:.1f}% (in_sample)" in summary and str(meta / "report.html") in summary
    fetches = Counter((f["symbol"], f["start_ts"], f["end_ts"]) for f in Lakehouse(root).registry.fetches())
    assert fetches and max(fetches.values()) == 1
    for sleeve, overrides in (
        ("long", ("profile=crypto_long",)),
        ("short", ("profile=crypto_short",)),
        ("trend", ("profile=crypto_long", "optimizer=risk_parity")),
    ):
        alone = _run(root, capsys, *overrides)
        for name in ("weights.csv", "candidates.json", "selection.json"):
            assert _content(folders[sleeve] / name) == _content(alone / name), (sleeve, name)
        body = json.loads((folders[sleeve] / "manifest.json").read_text())
        assert body["outcome"] == "ok" and "training_returns" in body["node_timings_s"]

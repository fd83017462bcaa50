"""A meta run asks the venue for markets and tickers once (for the union of its sleeves' scanners), not per sleeve;
each sleeve still scans with its own scanners and gets exactly the weights of its profile run alone."""

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
            together = (meta / "sleeves" / sleeve / name).read_bytes()
            assert together == (alone / name).read_bytes(), (sleeve, name)

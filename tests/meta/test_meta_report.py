"""The meta run's own report.html: self-contained, every sleeve and flattened symbol listed, sleeve reports linked."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import polars as pl
import pytest

from tests.meta.test_meta import run_meta_cli


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("meta_report") / "data"


@pytest.fixture(scope="module")
def meta_run(root: Path) -> Path:
    from dataflows.meta.run import run_meta
    from tests.meta.test_meta import make_settings

    assert run_meta(make_settings(root, "meta=crypto_long_short"), {}) == 0
    (run_dir,) = sorted((root / "runs").glob("*crypto_long_short_meta*"))
    return run_dir


def _self_contained(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<script" not in page.lower()
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", page), "no network references"
    assert "@import" not in page and "url(http" not in page


def test_meta_run_writes_a_self_contained_report(meta_run: Path) -> None:
    path = meta_run / "report.html"
    assert path.is_file()
    page = path.read_text(encoding="utf-8")
    _self_contained(page)
    manifest = json.loads((meta_run / "manifest.json").read_text())
    assert manifest["report"] == "report.html"
    for text in (manifest["run_id"], "crypto_long_short", "risk_parity", manifest["as_of"]):
        assert html.escape(text) in page
    assert page.count("<svg") == 1 and 'class="chart-error"' not in page  # the equity chart rendered
    for sleeve in pl.read_csv(meta_run / "meta_weights.csv")["sleeve"]:
        assert f"<td>{html.escape(sleeve)}</td>" in page
        assert (meta_run / "sleeves" / sleeve / "report.html").is_file()
        assert f'href="sleeves/{sleeve}/report.html"' in page
    flat = pl.read_csv(meta_run / "flattened_weights.csv")
    assert flat.height > 0
    table = page[page.index('id="flattened-table"') :]
    for symbol in flat["symbol"]:
        assert html.escape(symbol).replace("/", "/<wbr>").replace(":", ":<wbr>") in table
    assert 'id="dropped"' not in page


def test_report_can_be_rebuilt_from_the_folder(meta_run: Path, tmp_path: Path) -> None:
    from dataflows.report.meta_report import render_meta_report

    first = (meta_run / "report.html").read_text(encoding="utf-8")
    assert render_meta_report(meta_run) == meta_run / "report.html"
    assert (meta_run / "report.html").read_text(encoding="utf-8") == first  # deterministic, manifest-driven


def test_dropped_sleeve_is_reported(root: Path, capsys: pytest.CaptureFixture) -> None:
    bad = "meta.sleeves.short={profile: crypto_short, profile_overrides: {weight_cap: 0.01}}"
    run_dir = run_meta_cli(
        root, capsys, "meta=crypto_long_short", bad, "meta.allow_failed_sleeves=true", "meta.max_weight=1.0"
    )
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    _self_contained(page)
    dropped = page[page.index('id="dropped"') :]
    assert "short" in dropped[: dropped.index("</ul>")] and "cap" in dropped[: dropped.index("</ul>")]
    assert 'href="sleeves/long/report.html"' in page
    assert '<tr class="dropped"><td>short</td>' in page

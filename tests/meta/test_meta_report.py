"""The meta run's own report.html: self-contained, every sleeve and flattened symbol listed, sleeve reports linked."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import polars as pl
import pytest

from dataflows.report.page import as_of_label
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
    for text in (manifest["run_id"], "crypto_long_short", "risk_parity", as_of_label(manifest["as_of"])):
        assert html.escape(text) in page
    assert "T00:00:00" not in page  # dates are days
    assert page.count("<svg") == 1 and 'class="chart-error"' not in page  # the equity + drawdown chart rendered
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


def _links(page: str) -> set[str]:
    return set(re.findall(r'href="([^"#][^"]*)"', page))


def test_pinned_sleeve_is_listed_and_links_the_pinned_runs_report(root: Path, capsys: pytest.CaptureFixture) -> None:
    from dataflows.app import run
    from dataflows.lakehouse.store import file_hash
    from tests.meta.test_meta import make_settings

    assert run(make_settings(root, "profile=crypto_short", "run.id=pinned_for_report"), {}) == 0
    capsys.readouterr()
    pin = "meta.sleeves.short={profile: crypto_short, run_id: pinned_for_report}"
    run_dir = run_meta_cli(root, capsys, "meta=crypto_long_short", pin)
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    _self_contained(page)
    pinned = page[page.index('id="pinned"') :]
    pinned = pinned[: pinned.index("</ul>")]
    sha = file_hash(root / "runs" / "pinned_for_report" / "weights.parquet")[:12]
    assert "<strong>short</strong>" in pinned and "pinned_for_report" in pinned and sha in pinned
    assert "../pinned_for_report/report.html" in _links(page)
    for href in _links(page):  # every link resolves to a file, relative to the page
        assert (run_dir / href).resolve().is_file(), href


def test_nested_meta_has_its_own_page_linked_from_the_parent(root: Path, capsys: pytest.CaptureFixture) -> None:
    run_dir = run_meta_cli(root, capsys, "meta=crypto_core")
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    _self_contained(page)
    assert {"sleeves/book/report.html", "sleeves/trend/report.html"} <= _links(page)
    book = run_dir / "sleeves" / "book"
    inner = (book / "report.html").read_text(encoding="utf-8")
    _self_contained(inner)
    assert "crypto_long_short" in inner and inner.count("<svg") == 1
    assert {"sleeves/long/report.html", "sleeves/short/report.html"} <= _links(inner)
    for folder, text in ((run_dir, page), (book, inner)):
        for href in _links(text):
            assert (folder / href).resolve().is_file(), href

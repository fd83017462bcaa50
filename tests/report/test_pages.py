"""The pages a real run writes: the tearsheet says what metrics.json says, dates are days, and — in headless
Chromium — the first screen of the tearsheet holds the out-of-sample headline beside the benchmark, the benchmark's
line and the monthly table; the meta report's holds the metrics of the meta and of each sleeve stream."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from dataflows.report.page import metric_text
from dataflows.validation import metrics as M
from tests.conftest import make_settings
from tests.report.test_tearsheet import _assert_self_contained, _chromium, _parse, _run_browser, browser_args

SCREEN = (1440, 900)  # a laptop's browser window; the page must say what matters inside it without scrolling

# Injected into a copy of the page (the page itself has no scripts): after layout, write the position of each
# selector's first element, and the viewport, into the DOM that `--dump-dom` prints.
_PROBE = """<script>
(function () {
  var out = {viewport: [window.innerWidth, window.innerHeight]}, sel = %s;
  for (var k in sel) {
    var e = document.querySelector(sel[k]);
    out[k] = e ? (function (r) { return [r.top, r.bottom]; })(e.getBoundingClientRect()) : null;
  }
  var p = document.createElement("pre"); p.id = "layout-probe"; p.textContent = JSON.stringify(out);
  document.body.appendChild(p);
})();
</script>"""


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pages") / "data"


def _run(root: Path, *overrides: str) -> Path:
    from dataflows.app import run

    before = set((root / "runs").glob("*")) if (root / "runs").is_dir() else set()
    assert run(make_settings(root, *overrides), {"test": True}) == 0
    (folder,) = set((root / "runs").glob("*")) - before
    return folder


@pytest.fixture(scope="module")
def sleeve_run(root: Path) -> Path:
    return _run(root)  # the default profile, walk-forward included


@pytest.fixture(scope="module")
def meta_run(root: Path, sleeve_run: Path) -> Path:
    return _run(root, "meta=crypto_core", "flow.skip_validation=true")


def test_the_tearsheet_says_what_metrics_json_says(sleeve_run: Path) -> None:
    page = (sleeve_run / "report.html").read_text(encoding="utf-8")
    _assert_self_contained(page)
    assert "T00:00:00" not in page and "T00:00:00" not in (sleeve_run / "plots" / "index.html").read_text()
    books = json.loads((sleeve_run / "backtest" / "metrics.json").read_text())["books"]
    tables = _parse(page).tables
    headline = {row[0]: row[1:] for row in tables["headline-metrics"]}
    for key in M.HEADLINE:  # the sleeve is the profile book; the default benchmark is the raw EW book
        assert headline[M.LABELS[key]] == [metric_text(key, books[b][key]) for b in ("profile", "raw_ew")]
    assert "benchmark: equal-weight pool" in page and 'id="sample-banner"' not in page
    assert "single linkage" in page and "single linkage" in (sleeve_run / "plots" / "index.html").read_text()
    order = [page.index(f'id="{anchor}"') for anchor in ("performance", "monthly", "rolling", "drawdowns")]
    assert order == sorted(order) and order[-1] < page.index('id="backtest"') < page.index('id="weights"')


def _layout(browser: str, page: Path, selectors: dict[str, str], tmp_path: Path) -> dict:
    probe = tmp_path / f"probe-{page.parent.name}.html"
    html = page.read_text(encoding="utf-8")
    probe.write_text(html.replace("</body>", _PROBE % json.dumps(selectors) + "</body>"), encoding="utf-8")
    window = f"--window-size={SCREEN[0]},{SCREEN[1]}"
    args = browser_args(browser, tmp_path / "profile", window, "--dump-dom", probe.as_uri())
    done = _run_browser(args, timeout=60.0)
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(r'<pre id="layout-probe">(.*?)</pre>', done.stdout, re.S)
    assert found, "the layout probe did not run"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def _on_first_screen(layout: dict, name: str) -> None:
    height = layout["viewport"][1]
    assert layout[name] is not None, f"{name} is not on the page"
    top, bottom = layout[name]
    assert 0 <= top < bottom <= height, f"{name} spans {top:.0f}–{bottom:.0f} px; the first screen is {height} px"


def test_first_screens_in_headless_chromium(sleeve_run: Path, meta_run: Path, tmp_path: Path) -> None:
    browser = _chromium()
    if browser is None:
        pytest.skip("chromium not on PATH (apt-get install chromium); cannot measure the first screen")
    from dataflows.report.plots import BENCHMARK_COLOR

    tearsheet = _layout(
        browser,
        sleeve_run / "report.html",
        {
            "headline": "#headline-metrics",
            "benchmark_line": f'#lead-chart svg path[stroke="{BENCHMARK_COLOR}"]',
            "chart": "#lead-chart svg",
            "monthly_head": "#monthly-returns thead",
            "monthly_first_year": "#monthly-returns tbody tr",
            "weights": "#weights-table",
        },
        tmp_path,
    )
    for name in ("headline", "benchmark_line", "chart", "monthly_head", "monthly_first_year"):
        _on_first_screen(tearsheet, name)
    assert tearsheet["weights"][0] > tearsheet["viewport"][1]  # the in-sample details come after
    meta = _layout(
        browser,
        meta_run / "report.html",
        {"metrics": "#meta-metrics", "chart": "#performance svg", "correlation": "#sleeve-correlation"},
        tmp_path,
    )
    _on_first_screen(meta, "metrics")
    assert meta["chart"][0] < meta["viewport"][1] < meta["correlation"][0]  # the chart starts on the first screen

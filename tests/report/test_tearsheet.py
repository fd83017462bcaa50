"""The HTML tearsheet: self-contained, complete, escaped, robust to degenerate runs, and it renders in a browser."""

from __future__ import annotations

import dataclasses
import math
import os
import re
import shutil
import signal
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from dataflows.report.data import OptimizerAttempt, TearsheetData
from dataflows.report.tearsheet import TearsheetError, render_tearsheet, tearsheet_html
from dataflows.validation import metrics as M

SYMBOLS = [
    "BTC/USDT:USDT",
    "ETH/USDT:USDT",
    "SOL/USDT:USDT",
    "BNB/USDT:USDT",
    "XRP/USDT:USDT",
    "ADA/USDT:USDT",
    "AVAX/USDT:USDT",
    "LINK/USDT:USDT",
    "DOT/USDT:USDT",
    "LTC/USDT:USDT",
    "DOGE/USDT:USDT",
    "TRX/USDT:USDT",
]
SHORTS = {"DOGE/USDT:USDT", "TRX/USDT:USDT"}
EVIL = "<script>alert('x')</script>/USDT"


def _weights_frame(symbols: list[str], gross: np.ndarray, shorts: set[str], clusters: list[int]) -> pl.DataFrame:
    directions = ["SHORT" if s in shorts else "LONG" for s in symbols]
    return pl.DataFrame(
        {
            "symbol": symbols,
            "weight": gross,
            "net_weight": [-w if d == "SHORT" else w for w, d in zip(gross, directions, strict=True)],
            "direction": directions,
            "cluster": clusters,
            "optimizer": ["min_variance"] * len(symbols),
            "fallback": [True] * len(symbols),
        },
        schema_overrides={"cluster": pl.Int64},
    )


def make_data(symbols: list[str] | None = None, shorts: set[str] | None = None, seed: int = 7) -> TearsheetData:
    """A realistic sleeve run: 3 return factors → 3 clusters, max_sharpe failed then min_variance succeeded."""
    symbols = list(SYMBOLS if symbols is None else symbols)
    shorts = SHORTS if shorts is None else shorts
    rng = np.random.default_rng(seed)
    n, t = len(symbols), 400
    cluster_ids = [i % 3 for i in range(n)]
    factors = rng.normal(0.0, 0.02, size=(t, 3))
    returns = factors[:, cluster_ids] + rng.normal(0.0, 0.015, size=(t, n))
    order = sorted(range(n), key=lambda i: (cluster_ids[i], i))  # dendrogram order: clusters contiguous
    corr = np.corrcoef(returns[:, order], rowvar=False).reshape(n, n)
    gross = rng.dirichlet(np.full(n, 2.0))
    weights = _weights_frame(symbols, gross, shorts, cluster_ids)
    net = weights["net_weight"].to_numpy()
    cov = np.cov(returns, rowvar=False).reshape(n, n)
    marginal = net * (cov @ net)
    risk = marginal / marginal.sum()
    port = returns @ net + 0.0008
    equity = np.cumprod(1.0 + port)
    equity = equity / equity[0]
    drawdown = equity / np.maximum.accumulate(equity) - 1.0
    dates = [str(d) for d in np.arange(np.datetime64("2025-06-01"), np.datetime64("2025-06-01") + t)]
    clusters: dict[int, list[str]] = {c: [symbols[i] for i in order if cluster_ids[i] == c] for c in range(3)}
    clusters[2].append("FOO/USDT:USDT")  # a clustered symbol that did not win
    return TearsheetData(
        title="Crypto long/short sleeve",
        run_id="20260630T000000Z-a1b2c3",
        as_of="2026-06-30",
        profile="crypto_long_short",
        weights=weights,
        risk_contributions=dict(zip(symbols, risk.tolist(), strict=True)),
        clusters=clusters,
        corr_symbols=[symbols[i] for i in order],
        corr=corr,
        funnel={"universe": 240, "with features": 212, "healthy": 180, "passed vetoes": 64, "winners": n},
        stage_reached=2,
        relaxations=[f"{symbols[min(2, n - 1)]} LONG — stage 2, bypassed: entropy, efficiency"],
        regime="NORMAL",
        regime_metrics={"score": 0.42, "vol_annual": 0.55, "drawdown": -0.12, "dispersion": 0.031},
        dates=dates,
        equity=equity,
        drawdown=drawdown,
        attempts=[
            OptimizerAttempt(
                "max_sharpe", ok=False, reason="solver status infeasible: 10% cap × 12 assets", seconds=0.41
            ),
            OptimizerAttempt("min_variance", ok=True, reason="", seconds=0.18),
        ],
        notes=["quarantined: FOO/USDT:USDT (stale bars since 2026-06-27)"],
        metrics={"annual_return": 0.31, "annual_vol": 0.42, "sharpe": 1.12, "max_drawdown": -0.18, "n_obs": t},
    )


class _Tables(HTMLParser):
    """Collect the text of every cell of every table, by table id, and every src/href/url attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.links: list[str] = []
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._in_body = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.links += [v or "" for k, v in attrs if k in ("src", "href", "xlink:href", "action", "srcset")]
        if tag == "table" and a.get("id"):
            self._table = a["id"]
            self.tables[self._table] = []
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._table and self._in_body:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "tbody":
            self._in_body = False
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _parse(text: str) -> _Tables:
    parser = _Tables()
    parser.feed(text)
    parser.close()
    return parser


def _assert_self_contained(text: str) -> None:
    lowered = text.lower()
    assert "<script" not in lowered
    assert "<link" not in lowered
    assert "@import" not in lowered
    assert "<iframe" not in lowered
    for target in _parse(text).links:
        assert target.startswith(("#", "data:")), f"external reference {target[:80]!r}"
    for target in re.findall(r"url\(([^)]*)\)", text):
        assert target.strip("'\"").startswith(("#", "data:")), f"external url() {target[:80]!r}"
    # Any http(s) left must be an SVG namespace declaration (xmlns / xmlns:xlink), never a fetched resource.
    for match in re.finditer(r"https?://", text):
        before = text[max(0, match.start() - 20) : match.start()]
        assert re.search(r'xmlns(:\w+)?="$', before), (
            f"network reference near {text[match.start() - 40 : match.start() + 60]!r}"
        )


def _render(tmp_path: Path, data: TearsheetData, name: str = "report.html") -> str:
    path = render_tearsheet(data, tmp_path / name)
    assert path == tmp_path / name
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert 'class="chart-error"' not in text, "a chart failed to draw"
    return text


def test_page_is_self_contained_and_complete(tmp_path: Path) -> None:
    data = make_data()
    text = _render(tmp_path, data)
    _assert_self_contained(text)
    # the in-sample headline chart (equity + drawdown), rolling statistics, net weights, risk, heatmap, funnel
    assert text.count("<svg") == 6
    for anchor in ("weights", "risk", "clusters", "funnel", "regime", "fallbacks", "monthly", "rolling", "drawdowns"):
        assert f'<section id="{anchor}">' in text
    assert '<section id="equity">' not in text  # the headline chart is the in-sample equity: not drawn twice
    assert '<section id="performance" class="lead in-sample">' in text and 'id="sample-banner"' in text
    for fact in (data.run_id, data.profile, data.as_of, "NORMAL", "2 of 4 — spectral relaxation"):
        assert fact in text
    tables = _parse(text).tables
    headline = dict((row[0], row[1]) for row in tables["headline-metrics"])
    returns = np.diff(np.concatenate([[1.0], data.equity])) / np.concatenate([[1.0], data.equity[:-1]])
    m = M.series_metrics(returns, 365)
    assert list(headline) == [M.LABELS[k] for k in M.HEADLINE]
    assert headline["Sharpe"] == f"{m['sharpe']:.2f}" and headline["CAGR"] == f"{m['cagr']:.2%}"
    assert headline["max drawdown"] == f"{-m['max_drawdown']:.2%}" and headline["hit rate"] == f"{m['hit_rate']:.1%}"
    assert [row[0] for row in tables["funnel-table"]] == list(data.funnel)
    assert {row[0] for row in tables["risk-table"]} == set(SYMBOLS)
    assert [row[0] for row in tables["clusters-table"]] == ["C0", "C1", "C2"]
    assert "FOO/USDT:USDT" in tables["clusters-table"][2][-1]
    # the fallback chain: which link produced the weights and why the earlier one failed
    attempts = tables["attempts-table"]
    assert [row[1] for row in attempts] == ["max_sharpe", "min_variance"]
    assert "failed" in attempts[0][2] and "infeasible" in attempts[0][3]
    assert "produced the weights" in attempts[1][2]
    assert "Weights produced by <strong>min_variance</strong> (link 2 of 2) after 1 failed link" in text
    assert "stale bars" in text


def test_weights_table_lists_every_symbol_by_weight(tmp_path: Path) -> None:
    data = make_data()
    rows = _parse(_render(tmp_path, data)).tables["weights-table"]
    expected = data.weights.sort("weight", descending=True)
    assert [row[1] for row in rows] == expected["symbol"].to_list()
    for row, rec in zip(rows, expected.iter_rows(named=True), strict=True):
        _, symbol, direction, weight, net, cluster, optimizer, fallback = row
        assert direction == rec["direction"]
        assert weight == f"{rec['weight']:.2%}"
        assert net == f"{rec['net_weight']:.2%}"
        assert net.startswith("-") == (symbol in SHORTS)
        assert (cluster, optimizer, fallback) == (str(rec["cluster"]), "min_variance", "yes")


def test_strings_are_escaped(tmp_path: Path) -> None:
    symbols = [*SYMBOLS[:5], EVIL]
    base = make_data(symbols, shorts={EVIL})
    data = dataclasses.replace(
        base,
        title="<b>sleeve</b> & co",
        relaxations=[f"{EVIL} SHORT — stage 3, bypassed: <friction>"],
        notes=[f"quarantined {EVIL}"],
        attempts=[OptimizerAttempt("max_sharpe", ok=False, reason="<img src=x onerror=alert(1)>")],
        regime="<CRISIS>",
    )
    text = _render(tmp_path, data)
    _assert_self_contained(text)
    assert "<script" not in text.lower()
    assert "<img" not in text and "<b>" not in text and "<friction>" not in text
    assert "&lt;script&gt;" in text
    assert "&lt;b&gt;sleeve&lt;/b&gt; &amp; co" in text
    assert EVIL in [row[1] for row in _parse(text).tables["weights-table"]]
    assert "No optimizer succeeded" in text


def _single(data: TearsheetData) -> TearsheetData:
    one = data.weights.head(1).with_columns(weight=pl.lit(1.0), net_weight=pl.lit(1.0), direction=pl.lit("LONG"))
    symbol = one["symbol"][0]
    return dataclasses.replace(
        data,
        weights=one,
        risk_contributions={symbol: 1.0},
        clusters={0: [symbol]},
        corr_symbols=[symbol],
        corr=np.ones((1, 1)),
        relaxations=[],
    )


def _empty_weights(data: TearsheetData) -> TearsheetData:
    return dataclasses.replace(
        data,
        weights=pl.DataFrame(),
        risk_contributions={},
        clusters={},
        corr_symbols=[],
        corr=np.empty((0, 0)),
        funnel={"universe": 0},
        stage_reached=0,
        relaxations=[],
        regime_metrics={},
        dates=[],
        equity=np.empty(0),
        drawdown=np.empty(0),
        attempts=[
            OptimizerAttempt("max_sharpe", ok=False, reason="no winners"),
            OptimizerAttempt("equal_weight", ok=False, reason="no winners"),
        ],
        notes=[],
        metrics={},
    )


def _nan_metrics(data: TearsheetData) -> TearsheetData:
    nan = math.nan
    return dataclasses.replace(
        data,
        metrics={"sharpe": nan, "annual_return": math.inf, "max_drawdown": nan},
        regime_metrics={"score": nan},
        weights=data.weights.with_columns(
            pl.when(pl.col("symbol") == SYMBOLS[0]).then(None).otherwise(pl.col("cluster")).alias("cluster")
        ),
    )


LONG_NAME = "1000000MOGCOIN-PERPETUAL/USDT:USDT-240927"
EDGE_CASES = {
    "single_asset": lambda: _single(make_data()),
    "no_shorts": lambda: make_data(shorts=set()),
    "all_shorts": lambda: make_data(shorts=set(SYMBOLS)),
    "empty_relaxations": lambda: dataclasses.replace(make_data(), relaxations=[], stage_reached=1),
    "nan_metrics": lambda: _nan_metrics(make_data()),
    "empty_weights": lambda: _empty_weights(make_data()),
    "empty_weights_with_schema": lambda: dataclasses.replace(make_data(), weights=make_data().weights.clear()),
    "long_symbols": lambda: make_data([*SYMBOLS[:4], LONG_NAME, "A$B$C/USDT"], shorts={LONG_NAME}),
    "many_assets": lambda: make_data([f"COIN{i:03d}/USDT:USDT" for i in range(120)], shorts=set()),
    "tz_dates": lambda: dataclasses.replace(make_data(), dates=[f"{d}T00:00:00Z" for d in make_data().dates]),
    "unparseable_dates": lambda: dataclasses.replace(make_data(), dates=[f"day {i}" for i in range(400)]),
    "length_mismatch": lambda: dataclasses.replace(make_data(), dates=make_data().dates[:-5]),
}


@pytest.mark.parametrize("case", sorted(EDGE_CASES))
def test_edge_cases_render(tmp_path: Path, case: str) -> None:
    data = EDGE_CASES[case]()
    text = _render(tmp_path, data)
    _assert_self_contained(text)
    rows = _parse(text).tables.get("weights-table", [])
    expected = [] if data.weights.is_empty() else data.weights.sort("weight", descending=True)["symbol"].to_list()
    assert [row[1] for row in rows] == expected
    if case.startswith("empty_weights"):
        assert "No weights." in text
    if case == "empty_weights":
        assert "No equity curve recorded." in text and "No optimizer succeeded" in text
    if case == "all_shorts":
        assert all(row[4].startswith("-") for row in rows)
    if case == "nan_metrics":
        assert dict(_parse(text).tables["regime-metrics"]) == {"score": "n/a"}
    if case == "empty_relaxations":
        assert "no winner was admitted by a relaxation" in text
    if case == "length_mismatch":
        assert "Lengths differ" in text


def test_missing_weight_columns_is_a_clear_error(tmp_path: Path) -> None:
    data = dataclasses.replace(make_data(), weights=pl.DataFrame({"symbol": ["BTC/USDT:USDT"], "weight": [1.0]}))
    with pytest.raises(TearsheetError, match="net_weight"):
        render_tearsheet(data, tmp_path / "report.html")
    assert not list(tmp_path.iterdir())


def test_render_is_deterministic_and_atomic(tmp_path: Path) -> None:
    path = tmp_path / "run" / "report.html"
    path.parent.mkdir()
    path.write_text("old")
    render_tearsheet(make_data(), path)
    first = path.read_bytes()
    render_tearsheet(make_data(), path)
    assert path.read_bytes() == first == tearsheet_html(make_data()).encode()
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]  # no temp file left behind


_LAZY_CHECK = """
import sys
from pathlib import Path
from dataflows.report.tearsheet import render_tearsheet
assert "matplotlib" not in sys.modules, "matplotlib imported by the module, not lazily"
from tests.report.test_tearsheet import make_data
render_tearsheet(make_data(), Path(sys.argv[1]))
assert "matplotlib.pyplot" not in sys.modules, "rendering pulled in pyplot"
"""


def test_matplotlib_is_lazy_and_global_state_untouched(tmp_path: Path) -> None:
    import sys

    import matplotlib

    root = Path(__file__).parents[2]
    subprocess.run([sys.executable, "-c", _LAZY_CHECK, str(tmp_path / "a.html")], check=True, timeout=120, cwd=root)
    before = matplotlib.rcParams.copy()  # copy() reads raw values: never resolves (imports) the backend
    render_tearsheet(make_data(), tmp_path / "report.html")
    assert matplotlib.rcParams.copy() == before


# ---------------------------------------------------------------------------------------------------- in a browser


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _run_browser(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run a headless browser in its own process group; on timeout kill that whole group (browser + helpers)."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{args[0]} did not finish within {timeout} s: {err[-2000:]}")
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def browser_args(browser: str, profile: Path, *extra: str) -> list[str]:
    """A headless browser that fetches nothing on its own, its profile in `profile`, then `extra` flags."""
    return [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *extra,
    ]


def _png_pixels(path: Path) -> np.ndarray:
    from matplotlib.image import imread

    return np.asarray(imread(path))


def test_renders_in_headless_chromium(tmp_path: Path) -> None:
    browser = _chromium()
    if browser is None:
        pytest.skip("chromium not on PATH (CI installs Debian `chromium`); cannot check the page in a browser")
    page = render_tearsheet(make_data(), tmp_path / "report.html")
    shot = tmp_path / "report.png"
    base = browser_args(browser, tmp_path / "profile", "--window-size=1280,2000")
    start = time.perf_counter()
    done = _run_browser([*base, f"--screenshot={shot}", "--dump-dom", page.as_uri()], timeout=45.0)
    elapsed = time.perf_counter() - start
    assert done.returncode == 0, done.stderr[-2000:]
    assert elapsed < 45.0
    if os.environ.get("TEARSHEET_SCREENSHOT"):
        shutil.copy(shot, os.environ["TEARSHEET_SCREENSHOT"])

    pixels = _png_pixels(shot)
    assert pixels.shape[:2] == (2000, 1280)
    rgb = pixels[..., :3].reshape(-1, 3)
    colours = np.unique(np.round(rgb * 255).astype(np.uint8), axis=0)
    assert len(colours) > 50, "screenshot is (nearly) a single colour: the page rendered blank"
    background = np.median(rgb, axis=0)
    assert (np.abs(rgb - background).max(axis=1) > 0.1).mean() > 0.05, "screenshot is mostly background"

    dom = _parse(done.stdout)
    assert {row[1] for row in dom.tables["weights-table"]} == set(SYMBOLS)
    assert "<svg" in done.stdout

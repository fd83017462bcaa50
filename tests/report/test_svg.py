"""The hand-written SVG charts: axis ticks, date ticks, the embedded PNG, and charts on degenerate inputs."""

from __future__ import annotations

import base64
import io
import re
import sys
from datetime import datetime
from xml.etree import ElementTree

import numpy as np
import pytest

from dataflows.report import plots
from dataflows.report.svg import (
    date_ticks,
    day_label,
    diverging_rgb,
    nice_domain,
    png_data_uri,
    polyline_path,
    tick_format,
)


def _parse(svg: str) -> ElementTree.Element:
    assert svg.startswith("<svg ") and svg.endswith("</svg>") and svg.count("<svg") == 1
    assert ' id="' not in svg  # charts share a page: no ids to clash
    return ElementTree.fromstring(svg)


def test_nice_domain_covers_the_data_with_round_steps() -> None:
    assert nice_domain(0.0, 0.0924) == (0.0, 0.1, [0.0, 0.02, 0.04, 0.06, 0.08, 0.1])
    lo, hi, ticks = nice_domain(-0.508, 0.0, 3)
    assert lo <= -0.508 and hi == 0.0 and ticks == [-0.6, -0.4, -0.2, 0.0]
    assert nice_domain(1.0, 1.0)[0] < 1.0 < nice_domain(1.0, 1.0)[1]  # a flat series still gets a range
    assert nice_domain(float("nan"), 1.0)[:2] == (0.0, 1.0)


def test_tick_labels_use_just_enough_decimals() -> None:
    assert tick_format([0.0, 0.025, 0.05], percent=True) == ["0.0%", "2.5%", "5.0%"]
    assert tick_format([0.0, 0.02, 0.04], percent=True) == ["0%", "2%", "4%"]
    assert tick_format([-0.5, 0.0, 0.5], percent=False) == ["−0.5", "0.0", "0.5"]
    assert tick_format([0.0, 1000.0, 2000.0], percent=False) == ["0", "1,000", "2,000"]


def test_date_ticks_are_calendar_months_with_the_year_at_january() -> None:
    ticks = date_ticks(datetime(2025, 7, 1), datetime(2026, 6, 30), 8)
    assert [label for _, label in ticks] == ["Jul", "Sep", "Nov", "2026", "Mar", "May"]
    assert all(t.day == 1 for t, _ in ticks)
    short = date_ticks(datetime(2026, 3, 2), datetime(2026, 3, 9), 8)
    assert short[0][1] == "Mar 2 2026" and short[1][1] == "Mar 3" and len(short) == 8
    years = date_ticks(datetime(2016, 3, 1), datetime(2026, 3, 1), 8)
    assert [label for _, label in years] == ["2018", "2020", "2022", "2024", "2026"]
    months = date_ticks(datetime(2026, 2, 10), datetime(2026, 9, 1), 8)
    assert months[0][1] == "Mar 2026"  # no January in range: the first tick names the year


def test_day_label_shortens_midnight_stamps_only() -> None:
    assert day_label("2025-01-27T00:00:00Z") == "2025-01-27"
    assert day_label("2025-01-27T00:00:00+00:00") == "2025-01-27"
    assert day_label("2025-01-27T12:00:00Z") == "2025-01-27T12:00:00Z"
    assert day_label("W3") == "W3"


def test_the_embedded_png_decodes_to_the_same_pixels() -> None:
    from PIL import Image

    rgb = diverging_rgb(np.array([[-1.0, 0.0], [1.0, np.nan]]))
    assert rgb[0, 0].tolist() == [5, 48, 97] and rgb[1, 0].tolist() == [103, 0, 31]  # RdBu_r ends
    assert rgb[0, 1].tolist() == [247, 247, 247] and rgb[1, 1].tolist() == [255, 255, 255]  # 0 and NaN
    uri = png_data_uri(np.repeat(np.repeat(rgb, 3, axis=0), 3, axis=1))
    assert uri == png_data_uri(np.repeat(np.repeat(rgb, 3, axis=0), 3, axis=1))  # deterministic
    image = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert image.size == (6, 6)
    np.testing.assert_array_equal(np.asarray(image.convert("RGB"))[::3, ::3], rgb)


def test_lines_break_at_missing_values_and_long_series_are_thinned() -> None:
    x = np.arange(6.0)
    y = np.array([1.0, 2.0, np.nan, 3.0, 4.0, 5.0])
    assert polyline_path(x, y, 100).count("M") == 2
    assert polyline_path(x, np.full(6, np.nan), 100) == ""
    xs = np.linspace(0.0, 100.0, 10_000)
    path = polyline_path(xs, np.sin(xs), 100)
    assert path.count(",") <= 4 * 101  # at most first/min/max/last per pixel column
    assert "-1" in path and ",1" in path  # the extremes survive


def test_charts_are_valid_svg_on_ordinary_and_degenerate_inputs() -> None:
    dates = [str(d) for d in np.arange(np.datetime64("2025-01-01"), np.datetime64("2025-03-01"))]
    n = len(dates)
    eq = np.cumprod(1.0 + np.random.default_rng(0).normal(0.0, 0.01, n))
    dd = eq / np.maximum.accumulate(eq) - 1.0
    charts = [
        plots.net_weights_svg(["A/USDT", "B/USDT", "C$D<E>"], [0.6, -0.3, np.nan], ["LONG", "SHORT", "LONG"]),
        plots.net_weights_svg([], [], []),
        plots.risk_contributions_svg(["A", "B"], [1.2, -0.2]),
        plots.funnel_svg(["universe", "winners"], [0, 0]),
        plots.correlation_heatmap_svg(
            ["A", "B", "C"], np.array([[1, 0.5, np.nan], [0.5, 1, 0], [np.nan, 0, 1]]), [0, 0, None]
        ),
        plots.correlation_heatmap_svg([f"S{i}" for i in range(100)], np.eye(100), [i // 10 for i in range(100)]),
        plots.equity_drawdown_svg(dates, eq, dd),
        plots.equity_drawdown_svg(["day 1", "day 2"], np.array([1.0, np.nan]), np.array([0.0, np.nan])),
        plots.equity_drawdown_svg(dates[:1], eq[:1], dd[:1]),
        plots.backtest_equity_svg(dates, {"profile": eq, "raw_ew": eq * 0.9}, dd, dates[::10]),
        plots.window_returns_svg(["2025-01-01T00:00:00Z", "W1"], {"profile": np.array([0.1, np.inf])}, [False, True]),
        plots.performance_svg(dates, np.diff(eq, prepend=1.0) / np.r_[1.0, eq[:-1]], eq * 0, ("a", "b"), "t"),
        plots.performance_svg(["day 1", "day 2"], np.array([0.01, np.nan]), np.empty(0), ("a", ""), "t"),
        plots.rolling_svg(dates, [("Sharpe", False, [("a", np.full(len(dates), np.nan), "#000")])]),
        plots.exposure_svg(dates, np.ones(len(dates)), np.zeros(len(dates))),
    ]
    for svg in charts:
        root = _parse(svg)
        assert root.attrib["viewBox"].startswith("0 0 ")
        values = re.findall(r'="([^"]*)"', svg)
        assert not [v for v in values if "nan" in v.lower() or "inf" in v.lower()]  # no NaN/inf coordinates
    assert "C$D&lt;E&gt;" in charts[0]  # text is escaped, never markup
    assert "2025-01-01<" in charts[10]  # a midnight stamp shows as its day


def test_charts_import_no_plotting_library() -> None:
    import subprocess

    code = (
        "import sys\nfrom dataflows.report import plots\n"
        "plots.funnel_svg(['a'], [1])\nassert 'matplotlib' not in sys.modules, 'matplotlib imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.parametrize("n", [1, 2, 60])
def test_heatmap_scales_with_the_number_of_symbols(n: int) -> None:
    svg = plots.correlation_heatmap_svg([f"S{i}" for i in range(n)], np.eye(n), list(range(n)))
    root = _parse(svg)
    assert float(root.attrib["width"]) < 900 and len(svg) < 60_000

"""The terminal display: stages named from the node modules, a live line that yields to the fetch progress bar."""

from __future__ import annotations

import io

import pytest

from dataflows import console


def test_every_stage_module_has_a_label() -> None:
    from dataflows.driver import node_modules

    for module in node_modules():
        assert console.stage_of({"module": module.__name__}) == console.STAGES[module.__name__.rsplit(".", 1)[-1]]
    assert console.stage_of({"module": "dataflows.meta.dag"}) is None
    assert console.stage_of(None) is None


def test_live_line_follows_the_stage_and_yields_to_the_fetch_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console

    out = io.StringIO()
    monkeypatch.setattr(console, "_CONSOLE", [Console(file=out, force_terminal=True, width=100)])
    display = console.stage_display(live=True)
    display.run_before_graph_execution()
    tags = {"module": "dataflows.nodes.audit"}
    display.run_before_node_execution(node_name="audit_before", node_tags=tags)
    assert display._status is not None
    display.run_after_node_execution(node_tags=tags)
    fetch = {"module": "dataflows.nodes.fetch"}
    display.run_before_node_execution(node_name=console.FETCH_NODE, node_tags=fetch)
    assert display._status is None  # the progress bar owns the terminal while fetching
    display.run_after_node_execution(node_tags=fetch)
    guard = {"module": "dataflows.nodes.guard"}
    display.run_before_node_execution(node_name="toxic_findings", node_tags=guard)
    assert display._status is not None
    display.run_after_node_execution(node_tags=guard)
    display.run_after_graph_execution()
    assert display._status is None
    assert set(display.seconds) == {"audit", "fetch & repair", "toxic guard"}
    assert "audit" in out.getvalue()


def test_timeline_is_in_pipeline_order() -> None:
    display = console.stage_display(live=False)
    display.seconds.update({"walk-forward": 1.0, "discovery": 0.5, "report": 0.01})
    assert display.timeline() == "discovery 0.5 s · walk-forward 1.0 s"


def test_a_cold_kernel_cache_is_announced(tmp_path, monkeypatch, caplog) -> None:
    import logging

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    with caplog.at_level(logging.INFO, logger="dataflows"):
        console.announce_compilation()
    assert "compiling the numba kernels once" in caplog.text
    from kernels import cache_folder

    cached = cache_folder() / "ratings" / "panel.ratings_nb-42.py311.nbi"  # numba mirrors the tree here
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="dataflows"):
        console.announce_compilation()
    assert caplog.text == ""

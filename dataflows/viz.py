"""`python -m dataflows viz`: a picture of the DAG a run executes, drawn from the Hamilton graph itself.

Nodes are grouped by stage (the config groups, the data phase, the sleeve, reporting, validation; for a meta the
fan-out and the meta). Each driver input and config group is drawn once, in its own cluster; a node that reads them
names them on a second line ("uses: lakehouse · data_config") instead of drawing an edge across the picture. A saver
is a note naming the file it writes; a node that changes the lakehouse is red. Hamilton's own `visualize_execution`
draws the same graph, but ungrouped and with every input repeated per consumer, unreadable at ~90 nodes.
"""

from __future__ import annotations

import inspect
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dataflows.config import Settings
from dataflows.errors import ConfigError, DataflowsError

__all__ = ["dag_picture", "viz"]

STAGE_STYLE = {  # stage → (label, fill colour of the cluster)
    "config": ("configuration", "#f4f4f4"),
    "data": ("data phase", "#e8f1fb"),
    "sleeve": ("sleeve decision", "#eaf6ec"),
    "reporting": ("reporting", "#fdf3e6"),
    "validation": ("walk-forward validation", "#f3ecf9"),
    "trade": ("trading the weights", "#fdecea"),
    "fan-out": ("sleeve fan-out (a task per profile sleeve)", "#eaf6ec"),
    "meta": ("meta-portfolio", "#e8f1fb"),
}
LAKEHOUSE = "lakehouse"


def viz(settings: Settings) -> int:
    """Write the picture of the DAG `run` builds for this config to `viz.output` (.svg, .png or .pdf)."""
    out = _output(settings)
    fmt = out.suffix.lstrip(".").lower()
    if settings.meta is not None:  # the meta DAG (fan-out, then meta-returns, meta-weights, flattening)
        from dataflows.driver import trades
        from dataflows.meta.execute import FAN_OUT, build_meta_driver, meta_outputs
        from dataflows.meta.run import meta_plan_for

        dr = build_meta_driver(meta_plan_for(settings).spec, trade=trades(settings))
        wanted = [*FAN_OUT, *meta_outputs(dr)]
        fan = {"sleeve_task", "sleeve_output", "sleeve_outputs"}
        name = (settings.meta or {}).get("name", "")
        dot = dag_picture(dr, wanted, lambda n: "fan-out" if n in fan else "meta", f"meta {name}")
        dot.edge("sleeve_outputs", "sleeve_results", label="the driver saves each sleeve\nand composes nested metas",
                 style="dashed", color="#2b6cb0", fontsize="10")  # fmt: skip
    else:
        from dataflows.driver import build_driver, run_outputs, stage_of

        dr = build_driver(settings)
        title = f"profile {settings.profile.name} · venue {settings.venue.kind}"
        dot = dag_picture(dr, run_outputs(dr, settings), lambda name: stage_of(dr, name), title)
    dot.render(outfile=str(out), format=fmt, cleanup=True)
    if not out.exists() or out.stat().st_size == 0:
        msg = f"graphviz did not write {out}"
        raise DataflowsError(msg)
    sys.stdout.write(f"{out}\n")
    return 0


def _output(settings: Settings) -> Path:
    """`viz.output` checked: a writable .svg/.png/.pdf path, with graphviz's `dot` installed."""
    out = Path(settings.viz.output).expanduser().resolve()
    if out.suffix.lstrip(".").lower() not in ("svg", "png", "pdf"):
        msg = f"viz.output={settings.viz.output!r} must end in .svg, .png or .pdf"
        raise ConfigError(msg)
    if shutil.which("dot") is None:
        msg = "graphviz's `dot` is not installed: `apt-get install graphviz` (Debian/Ubuntu) or `brew install graphviz`"
        raise ConfigError(msg)
    blocker = next((p for p in out.parents if p.exists() and not p.is_dir()), None)
    if blocker is not None or (out.exists() and out.is_dir()):
        what = f"{blocker} is a file" if blocker is not None else "it is a folder"
        msg = f"viz.output={settings.viz.output!r}: cannot write there ({what}); choose a file path in a folder"
        raise ConfigError(msg)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        msg = f"viz.output={settings.viz.output!r}: cannot create its folder {out.parent} ({exc.strerror})"
        raise ConfigError(msg) from None
    return out


def dag_picture(dr: Any, outputs: list[str], stage: Callable[[str], str], title: str) -> Any:
    """A `graphviz.Digraph` of what `outputs` need in `dr`'s graph: clusters by `stage(name)`, inputs once, savers as
    notes naming their file, lakehouse writers with a dashed edge into the lakehouse input."""
    import graphviz

    from dataflows.driver import LAKEHOUSE_TAG, SAVER_TAG

    graph = dr.graph.nodes
    needed = _upstream(graph, outputs)
    inputs = sorted(n for n in needed if graph[n].user_defined)
    ambient = set(inputs) | {n for n in needed if stage(n) == "config"} | ({"venue"} & needed)
    dot = graphviz.Digraph(
        graph_attr={
            "rankdir": "TB",
            "newrank": "true",
            "label": title,
            "labelloc": "t",
            "fontsize": "20",
            "fontname": "Helvetica",
        },
        node_attr={"fontname": "Helvetica", "fontsize": "11", "shape": "box", "style": "rounded,filled"},
        edge_attr={"color": "#888888", "arrowsize": "0.6"},
    )
    with dot.subgraph(name="cluster_inputs") as sub:
        sub.attr(label="driver inputs", style="filled", color="#ffffff", fillcolor="#fffbe6")
        for name in inputs:
            shape = "cylinder" if name == LAKEHOUSE else "ellipse"
            sub.node(name, name, shape=shape, fillcolor="#fff3b0")
    by_stage: dict[str, list[str]] = {}
    for name in sorted(needed - set(inputs)):
        by_stage.setdefault(stage(name), []).append(name)
    order = list(STAGE_STYLE)
    for key in sorted(by_stage, key=lambda s: order.index(s) if s in order else len(order)):
        label, fill = STAGE_STYLE.get(key, (key, "#ffffff"))
        with dot.subgraph(name=f"cluster_{key}") as sub:
            sub.attr(label=label, style="filled", color=fill, fillcolor=fill, fontsize="14")
            for name in by_stage[key]:
                node = graph[name]
                uses = sorted(d.name for d in node.dependencies if d.name in ambient and d.name != "run_dir")
                text = name if key == "config" or not uses else f"{name}\nuses: {' · '.join(uses)}"
                if node.tags.get(SAVER_TAG):
                    sub.node(name, _saved_file(node) or name, shape="note", fillcolor="#ffffff")
                elif LAKEHOUSE_TAG in node.tags:
                    sub.node(name, f"{text}\n(writes the lakehouse)", fillcolor="#fde2e2", color="#c53030")
                else:
                    sub.node(name, text, fillcolor="#ffffff")
    for name in sorted(needed):
        inside = name in ambient and name not in inputs  # config groups: edges from the settings input
        for dep in sorted(d.name for d in graph[name].dependencies if d.name in needed):
            if dep not in ambient or inside:
                dot.edge(dep, name)
    return dot


def _upstream(graph: dict[str, Any], outputs: list[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(outputs)
    while todo:
        name = todo.pop()
        if name in seen or name not in graph:
            continue
        seen.add(name)
        todo.extend(d.name for d in graph[name].dependencies)
    return seen


def _saved_file(node: Any) -> str | None:
    """The file a `save_to` saver writes (its `file` argument), read from the saver's bound arguments."""
    params = inspect.signature(node.callable).parameters
    resolved = next((p.default for k, p in params.items() if k.endswith("__resolved_kwargs")), None)
    return resolved.get("file") if isinstance(resolved, dict) else None

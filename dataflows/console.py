"""What a run says on the terminal: the stage it is in while it runs, and a short summary when it ends.

- `stage_display(settings)`: a Hamilton lifecycle adapter. On a terminal it shows a live line (rich) with the current
  stage, its node and the elapsed time; otherwise (piped, CI) it logs one line when a stage starts, so logs stay
  line-oriented. Every stage's accumulated time is kept for the closing line. The fetch progress bar (its own rich
  display) takes the terminal while the repair node runs.
- `summary_lines(run_dir, manifest)`: the closing summary of a single run — top weights, the walk-forward's
  out-of-sample return / Sharpe / max drawdown against the equal-weight pool, fallbacks, exclusions and the path of
  `report.html` — read from the run folder, so it says exactly what the files say.

Both write to stderr; stdout keeps only the run folder's path (scripts read its last line).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("dataflows")

# Stage of each node module, in pipeline order (the label a user reads).
STAGES = {
    "config": "configuration",
    "venue": "venue",
    "discovery": "discovery",
    "audit": "audit",
    "fetch": "fetch & repair",
    "guard": "toxic guard",
    "metadata": "metadata",
    "features": "ratings",
    "health": "health gate",
    "aggregation": "returns",
    "sleeve": "sleeve decision",
    "reporting": "report",
    "validation": "walk-forward",
    "trade": "orders",
}
FETCH_NODE = "repair_report"  # shows its own progress bar


def kernels_cold() -> bool:
    """True when numba's cache holds no compiled ratings kernel yet (a fresh clone or `NUMBA_CACHE_DIR`): the first
    run then compiles every kernel once."""
    from kernels import cache_folder

    return not any(cache_folder().rglob("panel.ratings_nb-*.nbi"))


def announce_compilation() -> None:
    """Say once, before the silence, that this first run compiles the numba kernels (~25 s on 2 cores)."""
    if kernels_cold():
        log.info(
            "first run here: compiling the numba kernels once (~25 s on 2 cores); later runs load them from the cache"
        )


def interactive() -> bool:
    """A person watches: stderr is a terminal and this is not CI."""
    return sys.stderr.isatty() and not os.environ.get("CI")


_CONSOLE: list[Any] = []


def err_console() -> Any:
    """The one rich console on stderr, shared by logging and the live stage line (two would garble each other)."""
    if not _CONSOLE:
        from rich.console import Console

        _CONSOLE.append(Console(stderr=True))
    return _CONSOLE[0]


def stage_display(live: bool | None = None) -> Any:
    """The stage display adapter (`live`: a live terminal line; None = when `interactive()`)."""
    return _display_class()(interactive() if live is None else live)


def stage_of(tags: dict[str, Any] | None) -> str | None:
    """The stage label of a node from its Hamilton `module` tag (None for nodes outside `dataflows.nodes`)."""
    module = str((tags or {}).get("module", ""))
    if not module.startswith("dataflows.nodes."):
        return None
    short = module.rsplit(".", 1)[-1]
    return STAGES.get(short, short)


_DISPLAY: list[type] = []


def _display_class() -> type:
    if _DISPLAY:
        return _DISPLAY[0]
    from hamilton.lifecycle import GraphExecutionHook, NodeExecutionHook

    class StageDisplay(NodeExecutionHook, GraphExecutionHook):
        def __init__(self, live: bool) -> None:
            self.live = live
            self.seconds: dict[str, float] = {}
            self._status: Any = None
            self._stage: str | None = None
            self._t0 = 0.0
            self._node_t0 = 0.0
            self._seen: set[str] = set()

        def run_before_graph_execution(self, **_: Any) -> None:
            self._t0 = time.perf_counter()

        def run_before_node_execution(self, *, node_name: str, node_tags: dict | None = None, **_: Any) -> None:
            stage = stage_of(node_tags)
            self._node_t0 = time.perf_counter()
            self._stage = stage
            if stage is None:
                return
            if not self.live:
                if stage not in self._seen:
                    self._seen.add(stage)
                    log.info("stage: %s", stage)
                return
            if node_name == FETCH_NODE:
                self._stop()
                return
            text = f"[bold]{stage}[/] · {node_name} · {time.perf_counter() - self._t0:.1f} s"
            if self._status is None:
                self._status = err_console().status(text)
                self._status.start()
            else:
                self._status.update(text)

        def run_after_node_execution(self, *, node_tags: dict | None = None, **_: Any) -> None:
            stage = stage_of(node_tags)
            if stage is not None:
                self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - self._node_t0

        def run_after_graph_execution(self, **_: Any) -> None:
            self._stop()

        def _stop(self) -> None:
            if self._status is not None:
                self._status.stop()
                self._status = None

        stop = _stop  # for the caller's `finally` (an interrupted graph never reaches its after-graph hook)

        def timeline(self) -> str:
            """`discovery 0.4 s · audit 0.2 s · ...` in pipeline order (stages that took ≥ 0.05 s)."""
            order = list(STAGES.values())
            items = sorted(self.seconds.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99)
            return " · ".join(f"{stage} {s:.1f} s" for stage, s in items if s >= 0.05)

    _DISPLAY.append(StageDisplay)
    return StageDisplay


# --------------------------------------------------------------------------------------------- the summary


def _as_of(manifest: dict[str, Any]) -> str:
    from dataflows.report.page import as_of_label  # the report's words: `2026-06-30, end of day UTC`

    return as_of_label(manifest.get("as_of"))


def _pct(x: Any) -> str:
    return "n/a" if x is None else f"{100 * float(x):+.1f}%"


def _num(x: Any) -> str:
    return "n/a" if x is None else f"{float(x):.2f}"


def summary_lines(run_dir: Path, manifest: dict[str, Any]) -> list[str]:
    """The closing summary of a finished single run (plain text; every figure from the run folder)."""
    lines = [f"run {manifest.get('run_id')} ok in {manifest.get('seconds', 0):.1f} s (as of {_as_of(manifest)})"]
    sleeve = manifest.get("sleeve") or {}
    top = sleeve.get("top_weights") or []
    if top:
        n = _count_rows(run_dir / "weights.csv") or len(top)
        shown = " · ".join(f"{w['symbol']} {100 * w['net_weight']:+.1f}%" for w in top[:5])
        more = f" (+{n - 5} more in weights.csv)" if n > 5 else ""
        lines.append(f"  weights ({sleeve.get('optimizer')}, {n} assets): {shown}{more}")
    metrics = _read_json(run_dir / "backtest" / "metrics.json")
    if metrics:
        books = metrics.get("books") or {}
        span = f"{str(metrics.get('start', ''))[:10]} → {str(metrics.get('end', ''))[:10]}"
        head = f"  out of sample ({metrics.get('windows')} walk-forward windows, {span}):"
        lines.append(head)
        for book, label in (("profile", "this sleeve"), ("raw_ew", "equal-weight pool")):
            m = books.get(book)
            if m:
                lines.append(
                    f"    {label:<18} return {_pct(m.get('total_return'))} · Sharpe {_num(m.get('sharpe'))}"
                    f" · max drawdown {_pct(-abs(float(m['max_drawdown'])) if m.get('max_drawdown') is not None else None)}"
                )
        fallback_windows = metrics.get("windows_with_fallback") or 0
        failed = metrics.get("windows_failed") or 0
        if fallback_windows or failed:
            lines.append(f"    windows with a fallback: {fallback_windows}, failed windows (held cash): {failed}")
    if sleeve:
        used = [a["method"] for a in sleeve.get("attempts", []) if not a.get("ok")]
        if sleeve.get("fallback_used"):
            lines.append(f"  fallback: {' → '.join(used)} failed; weights by {sleeve.get('optimizer')}")
    health = manifest.get("health") or {}
    excluded = {k: v for k, v in health.items() if k != "FRESH"}
    if excluded:
        lines.append("  excluded by the health gate: " + ", ".join(f"{n} {k.lower()}" for k, n in excluded.items()))
    report = run_dir / "report.html"
    if report.exists():
        lines.append(f"  report: {report}")
    return lines


def _count_rows(csv: Path) -> int:
    try:
        return max(len(csv.read_text().splitlines()) - 1, 0)
    except OSError:
        return 0


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def meta_summary_lines(run_dir: Path, manifest: dict[str, Any]) -> list[str]:
    """The closing summary of a finished meta run: sleeve weights and streams, top flattened weights, report."""
    meta = manifest.get("meta") or {}
    lines = [
        f"meta run {manifest.get('run_id')} ({meta.get('name')}, {meta.get('method')}) ok in "
        f"{manifest.get('seconds', 0):.1f} s (as of {_as_of(manifest)})"
    ]
    phase = manifest.get("data_phase")
    if phase:
        lines.append(f"  one data phase for all sleeves: {phase.get('symbols')} symbols in {phase.get('seconds')} s")
    sleeves = manifest.get("meta_weights") or []
    if sleeves:
        lines.append(
            "  sleeves: "
            + " · ".join(f"{r['sleeve']} {100 * r['weight']:.1f}% ({r.get('stream', '')})" for r in sleeves)
        )
    dropped = manifest.get("dropped_sleeves") or []
    if dropped:
        lines.append(f"  dropped (failed): {', '.join(dropped)}")
    top = manifest.get("top_weights") or []
    if top:
        shown = []
        for w in top[:6]:  # largest gross first; a symbol held long and short nets out: both are shown
            offset = abs(w["gross"] - abs(w["net"])) > 1e-9
            shown.append(
                f"{w['symbol']} {100 * w['net']:+.1f}%" + (f" (gross {100 * w['gross']:.1f}%)" if offset else "")
            )
        lines.append("  flattened (net): " + " · ".join(shown))
    if (run_dir / "report.html").exists():
        lines.append(f"  report: {run_dir / 'report.html'}")
    return lines


def print_summary(run_dir: Path) -> None:
    """Write the summary of the run in `run_dir` to stderr (never fails the run)."""
    manifest = _read_json(run_dir / "manifest.json") or {}
    try:
        kind = manifest.get("kind")
        lines = meta_summary_lines(run_dir, manifest) if kind == "meta" else summary_lines(run_dir, manifest)
    except Exception as exc:  # a summary must not turn a finished run into a failure
        log.debug("no summary: %s", exc)
        return
    if interactive():
        err_console().print("\n".join(lines), highlight=False, markup=False, soft_wrap=True)
    else:
        sys.stderr.write("\n".join(lines) + "\n")

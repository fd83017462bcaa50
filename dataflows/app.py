"""The Hydra edge: compose the config, turn it into frozen `Settings`, run a verb, map errors to exit codes.

Everything below this module takes plain values; Hydra never leaks further in.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from dataflows.config import Settings, conf_dir, register_schema, settings_from_cfg
from dataflows.errors import DataflowsError

log = logging.getLogger("dataflows")


def launch(verb: str) -> None:
    """Run `verb` under `@hydra.main` with the packaged `conf/`.

    A single run exits with its code. In a sweep (`-m`) a failing job must not stop the sweep (Hydra's launcher
    does not catch `SystemExit`, and re-raises a job's exception before the comparison table is written): each
    job returns `{"exit_code", "error"}` instead, the sweep goes on, and the process exits afterwards with the
    worst job's code.
    """
    import hydra

    register_schema()
    codes: list[int] = []

    @hydra.main(version_base=None, config_path=str(conf_dir()), config_name="config")
    def _main(cfg: Any) -> dict[str, Any] | None:
        if not _in_multirun():
            code = dispatch(verb, cfg)
            if code:
                raise SystemExit(code)
            return None
        outcome = sweep_job(verb, cfg)
        codes.append(outcome["exit_code"])
        return outcome

    _main()
    from dataflows.meta.sweep import last_sweep_exit_code

    worst = max([*codes, last_sweep_exit_code()])  # the callback also sees jobs run in other processes
    if worst:
        failed = sum(1 for c in codes if c) or "some"
        sys.stderr.write(f"error: {failed} of {len(codes) or 'the'} sweep job(s) failed (see comparison.md)\n")
        raise SystemExit(worst)


def _in_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def sweep_job(verb: str, cfg: Any) -> dict[str, Any]:
    """One job of a sweep: never raises; `{"exit_code": int, "error": str | None}` for the comparison table."""
    try:
        code, error = _dispatch(verb, cfg)
    except Exception as exc:  # a crash is this job's outcome, not the sweep's end; its traceback goes to the log
        log.exception("sweep job crashed")
        code, error = 1, f"{exc.__class__.__name__}: {exc}"
    return {"exit_code": code, "error": error}


def _setup_logging() -> None:
    root = logging.getLogger()
    if any(getattr(h, "_dataflows", False) for h in root.handlers):
        return
    if sys.stderr.isatty():
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(show_path=False, rich_tracebacks=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler._dataflows = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for noisy in ("hamilton", "numba", "urllib3", "ccxt", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Hamilton logs a chat invitation on every node exception; ours are re-raised and reported in one line.
    for chatty in ("hamilton.driver", "hamilton.execution.graph_functions"):
        logging.getLogger(chatty).setLevel(logging.CRITICAL)


def dispatch(verb: str, cfg: Any) -> int:
    """Run one verb on a composed config; returns the exit code (0 ok) after printing a one-line reason."""
    return _dispatch(verb, cfg)[0]


def _dispatch(verb: str, cfg: Any) -> tuple[int, str | None]:
    _setup_logging()
    try:
        settings = settings_from_cfg(cfg)
        from omegaconf import OmegaConf

        resolved = OmegaConf.to_container(cfg, resolve=True)
        if verb == "run":
            return run(settings, resolved), None
        if verb == "audit":
            return audit(settings), None
        if verb == "viz":
            return viz(settings), None
        msg = f"unknown verb {verb!r}"
        raise DataflowsError(msg)
    except DataflowsError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return exc.exit_code, str(exc)


def run(settings: Settings, resolved: dict) -> int:
    """The main job: the data phase for the configured profile; prints the run folder."""
    from dataflows.driver import NodeTimer, build_driver, run_outputs
    from dataflows.lakehouse.store import Lakehouse
    from dataflows.runs import Outcome, new_run

    if settings.meta is not None:  # a meta-portfolio over several sleeves
        from dataflows.meta.run import run_meta

        return run_meta(settings, resolved)
    if settings.executor.kind != "local":
        from dataflows.errors import ConfigError

        msg = "executor=ray is not available yet for single-sleeve runs (the meta-portfolio issue); use executor=local"
        raise ConfigError(msg)
    ctx = new_run(settings)
    lh = Lakehouse(settings.data_root)
    timer = NodeTimer()
    dr = build_driver(settings, adapters=(timer,))
    inputs = {"settings": settings, "lakehouse": lh, "run_dir": ctx.run_dir, "as_of_ms": settings.as_of_ms}
    results: dict = {}
    log.info("run %s as of %s → %s", ctx.run_id, ctx.as_of.isoformat(), ctx.run_dir)
    outcome = Outcome()
    try:
        with outcome:
            results = dr.execute(run_outputs(settings), inputs=inputs)
    finally:
        _finish(settings, ctx, lh, resolved, timer.timings, outcome.status, outcome.error, results)
    sys.stdout.write(f"{ctx.run_dir}\n")
    return 0


def _finish(
    settings: Settings,
    ctx: Any,
    lh: Any,
    resolved: dict,
    timings: dict,
    outcome: str,
    error: str | None,
    results: dict,
) -> None:
    import json

    from dataflows.runs import write_manifest

    symbols: list[str] = []
    cands = ctx.run_dir / "candidates.json"
    if cands.exists():
        symbols = sorted({c["symbol"] for c in json.loads(cands.read_text())["candidates"]})
    inputs = {
        "lakehouse": str(lh.root),
        "ohlcv_sha256": lh.file_hashes(settings.venue_name, settings.data.timeframe, symbols),
        "tables_sha256": {
            p.name: _sha(p) for p in (lh.quarantine_path, lh.metadata_path, lh.features_path) if p.exists()
        },
    }
    extra = {}
    if "health_table" in results:
        table = results["health_table"]
        extra["health"] = {s: n for s, n in table["status"].value_counts().rows()}
        extra["healthy_symbols"] = results.get("healthy_symbols")
    if "sleeve_weights" in results:
        sw = results["sleeve_weights"]
        extra["sleeve"] = {
            "optimizer": sw.method,
            "fallback_used": sw.fallback_used,
            "attempts": [a.__dict__ for a in sw.attempts],
            "top_weights": results["weights_table"].head(10).to_dicts(),
        }
    if "backtest_files" in results:
        extra["backtest"] = {k: str(v) for k, v in results["backtest_files"].items()}
    if "features_update" in results:
        extra["features"] = results["features_update"].as_dict()
        extra["ratings_check"] = results.get("ratings_check")
    write_manifest(ctx, config=resolved, timings=timings, outcome=outcome, error=error, inputs=inputs, extra=extra)
    if outcome == "ok":  # failures are reported once, as the one-line `error:` of the CLI
        log.info("run %s ok: %s", ctx.run_id, extra.get("health"))


def _sha(path: Any) -> str:
    from dataflows.lakehouse.store import file_hash

    return file_hash(path)


def audit(settings: Settings) -> int:
    """Print the health table of the configured candidates; fetches nothing."""
    from rich.console import Console
    from rich.table import Table

    from dataflows.driver import AUDIT_OUTPUTS, build_driver
    from dataflows.lakehouse.store import Lakehouse

    lh = Lakehouse(settings.data_root)
    dr = build_driver(settings)  # the audit needs no run folder: it writes nothing but the registry's reconcile
    res = dr.execute(list(AUDIT_OUTPUTS), inputs={"settings": settings, "lakehouse": lh, "as_of_ms": settings.as_of_ms})
    table = res["audit_before_table"]
    console = Console(width=160)
    out = Table(title=f"lakehouse health as of {settings.as_of.isoformat()} ({settings.venue.kind})")
    for col in ("symbol", "status", "missing_bars", "reason"):
        out.add_column(col, overflow="fold")
    for row in table.iter_rows(named=True):
        out.add_row(row["symbol"], row["status"], str(row["missing_bars"]), row["reason"])
    console.print(out)
    counts = ", ".join(f"{s}: {n}" for s, n in sorted(table["status"].value_counts().rows()))
    console.print(f"{table.height} symbols — {counts}")
    return 0


def viz(settings: Settings) -> int:
    """Write a picture of the DAG that `run` builds for this config."""
    import shutil
    from pathlib import Path

    from dataflows.driver import build_driver, run_outputs
    from dataflows.errors import ConfigError

    if shutil.which("dot") is None:
        msg = "graphviz's `dot` is not installed: `apt-get install graphviz` (Debian/Ubuntu) or `brew install graphviz`"
        raise ConfigError(msg)
    out = Path(settings.viz.output).expanduser().resolve()
    fmt = out.suffix.lstrip(".").lower()
    if fmt not in ("svg", "png", "pdf"):
        msg = f"viz.output={settings.viz.output!r} must end in .svg, .png or .pdf"
        raise ConfigError(msg)
    out.parent.mkdir(parents=True, exist_ok=True)
    if settings.meta is not None:  # the meta DAG (sleeves fan out, meta-returns, meta-optimization, flattening)
        from dataflows.meta.run import viz_meta

        viz_meta(settings, out, fmt)
        sys.stdout.write(f"{out}\n")
        return 0
    dr = build_driver(settings)
    dr.visualize_execution(
        run_outputs(settings),
        str(out.with_suffix("")),
        render_kwargs={"format": fmt, "view": False},
        inputs={"settings": settings, "lakehouse": None, "run_dir": None, "as_of_ms": 0},
    )
    if not out.exists() or out.stat().st_size == 0:
        msg = f"graphviz did not write {out}"
        raise DataflowsError(msg)
    sys.stdout.write(f"{out}\n")
    return 0

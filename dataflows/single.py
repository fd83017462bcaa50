"""A single-sleeve run: its folder and `running` manifest, the Hamilton graph of every stage (data phase, sleeve,
reporting, walk-forward) with the run recorder and the stage display, and the manifest's fields from the results."""

from __future__ import annotations

import logging
import sys
from typing import Any

from dataflows.config import Settings
from dataflows.errors import ConfigError

__all__ = ["run_single", "summarize_run"]

log = logging.getLogger("dataflows")


def run_single(settings: Settings, resolved: dict) -> int:
    """One sleeve run. Its folder holds a `running` manifest from its first moment; the `RunRecorder` lifecycle
    adapter records node timings and ends it as `ok` or `failed` (a failure outside the graph is recorded here)."""
    import functools

    from dataflows.driver import build_driver, run_inputs, run_outputs, run_recorder
    from dataflows.lakehouse.store import Lakehouse
    from dataflows.runs import new_record

    if settings.executor.kind != "local":
        msg = "executor=ray is not available yet for single-sleeve runs (the meta-portfolio issue); use executor=local"
        raise ConfigError(msg)
    from dataflows.console import announce_compilation, print_summary, stage_display

    record = new_record(settings, config=resolved)
    ctx = record.ctx
    announce_compilation()
    display = stage_display()
    try:
        lh = Lakehouse(settings.data_root)
        recorder = run_recorder(record, functools.partial(summarize_run, settings, ctx, lh))
        dr = build_driver(settings, adapters=(recorder, display))
        inputs = run_inputs(settings, lh, ctx.run_dir)
        log.info("run %s as of %s → %s", ctx.run_id, ctx.as_of.isoformat(), ctx.run_dir)
        dr.execute(run_outputs(dr, settings), inputs=inputs)
    except BaseException as exc:
        record.fail(exc)  # no-op when the adapter recorded the failure already
        raise
    finally:
        display.stop()
    log.info("stages: %s", display.timeline())
    print_summary(ctx.run_dir)
    sys.stdout.write(f"{ctx.run_dir}\n")
    return 0


def summarize_run(settings: Settings, ctx: Any, lh: Any, results: dict) -> dict[str, Any]:
    """The manifest's fields from a finished sleeve graph: lakehouse hashes, the files written (each saver's record),
    health, sleeve, backtest, features."""
    import json

    from dataflows.driver import file_records

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
    extra: dict[str, Any] = {}
    if "health_table" in results:
        table = results["health_table"]
        extra["health"] = {s: n for s, n in table["status"].value_counts().rows()}
        extra["healthy_symbols"] = results.get("healthy_symbols")
    if "sleeve_weights" in results:
        sw = results["sleeve_weights"]
        extra["sleeve"] = {
            "optimizer": sw.method,
            "covariance": sw.covariance,
            "dust": sw.dust_record(),
            "fallback_used": sw.fallback_used,
            "attempts": [a.__dict__ for a in sw.attempts],
            "top_weights": results["weights_table"].head(10).to_dicts(),
        }
    extra["files"] = file_records(results)
    if "backtest_returns_file" in results:
        extra["backtest"] = {
            k: results[f"backtest_{k}_file"]["path"] for k in ("returns", "windows", "metrics", "forensic")
        }
    if "features_update" in results:
        extra["features"] = results["features_update"].as_dict()
        extra["ratings_check"] = results.get("ratings_check")
    if "orders_summary" in results:  # trade.capital / trade.balances
        extra["orders"] = results["orders_summary"]
    return {"inputs": inputs, "extra": extra}


def _sha(path: Any) -> str:
    from dataflows.lakehouse.store import file_hash

    return file_hash(path)

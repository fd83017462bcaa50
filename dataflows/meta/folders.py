"""Sleeve folders of a meta run: claiming a folder (an interrupted attempt's is moved aside, a finished one is never
reused), a sleeve's `running` record, and a pinned sleeve (a finished run read as given, pointed to by
`pinned.json`)."""

from __future__ import annotations

import datetime as dt
import logging
import time
from pathlib import Path
from typing import Any

import polars as pl

from dataflows.errors import DataflowsError
from dataflows.meta.model import IN_SAMPLE, OUT_OF_SAMPLE, SleeveJob, SleeveResult
from dataflows.meta.streams import backtest_stream, reconstructed_stream

__all__ = ["claim_sleeve_folder", "new_sleeve_record", "pinned_sleeve"]

log = logging.getLogger("dataflows.meta")


def pinned_sleeve(job: SleeveJob) -> SleeveResult:
    """A pinned run, used as given: its weights file and stream (never replaced by a newer run)."""
    from dataflows.lakehouse.store import file_hash
    from dataflows.runs import require_finished

    spec = job.spec
    folder = job.settings.data_root / "runs" / str(spec.run_id)
    wpath = folder / "weights.parquet"
    if folder.is_dir():
        require_finished(folder, what=f"sleeve {spec.name!r}: pinned run {spec.run_id!r}")
    if not wpath.is_file():
        msg = f"sleeve {spec.name!r}: pinned run {spec.run_id!r} not found ({wpath} does not exist)"
        raise DataflowsError(msg)
    weights = pl.read_parquet(wpath).select("symbol", "weight", "net_weight")
    oos = backtest_stream(folder)
    if oos is not None:
        dates, rets, kind = *oos, OUT_OF_SAMPLE
    else:
        dates, rets = reconstructed_stream(folder, weights, job.settings)
        kind = IN_SAMPLE
    claim_sleeve_folder(job.run_dir)
    job.run_dir.mkdir(parents=True)
    from dataflows.lakehouse import atomic

    pointer = {"run_id": spec.run_id, "path": str(folder), "weights_sha256": file_hash(wpath), "stream": kind}
    atomic.write_json(job.run_dir / "pinned.json", pointer)
    return SleeveResult(
        job.index, spec.name, spec.kind, spec.label, True, None, str(folder), kind, dates, rets, weights, 0.0, {}
    )


def claim_sleeve_folder(folder: Path) -> None:
    """Make room for a sleeve's folder. A folder left by an attempt that died before finishing (Ray retries a task
    whose worker was killed; its manifest still says `running`, or there is none) is moved aside, kept for
    inspection; a finished sleeve's folder (manifest `ok`/`failed`, or a pinned sleeve's `pinned.json`) is never
    reused."""
    if not folder.exists():
        return
    from dataflows.runs import FAILED, OK, run_state

    if (folder / "pinned.json").exists() or run_state(folder).state in (OK, FAILED):
        msg = f"sleeve folder {folder} already holds a finished sleeve; runs are immutable"
        raise DataflowsError(msg)
    aside = folder.with_name(f".{folder.name}.interrupted-{time.time_ns()}")
    folder.rename(aside)
    log.warning("sleeve folder %s was left by an interrupted attempt; moved to %s", folder, aside.name)


def new_sleeve_record(job: SleeveJob, config: dict[str, Any], *, kind: str) -> Any:
    """The sleeve's own folder, holding a `running` manifest from its first moment (see `dataflows.runs`)."""
    from dataflows.runs import RunContext, place, start_record

    claim_sleeve_folder(job.run_dir)
    job.run_dir.parent.mkdir(parents=True, exist_ok=True)
    ctx = RunContext(job.run_id, job.run_dir, job.settings.as_of, dt.datetime.now(dt.UTC))
    return place(start_record(ctx, config, kind=kind), f"sleeve folder {job.run_dir} appeared meanwhile")

"""Step 1 of a meta's sleeves, in the driver: discovery once for every sleeve's scanners, the data phase once for the
union of their candidates, then each sleeve's folder, gate and `SleeveInputs` (read from the lakehouse)."""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from dataflows import columns as C
from dataflows.config import ExecutorConfig, ProfileConfig, RunConfig, Settings, TradeConfig

log = logging.getLogger("dataflows.meta")

# The sleeve DAG's boundary: what the decision reads from the data phase (handed over, never recomputed).
BOUNDARY = (
    "candidates",
    "symbol_metadata",
    "metadata_required",
    "audit_after",
    "decision_ms",
    "training_returns",
    "selection_ratings",
)
VALIDATION_BOUNDARY = ("backtest_history",)
# What the driver computes per sleeve (its files, its gate) beside the boundary.
SLEEVE_DATA_OUTPUTS = ("candidates_file", "audit_file", "healthy_symbols", "health_table")
# What the data phase computes once for the union of the sleeves' candidates.
UNION_OUTPUTS = (
    "repair_report",
    "toxic_findings",
    "quarantine_table",
    "symbol_metadata",
    "features_update",
    "ratings_check",
)


def sleeve_settings(base: Settings, profile: ProfileConfig, optimizer: str | None, run_id: str) -> Settings:
    """The settings of one sleeve: the meta's venue, data and as_of with the sleeve's profile."""
    return dataclasses.replace(
        base,
        profile=profile,
        optimizer=optimizer or base.optimizer,
        scanner=None,
        meta=None,
        run=RunConfig(as_of=base.run.as_of, id=run_id),
        executor=ExecutorConfig(kind="local"),
        trade=TradeConfig(),  # the meta trades its flattened book, never a sleeve's
        flow=dataclasses.replace(base.flow, data_only=False),
    ).validate()


@dataclass(frozen=True)
class SleeveInputs:
    """Everything one profile sleeve's decision needs, read by the driver: no paths, no handles."""

    key: str  # the sleeve's folder (driver side): identifies the sleeve in the fan-out
    name: str
    settings: Settings
    folder_name: str  # the run id the report shows (the folder's name)
    overrides: dict[str, Any]  # boundary node values (see BOUNDARY)

    def nbytes(self) -> int:
        """Approximate size of the arrays handed over (for the log)."""
        panel = self.overrides["training_returns"]
        size = int(panel.returns.nbytes)
        history = self.overrides.get("backtest_history")
        if history is not None:
            size += int(history.panel.returns.nbytes)
        return size


@dataclass
class Prepared:
    """The driver's side of the fan-out: the tasks' inputs, and each sleeve's record and data-phase results."""

    inputs: list[SleeveInputs] = field(default_factory=list)
    records: dict[str, Any] = field(default_factory=dict)  # folder → RunRecord (profile sleeves, nested metas)
    data: dict[str, dict[str, Any]] = field(default_factory=dict)  # folder → driver-side node results
    failed: dict[str, tuple[str, int]] = field(default_factory=dict)  # folder → (reason, exit code) before any task
    union: dict[str, Any] = field(default_factory=dict)  # the shared data phase: symbols, seconds, timings
    inputs_bytes: int = 0


def prepare(plan: Any) -> Prepared:
    """Discovery, the data phase for the union of every profile sleeve's candidates, and each sleeve's inputs."""
    from dataflows.lakehouse.store import Lakehouse

    out = Prepared()
    leaves = _leaves(plan, out)
    if not leaves:
        return out
    try:
        _prepare(plan, leaves, Lakehouse(plan.settings.data_root), out)
    except BaseException as exc:  # the shared data phase failed: every sleeve folder made so far ends `failed`
        for record in out.records.values():
            record.fail(exc)
        raise
    out.inputs_bytes = sum(i.nbytes() for i in out.inputs)
    log.info(
        "data phase for %d sleeve(s): %d symbol(s) in %.1f s", len(leaves), out.union["symbols"], out.union["seconds"]
    )
    return out


def _prepare(plan: Any, leaves: list[tuple[Any, Settings]], lh: Any, out: Prepared) -> None:
    t0 = time.perf_counter()
    shared = _shared_discovery([s for _job, s in leaves], lh)
    scans: dict[str, dict[str, Any]] = {}
    for job, settings in leaves:
        try:
            scans[str(job.run_dir)] = _execute(settings, lh, ["candidates", "discovery_funnel"], shared)
        except Exception as exc:  # this sleeve finds nothing: it fails alone
            out.failed[str(job.run_dir)] = _failure(exc)
    union = _union([s["candidates"] for s in scans.values()])
    timings: dict[str, float] = {}
    phase: dict[str, Any] = {}
    if union is not None:
        first = next(s for job, s in leaves if str(job.run_dir) in scans)
        phase = _execute(first, lh, list(UNION_OUTPUTS), shared | {"candidates": union}, timings)
    out.union = {
        "symbols": 0 if union is None else union.height,
        "seconds": round(time.perf_counter() - t0, 3),
        "node_timings_s": timings,
    }
    for job, settings in leaves:
        key = str(job.run_dir)
        if key in out.failed:
            _record(job, settings, out)
            out.records[key].finish("failed", error=out.failed[key][0], exit_code=out.failed[key][1])
            continue
        _prepare_sleeve(job, settings, lh, shared, scans[key], phase, out)


def _leaves(plan: Any, out: Prepared) -> list[tuple[Any, Settings]]:
    """Every profile sleeve of the tree (nested metas expanded, longest first as `plan.jobs()` orders them)."""
    from dataflows.meta.folders import new_sleeve_record
    from dataflows.meta.model import nested_plan

    found: list[tuple[Any, Settings]] = []
    for job in plan.jobs():
        if job.spec.kind == "meta":
            assert job.spec.meta is not None
            record = new_sleeve_record(job, {"nested_meta": job.spec.meta.name}, kind="meta")
            out.records[str(job.run_dir)] = record
            found.extend(_leaves(nested_plan(job), out))
        elif job.spec.kind == "profile":
            found.append((job, sleeve_settings(job.settings, job.spec.profile, job.spec.optimizer, job.run_id)))
    return found


def _shared_discovery(sleeves: list[Settings], lh: Any) -> dict[str, Any]:
    """The venue (one connection), its markets and tickers as of the meta's as_of, asked once for the union of the
    sleeves' scanners; every later step of the data phase gets them as overrides."""
    from dataflows.nodes.discovery import scanner_specs

    specs: list = []
    for settings in sleeves:
        specs.extend(spec for spec in scanner_specs(settings.profile, settings.scanner) if spec not in specs)
    venue = _execute(sleeves[0], lh, ["venue"], {})["venue"]  # one connection for the whole data phase
    return _execute(sleeves[0], lh, ["venue", "markets", "tickers"], {"scanner_specs": specs, "venue": venue})


def _union(frames: list[pl.DataFrame]) -> pl.DataFrame | None:
    """The union of the sleeves' candidates, one row per symbol (the first sleeve's row wins)."""
    if not frames:
        return None
    return pl.concat(frames, how="diagonal_relaxed").unique(C.SYMBOL, keep="first", maintain_order=True)


def _execute(
    settings: Settings,
    lh: Any,
    outputs: list[str],
    overrides: dict[str, Any],
    timings: dict[str, float] | None = None,
    run_dir: Path | None = None,
) -> dict[str, Any]:
    from dataflows.driver import build_driver, node_timer, run_inputs

    adapters = (node_timer(timings),) if timings is not None else ()
    inputs = run_inputs(settings, lh, run_dir or Path(settings.data_root, "runs", "unused"))
    return build_driver(settings, adapters=adapters).execute(outputs, inputs=inputs, overrides=overrides)


def _record(job: Any, settings: Settings, out: Prepared) -> Any:
    from dataflows.meta.folders import new_sleeve_record

    config = {"meta_sleeve": job.spec.name, **dataclasses.asdict(settings)}
    record = new_sleeve_record(job, config, kind="run")
    out.records[str(job.run_dir)] = record
    return record


def _prepare_sleeve(
    job: Any,
    settings: Settings,
    lh: Any,
    shared: dict[str, Any],
    scan: dict[str, Any],
    phase: dict[str, Any],
    out: Prepared,
) -> None:
    """The sleeve's folder, its view of the data phase (its candidates only), its gate and its inputs."""
    key = str(job.run_dir)
    record = _record(job, settings, out)
    order = list(dict.fromkeys(scan["candidates"][C.SYMBOL].to_list()))
    symbols = set(order)
    overrides = (
        shared
        | scan
        | {
            "repair_report": _only_report(phase["repair_report"], order),
            "toxic_findings": phase["toxic_findings"].filter(pl.col(C.SYMBOL).is_in(symbols)),
            "quarantine_table": phase["quarantine_table"].filter(pl.col(C.SYMBOL).is_in(symbols)),
            "symbol_metadata": phase["symbol_metadata"].filter(pl.col(C.SYMBOL).is_in(symbols)),
            "features_update": phase["features_update"],
        }
    )
    boundary = [*BOUNDARY, *(VALIDATION_BOUNDARY if _validates(settings) else ())]
    try:
        data = _execute(settings, lh, [*SLEEVE_DATA_OUTPUTS, *boundary], overrides, record.timings, job.run_dir)
    except Exception as exc:  # e.g. its health gate: this sleeve fails alone
        record.fail(exc)
        out.failed[key] = _failure(exc)
        return
    data |= {"features_update": phase["features_update"], "ratings_check": phase["ratings_check"]}
    out.data[key] = data
    values = {name: data[name] for name in boundary}
    out.inputs.append(SleeveInputs(key, job.spec.name, settings, job.run_dir.name, values))


def _only_report(report: Any, symbols: list[str]) -> Any:
    """The union's repair report restricted to one sleeve's symbols, in the sleeve's candidate order (the order its
    own run audits them in, which fixes the column order of its returns and so its weights)."""
    rank = {s: i for i, s in enumerate(symbols)}

    def own(audits: list) -> list:
        return sorted((a for a in audits if a.symbol in rank), key=lambda a: rank[a.symbol])

    return dataclasses.replace(
        report,
        before=own(report.before),
        after=own(report.after),
        actions=[a for a in report.actions if a.symbol in rank],
    )


def _validates(settings: Settings) -> bool:
    from dataflows.driver import hamilton_config

    return bool(hamilton_config(settings)["validate"])


def _failure(exc: BaseException) -> tuple[str, int]:
    from dataflows.runs import failure

    return failure(exc)

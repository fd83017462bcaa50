"""Meta runs: build the meta driver (dynamic execution), run every sleeve in its own folder, write the meta outputs.

`run_meta(settings, resolved)` is what `python -m dataflows run meta=<name>` calls. The meta DAG lives in
`dataflows.nodes.meta` (a `Parallelizable` fan-out over sleeves, one `Collect`); one code path serves both
executors (STYLE item 3): `meta_executor(settings)` returns (task executor, shutdown) — Hamilton's
`SynchronousLocalTaskExecutor` for `executor=local`, `dataflows.meta.executors.RaySleeveExecutor` (Ray tasks; the
driver waits instead of spinning) for `executor=ray` (Ray started only if it is not running yet, with the workers'
environment set, and shut down only if we started it; numba kernels are warmed in the driver first so workers
load them from the on-disk cache).

Run folder of a meta run `data/runs/<RUN_ID>/`:
- `sleeves/<sleeve>/`: each sleeve's own, isolated run folder (the single-sleeve contract: manifest.json,
  weights.parquet/csv, selection.json, report.html, ...) plus `sleeve_returns.parquet` (date, returns, stream);
  a pinned sleeve's folder holds only `pinned.json` (which run, its path, the sha256 of the weights it used);
  a nested meta's folder is a whole meta run folder.
- `meta_returns.parquet` (date + one column per sleeve, inner join), `meta_stream.parquet`, `meta_weights.csv`,
  `flattened_weights.csv`, `sleeves.json` (per sleeve: kind, status, reason, stream, folder, dropped or not),
  `report.html` (the meta's own page, linking each sleeve's report), `manifest.json`.

Every run folder here (the meta's, each profile sleeve's, each nested meta's) holds a `running` manifest from its
first moment, ended `ok`/`failed` by the `RunRecorder` lifecycle adapter (`dataflows.runs`, `dataflows.driver`).
A pinned sleeve must name a run that finished `ok` (checked when the config is parsed and again when it is read).

Return streams: a sleeve whose run folder has `backtest/returns.parquet` (walk-forward validation) contributes its
out-of-sample stream (column `profile`); otherwise its in-sample stream (the `in_sample` node's returns over the
training window; for a pinned run without one, its weights file applied to the lakehouse returns of its training
window). `sleeves.json` and `meta_weights.csv` say which (`stream: out_of_sample | in_sample`).

Sleeves share the lakehouse only through its API (fetch leases de-duplicate concurrent fetches across processes)
and write only into their own folders.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import secrets
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from dataflows.config import RunConfig, Settings
from dataflows.errors import ConfigError, DataflowsError
from dataflows.meta.config import MetaSpec, SleeveSpec, check_bounds, parse_meta

log = logging.getLogger("dataflows.meta")

META_OUTPUTS = (
    "sleeve_results",
    "meta_sleeves",
    "meta_returns",
    "meta_stream",
    "meta_weights",
    "flattened",
    "meta_returns_file",
    "meta_weights_file",
    "flattened_weights_file",
)
OUT_OF_SAMPLE, IN_SAMPLE = "out_of_sample", "in_sample"
_SUBMIT_ORDER = {"meta": 0, "profile": 1, "pinned": 2}


@dataclass(frozen=True)
class SleeveJob:
    """One sleeve to run: its spec, the meta's base settings and the folder it owns."""

    index: int
    spec: SleeveSpec
    settings: Settings  # the meta run's settings (venue, data, as_of fixed); the sleeve swaps in its profile
    run_dir: Path
    run_id: str


@dataclass(frozen=True)
class SleeveResult:
    """What one sleeve produced (or why it failed); picklable, so it comes back from Ray workers."""

    index: int
    name: str
    kind: str
    label: str
    ok: bool
    reason: str | None
    run_dir: str
    stream: str | None = None  # out_of_sample | in_sample
    dates: np.ndarray | None = None  # int64 epoch ms (bar open times)
    returns: np.ndarray | None = None
    weights: pl.DataFrame | None = None  # symbol, weight (gross), net_weight (signed)
    seconds: float = 0.0
    metrics: dict | None = None
    worker: str = ""  # host:pid that ran the sleeve (the driver itself, or a Ray worker)

    def summary(self, dropped: bool = False) -> dict[str, Any]:
        return {
            "sleeve": self.name,
            "kind": self.kind,
            "source": self.label,
            "status": "ok" if self.ok else "failed",
            "reason": self.reason,
            "dropped": dropped,
            "stream": self.stream,
            "stream_days": None if self.dates is None else len(self.dates),
            "folder": self.run_dir,
            "assets": None if self.weights is None else self.weights.height,
            "seconds": round(self.seconds, 3),
            "worker": self.worker,
        }


@dataclass(frozen=True)
class MetaWeights:
    """Sleeve weights of the meta-portfolio (bounded), the raw optimizer weights and the bounds."""

    sleeves: tuple[str, ...]
    weights: np.ndarray
    raw: np.ndarray
    method: str
    lo: np.ndarray
    hi: np.ndarray

    def as_dict(self) -> dict[str, float]:
        return {s: float(w) for s, w in zip(self.sleeves, self.weights, strict=True)}

    def table(self) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "sleeve": list(self.sleeves),
                "weight": self.weights,
                "method": [self.method] * len(self.sleeves),
                "raw_weight": self.raw,
                "min_weight": self.lo,
                "max_weight": self.hi,
            }
        )


@dataclass(frozen=True)
class MetaPlan:
    """A meta to execute: its spec, base settings and folder."""

    spec: MetaSpec
    settings: Settings
    run_dir: Path
    run_id: str

    def jobs(self) -> list[SleeveJob]:
        """One job per sleeve, longest first so the workers finish together: nested metas (several sleeves each),
        then profile runs, then pinned runs (only read). Config order within each kind; `index` keeps it."""
        out = []
        for i, s in enumerate(self.spec.sleeves):
            folder = self.run_dir / "sleeves" / s.name
            out.append(SleeveJob(i, s, self.settings, folder, f"{self.run_id}.{s.name}"))
        return sorted(out, key=lambda job: _SUBMIT_ORDER.get(job.spec.kind, 1))

    def bounds(self, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """[min_weight, max_weight] of `names`; infeasible among them (after drops) is an error."""
        lo = np.array([self.spec.sleeve(n).min_weight for n in names])
        hi = np.array([self.spec.sleeve(n).max_weight for n in names])
        try:
            check_bounds(list(lo), list(hi), where=f"meta {self.spec.name!r} (sleeves {names})")
        except ConfigError as exc:
            raise DataflowsError(str(exc)) from None
        return lo, hi


# --------------------------------------------------------------------------------------------- sleeves


def sleeve_results(plan: MetaPlan, prepared: Any, outputs: dict[str, Any]) -> list[SleeveResult]:
    """The results of `plan`'s sleeves in config order, in the driver: a profile sleeve's decision written into its
    folder (`dataflows.meta.sleeves.finish`), a pinned run read, a nested meta composed from its own sleeves."""
    from dataflows.meta import sleeves

    out = []
    for job in sorted(plan.jobs(), key=lambda j: j.index):
        key, spec = str(job.run_dir), job.spec
        t0 = time.perf_counter()
        try:
            if spec.kind == "pinned":
                result = _pinned_sleeve(job)
            elif spec.kind == "meta":
                result = _nested_sleeve(job, prepared, outputs)
            elif key in prepared.failed:
                result = sleeves.failed_before_task(prepared, job)
            else:
                result = sleeves.finish(outputs[key], prepared, job)
        except Exception as exc:  # reported per sleeve; the meta decides (fail, or drop if allowed)
            reason = str(exc) if isinstance(exc, DataflowsError) else f"{exc.__class__.__name__}: {exc}"
            log.warning("sleeve %s (%s) failed: %s", spec.name, spec.label, reason)
            result = SleeveResult(job.index, spec.name, spec.kind, spec.label, False, reason, key)
        if spec.kind != "profile":
            worker = f"{socket.gethostname()}:{os.getpid()}"
            result = dataclasses.replace(result, seconds=time.perf_counter() - t0, worker=worker)
        out.append(result)
    return out


def _pinned_sleeve(job: SleeveJob) -> SleeveResult:
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
    oos = _backtest_stream(folder)
    if oos is not None:
        dates, rets, kind = *oos, OUT_OF_SAMPLE
    else:
        dates, rets = reconstructed_stream(folder, weights, job.settings)
        kind = IN_SAMPLE
    _claim_sleeve_folder(job.run_dir)
    job.run_dir.mkdir(parents=True)
    from dataflows.lakehouse import atomic

    pointer = {"run_id": spec.run_id, "path": str(folder), "weights_sha256": file_hash(wpath), "stream": kind}
    atomic.write_json(job.run_dir / "pinned.json", pointer)
    return SleeveResult(
        job.index, spec.name, spec.kind, spec.label, True, None, str(folder), kind, dates, rets, weights, 0.0, {}
    )


def nested_plan(job: SleeveJob) -> MetaPlan:
    """The plan of a nested meta sleeve: its own folder and run id under the parent's."""
    assert job.spec.meta is not None
    return MetaPlan(job.spec.meta, job.settings, job.run_dir, job.run_id)


def _nested_sleeve(job: SleeveJob, prepared: Any, outputs: dict[str, Any]) -> SleeveResult:
    """A nested meta (its own meta DAG, from its sleeves' results on): its flattened weights and stream are one
    sleeve. Its folder and `running` manifest were made before its sleeves' (`dataflows.meta.sleeves.prepare`)."""
    spec = job.spec
    plan = nested_plan(job)
    record = prepared.records[str(job.run_dir)]
    results = _execute_and_record(plan, record, overrides={"sleeve_results": sleeve_results(plan, prepared, outputs)})
    flat = results["flattened"]
    weights = pl.DataFrame({"symbol": list(flat.symbols), "weight": flat.gross, "net_weight": flat.net})
    stream = results["meta_stream"]
    kinds = {r.stream for r in results["meta_sleeves"]}
    kind = OUT_OF_SAMPLE if kinds == {OUT_OF_SAMPLE} else IN_SAMPLE
    dates = stream["date"].to_numpy().astype(np.int64)
    rets = stream["returns"].to_numpy().astype(np.float64)
    return SleeveResult(
        job.index, spec.name, spec.kind, spec.label, True, None, str(job.run_dir), kind, dates, rets, weights, 0.0, {}
    )


def _claim_sleeve_folder(folder: Path) -> None:
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

    _claim_sleeve_folder(job.run_dir)
    job.run_dir.parent.mkdir(parents=True, exist_ok=True)
    ctx = RunContext(job.run_id, job.run_dir, job.settings.as_of, dt.datetime.now(dt.UTC))
    return place(start_record(ctx, config, kind=kind), f"sleeve folder {job.run_dir} appeared meanwhile")


def survivors(results: list[SleeveResult], spec: MetaSpec) -> list[SleeveResult]:
    """Failed sleeves fail the meta (naming each reason), or are dropped when `allow_failed_sleeves`."""
    failed = [r for r in results if not r.ok]
    if failed and not spec.allow_failed_sleeves:
        reasons = "; ".join(f"sleeve {r.name!r} ({r.label}) failed: {r.reason}" for r in failed)
        msg = f"meta {spec.name!r}: {reasons} (set allow_failed_sleeves: true to drop failed sleeves)"
        raise DataflowsError(msg)
    ok = [r for r in results if r.ok]
    if not ok:
        msg = f"meta {spec.name!r}: every sleeve failed: " + "; ".join(f"{r.name}: {r.reason}" for r in failed)
        raise DataflowsError(msg)
    if failed:  # each failure was logged once where it happened
        log.warning("meta %s: dropped failed sleeve(s) %s", spec.name, [r.name for r in failed])
    return ok


# --------------------------------------------------------------------------------------------- streams


def _backtest_stream(folder: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """The walk-forward out-of-sample stream (`backtest/returns.parquet`, column `profile`) if the run has one."""
    path = folder / "backtest" / "returns.parquet"
    if not path.is_file():
        return None
    frame = pl.read_parquet(path)
    if "date" not in frame.columns or "profile" not in frame.columns:
        msg = f"{path} lacks the `date` and `profile` columns of a walk-forward returns file"
        raise DataflowsError(msg)
    return _epoch_ms(frame["date"]), frame["profile"].cast(pl.Float64).to_numpy()


def _epoch_ms(dates: pl.Series) -> np.ndarray:
    if dates.dtype == pl.Date:
        dates = dates.cast(pl.Datetime("ms"))
    if isinstance(dates.dtype, pl.Datetime):
        return dates.dt.epoch("ms").to_numpy().astype(np.int64)
    return dates.cast(pl.Int64).to_numpy()


def reconstructed_stream(folder: Path, weights: pl.DataFrame, base: Settings) -> tuple[np.ndarray, np.ndarray]:
    """A pinned run's in-sample stream: its (possibly edited) weights on the lakehouse returns of its window."""
    from dataflows.lakehouse.calendar import calendar_for
    from dataflows.lakehouse.store import Lakehouse
    from dataflows.returns import build_returns, dense

    manifest_path, cands_path = folder / "manifest.json", folder / "candidates.json"
    if not (manifest_path.is_file() and cands_path.is_file()):
        msg = f"pinned run {folder.name!r} has no manifest.json/candidates.json to rebuild its return stream from"
        raise DataflowsError(msg)
    manifest = json.loads(manifest_path.read_text())
    cfg = manifest.get("config") or {}
    cands = json.loads(cands_path.read_text())["candidates"]
    classes = {c["symbol"]: c["asset_class"] for c in cands}
    venues = {c["venue"] for c in cands}
    symbols = weights["symbol"].to_list()
    missing = [s for s in symbols if s not in classes]
    if missing or len(venues) != 1:
        msg = f"pinned run {folder.name!r}: weights name symbols {missing} that are not among its candidates"
        raise DataflowsError(msg)
    timeframe = (cfg.get("data") or {}).get("timeframe", base.data.timeframe)
    train_days = int((cfg.get("profile") or {}).get("train_days", 365))
    as_of_ms = int(dt.datetime.fromisoformat(manifest["as_of"]).timestamp() * 1000)
    vcfg = cfg.get("venue") or {}
    equities = vcfg.get("calendar")  # None = XNYS
    if vcfg.get("kind", base.venue.kind) == "synthetic":
        from dataflows.venues.synthetic import SyntheticVenue

        equities = SyntheticVenue.equity_calendar
    end_ms = max(calendar_for(classes[s], timeframe, equities).last_completed(as_of_ms) for s in symbols)
    root = Path((manifest.get("inputs") or {}).get("lakehouse") or base.data_root / "lakehouse")
    lh = Lakehouse(root.parent if root.name == "lakehouse" else base.data_root)
    panel = build_returns(lh, venues.pop(), timeframe, symbols, classes, end_ms=end_ms, days=train_days)
    x, first = dense(panel.returns, min_rows=2, labels=symbols)
    return np.asarray(panel.dates[first:], dtype=np.int64), x @ weights["net_weight"].to_numpy().astype(np.float64)


# --------------------------------------------------------------------------------------------- driver


def meta_executor(settings: Settings) -> tuple[Any, Callable[[], None]]:
    """(Hamilton task executor for the sleeve fan-out, shutdown) for `executor.kind` (local | ray)."""
    from dataflows.meta.executors import local_executor, ray_executor

    if settings.executor.kind != "ray":
        return local_executor()
    return ray_executor(settings.executor.address, settings.executor.num_cpus)


def build_meta_driver(spec: MetaSpec, executor: Any = None, adapters: tuple = ()) -> Any:
    """A dynamic-execution Hamilton driver over `dataflows.nodes.meta` with the sleeve fan-out on `executor`."""
    from hamilton import driver
    from hamilton.execution.executors import SynchronousLocalTaskExecutor

    from dataflows.nodes import meta as meta_nodes

    builder = (
        driver.Builder()
        .enable_dynamic_execution(allow_experimental_mode=True)
        .with_modules(meta_nodes)
        .with_local_executor(SynchronousLocalTaskExecutor())
        .with_remote_executor(executor or SynchronousLocalTaskExecutor())
    )
    if adapters:
        builder = builder.with_adapters(*adapters)
    return builder.build()


def execute_meta(plan: MetaPlan, executor: Any = None) -> dict[str, Any]:
    """Run the meta DAG for `plan` without the meta's own manifest (benchmarks); its sleeves' folders and manifests
    are written as in a run."""
    return build_meta_driver(plan.spec, executor).execute([*META_OUTPUTS, "sleeve_inputs"], inputs={"meta_plan": plan})


def _execute_and_record(
    plan: MetaPlan,
    record: Any,
    executor: Any = None,
    overrides: dict[str, Any] | None = None,
    outputs: tuple[str, ...] = META_OUTPUTS,
) -> dict[str, Any]:
    """Run the meta DAG for `plan` with the `RunRecorder` adapter: on success sleeves.json, report.html and an `ok`
    manifest, on failure a `failed` one (reason and exit code). A nested meta passes its `sleeve_results` as an
    override (composed in the driver from its sleeves' results), so its DAG starts after the fan-out."""
    import functools

    from dataflows.driver import run_recorder

    recorder = run_recorder(record, functools.partial(_summarize_meta, plan, record.ctx))
    try:
        return build_meta_driver(plan.spec, executor, adapters=(recorder,)).execute(
            list(outputs), inputs={"meta_plan": plan}, overrides=overrides
        )
    except BaseException as exc:
        record.fail(exc)
        raise


def _summarize_meta(plan: MetaPlan, ctx: Any, results: dict[str, Any]) -> dict[str, Any]:
    """The meta's manifest fields, after writing sleeves.json and report.html."""
    from dataflows.lakehouse import atomic

    extra = _meta_summary(plan, results)
    atomic.write_json(plan.run_dir / "sleeves.json", extra["sleeves"])
    extra["report"] = _meta_report(plan, ctx, extra)
    extra["sleeve_seconds"] = {r.name: round(r.seconds, 3) for r in results.get("sleeve_results", [])}
    if "sleeve_inputs" in results:  # the top-level meta ran the one data phase of all its sleeves
        prepared = results["sleeve_inputs"]
        extra["data_phase"] = prepared.union | {"inputs_bytes": prepared.inputs_bytes}
        from dataflows.trade.orders import run_orders

        if (orders := run_orders(plan.settings, plan.run_dir)) is not None:  # trade.*: the flattened book, traded
            extra["orders"] = orders
    return {"inputs": {"lakehouse": str(plan.settings.data_root / "lakehouse")}, "extra": extra}


def _meta_report(plan: MetaPlan, ctx: Any, extra: dict[str, Any]) -> str | None:
    """Render the meta's own report.html (after its other files); a broken report never fails the run."""
    from dataflows.report.meta_report import render_meta_report

    try:
        path = render_meta_report(plan.run_dir, {"run_id": ctx.run_id, "as_of": ctx.as_of.isoformat(), **extra})
    except Exception as exc:
        log.warning("meta %s: report.html not written: %s", plan.spec.name, exc, exc_info=True)
        return None
    return path.name


def _meta_summary(plan: MetaPlan, results: dict[str, Any]) -> dict[str, Any]:
    kept = {r.name for r in results.get("meta_sleeves", [])}
    sleeves = [r.summary(dropped=not r.ok and bool(kept)) for r in results.get("sleeve_results", [])]
    body: dict[str, Any] = {
        "meta": {"name": plan.spec.name, "method": plan.spec.method, "depth": plan.spec.depth},
        "sleeves": sleeves,
        "dropped_sleeves": [s["sleeve"] for s in sleeves if s["dropped"]],
    }
    if "meta_weights" in results:
        mw = results["meta_weights"]
        streams = {r.name: r.stream for r in results["meta_sleeves"]}
        body["meta_weights"] = [row | {"stream": streams[row["sleeve"]]} for row in mw.table().to_dicts()]
    if "flattened" in results:
        flat = results["flattened"]
        body["flattening"] = flat.checks | {"max_asset_weight": plan.spec.max_asset_weight}
        order = np.argsort(-flat.gross)[:10]
        body["top_weights"] = [
            {"symbol": flat.symbols[i], "gross": float(flat.gross[i]), "net": float(flat.net[i])} for i in order
        ]
    return body


# --------------------------------------------------------------------------------------------- entry points


def meta_plan_for(settings: Settings, *, run_dir: Path | None = None, run_id: str = "viz") -> MetaPlan:
    """Parse `settings.meta` and fix the clock: every sleeve sees the same as_of."""
    assert settings.meta is not None
    spec = parse_meta(dict(settings.meta), data_root=settings.data_root)
    base = dataclasses.replace(settings, run=RunConfig(as_of=settings.as_of.isoformat(), id=None), meta=None)
    return MetaPlan(spec, base, run_dir or settings.data_root / "runs" / run_id, run_id)


def run_meta(settings: Settings, resolved: dict) -> int:
    """`run` with a meta config: sleeves in their own folders, meta outputs, manifest; prints the run folder."""
    from dataflows.runs import new_record

    if settings.flow.data_only:
        msg = "flow.data_only=true does not apply to a meta run (sleeves need their weights)"
        raise ConfigError(msg)
    plan = meta_plan_for(settings)
    run_id = settings.run.id or f"{settings.as_of:%Y%m%dT%H%M%SZ}_{plan.spec.name}_meta_{secrets.token_hex(3)}"
    named = dataclasses.replace(settings, run=dataclasses.replace(settings.run, id=run_id))
    record = new_record(named, kind="meta", config=resolved)
    ctx = record.ctx
    plan = dataclasses.replace(plan, run_dir=ctx.run_dir, run_id=ctx.run_id)
    spec, kind = plan.spec, settings.executor.kind
    log.info(
        "meta run %s (%s, %d sleeves, executor %s) → %s", ctx.run_id, spec.name, len(spec.sleeves), kind, ctx.run_dir
    )
    try:
        executor, shutdown = meta_executor(settings)
    except BaseException as exc:
        record.fail(exc)
        raise
    try:
        _execute_and_record(plan, record, executor, outputs=(*META_OUTPUTS, "sleeve_inputs"))
    finally:
        shutdown()
    from dataflows.console import print_summary

    print_summary(ctx.run_dir)
    sys.stdout.write(f"{ctx.run_dir}\n")
    return 0


def viz_meta(settings: Settings, out: Path, fmt: str) -> None:
    """A picture of the meta DAG (sleeve fan-out → Collect → meta-returns → meta-weights → flattening)."""
    plan = meta_plan_for(settings)
    dr = build_meta_driver(plan.spec)
    dr.visualize_execution(
        list(META_OUTPUTS),
        str(out.with_suffix("")),
        render_kwargs={"format": fmt, "view": False},
        inputs={"meta_plan": plan},
    )
    if not out.exists() or out.stat().st_size == 0:
        msg = f"graphviz did not write {out}"
        raise DataflowsError(msg)


def _num(v: Any) -> Any:
    return float(v) if isinstance(v, float | np.floating) else v

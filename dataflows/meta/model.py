"""The meta run's model: a plan (spec, settings, folder), its sleeve jobs, each sleeve's result, the meta weights,
and which sleeves survive. Plain, picklable values: they travel to Ray workers and back."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from dataflows.config import Settings
from dataflows.errors import ConfigError, DataflowsError
from dataflows.meta.config import MetaSpec, SleeveSpec, check_bounds

__all__ = [
    "IN_SAMPLE",
    "OUT_OF_SAMPLE",
    "MetaPlan",
    "MetaWeights",
    "SleeveJob",
    "SleeveResult",
    "nested_plan",
    "survivors",
]

log = logging.getLogger("dataflows.meta")

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


def nested_plan(job: SleeveJob) -> MetaPlan:
    """The plan of a nested meta sleeve: its own folder and run id under the parent's."""
    assert job.spec.meta is not None
    return MetaPlan(job.spec.meta, job.settings, job.run_dir, job.run_id)


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

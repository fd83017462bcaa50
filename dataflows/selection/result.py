"""What HTR returns for one training window: the winners, the funnel counts per gate, and the per-atom table.

Outcomes without winners are results, not exceptions, so `selection.json` still tells the story: an empty universe
or one where no atom has features ends at stage 0, an all-vetoed one at stage 4; both carry `reason`, and
`SelectionResult.require_winners()` raises `NoWinners` with that reason for callers that cannot proceed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import polars as pl

from dataflows.columns import ATOM_ID
from dataflows.selection import NoWinners
from dataflows.selection.params import SelectionParams
from dataflows.selection.scoring import SCORE

# Per-atom table columns (besides the identity columns from `dataflows.columns` and the scores of `scoring`).
CLUSTER = "cluster"
VETOES_STRICT = "vetoes"
VETOES_RELAXED = "vetoes_relaxed"
STAGE = "stage"
EXCLUDED = "excluded"

EXCLUDED_NO_RETURNS = "no returns column"
"""The exclusion reason of an atom whose symbol has no returns column."""


@dataclass(frozen=True)
class Winner:
    """One selected atom: where it sits, how good it is, which stage admitted it and what it was forgiven."""

    atom_id: str
    symbol: str
    logic: str
    direction: str
    base: str
    cluster: int
    score: float
    log_score: float
    stage: int
    bypassed: tuple[str, ...]


@dataclass(frozen=True)
class Funnel:
    """Counts per gate. Veto counts are atoms on which a rule fired (an atom can trip several)."""

    candidates: int
    with_features: int
    vetoes: Mapping[str, int]
    vetoes_relaxed: Mapping[str, int]
    after_vetoes: int
    after_relaxed_vetoes: int
    clusters: int
    winners_per_stage: Mapping[int, int]
    winners: int

    def to_dict(self) -> dict:
        """JSON-ready view."""
        return {
            "candidates": self.candidates,
            "with_features": self.with_features,
            "vetoes": dict(self.vetoes),
            "vetoes_relaxed": dict(self.vetoes_relaxed),
            "after_vetoes": self.after_vetoes,
            "after_relaxed_vetoes": self.after_relaxed_vetoes,
            "clusters": self.clusters,
            "winners_per_stage": {str(k): v for k, v in self.winners_per_stage.items()},
            "winners": self.winners,
        }


@dataclass(frozen=True, eq=False)
class SelectionResult:
    """The outcome of HTR on one training window (`to_json` is the content of `selection.json`)."""

    winners: tuple[Winner, ...]
    funnel: Funnel
    stage_reached: int
    clusters: Mapping[int, tuple[str, ...]]
    atoms: pl.DataFrame
    excluded: Mapping[str, tuple[str, ...]]
    reason: str | None
    params: SelectionParams = field(default_factory=SelectionParams)

    @property
    def winner_ids(self) -> tuple[str, ...]:
        """Atom ids of the winners, best score first within each stage."""
        return tuple(w.atom_id for w in self.winners)

    def require_winners(self) -> SelectionResult:
        """self, or `NoWinners` with the reason and funnel when there is no winner."""
        if not self.winners:
            msg = f"natural selection produced no winner: {self.reason}; funnel {self.funnel.to_dict()}"
            raise NoWinners(msg)
        return self

    def to_dict(self) -> dict:
        """JSON-ready view: funnel, stage reached, reason, clusters, winners, exclusions, per-atom vetoes, params."""
        atoms = [
            {
                ATOM_ID: r[ATOM_ID],
                CLUSTER: r[CLUSTER],
                SCORE: r[SCORE],
                VETOES_STRICT: list(r[VETOES_STRICT] or []),
                VETOES_RELAXED: list(r[VETOES_RELAXED] or []),
                STAGE: r[STAGE],
            }
            for r in self.atoms.filter(pl.col(EXCLUDED).is_null()).iter_rows(named=True)
        ]
        params = asdict(self.params)
        params["bypassable"] = sorted(self.params.bypassable)
        return {
            "stage_reached": self.stage_reached,
            "reason": self.reason,
            "funnel": self.funnel.to_dict(),
            "clusters": {str(k): list(v) for k, v in self.clusters.items()},
            "winners": [{**asdict(w), "bypassed": list(w.bypassed)} for w in self.winners],
            "excluded": {k: list(v) for k, v in self.excluded.items()},
            "atoms": atoms,
            "params": params,
        }

    def to_json(self) -> str:
        """Deterministic JSON (sorted keys, no NaN)."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, allow_nan=False)

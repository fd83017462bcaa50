"""HTR recruitment: from scored, vetoed and clustered atoms to winners, in four stages (method: docs/selection.md).

`select_from_features`; a stage only adds winners, and the first stage ending with >= min_winners stops the
process:
1. strict: atoms with no veto, in score order, at most `top_n` per (cluster, direction), one per (base, direction);
2. spectral relaxation: the same with entropy_max × 1.2 (capped at 1.0) and efficiency_min × 0.8, filling the slots
   stage 1 left;
3. cluster floor: every cluster without a winner gets its best member that passes the non-bypassable vetoes
   (relaxed thresholds), bypassing the others;
4. leader fallback: top up to min_winners with the best remaining atoms that pass the non-bypassable vetoes,
   across clusters and ignoring `top_n` — atoms that pass every (relaxed) veto first, then those that need a bypass.
One atom per (base, direction) holds throughout; the total is capped at `max_winners` (25) by score within the
stage that overflows. Each winner records its stage and `bypassed` = the vetoes it fails under the *strict*
thresholds (empty for stage 1; a stage-2 winner shows what the relaxation forgave).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from types import MappingProxyType

import polars as pl

from dataflows.columns import ATOM_ID, BASE, DIRECTION, LOGIC, SYMBOL
from dataflows.selection import SelectionError
from dataflows.selection.clustering import AssetClusters
from dataflows.selection.features import HAS_FEATURES, MISSING_FEATURES
from dataflows.selection.params import VETOES, SelectionParams
from dataflows.selection.result import (
    CLUSTER,
    EXCLUDED,
    EXCLUDED_NO_RETURNS,
    STAGE,
    VETOES_RELAXED,
    VETOES_STRICT,
    Funnel,
    SelectionResult,
    Winner,
)
from dataflows.selection.scoring import LOG_SCORE, SCORE, atom_vetoes, parse_atoms, score_atoms


def _empty_table(atoms: pl.DataFrame) -> pl.DataFrame:
    return atoms.with_columns(
        pl.lit(None, dtype=pl.String).alias(BASE),
        pl.lit(None, dtype=pl.Int64).alias(CLUSTER),
        pl.lit(None, dtype=pl.Float64).alias(LOG_SCORE),
        pl.lit(None, dtype=pl.Float64).alias(SCORE),
        pl.lit(None, dtype=pl.List(pl.String)).alias(VETOES_STRICT),
        pl.lit(None, dtype=pl.List(pl.String)).alias(VETOES_RELAXED),
        pl.lit(None, dtype=pl.Int64).alias(STAGE),
        pl.lit(None, dtype=pl.String).alias(EXCLUDED),
    )


def _recruit(
    order: list[int],
    strict: list[tuple[str, ...]],
    relaxed: list[tuple[str, ...]],
    clus: list[int],
    dirs: list[str],
    base_list: list[str],
    params: SelectionParams,
) -> tuple[dict[int, tuple[int, tuple[str, ...]]], dict[int, int], int]:
    """Stages 1-4 over atoms indexed 0..n-1 (`order` = best score first): admitted index → (stage, bypassed),
    winners per stage, stage reached (0 when there is no atom)."""
    hard = set(VETOES) - set(params.bypassable)
    position = {i: k for k, i in enumerate(order)}
    admitted: dict[int, tuple[int, tuple[str, ...]]] = {}
    slots: Counter[tuple[int, str]] = Counter()
    taken: set[tuple[str, str]] = set()
    per_stage: dict[int, int] = {}

    def admit(i: int, stage: int) -> None:
        admitted[i] = (stage, strict[i])
        slots[(clus[i], dirs[i])] += 1
        taken.add((base_list[i], dirs[i]))
        per_stage[stage] += 1

    def free(i: int) -> bool:
        return i not in admitted and (base_list[i], dirs[i]) not in taken and len(admitted) < params.max_winners

    def enough() -> bool:
        return len(admitted) >= params.min_winners

    if not order:
        return admitted, per_stage, 0
    for stage, vetoes in ((1, strict), (2, relaxed)):  # strict, then spectral relaxation
        per_stage[stage] = 0
        for i in order:
            if not vetoes[i] and free(i) and slots[(clus[i], dirs[i])] < params.top_n:
                admit(i, stage)
        if enough():
            return admitted, per_stage, stage

    per_stage[3] = 0  # cluster floor: each cluster without a winner gets its best member passing the hard vetoes
    filled = {clus[i] for i in admitted}
    floor: dict[int, int] = {}
    for i in order:
        if clus[i] not in filled and clus[i] not in floor and free(i) and not hard & set(relaxed[i]):
            floor[clus[i]] = i
    for i in sorted(floor.values(), key=position.__getitem__):
        if free(i):
            admit(i, 3)
    if enough():
        return admitted, per_stage, 3

    per_stage[4] = 0  # leader fallback: clean leaders first (stable sort keeps score order), then bypasses
    for i in sorted(order, key=lambda i: bool(relaxed[i])):
        if enough():
            break
        if free(i) and not hard & set(relaxed[i]):
            admit(i, 4)
    return admitted, per_stage, 4


def select_from_features(
    atoms: Sequence[str],
    features: pl.DataFrame,
    clusters: AssetClusters,
    metadata_ok: Mapping[str, bool],
    ratings: pl.DataFrame | None = None,
    bases: Mapping[str, str] | None = None,
    params: SelectionParams = SelectionParams(),  # noqa: B008 (frozen dataclass)
) -> SelectionResult:
    """Score, veto and recruit `atoms` given per-symbol `features` and symbol `clusters` (see `scoring` and the
    module docstring).

    `metadata_ok` maps symbol → tick and lot size known (absent = unknown); `bases` maps symbol → economic base
    (absent = the symbol is its own base); `ratings` has one row per symbol (see `score_atoms`).
    """
    table = parse_atoms(atoms)
    bases = bases or {}
    feature_rows = {r[SYMBOL]: r for r in features.select(SYMBOL, HAS_FEATURES, MISSING_FEATURES).iter_rows(named=True)}
    excluded: dict[str, tuple[str, ...]] = {}
    for a, s in zip(table[ATOM_ID], table[SYMBOL], strict=True):
        row = feature_rows.get(s)
        if row is None:
            excluded[a] = (EXCLUDED_NO_RETURNS,)
        elif not row[HAS_FEATURES]:
            excluded[a] = tuple(f"missing {m}" for m in row[MISSING_FEATURES])
    cluster_of = clusters.label_of()
    unclustered = sorted(
        {s for a, s in zip(table[ATOM_ID], table[SYMBOL], strict=True) if a not in excluded and s not in cluster_of}
    )
    if unclustered:
        msg = f"clusters do not cover symbols {unclustered} that have features; cluster every scored symbol"
        raise SelectionError(msg)

    scored = table.filter(~pl.col(ATOM_ID).is_in(list(excluded)))
    scored = score_atoms(scored, features, ratings, params.weights)
    strict = atom_vetoes(scored, features, metadata_ok, params)
    relaxed = atom_vetoes(scored, features, metadata_ok, params, relaxed=True)
    ids = scored[ATOM_ID].to_list()
    syms = scored[SYMBOL].to_list()
    dirs = scored[DIRECTION].to_list()
    logics = scored[LOGIC].to_list()
    base_list = [bases.get(s, s) for s in syms]
    clus = [cluster_of[s] for s in syms]
    logs = scored[LOG_SCORE].to_list()
    n = len(ids)
    order = sorted(range(n), key=lambda i: (-logs[i], ids[i]))
    position = {i: k for k, i in enumerate(order)}

    admitted, per_stage, stage_reached = _recruit(order, strict, relaxed, clus, dirs, base_list, params)

    winners = tuple(
        Winner(
            atom_id=ids[i],
            symbol=syms[i],
            logic=logics[i],
            direction=dirs[i],
            base=base_list[i],
            cluster=clus[i],
            score=math.exp(logs[i]),
            log_score=logs[i],
            stage=admitted[i][0],
            bypassed=admitted[i][1],
        )
        for i in sorted(admitted, key=lambda i: (admitted[i][0], position[i]))
    )
    scored_syms = set(syms)
    member_map = {k: tuple(s for s in v if s in scored_syms) for k, v in clusters.members().items()}
    member_map = {k: v for k, v in member_map.items() if v}
    funnel = Funnel(
        candidates=table.height,
        with_features=n,
        vetoes=MappingProxyType({v: sum(v in s for s in strict) for v in VETOES}),
        vetoes_relaxed=MappingProxyType({v: sum(v in s for s in relaxed) for v in VETOES}),
        after_vetoes=sum(not s for s in strict),
        after_relaxed_vetoes=sum(not s for s in relaxed),
        clusters=len(member_map),
        winners_per_stage=MappingProxyType(per_stage),
        winners=len(winners),
    )
    reason = _reason(table.height, n, winners, funnel, params, excluded, relaxed)

    stage_col = [admitted[i][0] if i in admitted else None for i in range(n)]
    full = scored.with_columns(
        pl.Series(BASE, base_list, dtype=pl.String),
        pl.Series(CLUSTER, clus, dtype=pl.Int64),
        pl.Series(VETOES_STRICT, [list(v) for v in strict], dtype=pl.List(pl.String)),
        pl.Series(VETOES_RELAXED, [list(v) for v in relaxed], dtype=pl.List(pl.String)),
        pl.Series(STAGE, stage_col, dtype=pl.Int64),
        pl.lit(None, dtype=pl.String).alias(EXCLUDED),
    )
    dropped = _empty_table(table.filter(pl.col(ATOM_ID).is_in(list(excluded))))
    dropped = dropped.with_columns(
        pl.Series(EXCLUDED, ["; ".join(excluded[a]) for a in dropped[ATOM_ID]], dtype=pl.String)
    )
    atoms_frame = pl.concat([full, dropped], how="diagonal_relaxed")
    atoms_frame = table.select(ATOM_ID).join(atoms_frame, on=ATOM_ID, how="left", maintain_order="left")
    return SelectionResult(
        winners=winners,
        funnel=funnel,
        stage_reached=stage_reached,
        clusters=MappingProxyType(member_map),
        atoms=atoms_frame,
        excluded=MappingProxyType(excluded),
        reason=reason,
        params=params,
    )


def _reason(
    candidates: int,
    with_features: int,
    winners: tuple[Winner, ...],
    funnel: Funnel,
    params: SelectionParams,
    excluded: Mapping[str, tuple[str, ...]],
    relaxed: list[tuple[str, ...]],
) -> str | None:
    """Why there are fewer than min_winners winners (None when there are enough)."""
    if candidates == 0:
        return "empty universe: no candidate atoms"
    if with_features == 0:
        causes = Counter(c for cs in excluded.values() for c in cs)
        return f"no candidate has features ({candidates} excluded: {dict(sorted(causes.items()))})"
    if len(winners) >= params.min_winners:
        return None
    hard = set(VETOES) - set(params.bypassable)
    blocked = sum(bool(hard & set(r)) for r in relaxed)
    hard_counts = {v: funnel.vetoes_relaxed[v] for v in VETOES if v in hard and funnel.vetoes_relaxed[v]}
    head = "no winners" if not winners else f"{len(winners)} winner(s), below min_winners {params.min_winners}"
    return (
        f"{head} after stage 4: {blocked} of {with_features} atoms with features fail non-bypassable vetoes "
        f"{hard_counts}, the rest are limited by one atom per base"
    )

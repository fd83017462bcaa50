"""Strategy synthesis: atom return streams (short inversion) and flattening of atom weights to signed exposure.

Optimizers only see synthetic longs: every atom (symbol, logic, direction) becomes a column whose return is the
raw return for LONG and −min(raw, 1) for SHORT (a short loses at most 100% per bar). Weights come back per atom
(>= 0) and are flattened to signed per-symbol exposure: net(a) = Σ_LONG w − Σ_SHORT w, gross(a) = Σ w.

Both transforms must run exactly once (a second inversion turns shorts back into longs, a second flattening loses
the sign), so each result is a distinct type that its transform refuses to take again:

- `synthesize_atoms(raw, symbols, atoms) -> AtomReturns`; passing an `AtomReturns` (or a view of its read-only
  `values`) back in raises `DoubleApplication`. A *copy* of the values is ordinary data again: keep the type.
- `flatten_weights(AtomWeights) -> SymbolExposure`; `flatten_weights` accepts nothing else (not an array, not a
  `SymbolExposure`).

Array contract: T×N float64 raw returns, rows = time oldest first, columns = symbols, NaN = no bar (stays NaN).
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from dataflows.columns import ATOM_ID, DIRECTION, LONG, SYMBOL, parse_atom_ids, split_atom_id
from dataflows.errors import DataflowsError
from dataflows.tails import as_returns_panel

WEIGHT = "weight"
NET_WEIGHT = "net_weight"
GROSS_WEIGHT = "gross_weight"
SHORT_CAP = 1.0
"""A short position loses at most this fraction per bar: SHORT stream = −min(raw, SHORT_CAP)."""


class SynthesisError(DataflowsError):
    """Synthesis or flattening inputs are inconsistent (unknown symbols, shapes, negative weights)."""


class DoubleApplication(SynthesisError):
    """A transform that must run exactly once was given its own output (shorts inverted twice, flattened twice)."""


_SYNTHESIZED: dict[int, weakref.ref[np.ndarray]] = {}
"""Buffers produced by `synthesize_atoms`, by id (arrays are unhashable); entries vanish with their array."""


def _mark_synthesized(arr: np.ndarray) -> None:
    key = id(arr)
    _SYNTHESIZED[key] = weakref.ref(arr, lambda _ref, key=key: _SYNTHESIZED.pop(key, None))


def _is_synthesized(arr: np.ndarray) -> bool:
    """True when `arr` is, or is a view of, an array produced by `synthesize_atoms`."""
    a: object = arr
    while isinstance(a, np.ndarray):
        ref = _SYNTHESIZED.get(id(a))
        if ref is not None and ref() is a:
            return True
        a = a.base
    return False


@dataclass(frozen=True, eq=False)
class AtomReturns:
    """Synthesized atom streams: `values` T×A (read-only), column k is atom `atom_ids[k]`."""

    values: np.ndarray
    atom_ids: tuple[str, ...]
    symbols: tuple[str, ...]
    directions: tuple[str, ...]

    def to_frame(self) -> pl.DataFrame:
        """Wide frame, one Float64 column per atom id."""
        return pl.DataFrame({a: self.values[:, k] for k, a in enumerate(self.atom_ids)})


def synthesize_atoms(
    returns: np.ndarray, symbols: Sequence[str], atoms: Sequence[str], short_cap: float = SHORT_CAP
) -> AtomReturns:
    """Column k = raw return of the atom's symbol (LONG) or −min(raw, short_cap) (SHORT), applied exactly once."""
    if isinstance(returns, AtomReturns) or (isinstance(returns, np.ndarray) and _is_synthesized(returns)):
        msg = "synthesize_atoms was given synthesized atom returns; short inversion must be applied exactly once"
        raise DoubleApplication(msg)
    x = as_returns_panel(returns, error=SynthesisError)
    syms = [str(s) for s in symbols]
    if len(syms) != x.shape[1] or len(set(syms)) != len(syms):
        msg = f"symbols must name the {x.shape[1]} columns of returns once each, got {len(syms)} ({len(set(syms))} distinct)"
        raise SynthesisError(msg)
    col = {s: j for j, s in enumerate(syms)}
    parsed_ids = parse_atom_ids(atoms, SynthesisError)
    ids = [a for a, *_ in parsed_ids]
    parsed = []
    for a, sym, _, direction in parsed_ids:
        if sym not in col:
            msg = f"atom {a!r}: symbol {sym!r} has no returns column"
            raise SynthesisError(msg)
        parsed.append((sym, direction))
    out = np.empty((x.shape[0], len(ids)))
    for k, (sym, direction) in enumerate(parsed):
        raw = x[:, col[sym]]
        out[:, k] = raw if direction == LONG else -np.minimum(raw, short_cap)
    out.flags.writeable = False
    _mark_synthesized(out)
    return AtomReturns(
        values=out,
        atom_ids=tuple(ids),
        symbols=tuple(s for s, _ in parsed),
        directions=tuple(d for _, d in parsed),
    )


@dataclass(frozen=True, eq=False)
class AtomWeights:
    """Optimizer output in synthetic-long space: one weight >= 0 per atom."""

    atom_ids: tuple[str, ...]
    weights: np.ndarray

    def __post_init__(self) -> None:
        w = np.asarray(self.weights, dtype=np.float64).reshape(-1)
        if w.shape[0] != len(self.atom_ids):
            msg = f"AtomWeights: {w.shape[0]} weights for {len(self.atom_ids)} atoms"
            raise SynthesisError(msg)
        if not np.isfinite(w).all() or (w < 0).any():
            bad = [a for a, v in zip(self.atom_ids, w, strict=True) if not (np.isfinite(v) and v >= 0)]
            msg = f"AtomWeights must be finite and >= 0 (synthetic longs); offending atoms {bad[:10]}"
            raise SynthesisError(msg)
        if len(set(self.atom_ids)) != len(self.atom_ids):
            msg = "AtomWeights has duplicate atom ids"
            raise SynthesisError(msg)
        w = w.copy()
        w.flags.writeable = False
        object.__setattr__(self, "weights", w)
        object.__setattr__(self, "atom_ids", tuple(str(a) for a in self.atom_ids))

    @classmethod
    def from_mapping(cls, weights: Mapping[str, float]) -> AtomWeights:
        """From {atom id: weight}."""
        return cls(tuple(weights), np.array(list(weights.values()), dtype=np.float64))

    def to_frame(self) -> pl.DataFrame:
        """(atom_id, symbol, direction, weight)."""
        parts = [split_atom_id(a) for a in self.atom_ids]
        return pl.DataFrame(
            {
                ATOM_ID: list(self.atom_ids),
                SYMBOL: [p[0] for p in parts],
                DIRECTION: [p[2] for p in parts],
                WEIGHT: self.weights,
            }
        )


@dataclass(frozen=True, eq=False)
class SymbolExposure:
    """Signed per-symbol exposure after flattening: net = Σ ±w, gross = Σ |w| (1-D arrays aligned with symbols)."""

    symbols: tuple[str, ...]
    net: np.ndarray
    gross: np.ndarray

    def to_frame(self) -> pl.DataFrame:
        """(symbol, net_weight, gross_weight)."""
        return pl.DataFrame({SYMBOL: list(self.symbols), NET_WEIGHT: self.net, GROSS_WEIGHT: self.gross})


def flatten_weights(weights: AtomWeights) -> SymbolExposure:
    """Per-symbol net (LONG +w, SHORT −w) and gross exposure, symbols in order of first appearance; exactly once."""
    if isinstance(weights, SymbolExposure):
        msg = "flatten_weights was given a SymbolExposure: weights must be flattened exactly once"
        raise DoubleApplication(msg)
    if not isinstance(weights, AtomWeights):
        msg = f"flatten_weights takes AtomWeights (synthetic-long weights per atom), got {type(weights).__name__}"
        raise SynthesisError(msg)
    index: dict[str, int] = {}
    rows = np.empty(len(weights.atom_ids), dtype=np.int64)
    sign = np.empty(len(weights.atom_ids))
    for k, (_, sym, _, direction) in enumerate(parse_atom_ids(weights.atom_ids, SynthesisError)):
        rows[k] = index.setdefault(sym, len(index))
        sign[k] = 1.0 if direction == LONG else -1.0
    net = np.zeros(len(index))
    gross = np.zeros(len(index))
    np.add.at(net, rows, sign * weights.weights)
    np.add.at(gross, rows, weights.weights)
    net.flags.writeable = False
    gross.flags.writeable = False
    return SymbolExposure(symbols=tuple(index), net=net, gross=gross)

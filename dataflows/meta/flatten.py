"""The meta-portfolio's arithmetic: sleeve weights within bounds, and flattening sleeves to signed asset weights.

Meta-optimization (`meta_optimize`): the sleeves' aligned return streams (T × S, rows = dates, no NaN) give a
sample covariance; the method, run by the optimizer registry (`dataflows.portfolio.registry`, the one the sleeves'
fallback chains use), gives raw weights (risk parity: exact equal risk contributions; HRP: single linkage; MinVar:
the box-constrained QP min wᵀΣw s.t. Σw = 1, lo <= w <= hi on Clarabel). Bounds are then enforced by
`project_bounds`, a proportional projection: w' = clip(t·w, lo, hi) with the one t >= 0 that makes Σw' = 1.
g(t) = Σ clip(t·w_i, lo_i, hi_i) is continuous, non-decreasing and piecewise linear from Σlo (t = 0) to Σhi, so
when Σlo <= 1 <= Σhi a solution exists and is found exactly on the segment of the sorted breakpoints
{lo_i/w_i, hi_i/w_i}; every weight is then inside its bounds by construction and the free (unclipped) sleeves keep
their relative proportions (for risk parity: their relative risk budgets). It is a no-op when no bound binds.

Flattening (`flatten`): with sleeve weights W_s and each sleeve's per-symbol gross |w_{s,a}| and signed net
net_{s,a}:  net(a) = Σ_s W_s · net_{s,a},  gross(a) = Σ_s W_s · gross_{s,a}.  Conservation is checked and a
violation raises `FlatteningError`: Σ_s W_s = 1, Σ_a gross(a) = Σ_s W_s · Σ_a gross_{s,a} and the same for net.

Per-asset cap (`max_asset_weight`, hard, never a warning): a symbol with |net(a)| > cap is scaled by
f_a = cap / |net(a)| — its net, its gross and every sleeve's contribution to it (lineage keeps the proportions).
The exposure removed is NOT redistributed to other symbols (that could breach their caps or flip a long/short
balance); it is reported as `removed_gross` / `removed_net` (cash), and the conservation check becomes
Σ_a gross(a) + removed_gross = Σ_s W_s · Σ_a gross_{s,a}.

Netting by base (`net_by_base`, the meta key of the same name): a view that adds up the flattened lines of one base
currency across quotes and market types — BTC/USDT long 0.3 and BTC/USDC short 0.1 become BTC net 0.2, gross 0.4 —
for reading the book's exposure; the orders keep the per-quote lines (each is its own market with its own lot, tick
and min notional). The base is the unified symbol's `BASE` in `BASE/QUOTE[:SETTLE]`; a symbol without `/` (an
equity, a files-venue `BTCUSD`) is its own base. Net and gross are conserved (checked).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dataflows.errors import ConfigError, DataflowsError

TOL = 1e-9


class FlatteningError(DataflowsError):
    """Flattened weights break a conservation law (a bug upstream, never silently accepted)."""


@dataclass(frozen=True)
class SleeveBook:
    """One sleeve's per-symbol weights: gross (>= 0) and signed net, as in its weights file."""

    name: str
    symbols: tuple[str, ...]
    gross: np.ndarray
    net: np.ndarray


@dataclass(frozen=True)
class Flattened:
    """Signed per-symbol weights of the meta-portfolio, with lineage and the checks that passed."""

    symbols: tuple[str, ...]
    gross: np.ndarray
    net: np.ndarray
    lineage: dict[str, dict[str, float]]  # symbol -> sleeve -> that sleeve's (capped) net contribution W_s·net_{s,a}
    scale: np.ndarray  # per symbol: 1.0, or the cap's factor f_a < 1
    removed_gross: float
    removed_net: float
    checks: dict[str, float]


def project_bounds(weights: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """clip(t·w, lo, hi) summing to 1 (see the module docstring); `ConfigError` if Σlo > 1 or Σhi < 1."""
    w = np.asarray(weights, dtype=np.float64)
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    if not (w.shape == lo.shape == hi.shape) or w.ndim != 1 or not np.isfinite(w).all() or (w < 0).any():
        msg = f"weights must be finite, >= 0 and shaped like the bounds, got {w.tolist()}"
        raise DataflowsError(msg)
    if (lo > hi).any() or lo.sum() > 1 + 1e-12 or hi.sum() < 1 - 1e-12:
        msg = f"sleeve bounds are infeasible: Σmin={lo.sum():.6g}, Σmax={hi.sum():.6g} (need Σmin <= 1 <= Σmax)"
        raise ConfigError(msg)
    if w.max(initial=0.0) > 0:  # scale-free; sub-1e-200 weights are zeros (their breakpoints would overflow)
        w = w / w.max()
        w[w < 1e-200] = 0.0
    if w.sum() <= 0 or np.where(w > 0, hi, lo).sum() < 1.0:
        w = np.maximum(w, 1e-12 * max(float(w.max(initial=0.0)), 1.0))  # zero weights must move with t too
    t = _scale(w, lo, hi)
    out = np.clip(t * w, lo, hi)
    free = (out > lo) & (out < hi)
    gap = 1.0 - out.sum()
    if free.any() and gap != 0.0:  # floating-point residue only: spread it over the free sleeves, then re-clip
        out[free] += gap * out[free] / out[free].sum()
        out = np.clip(out, lo, hi)
    if abs(out.sum() - 1.0) > 1e-12 * len(out):
        msg = f"bound projection failed: weights sum to {out.sum()!r}"
        raise DataflowsError(msg)
    return out


def _scale(w: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    """The t >= 0 with Σ clip(t·w, lo, hi) = 1: exact on the segment between sorted breakpoints (g is linear there)."""
    pos = w > 0
    ts = np.unique(np.concatenate([[0.0], lo[pos] / w[pos], hi[pos] / w[pos]]))
    g = np.array([np.clip(t * w, lo, hi).sum() for t in ts])
    k = int(np.searchsorted(g, 1.0, side="left"))
    if k == 0:
        return float(ts[0])
    if k >= len(ts):
        return float(ts[-1])
    return float(ts[k - 1] + (1.0 - g[k - 1]) * (ts[k] - ts[k - 1]) / (g[k] - g[k - 1]))


def meta_optimize(returns: np.ndarray, method: str, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(bounded weights, raw weights) of the sleeves' T × S return streams for `method` (one of the meta's
    `METHODS`, run by the optimizer registry); the bounds are then enforced by `project_bounds`."""
    from dataflows.meta.config import METHODS

    if method not in METHODS:
        msg = f"meta method {method!r} is not one of {list(METHODS)}"
        raise ConfigError(msg)
    x = np.ascontiguousarray(returns, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2 or not np.isfinite(x).all():
        msg = f"meta-returns must be a finite (T >= 2) × S panel, got shape {x.shape}"
        raise DataflowsError(msg)
    if x.shape[1] == 1:
        raw = np.ones(1)
    else:
        from dataflows.portfolio.registry import OptimizerInput, optimize

        lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
        raw = optimize(method, OptimizerInput(x, np.cov(x, rowvar=False), bounds=(lo, hi), linkage="single"))
    return project_bounds(raw, lo, hi), np.asarray(raw, dtype=np.float64)


def flatten(meta_weights: dict[str, float], books: list[SleeveBook], max_asset_weight: float | None) -> Flattened:
    """Signed per-symbol weights of the meta-portfolio (see the module docstring); raises on any violation."""
    names = [b.name for b in books]
    if sorted(names) != sorted(meta_weights) or len(set(names)) != len(names):
        msg = f"sleeve books {names} do not match the meta weights {sorted(meta_weights)}"
        raise FlatteningError(msg)
    total_w = float(sum(meta_weights.values()))
    if abs(total_w - 1.0) > TOL or any(not np.isfinite(v) or v < -TOL for v in meta_weights.values()):
        msg = f"meta weights must be >= 0 and sum to 1, got {meta_weights} (sum {total_w!r})"
        raise FlatteningError(msg)
    index: dict[str, int] = {}
    for b in books:
        _check_book(b)
        for sym in b.symbols:
            index.setdefault(sym, len(index))
    n = len(index)
    net, gross = np.zeros(n), np.zeros(n)
    contrib: dict[str, dict[str, float]] = {}
    expected_gross = expected_net = 0.0
    for b in books:
        ws = float(meta_weights[b.name])
        rows = np.array([index[s] for s in b.symbols], dtype=np.int64)
        np.add.at(net, rows, ws * b.net)
        np.add.at(gross, rows, ws * b.gross)
        expected_gross += ws * float(b.gross.sum())
        expected_net += ws * float(b.net.sum())
        for sym, v in zip(b.symbols, b.net, strict=True):
            lineage = contrib.setdefault(sym, {})
            lineage[b.name] = lineage.get(b.name, 0.0) + ws * float(v)
    _conserved("gross", float(gross.sum()), expected_gross)
    _conserved("net", float(net.sum()), expected_net)
    scale = np.ones(n)
    if max_asset_weight is not None:
        over = np.abs(net) > max_asset_weight
        scale[over] = max_asset_weight / np.abs(net[over])
    symbols = tuple(index)
    removed_gross = float(((1.0 - scale) * gross).sum())
    removed_net = float(((1.0 - scale) * net).sum())
    net, gross = net * scale, gross * scale
    if max_asset_weight is not None:
        net[np.abs(net) > max_asset_weight] = np.sign(net[np.abs(net) > max_asset_weight]) * max_asset_weight
    lineage = {s: {k: v * float(scale[index[s]]) for k, v in contrib[s].items()} for s in symbols}
    _conserved("gross after caps", float(gross.sum()) + removed_gross, expected_gross)
    _conserved("net after caps", float(net.sum()) + removed_net, expected_net)
    if max_asset_weight is not None and (np.abs(net) > max_asset_weight + 1e-12).any():
        msg = f"per-asset cap {max_asset_weight} not enforced"
        raise FlatteningError(msg)
    checks = {
        "sum_meta_weights": total_w,
        "sum_gross": float(gross.sum()),
        "sum_net": float(net.sum()),
        "expected_gross": expected_gross,
        "expected_net": expected_net,
        "removed_gross": removed_gross,
        "removed_net": removed_net,
    }
    return Flattened(symbols, gross, net, lineage, scale, removed_gross, removed_net, checks)


@dataclass(frozen=True)
class Netted:
    """Flattened weights added up per base currency."""

    bases: tuple[str, ...]
    gross: np.ndarray
    net: np.ndarray
    members: dict[str, dict[str, float]]  # base -> symbol -> its net weight


def base_of(symbol: str) -> str:
    """`BTC` for `BTC/USDT` and `BTC/USDT:USDT`; a symbol without `/` is its own base."""
    return symbol.split("/", 1)[0] if "/" in symbol else symbol


def net_by_base(flat: Flattened) -> Netted:
    """The flattened book with one line per base (see the module docstring); conservation is checked."""
    index: dict[str, int] = {}
    members: dict[str, dict[str, float]] = {}
    for sym, v in zip(flat.symbols, flat.net, strict=True):
        base = base_of(sym)
        index.setdefault(base, len(index))
        members.setdefault(base, {})[sym] = float(v)
    rows = np.array([index[base_of(s)] for s in flat.symbols], dtype=np.int64)
    gross, net = np.zeros(len(index)), np.zeros(len(index))
    np.add.at(gross, rows, flat.gross)
    np.add.at(net, rows, flat.net)
    _conserved("gross by base", float(gross.sum()), float(flat.gross.sum()))
    _conserved("net by base", float(net.sum()), float(flat.net.sum()))
    return Netted(tuple(index), gross, net, members)


def _check_book(b: SleeveBook) -> None:
    if not (len(b.symbols) == b.gross.shape[0] == b.net.shape[0]) or len(set(b.symbols)) != len(b.symbols):
        msg = f"sleeve {b.name!r}: symbols, gross and net must align one row per symbol"
        raise FlatteningError(msg)
    if not (np.isfinite(b.gross).all() and np.isfinite(b.net).all()) or (b.gross < np.abs(b.net) - 1e-12).any():
        msg = f"sleeve {b.name!r}: weights must be finite with gross >= |net| per symbol"
        raise FlatteningError(msg)


def _conserved(what: str, got: float, expected: float) -> None:
    if abs(got - expected) > TOL * max(1.0, abs(expected)):
        msg = f"flattening does not conserve {what}: {got!r} != {expected!r}"
        raise FlatteningError(msg)

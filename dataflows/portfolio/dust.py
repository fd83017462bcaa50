"""Dust: weights too small to be an order (solver round-off such as 3e-8) are removed, the rest refilled within caps.

`remove_dust(w, min_weight, cap, groups, cluster_cap)` takes long-only weights summing to 1 that already respect the
caps (the winning link of the sleeve's fallback chain, after the stable-sum gate). Every weight with
0 < w < `min_weight` is set to 0, the others are divided by their sum, and the result goes through
`caps.cap_weights`, which leaves it unchanged when every cap still holds and otherwise cuts the clusters and atoms
above their cap and hands the excess to those with room, in proportion to their weights (zeros stay zero). No kept
weight shrinks (renormalizing only scales up, and a cut cluster keeps at least its old total: its capacity is at
least its remaining weight), so no new dust appears and every kept weight stays >= `min_weight` (checked anyway).

If the kept atoms cannot hold the whole budget under the caps (e.g. 3 kept atoms under a 0.3333 cap hold at most
0.9999, and the dust held the rest), the weights come back unchanged, dust included, and `DustRemoval.kept` says why. `min_weight` = 0 disables it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dataflows.portfolio import PortfolioError


@dataclass(frozen=True)
class DustRemoval:
    """What `remove_dust` did: the threshold, the atoms (column indices) dropped and their total weight, or why the
    dust was kept."""

    min_weight: float = 0.0  # 0: dust removal off
    dropped: tuple[int, ...] = ()
    dropped_weight: float = 0.0  # their total weight before the refill
    kept: str | None = None  # why dust below min_weight was kept (the caps could not take its weight), else None


def remove_dust(
    w: np.ndarray,
    min_weight: float,
    cap: float,
    groups: np.ndarray | None = None,
    cluster_cap: float | None = None,
) -> tuple[np.ndarray, DustRemoval]:
    """Weights without dust (0 < w < `min_weight`), renormalized within the caps, and the record; see the module."""
    from dataflows.portfolio.caps import cap_weights

    w = np.asarray(w, dtype=np.float64)
    dust = (w > 0) & (w < min_weight)
    if not dust.any():
        return w, DustRemoval(min_weight)
    out = w
    for _ in range(w.size):  # the refill never makes new dust (module docstring); the loop only guards that
        kept = np.where(dust, 0.0, w)
        if not kept.any():
            return w, _kept(w, dust, min_weight, "every weight is below min_weight")
        try:
            out = cap_weights(kept / kept.sum(), cap, groups, cluster_cap)
        except PortfolioError as exc:
            return w, _kept(w, dust, min_weight, f"without the dust, {exc}")
        new = (out > 0) & (out < min_weight)
        if not new.any():
            break
        dust |= new
    dropped = tuple(int(i) for i in np.flatnonzero(dust))
    return out, DustRemoval(min_weight, dropped, float(w[dust].sum()))


def _kept(w: np.ndarray, dust: np.ndarray, min_weight: float, why: str) -> DustRemoval:
    n = int(dust.sum())
    text = f"{n} weight(s) below min_weight {min_weight:g} (total {float(w[dust].sum()):.3g}) kept: {why}"
    return DustRemoval(min_weight, kept=text)

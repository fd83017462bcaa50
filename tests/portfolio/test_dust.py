"""Dust removal: no weight left in (0, min_weight), Σw = 1, asset and cluster caps exact; or the dust kept, with why."""

from __future__ import annotations

import numpy as np
import pytest

from dataflows.portfolio import PortfolioError
from dataflows.portfolio.caps import cap_weights
from dataflows.portfolio.dust import DustRemoval, remove_dust

MIN_W = 1e-4


def _capped_with_dust(seed: int) -> tuple[np.ndarray, float, np.ndarray | None, float | None]:
    """Capped weights (some at their asset or cluster cap) with a few solver-sized crumbs (1e-9 .. 9e-5)."""
    rng = np.random.default_rng(seed)
    while True:  # draw until the caps are feasible on the atoms with weight
        n = int(rng.integers(8, 30))
        cap = float(rng.choice([0.15, 0.25, 0.4]))
        groups = rng.integers(0, 4, n) if seed % 2 else None
        cc = float(rng.choice([0.35, 0.5])) if groups is not None else None
        w = rng.lognormal(0.0, 1.0, n)
        dust = rng.random(n) < 0.3
        w[dust] = 0.0
        crumbs = rng.choice(np.flatnonzero(~dust), size=min(3, int(dust.sum())), replace=False)
        w[crumbs] = 0.0  # these become dust; their weight goes to the atoms kept
        try:
            w = cap_weights(w / w.sum(), cap, groups, cc)  # a feasible point with binding caps
        except PortfolioError:
            continue
        w[crumbs] = 10.0 ** rng.uniform(-9, np.log10(9e-5), crumbs.size)
        return cap_weights(w / w.sum(), cap, groups, cc), cap, groups, cc


@pytest.mark.parametrize("seed", range(40))
def test_dust_is_removed_and_the_caps_still_hold_exactly(seed: int) -> None:
    w, cap, groups, cc = _capped_with_dust(seed)
    assert ((w > 0) & (w < MIN_W)).any()
    out, rec = remove_dust(w, MIN_W, cap, groups, cc)
    assert rec.kept is None  # the atoms kept held a feasible point before the crumbs were added
    assert not ((out > 0) & (out < MIN_W)).any()
    assert out.sum() == pytest.approx(1.0, abs=1e-12)
    assert out.max() <= cap + 1e-12
    if groups is not None:
        assert np.bincount(groups, weights=out).max() <= cc + 1e-12
    dust = (w > 0) & (w < MIN_W)
    assert rec.dropped == tuple(np.flatnonzero(dust)) and rec.dropped_weight == pytest.approx(w[dust].sum())
    assert (out[dust] == 0).all() and (out[~dust] >= w[~dust] - 1e-15).all()  # no kept weight shrinks


def test_without_dust_or_with_min_weight_zero_nothing_changes() -> None:
    w = np.array([0.5, 0.3, 0.2, 0.0])
    out, rec = remove_dust(w, MIN_W, 0.5)
    assert out is w and rec == DustRemoval(MIN_W)
    tiny = np.array([0.5, 0.5 - 3e-8, 3e-8])
    out, rec = remove_dust(tiny, 0.0, 1.0)
    assert out is tiny and rec.dropped == () and rec.kept is None


def test_a_weight_of_3e_8_is_dropped_and_its_weight_refilled_pro_rata() -> None:
    w = np.array([0.4, 0.3, 0.3 - 3e-8, 3e-8])
    out, rec = remove_dust(w, MIN_W, 0.5)
    np.testing.assert_allclose(out, np.append(w[:3] / w[:3].sum(), 0.0), rtol=0, atol=1e-16)
    assert rec == DustRemoval(MIN_W, (3,), 3e-8)


def test_refill_beyond_a_cap_goes_to_the_atoms_with_room() -> None:
    w = np.array([0.25, 0.25, 0.25, 0.25 - 5e-5, 5e-5])  # three atoms at the 0.25 cap
    out, rec = remove_dust(w, MIN_W, 0.25)
    np.testing.assert_allclose(out, [0.25, 0.25, 0.25, 0.25, 0.0], rtol=0, atol=1e-15)
    assert rec.dropped == (4,)
    g = np.array([0, 0, 1, 1, 2])  # cluster 0 at its 0.5 cap: the refill goes to cluster 1
    w = np.array([0.3, 0.2, 0.25, 0.25 - 5e-5, 5e-5])
    out, _ = remove_dust(w, MIN_W, 0.3, g, 0.5)
    assert out[:2].sum() <= 0.5 + 1e-15 and out[4] == 0.0 and out.sum() == pytest.approx(1.0, abs=1e-15)
    assert out[2] > w[2] and out[3] > w[3]


def test_dust_the_caps_cannot_do_without_is_kept_and_says_why() -> None:
    w = np.array([0.3333, 0.3333, 0.3333, 5e-5, 5e-5])  # 3 atoms under a 0.3333 cap hold at most 0.9999
    out, rec = remove_dust(w, MIN_W, 0.3333)
    np.testing.assert_array_equal(out, w)
    assert rec.dropped == () and rec.kept is not None
    assert rec.kept.startswith("2 weight(s) below min_weight 0.0001 (total 0.0001) kept: without the dust, infeasible")
    out, rec = remove_dust(np.full(4, 0.25), 0.3, 1.0)
    assert "every weight is below min_weight" in str(rec.kept)

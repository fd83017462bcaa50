"""`cap_weights` (the capped projection for HRP / risk parity / equal weight) and the cluster-aware gate."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dataflows.errors import DataflowsError
from dataflows.portfolio import InfeasibleCaps, InvalidInput, PortfolioError
from dataflows.portfolio.caps import InfeasibleClusterCaps, cap_weights
from dataflows.portfolio.hrp import hrp_weights
from dataflows.portfolio.mvo import risk_parity_weights, stable_sum_ok

TOL = 1e-12


@st.composite
def _cases(draw: st.DrawFn) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """Random long-only weights (some zeros), cluster labels, an asset cap and per-cluster caps."""
    n = draw(st.integers(1, 30))
    raw = np.array(draw(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n)))
    raw[raw < 1e-9] = 0.0  # no subnormal weights: their ratios cannot be kept to 1e-9 in floating point
    if raw.sum() <= 0:
        raw[0] = 1.0
    w = raw / raw.sum()
    n_groups = draw(st.integers(1, 6))
    groups = np.array(draw(st.lists(st.integers(0, n_groups - 1), min_size=n, max_size=n)), dtype=np.int64)
    cap = draw(st.floats(0.02, 1.0))
    caps = np.array(draw(st.lists(st.floats(0.02, 1.0), min_size=n_groups, max_size=n_groups)))
    return w, cap, groups, caps[: np.unique(groups).size]


def _capacity(w: np.ndarray, cap: float, groups: np.ndarray, caps: np.ndarray) -> float:
    """Σ_g min(cluster cap, cap x #assets with weight): the most a fully invested projection can hold."""
    labels = np.unique(groups)
    return sum(min(c, cap * int(((groups == lab) & (w > 0)).sum())) for lab, c in zip(labels, caps, strict=True))


@settings(max_examples=300, deadline=None)
@given(_cases())
def test_cap_weights_is_feasible_or_raises(case: tuple[np.ndarray, float, np.ndarray, np.ndarray]) -> None:
    w, cap, groups, caps = case
    if _capacity(w, cap, groups, caps) < 1.0 - 1e-12:
        with pytest.raises(InfeasibleClusterCaps, match="infeasible cluster caps"):
            cap_weights(w, cap, groups, caps)
        return
    out = cap_weights(w, cap, groups, caps)
    assert abs(out.sum() - 1.0) < 1e-12
    assert (out >= 0).all() and (out <= cap + TOL).all()
    totals = np.array([out[groups == lab].sum() for lab in np.unique(groups)])
    assert (totals <= caps + TOL).all()
    assert (out[w == 0] == 0).all()  # zero weights (e.g. HRP-excluded assets) stay zero
    assert stable_sum_ok(out, 0.0, cap, 1e-9, groups, caps) == (True, "")
    # idempotent: the projection of a feasible point is the point itself, bit for bit
    np.testing.assert_array_equal(cap_weights(out, cap, groups, caps), out)


@settings(max_examples=300, deadline=None)
@given(_cases())
def test_cap_weights_keeps_order_and_ratios(case: tuple[np.ndarray, float, np.ndarray, np.ndarray]) -> None:
    w, cap, groups, caps = case
    if _capacity(w, cap, groups, caps) < 1.0 - 1e-12:
        return
    out = cap_weights(w, cap, groups, caps)
    labels = np.unique(groups)
    untouched = np.zeros(w.size, dtype=bool)
    for lab, c in zip(labels, caps, strict=True):
        members = np.flatnonzero(groups == lab)
        a, b = w[members], out[members]
        # order within a cluster is kept: w_i < w_j  =>  out_i <= out_j
        i, j = np.meshgrid(np.arange(a.size), np.arange(a.size), indexing="ij")
        assert (b[i] <= b[j] + 1e-15)[a[i] < a[j]].all()
        # ratios among the cluster's assets below the cap are unchanged
        below = (b < cap - 1e-9) & (a > 0)
        if below.sum() > 1:
            ratio = b[below] / a[below]
            assert np.ptp(ratio) <= 1e-9 * ratio.max()
        if b.sum() < c - 1e-9 and below.sum() == (a > 0).sum():
            untouched[members] = True
    # clusters where no cap binds all move by the same factor: their ratios to each other are unchanged too
    live = untouched & (w > 0)
    if live.sum() > 1:
        ratio = out[live] / w[live]
        assert np.ptp(ratio) <= 1e-9 * ratio.max()


@settings(max_examples=200, deadline=None)
@given(_cases())
def test_cap_weights_is_a_noop_on_feasible_input(case: tuple[np.ndarray, float, np.ndarray, np.ndarray]) -> None:
    w, _, groups, _ = case
    totals = np.array([w[groups == lab].sum() for lab in np.unique(groups)])
    caps = np.where(totals > 0, totals, 0.5)  # every cap exactly met (cluster caps must be > 0): still feasible
    out = cap_weights(w, float(w.max()), groups, caps)
    assert out is not w
    np.testing.assert_array_equal(out, w)
    np.testing.assert_array_equal(cap_weights(w, 1.0), w)


def test_asset_caps_only_water_fill() -> None:
    w = np.array([0.5, 0.3, 0.1, 0.1])
    out = cap_weights(w, 0.3)
    # 0.2 excess from asset 0 goes to assets 2, 3 in proportion (asset 1 is already at the cap)
    np.testing.assert_allclose(out, [0.3, 0.3, 0.2, 0.2], rtol=0, atol=1e-15)
    with pytest.raises(InfeasibleCaps, match=r"3 assets x cap 0\.3"):
        cap_weights(np.array([0.6, 0.3, 0.1, 0.0]), 0.3)  # the zero weight stays zero: only 3 assets hold weight


def test_cluster_caps_water_fill() -> None:
    w = np.array([0.4, 0.2, 0.2, 0.1, 0.1])
    groups = np.array([7, 7, 3, 3, 5])
    out = cap_weights(w, 1.0, groups, 0.4)
    # cluster 7 (0.6) is cut to 0.4 keeping its 2:1 split; its 0.2 excess goes to clusters 3 and 5 in
    # proportion 0.3 : 0.1, i.e. 0.15 and 0.05, but cluster 3 may only reach 0.4: 3 -> 0.4, 5 -> 0.2
    np.testing.assert_allclose(out, [0.4 * 2 / 3, 0.4 / 3, 0.4 * 2 / 3, 0.4 / 3, 0.2], rtol=0, atol=1e-15)
    per_cluster = cap_weights(w, 1.0, groups, np.array([0.5, 0.2, 0.4]))  # caps of labels 3, 5, 7
    # 7 cut to 0.4; clusters 3 and 5 both have room for their share x 1.5: 0.45 and 0.15
    assert per_cluster[4] == pytest.approx(0.15, abs=1e-15) and per_cluster[2:4].sum() == pytest.approx(0.45)
    assert per_cluster[0] / per_cluster[1] == pytest.approx(2.0)


def test_infeasible_cluster_caps_name_the_numbers() -> None:
    w = np.full(6, 1 / 6)
    with pytest.raises(InfeasibleClusterCaps) as err:
        cap_weights(w, 0.25, np.array([0, 0, 0, 1, 1, 2]), np.array([0.5, 0.3, 0.1]))
    e = err.value
    assert isinstance(e, PortfolioError) and isinstance(e, DataflowsError)
    assert e.capacity == pytest.approx(0.5 + 0.3 + 0.1)
    assert (e.labels, e.sizes, e.cluster_caps, e.cap) == ((0, 1, 2), (3, 2, 1), (0.5, 0.3, 0.1), 0.25)
    assert "= 0.9 < 1" in str(e) and "0: min(0.5, 3 x 0.25) = 0.5" in str(e) and "2: min(0.1, 1 x 0.25) = 0.1" in str(e)


def test_bad_inputs_are_named() -> None:
    w = np.array([0.5, 0.5])
    with pytest.raises(InvalidInput, match="sum to"):
        cap_weights(np.array([0.5, 0.4]), 0.6)
    with pytest.raises(InvalidInput, match=">= 0"):
        cap_weights(np.array([1.5, -0.5]), 0.6)
    with pytest.raises(InvalidInput, match="needs groups"):
        cap_weights(w, 0.6, None, 0.5)
    with pytest.raises(InvalidInput, match="integer cluster labels"):
        cap_weights(w, 0.6, np.array([0.0, 1.0]), 0.5)
    with pytest.raises(InvalidInput, match="one cap per cluster"):
        cap_weights(w, 0.6, np.array([0, 1]), np.array([0.5, 0.5, 0.5]))
    with pytest.raises(InvalidInput, match=r"cluster 1 is 0\.0"):
        cap_weights(w, 0.6, np.array([0, 1]), np.array([0.5, 0.0]))
    assert cap_weights(w, 0.6, np.array([0, 1])).tolist() == [0.5, 0.5]  # groups without caps: no cluster limits


def test_hrp_allocation_changes_only_where_a_cap_binds() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((400, 3)) @ rng.standard_normal((3, 12)) * 0.01
    x += rng.standard_normal((400, 12)) * 0.02 * rng.uniform(0.5, 2.0, 12)
    w = hrp_weights(x).weights
    groups = np.repeat(np.arange(4), 3)
    totals = np.bincount(groups, w)
    np.testing.assert_array_equal(cap_weights(w, float(w.max()), groups, totals), w)
    top = int(np.argmax(totals))
    caps = np.ones(4)
    caps[top] = totals[top] - 0.05  # bind only the heaviest cluster
    out = cap_weights(w, 1.0, groups, caps)
    assert np.bincount(groups, out)[top] == pytest.approx(caps[top], abs=1e-15)
    ratio = out / w
    inside, outside = groups == top, groups != top
    assert np.ptp(ratio[inside]) < 1e-12 and ratio[inside][0] < 1  # the capped cluster shrinks uniformly
    assert np.ptp(ratio[outside]) < 1e-12 and ratio[outside][0] > 1  # the rest grows uniformly
    rp = risk_parity_weights(np.cov(x, rowvar=False)).weights  # the same projection serves risk parity
    assert stable_sum_ok(cap_weights(rp, 0.1), 0.0, 0.1, 1e-12)[0]


@pytest.mark.parametrize(
    ("w", "caps", "ok", "reason"),
    [
        ([0.3, 0.3, 0.4], 0.6, True, ""),
        ([0.3, 0.3 + 5e-7, 0.4 - 5e-7], 0.6, True, ""),
        ([0.35, 0.3, 0.35], 0.6, False, "cluster 4 totals 0.64999"),
        ([0.3, 0.3, 0.4], np.array([0.6, 0.3]), False, "cluster 9 totals 0.4, above its cluster cap 0.3"),
    ],
)
def test_stable_sum_gate_checks_clusters(w: list[float], caps: float | np.ndarray, ok: bool, reason: str) -> None:
    got_ok, got_reason = stable_sum_ok(np.array(w), 0.0, 1.0, 1e-6, np.array([4, 4, 9]), caps)
    assert got_ok is ok
    assert reason in got_reason and (got_reason == "") is ok

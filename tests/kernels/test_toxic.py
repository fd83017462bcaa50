"""Toxic guard kernel against a slow, obviously correct reference, plus property tests."""

from __future__ import annotations

import dataclasses
import inspect
import itertools

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kernels.toxic import PARALLEL_MIN_CELLS, ToxicScan, toxic_scan, toxic_scan_nb, toxic_scan_parallel_nb

INT_FIELDS = ("return_first", "return_worst_row", "flat_first", "flat_worst", "flat_worst_row")
INT_FIELDS += ("spike_first", "spike_worst_row")
FLOAT_FIELDS = ("return_worst", "spike_worst")
PROPS = settings(max_examples=40, deadline=None)


# --- the slow reference: one symbol at a time, plain loops over the valid bars --------------------------------------


def reference_scan(
    close: np.ndarray,
    volume: np.ndarray,
    max_abs_return: float,
    flat_bars: int,
    spike_mult: float,
    spike_window: int,
) -> ToxicScan:
    """The three rules as written in the module docstring, one column and one valid bar at a time."""
    n = close.shape[1]
    out = {f: np.full(n, -1, dtype=np.int64) for f in INT_FIELDS}
    out |= {f: np.full(n, np.nan) for f in FLOAT_FIELDS}
    out["flat_worst"][:] = 0
    for j in range(n):
        rows = [t for t in range(close.shape[0]) if not np.isnan(close[t, j])]
        # 1. returns between consecutive valid closes, stamped at the later bar
        for prev, t in itertools.pairwise(rows):
            r = abs((close[t, j] - close[prev, j]) / close[prev, j])
            if out["return_first"][j] == -1 and r >= max_abs_return:
                out["return_first"][j] = t
            if out["return_worst_row"][j] == -1 or r > out["return_worst"][j]:
                out["return_worst"][j], out["return_worst_row"][j] = r, t
        # 2. runs of identical consecutive valid closes
        for k, t in enumerate(rows):
            run = 1
            while run <= k and close[rows[k - run], j] == close[t, j]:
                run += 1
            if run > out["flat_worst"][j]:
                out["flat_worst"][j], out["flat_worst_row"][j] = run, t
            if out["flat_first"][j] == -1 and run >= flat_bars:
                out["flat_first"][j] = t
        # 3. volume against the median of the previous `spike_window` valid volumes
        vrows = [t for t in range(volume.shape[0]) if not np.isnan(volume[t, j])]
        for k in range(spike_window, len(vrows)):
            t = vrows[k]
            med = float(np.median(volume[vrows[k - spike_window : k], j]))
            if med == 0.0:
                continue
            if out["spike_first"][j] == -1 and volume[t, j] > spike_mult * med:
                out["spike_first"][j] = t
            ratio = volume[t, j] / med
            if out["spike_worst_row"][j] == -1 or ratio > out["spike_worst"][j]:
                out["spike_worst"][j], out["spike_worst_row"][j] = ratio, t
    return ToxicScan(**out)


def assert_scans_equal(got: ToxicScan, want: ToxicScan, rtol: float = 1e-12) -> None:
    """Indices and run lengths exactly, worst values to `rtol` (NaN where the reference has NaN)."""
    for f in INT_FIELDS:
        g, w = getattr(got, f), getattr(want, f)
        assert g.dtype == np.int64, f
        np.testing.assert_array_equal(g, w, err_msg=f)
    for f in FLOAT_FIELDS:
        g, w = getattr(got, f), getattr(want, f)
        assert g.dtype == np.float64, f
        np.testing.assert_allclose(g, w, rtol=rtol, atol=0, equal_nan=True, err_msg=f)


def scan(close: np.ndarray, volume: np.ndarray, **kw: float) -> ToxicScan:
    """`toxic_scan` with small thresholds by default, so every rule fires on small panels."""
    params = {"max_abs_return": 0.3, "flat_bars": 4, "spike_mult": 3.0, "spike_window": 5} | kw
    return toxic_scan(close, volume, **params)


def both(
    close: np.ndarray, volume: np.ndarray, parallel: bool | None = None, **kw: float
) -> tuple[ToxicScan, ToxicScan]:
    """(kernel, reference) with the same small default thresholds as `scan`."""
    params = {"max_abs_return": 0.3, "flat_bars": 4, "spike_mult": 3.0, "spike_window": 5} | kw
    return toxic_scan(close, volume, parallel=parallel, **params), reference_scan(close, volume, **params)


# --- random panels with NaN blocks and planted defects --------------------------------------------------------------


def random_panel(rng: np.random.Generator, n_rows: int, n_cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Random-walk closes on a tick grid (so flat runs happen), lognormal volumes, NaN blocks, planted defects."""
    log_p = np.cumsum(rng.normal(0.0, 0.05, (n_rows, n_cols)), axis=0) + np.log(rng.uniform(1, 50, n_cols))
    close = np.round(np.exp(log_p), 1) + 0.1  # ticks of 0.1, always > 0
    volume = np.round(rng.lognormal(5.0, 1.0, (n_rows, n_cols)))
    for j in range(n_cols):
        kind = rng.integers(0, 6)
        t = int(rng.integers(0, n_rows))
        if kind == 0:  # toxic print
            close[t, j] *= rng.choice([0.1, 8.0, 20.0])
        elif kind == 1:  # flat line
            close[t : t + int(rng.integers(2, 12)), j] = close[t, j]
        elif kind == 2:  # volume spike
            volume[t, j] *= rng.uniform(2.0, 500.0)
        elif kind == 3:  # dead volume: zero medians
            volume[t : t + int(rng.integers(3, 15)), j] = 0.0
        elif kind == 4:  # volume ties
            volume[:, j] = np.round(volume[:, j], -2)
        # NaN blocks: late listing, delisting, interior gaps; close and volume masks differ sometimes
        if rng.random() < 0.4:
            close[: int(rng.integers(1, n_rows + 1)), j] = np.nan
        if rng.random() < 0.3:
            close[int(rng.integers(0, n_rows)) :, j] = np.nan
        for _ in range(int(rng.integers(0, 3))):
            a = int(rng.integers(0, n_rows))
            close[a : a + int(rng.integers(1, 8)), j] = np.nan
        volume[np.isnan(close[:, j]), j] = np.nan
        if rng.random() < 0.2:
            a = int(rng.integers(0, n_rows))
            volume[a : a + int(rng.integers(1, 6)), j] = np.nan
    return close, volume


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("seed", range(8))
def test_matches_reference_on_random_panels(seed: int, parallel: bool) -> None:
    rng = np.random.default_rng(seed)
    close, volume = random_panel(rng, n_rows=int(rng.integers(1, 120)), n_cols=int(rng.integers(1, 40)))
    params = {
        "max_abs_return": float(rng.choice([0.05, 0.3, 5.0])),
        "flat_bars": int(rng.integers(2, 6)),
        "spike_mult": float(rng.choice([1.5, 3.0, 100.0])),
        "spike_window": int(rng.integers(1, 12)),
    }
    got, want = both(close, volume, parallel=parallel, **params)
    assert_scans_equal(got, want)


@pytest.mark.parametrize("parallel", [False, True])
def test_matches_reference_with_default_thresholds(parallel: bool) -> None:
    close, volume = random_panel(np.random.default_rng(99), n_rows=300, n_cols=30)
    got = toxic_scan(close, volume, parallel=parallel)
    assert_scans_equal(got, reference_scan(close, volume, 5.0, 20, 100.0, 30))


@pytest.mark.parametrize("kernel", [toxic_scan_nb, toxic_scan_parallel_nb])
def test_raw_kernels_return_the_named_tuple(kernel) -> None:
    close, volume = random_panel(np.random.default_rng(7), n_rows=50, n_cols=5)
    got = kernel(close, volume, 0.3, 4, 3.0, 5)
    assert isinstance(got, ToxicScan)
    assert_scans_equal(got, reference_scan(close, volume, 0.3, 4, 3.0, 5))


def test_memory_layout_does_not_matter() -> None:
    close, volume = random_panel(np.random.default_rng(3), n_rows=60, n_cols=8)
    want = scan(close, volume)
    assert_scans_equal(scan(np.asfortranarray(close), np.asfortranarray(volume)), want, rtol=0)
    wide_c, wide_v = np.repeat(close, 2, axis=1), np.repeat(volume, 2, axis=1)
    assert_scans_equal(scan(wide_c[:, ::2], wide_v[:, ::2]), want, rtol=0)


def test_serial_and_parallel_agree_on_a_panel_big_enough_to_go_parallel() -> None:
    close, volume = random_panel(np.random.default_rng(5), n_rows=500, n_cols=PARALLEL_MIN_CELLS // 500)
    assert_scans_equal(toxic_scan(close, volume), toxic_scan(close, volume, parallel=False), rtol=0)


# --- hand-made cases: every definition in the docstring, once -------------------------------------------------------


def col(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float64)[:, None]


def test_return_rule_by_hand() -> None:
    close = col(np.nan, 10.0, 10.5, 63.0, 63.0, 10.5)  # +500% at row 3, -83% at row 5
    got = scan(close, np.ones_like(close), max_abs_return=5.0)
    assert (got.return_first[0], got.return_worst_row[0]) == (3, 3)
    assert got.return_worst[0] == pytest.approx(5.0, rel=1e-15)
    got = scan(close, np.ones_like(close), max_abs_return=5.0 + 1e-9)  # |r| >= threshold, not >
    assert got.return_first[0] == -1


def test_return_across_a_gap_is_between_the_valid_closes_either_side() -> None:
    close = col(1.0, np.nan, np.nan, 7.0, np.nan, 7.7)
    got = scan(close, np.ones_like(close), max_abs_return=5.0)
    assert (got.return_first[0], got.return_worst_row[0], got.return_worst[0]) == (3, 3, 6.0)


def test_no_return_without_two_valid_closes() -> None:
    close = np.array([[np.nan, 3.0, np.nan], [np.nan, np.nan, np.nan], [np.nan, np.nan, 4.0]])
    got = scan(close, np.ones_like(close))
    np.testing.assert_array_equal(got.return_first, [-1, -1, -1])
    np.testing.assert_array_equal(got.return_worst_row, [-1, -1, -1])
    assert np.isnan(got.return_worst).all()
    np.testing.assert_array_equal(got.flat_worst, [0, 1, 1])
    np.testing.assert_array_equal(got.flat_worst_row, [-1, 0, 2])


def test_flat_rule_by_hand() -> None:
    # runs: 2 bars (rows 0-1), then 4 bars spanning a gap (rows 2-6), then 4 again (rows 7-10): earliest longest wins
    close = col(1.0, 1.0, 2.0, 2.0, np.nan, 2.0, 2.0, 3.0, 3.0, 3.0, 3.0)
    got = scan(close, np.ones_like(close), flat_bars=4)
    assert (got.flat_first[0], got.flat_worst[0], got.flat_worst_row[0]) == (6, 4, 6)
    got = scan(close, np.ones_like(close), flat_bars=5)
    assert (got.flat_first[0], got.flat_worst[0]) == (-1, 4)


def test_spike_rule_by_hand() -> None:
    # window 4 at row 5: median of [1, 2, 3, 4] = 2.5, and 7.5 is not > 3 x 2.5 (7.6 is); the gap at row 2 is skipped
    volume = col(1.0, 2.0, np.nan, 3.0, 4.0, 7.5, 2.0, 2.0, 2.0, 80.0)
    got = scan(np.ones_like(volume), volume, spike_window=4, spike_mult=3.0)
    assert got.spike_first[0] == 9  # window [7.5, 2, 2, 2]: median 2, ratio 40
    assert (got.spike_worst[0], got.spike_worst_row[0]) == (40.0, 9)
    volume[5, 0] = 7.6
    assert scan(np.ones_like(volume), volume, spike_window=4, spike_mult=3.0).spike_first[0] == 5


def test_spike_needs_a_full_window_and_a_nonzero_median() -> None:
    volume = col(0.0, 0.0, 0.0, 5.0, 1e9, 0.0, 1.0, 1.0, 1.0)
    got = scan(np.ones_like(volume), volume, spike_window=3, spike_mult=3.0)
    # rows 3 and 4 have a zero median (no baseline, not flagged); row 5's window [0, 5, 1e9] has median 5 -> ratio 0
    assert got.spike_first[0] == -1
    assert (got.spike_worst[0], got.spike_worst_row[0]) == (1.0, 7)  # windows [1e9, 0, 1] and [0, 1, 1]: earliest
    short = scan(np.ones((3, 1)), col(1.0, 1.0, 1e9), spike_window=3)
    assert (short.spike_first[0], short.spike_worst_row[0]) == (-1, -1)
    assert np.isnan(short.spike_worst[0])


def test_empty_panels() -> None:
    got = scan(np.empty((0, 3)), np.empty((0, 3)))
    np.testing.assert_array_equal(got.return_first, [-1, -1, -1])
    np.testing.assert_array_equal(got.flat_worst, [0, 0, 0])
    assert toxic_scan(np.empty((5, 0)), np.empty((5, 0))).return_first.shape == (0,)


def test_flagged_mask() -> None:
    close = np.ones((30, 3)) + np.arange(30)[:, None] * np.array([0.01, 0.0, 0.01])
    got = scan(close, np.ones_like(close))
    np.testing.assert_array_equal(got.flagged, [False, True, False])


@pytest.mark.parametrize(
    ("close", "volume", "kw", "match"),
    [
        (np.ones((3, 2)), np.ones((3, 3)), {}, r"same shape"),
        (np.ones(3), np.ones(3), {}, r"close must be a 2-D float64"),
        (np.ones((3, 2)), np.ones((3, 2), dtype=np.float32), {}, r"volume must be a 2-D float64"),
        (col(1.0, 0.0), col(1.0, 1.0), {}, r"close\[1, 0\] = 0\.0"),
        (col(1.0, -np.inf), col(1.0, 1.0), {}, r"close\[1, 0\] = -inf"),
        (col(1.0, 2.0), col(np.inf, 1.0), {}, r"volume\[0, 0\] = inf"),
        (col(1.0, 2.0), col(1.0, -1.0), {}, r"volume\[1, 0\] = -1\.0"),
        (col(1.0), col(1.0), {"max_abs_return": 0.0}, r"max_abs_return"),
        (col(1.0), col(1.0), {"flat_bars": 1}, r"flat_bars"),
        (col(1.0), col(1.0), {"flat_bars": 2.5}, r"flat_bars"),
        (col(1.0), col(1.0), {"spike_mult": float("nan")}, r"spike_mult"),
        (col(1.0), col(1.0), {"spike_window": 0}, r"spike_window"),
        (col(1.0), col(1.0), {"spike_window": float("nan")}, r"spike_window"),
        (col(1.0), col(1.0), {"spike_window": None}, r"spike_window"),
    ],
)
def test_bad_input_is_a_clear_error(close: np.ndarray, volume: np.ndarray, kw: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        toxic_scan(close, volume, **kw)


def test_keyword_defaults_mirror_the_guard_config() -> None:
    from dataflows.config import GuardConfig

    config = {f.name: f.default for f in dataclasses.fields(GuardConfig)}
    params = inspect.signature(toxic_scan).parameters
    for name in ("max_abs_return", "flat_bars", "spike_mult", "spike_window"):
        assert params[name].default == config[name], name


# --- properties ------------------------------------------------------------------------------------------------------

thresholds = st.fixed_dictionaries(
    {
        "max_abs_return": st.sampled_from([0.05, 0.25, 1.0, 5.0]),
        "flat_bars": st.integers(2, 5),
        "spike_mult": st.sampled_from([1.5, 3.0, 10.0]),
        "spike_window": st.integers(1, 8),
    }
)


@st.composite
def panels(draw: st.DrawFn, max_rows: int = 40, max_cols: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Closes on a binary grid (exact ties and exact ratios happen), volumes with zeros, NaN anywhere."""
    n_rows, n_cols = draw(st.integers(0, max_rows)), draw(st.integers(1, max_cols))
    ticks = st.integers(1, 40).map(lambda k: k / 8.0)
    cells = n_rows * n_cols
    close = np.array(draw(st.lists(ticks, min_size=cells, max_size=cells))).reshape(n_rows, n_cols)
    vols = st.sampled_from([0.0, 1.0, 2.0, 3.0, 5.0, 50.0, 1000.0])
    volume = np.array(draw(st.lists(vols, min_size=cells, max_size=cells)), dtype=np.float64).reshape(n_rows, n_cols)
    for a in (close, volume):
        holes = draw(st.lists(st.booleans(), min_size=cells, max_size=cells))
        a[np.array(holes, dtype=bool).reshape(n_rows, n_cols)] = np.nan
    return close.astype(np.float64), volume


@PROPS
@given(panel=panels(), kw=thresholds)
def test_property_matches_reference(panel: tuple[np.ndarray, np.ndarray], kw: dict) -> None:
    close, volume = panel
    got, want = both(close, volume, **kw)
    assert_scans_equal(got, want)


@PROPS
@given(panel=panels(), kw=thresholds, exponent=st.integers(-30, 30))
def test_property_scaling_prices_by_a_power_of_two_changes_nothing(
    panel: tuple[np.ndarray, np.ndarray], kw: dict, exponent: int
) -> None:
    close, volume = panel
    base, scaled = scan(close, volume, **kw), scan(close * 2.0**exponent, volume, **kw)
    assert_scans_equal(scaled, base, rtol=0)


@PROPS
@given(panel=panels(), kw=thresholds, factor=st.floats(1e-3, 1e3))
def test_property_scaling_prices_by_any_positive_constant_changes_nothing(
    panel: tuple[np.ndarray, np.ndarray], kw: dict, factor: float
) -> None:
    # Ratios of scaled closes can move by an ulp: a return exactly on the threshold may flip, and two returns tied for
    # the worst may untie. Assume the first away; for the second, the worst row must still hold the worst value.
    close, volume = panel
    base, scaled = scan(close, volume, **kw), scan(close * factor, volume, **kw)
    prev = close.copy()
    for j in range(close.shape[1]):  # |r| at every valid bar
        valid = ~np.isnan(close[:, j])
        prev[valid, j] = np.concatenate([[np.nan], close[valid, j][:-1]])
    abs_r = np.abs((close - prev) / prev)
    assume(not np.any(np.isclose(abs_r, kw["max_abs_return"], rtol=1e-9, atol=0)))
    for f in INT_FIELDS:
        if f != "return_worst_row":
            np.testing.assert_array_equal(getattr(scaled, f), getattr(base, f), err_msg=f)
    for f in FLOAT_FIELDS:
        np.testing.assert_allclose(getattr(scaled, f), getattr(base, f), rtol=1e-12, equal_nan=True, err_msg=f)
    has = base.return_worst_row >= 0
    np.testing.assert_array_equal(scaled.return_worst_row >= 0, has)
    at_row = abs_r[scaled.return_worst_row[has], np.flatnonzero(has)]
    np.testing.assert_allclose(at_row, base.return_worst[has], rtol=1e-12)


@st.composite
def clean_panels(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, dict]:
    """Panels that break no rule by construction: closes in a narrow band without repeats, volumes in a band."""
    kw = draw(thresholds) | {"max_abs_return": draw(st.floats(0.5, 8.0))}
    n_rows, n_cols = draw(st.integers(0, 40)), draw(st.integers(1, 6))
    cells = n_rows * n_cols
    u = np.array(draw(st.lists(st.floats(0.0, 1.0), min_size=cells, max_size=cells))).reshape(n_rows, n_cols)
    close = 1.0 + 0.05 * u
    holes = np.array(draw(st.lists(st.booleans(), min_size=cells, max_size=cells)), dtype=bool)
    close[holes.reshape(n_rows, n_cols)] = np.nan
    for j in range(n_cols):  # no two consecutive valid closes equal; all in [1, 1.12], so |r| < 12%
        prev = np.nan
        for t in np.flatnonzero(~np.isnan(close[:, j])):
            if close[t, j] == prev:
                close[t, j] = prev + 0.06 if prev < 1.06 else prev - 0.06
            prev = close[t, j]
    # volumes in [10, 10 * spike_mult]: never above spike_mult x any median of them
    vol_u = np.array(draw(st.lists(st.floats(0.0, 1.0), min_size=cells, max_size=cells))).reshape(n_rows, n_cols)
    volume = 10.0 + 10.0 * (kw["spike_mult"] - 1.0) * vol_u
    volume[np.isnan(close)] = np.nan
    return close, volume, kw


@PROPS
@given(panel=clean_panels())
def test_property_a_clean_panel_flags_nothing(panel: tuple[np.ndarray, np.ndarray, dict]) -> None:
    close, volume, kw = panel
    got = scan(close, volume, **kw)
    for f in ("return_first", "flat_first", "spike_first"):
        np.testing.assert_array_equal(getattr(got, f), -1, err_msg=f)
    assert not got.flagged.any()


@PROPS
@given(panel=clean_panels(), data=st.data())
def test_property_a_planted_x10_print_is_found_at_its_row(
    panel: tuple[np.ndarray, np.ndarray, dict], data: st.DataObject
) -> None:
    close, volume, kw = panel
    kw["max_abs_return"] = min(kw["max_abs_return"], 5.0)  # x10 in a [1, 1.12] band is a return of at least +790%
    j = data.draw(st.integers(0, close.shape[1] - 1))
    rows = np.flatnonzero(~np.isnan(close[:, j]))
    assume(len(rows) >= 2)
    t = data.draw(st.sampled_from(rows[1:].tolist()))  # the first valid bar has no return
    before = scan(close, volume, **kw)
    close[t, j] *= 10.0
    after = scan(close, volume, **kw)
    assert after.return_first[j] == t
    assert after.return_worst_row[j] == t
    others = np.arange(close.shape[1]) != j
    np.testing.assert_array_equal(after.return_first[others], before.return_first[others])


@PROPS
@given(panel=panels(max_rows=25), kw=thresholds, data=st.data())
def test_property_nan_gaps_only_move_row_indices(
    panel: tuple[np.ndarray, np.ndarray], kw: dict, data: st.DataObject
) -> None:
    # Spreading each column's bars out with NaN rows in between changes no value and no decision: every rule looks at
    # the sequence of valid values only, so a return across a gap is the return between the closes either side.
    close, volume = panel
    n_rows = close.shape[0]
    extra = data.draw(st.integers(0, 30))
    spread = np.sort(data.draw(st.permutations(range(n_rows + extra)))[:n_rows]).astype(np.int64)
    wide_close = np.full((n_rows + extra, close.shape[1]), np.nan)
    wide_volume = wide_close.copy()
    wide_close[spread], wide_volume[spread] = close, volume
    base, wide = scan(close, volume, **kw), scan(wide_close, wide_volume, **kw)
    for f in INT_FIELDS:
        b, w = getattr(base, f), getattr(wide, f)
        if f == "flat_worst":
            np.testing.assert_array_equal(w, b, err_msg=f)
        else:
            np.testing.assert_array_equal(w, np.where(b >= 0, spread[np.maximum(b, 0)] if n_rows else b, -1), err_msg=f)
    for f in FLOAT_FIELDS:
        np.testing.assert_array_equal(getattr(wide, f), getattr(base, f), err_msg=f)


@PROPS
@given(panel=panels(), kw=thresholds, data=st.data())
def test_property_columns_are_independent(panel: tuple[np.ndarray, np.ndarray], kw: dict, data: st.DataObject) -> None:
    close, volume = panel
    perm = np.array(data.draw(st.permutations(range(close.shape[1]))), dtype=np.int64)
    base, permuted = scan(close, volume, **kw), scan(close[:, perm], volume[:, perm], **kw)
    for f in ToxicScan._fields:
        np.testing.assert_array_equal(getattr(permuted, f), getattr(base, f)[perm], err_msg=f)

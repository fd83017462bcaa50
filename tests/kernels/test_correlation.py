"""`kernels.correlation.pairwise_corr` equals `kernels.selection.pairwise_corr_nb` (the scalar pairwise kernel)."""

from __future__ import annotations

import numpy as np
import pytest

from kernels.correlation import pairwise_corr
from kernels.selection import pairwise_corr_nb


def _panel(t: int, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 0.02, (t, 3))[:, rng.integers(0, 3, n)] + rng.normal(0.0, 0.01, (t, n))
    x[: t // 3, 1] = np.nan  # a late listing
    x[t // 2 : t // 2 + 4, 2] = np.nan  # a gap
    x[::2, 3] = np.nan  # an equity-like column (every other row)
    x[:, 4] = 0.02  # zero variance: NaN correlations
    x[:, 5] = np.nan  # never traded
    x[-2:, 6] = np.nan  # delisted two rows ago
    return x


@pytest.mark.parametrize(("t", "n", "min_periods"), [(60, 40, 5), (120, 80, 30), (5, 30, 5), (40, 12, 200)])
def test_equals_the_pairwise_kernel(t: int, n: int, min_periods: int) -> None:
    x = _panel(t, n, seed=t + n)
    want = pairwise_corr_nb(x, min_periods)
    got = pairwise_corr(x, min_periods)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-13, equal_nan=True)
    assert np.array_equal(got, got.T, equal_nan=True) and (np.diag(got) == 1.0).all()


def test_gap_free_and_all_gapped_panels() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(0.0, 0.02, (50, 20))
    np.testing.assert_allclose(pairwise_corr(x, 5), pairwise_corr_nb(x, 5), rtol=0, atol=1e-13)
    x[0] = np.nan  # every column has a gap: the pairwise loop does everything
    np.testing.assert_allclose(pairwise_corr(x, 5), pairwise_corr_nb(x, 5), rtol=0, atol=1e-15)
    assert pairwise_corr(np.empty((10, 0)), 5).shape == (0, 0)

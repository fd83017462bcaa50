"""From votes to ratings: group means, Recommend.All and the category labels (`docs/ratings.md`, sections
aggregation and categories).

A group rating is the mean of its non-NaN votes (a 0 vote counts, a NaN vote does not), summed in component order
in float64, so boundary values such as 0.1 are hit exactly. The fused kernel (`kernels.ratings.fused`) forms the
two group means inline in the same order and calls `overall_rating_nb`, so its ratings equal these functions
applied to its votes bit for bit.

Category boundaries on a rating v: Strong Sell below −0.5, Sell on [−0.5, −0.1), Neutral on [−0.1, 0.1], Buy on
(0.1, 0.5], Strong Buy above 0.5, none for NaN.
"""

from __future__ import annotations

import numpy as np
from numba import njit

CATEGORIES = ("Strong Sell", "Sell", "Neutral", "Buy", "Strong Buy")


@njit(cache=True)
def group_rating_nb(votes: np.ndarray) -> float:
    """Mean of the non-NaN votes (0 counts), NaN if all are NaN."""
    s = 0.0
    cnt = 0
    for v in votes:
        if not np.isnan(v):
            s += v
            cnt += 1
    return s / cnt if cnt > 0 else np.nan


@njit(cache=True)
def overall_rating_nb(ma: float, other: float) -> float:
    """Recommend.All: (MA + Other)/2, the non-NaN one if only one is, NaN if both are NaN."""
    if np.isnan(ma):
        return other
    if np.isnan(other):
        return ma
    return (ma + other) / 2.0


def rating_category(values: np.ndarray) -> np.ndarray:
    """Category labels for rating values (object array; None where NaN)."""
    v = np.asarray(values, dtype=np.float64)
    out = np.full(v.shape, None, dtype=object)
    labels = np.array(CATEGORIES, dtype=object)
    idx = (v >= -0.5).astype(np.int8) + (v >= -0.1) + (v > 0.1) + (v > 0.5)
    valid = ~np.isnan(v)
    out[valid] = labels[idx[valid]]
    return out

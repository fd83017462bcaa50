"""Per-asset statistics for natural selection and pre-optimization analysis.

Modules: `distribution` (moments, quantiles and tail means, max drawdown, pairwise correlation) and `persistence`
(permutation entropy, efficiency ratio, Hurst exponent); each states the definitions of its statistics.

Array contract (every kernel of the package):

- 2-D inputs are float64, rows = time (oldest first), columns = assets. 1-D kernels (`*_1d_nb`) take one column.
- NaN means "no bar" (late listing, an equity's weekend or holiday, a delisting). Each kernel drops the NaN rows of
  its column and works on the sequence of valid values in order, so a crypto column and an equity column can sit
  side by side and each is measured on its own bars; no date is ever dropped for the other columns. Inputs contain
  no ±inf (callers check).
- "Last `window` values" means the last `window` *valid* values; `window <= 0` means all of them.
- Each kernel returns NaN for a column where its statistic is undefined (too few valid values, zero variance, an
  empty denominator); the docstring of each kernel says when. Outputs of the 2-D kernels are 1-D float64 arrays of
  length n_assets (or n_assets × n_assets for `pairwise_corr_nb`).
- Kernels take and return NumPy arrays only: no Polars, no I/O, no parameter defaults (the callers in
  `dataflows.selection` and `dataflows.analysis` hold them).
"""

from kernels.selection.distribution import (
    max_drawdown_1d_nb,
    max_drawdown_nb,
    moments_1d_nb,
    moments_nb,
    pairwise_corr_nb,
    quantile_sorted_1d_nb,
    tail_stats_1d_nb,
    tail_stats_nb,
    valid_1d_nb,
)
from kernels.selection.persistence import (
    efficiency_ratio_1d_nb,
    efficiency_ratio_nb,
    hurst_rs_1d_nb,
    hurst_rs_nb,
    permutation_entropy_1d_nb,
    permutation_entropy_nb,
    rescaled_range_1d_nb,
)

__all__ = [
    "efficiency_ratio_1d_nb",
    "efficiency_ratio_nb",
    "hurst_rs_1d_nb",
    "hurst_rs_nb",
    "max_drawdown_1d_nb",
    "max_drawdown_nb",
    "moments_1d_nb",
    "moments_nb",
    "pairwise_corr_nb",
    "permutation_entropy_1d_nb",
    "permutation_entropy_nb",
    "quantile_sorted_1d_nb",
    "rescaled_range_1d_nb",
    "tail_stats_1d_nb",
    "tail_stats_nb",
    "valid_1d_nb",
]

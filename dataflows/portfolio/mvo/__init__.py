"""Long-only MinVar, MaxSharpe and risk parity (ERC) weights, plus the stable-sum gate of the fallback chain.

- MinVar: min wᵀΣw  s.t.  Σw = 1, 0 <= w <= cap.
- MaxSharpe (the true ratio, homogenised): min yᵀΣy  s.t.  (μ - r_f)ᵀy = 1, Σy = κ, 0 <= y <= cap·κ, κ >= 0;
  w = y / κ. Needs a feasible portfolio with (μ - r_f)ᵀw > 0, else `NoPositiveExcessReturn`.
- Risk parity: min ½ yᵀΣy - Σ b_i log y_i, w = y / Σy, which gives exactly w_i (Σw)_i = b_i wᵀΣw.

Cluster caps (optional, `groups=` int labels per asset, `cluster_cap=` scalar or one per cluster aligned with
`np.unique(groups)`, see `dataflows.portfolio.caps`): MinVar adds Σ_{i in g} w_i <= cluster_cap_g, MaxSharpe the
homogenised Σ_{i in g} y_i <= cluster_cap_g · κ. Only clusters whose cap can bind (cluster_cap_g < min(1, n_g·cap))
become rows; `InfeasibleClusterCaps` if Σ_g min(cluster_cap_g, n_g·cap) < 1. The problem is still built once per
(n, cap, groups, cluster caps) and re-solved with new Σ / μ; with `groups=None` (default) nothing changes (same
matrices, same solver path, bit-identical weights). Methods without constraints are projected with
`caps.cap_weights`.

Modules, in the order a solve runs through them (method note: docs/mvo.md):

- `problem`: solver settings, the result type, the Clarabel problem built once and updated, the per-thread cache;
- `min_variance`, `max_sharpe`: the two problems and their functions (`min_variance_weights`,
  `max_sharpe_weights`);
- `polish`: the active-set polish from Clarabel's interior point to the exact KKT point, caps in floating point;
- `working_set`: the exact solve on one working set; `multipliers`: dependent rows and the choice of multipliers;
- `risk_parity`: damped Newton for equal risk contributions;
- `checks`: input checks and `stable_sum_ok`, the fallback chain's gate.

Zero-variance assets (variance <= ZERO_VARIANCE_RTOL x the largest) are rejected by all three with
`ZeroVarianceAssets` naming their columns: a riskless asset is cash, not something to risk-weight (MinVar would
pile into it, ERC has no solution). A duplicated asset (singular Σ) is solved: MinVar / MaxSharpe then have a
continuum of optima (same objective), and the polish's minimum-norm solve returns the one that splits the twins
equally; risk parity stays strictly convex and also splits them equally. Exactness is guaranteed for a positive
definite Σ; with fewer observations than assets, use a shrinkage covariance.
"""

from __future__ import annotations

from dataflows.portfolio.caps import InfeasibleClusterCaps
from dataflows.portfolio.mvo.checks import stable_sum_ok
from dataflows.portfolio.mvo.max_sharpe import MaxSharpe, max_sharpe_weights
from dataflows.portfolio.mvo.min_variance import MinVariance, min_variance_weights
from dataflows.portfolio.mvo.multipliers import _independent_rows as _independent_rows
from dataflows.portfolio.mvo.multipliers import _least_violation as _least_violation
from dataflows.portfolio.mvo.polish import PolishFailed
from dataflows.portfolio.mvo.polish import _within_caps as _within_caps
from dataflows.portfolio.mvo.problem import OptimizationResult, SolverSettings
from dataflows.portfolio.mvo.problem import _problem as _problem
from dataflows.portfolio.mvo.risk_parity import risk_parity_weights

# The private names above are re-exported for the tests (`mvo._problem`, `mvo._within_caps`, ...).

__all__ = [
    "InfeasibleClusterCaps",
    "MaxSharpe",
    "MinVariance",
    "OptimizationResult",
    "PolishFailed",
    "SolverSettings",
    "max_sharpe_weights",
    "min_variance_weights",
    "risk_parity_weights",
    "stable_sum_ok",
]

"""The optimizer registry: every portfolio method by name, one signature, shared by the sleeve and the meta.

An optimizer is `(OptimizerInput) -> weights`: long-only float64 weights summing to 1, one per column of the
input. Constraints:
- `cap` (per asset) and `cluster_cap` over `groups` are hard. MinVar and MaxSharpe solve with them as
  constraints; HRP, risk parity and equal weight cannot, so their weights are projected onto them
  (`caps.cap_weights`, a no-op where nothing binds). With neither, a method returns its own weights.
- `bounds` (lo, hi per asset: the meta-portfolio's sleeve bounds) replace `cap`. MinVar solves the box QP with
  them; HRP, risk parity and equal weight return their own weights and the caller projects them (the meta does,
  with `dataflows.meta.flatten.project_bounds`); MaxSharpe refuses them.

Users: the sleeve's fallback chain (`dataflows.sleeve`: the primary method, then each fallback, every result
through the stable-sum gate) and the meta-portfolio (`dataflows.meta.flatten.meta_optimize`). Solver failures are
`PortfolioError`s (the chain records them and moves on); an unknown name is `UnknownOptimizer`, listing the known
ones. Solvers are imported when a method runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from dataflows.errors import ConfigError
from dataflows.portfolio import InvalidInput, SolverFailed


class UnknownOptimizer(ConfigError):
    """No optimizer of that name; the message lists the known ones."""


@dataclass(frozen=True, eq=False)
class OptimizerInput:
    """What every optimizer gets: T×A returns and their moments, the hard caps and the method's parameters."""

    returns: np.ndarray  # T×A, NaN-free (HRP clusters these)
    covariance: np.ndarray  # A×A (the sleeve's is annualized, the meta's is the sample covariance)
    mean: np.ndarray | None = None  # expected returns, same scale as the covariance (MaxSharpe only)
    cap: float | None = None  # hard per-asset cap; None = 1
    groups: np.ndarray | None = None  # cluster label per asset; used only with `cluster_cap`
    cluster_cap: float | None = None  # hard cap per cluster; None = no cluster caps
    bounds: tuple[np.ndarray, np.ndarray] | None = None  # (lo, hi) per asset, instead of `cap` (see the docstring)
    risk_free: float = 0.0  # MaxSharpe, same scale as `mean`
    linkage: str = "single"  # HRP
    optimal_ordering: bool = False  # HRP

    def __post_init__(self) -> None:
        if self.bounds is not None and self.cap is not None:
            msg = "OptimizerInput takes a per-asset cap or per-asset bounds, not both"
            raise InvalidInput(msg)

    @property
    def size(self) -> int:
        """Number of assets."""
        return int(np.shape(self.covariance)[0])

    @property
    def cluster_groups(self) -> np.ndarray | None:
        """`groups` when there is a cluster cap to apply, else None."""
        return self.groups if self.cluster_cap is not None else None


Optimizer = Callable[[OptimizerInput], np.ndarray]


def _projected(w: np.ndarray, inp: OptimizerInput) -> np.ndarray:
    """Weights of a method that cannot take constraints, projected onto the per-asset and cluster caps."""
    if inp.cap is None and inp.cluster_cap is None:
        return w
    from dataflows.portfolio.caps import cap_weights

    cap = 1.0 if inp.cap is None else inp.cap
    return cap_weights(w, cap, inp.cluster_groups, inp.cluster_cap)


def _min_variance(inp: OptimizerInput) -> np.ndarray:
    """Long-only minimum variance: under the caps (Clarabel, `mvo`), or within the bounds (box QP)."""
    if inp.bounds is not None:
        return _min_variance_within_bounds(inp.covariance, *inp.bounds)
    from dataflows.portfolio.mvo import min_variance_weights

    cap = 1.0 if inp.cap is None else inp.cap
    return min_variance_weights(inp.covariance, cap, groups=inp.cluster_groups, cluster_cap=inp.cluster_cap).weights


def _max_sharpe(inp: OptimizerInput) -> np.ndarray:
    """Maximum Sharpe ratio (homogenized) under the caps."""
    if inp.bounds is not None:
        msg = "max_sharpe takes a per-asset cap, not per-asset bounds"
        raise InvalidInput(msg)
    if inp.mean is None:
        msg = "max_sharpe needs expected returns (OptimizerInput.mean)"
        raise InvalidInput(msg)
    from dataflows.portfolio.mvo import max_sharpe_weights

    cap = 1.0 if inp.cap is None else inp.cap
    return max_sharpe_weights(
        inp.covariance, inp.mean, cap, inp.risk_free, groups=inp.cluster_groups, cluster_cap=inp.cluster_cap
    ).weights


def _hrp(inp: OptimizerInput) -> np.ndarray:
    """Hierarchical risk parity (López de Prado) on the returns, projected onto the caps."""
    from dataflows.portfolio.hrp import hrp_weights

    w = hrp_weights(inp.returns, linkage=inp.linkage, optimal_ordering=inp.optimal_ordering).weights
    return _projected(w, inp)


def _risk_parity(inp: OptimizerInput) -> np.ndarray:
    """Exact equal risk contributions, projected onto the caps."""
    from dataflows.portfolio.mvo import risk_parity_weights

    return _projected(risk_parity_weights(inp.covariance).weights, inp)


def _equal_weight(inp: OptimizerInput) -> np.ndarray:
    """1/n, projected onto the caps."""
    return _projected(np.full(inp.size, 1.0 / inp.size), inp)


def _min_variance_within_bounds(cov: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """min wᵀΣw s.t. Σw = 1, lo <= w <= hi (a few assets: cvxpy + Clarabel, Σ scaled by its mean variance)."""
    import cvxpy as cp

    n = cov.shape[0]
    scale = float(np.mean(np.diag(cov))) or 1.0
    w = cp.Variable(n)
    problem = cp.Problem(cp.Minimize(cp.quad_form(w, cp.psd_wrap(cov / scale))), [cp.sum(w) == 1, w >= lo, w <= hi])
    problem.solve(solver=cp.CLARABEL)
    if w.value is None or problem.status not in ("optimal", "optimal_inaccurate"):
        msg = f"min_variance within bounds: the solver returned {problem.status!r}"
        raise SolverFailed(msg, str(problem.status))
    return np.clip(np.asarray(w.value, dtype=np.float64), 0.0, None)


OPTIMIZERS: Mapping[str, Optimizer] = MappingProxyType(
    {
        "hrp": _hrp,
        "min_variance": _min_variance,
        "max_sharpe": _max_sharpe,
        "risk_parity": _risk_parity,
        "equal_weight": _equal_weight,
    }
)
"""Every optimizer by name (the names `optimizer=` and `profile.fallbacks` accept)."""


def optimizer(name: str) -> Optimizer:
    """The optimizer called `name`, or `UnknownOptimizer` listing the known ones."""
    try:
        return OPTIMIZERS[name]
    except KeyError:
        msg = f"unknown optimizer {name!r}; known: {', '.join(OPTIMIZERS)}"
        raise UnknownOptimizer(msg) from None


def optimize(name: str, inp: OptimizerInput) -> np.ndarray:
    """Weights of the optimizer called `name` for `inp`."""
    return optimizer(name)(inp)

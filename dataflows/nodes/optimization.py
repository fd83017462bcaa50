"""Optimization: the sleeve decision's optimization input and weights, and each atom's risk contribution.

The chain runs inside `dataflows.sleeve.decide` (the `sleeve_decision` node): the configured optimizer
(`optimizer=...`, else `profile.optimizer`), then each link of `profile.fallbacks`, all through the optimizer
registry (`dataflows.portfolio.registry`) and the stable-sum gate, every attempt recorded. Optimizers see
synthetic longs only (atom streams, weights ≥ 0, Σw = 1, w ≤ weight_cap). Caps are hard: n · cap < 1 is an
error, never relaxed. The covariance is `profile.covariance`'s estimator (recorded in `OptimizationInput.estimator`
and `SleeveWeights.covariance`), and the winner's weights below `profile.min_weight` are removed within the caps
(`SleeveWeights.dust`).
"""

from __future__ import annotations

import numpy as np
from hamilton.function_modifiers import tag

from dataflows.returns import ReturnsPanel
from dataflows.sleeve import OptimizationInput, SleeveDecision, SleeveWeights


def optimization_input(sleeve_decision: SleeveDecision) -> OptimizationInput:
    """Dense synthetic-long streams, annualized covariance and mean, clusters and the (regime-tightened) cluster
    cap, after the caps were checked feasible."""
    return sleeve_decision.reached("optimization_input")


def training_classes(training_returns: ReturnsPanel) -> dict[str, str]:
    """Asset class per symbol of the training window."""
    return dict(zip(training_returns.symbols, training_returns.asset_class, strict=True))


@tag(manifest="sleeve")
def sleeve_weights(sleeve_decision: SleeveDecision) -> SleeveWeights:
    """The primary method's weights if they pass the gate, else the first fallback that does (all recorded)."""
    return sleeve_decision.reached("sleeve_weights")


def risk_contributions(sleeve_weights: SleeveWeights, optimization_input: OptimizationInput) -> dict[str, float]:
    """Each atom's share of portfolio variance, w_i (Σw)_i / wᵀΣw."""
    w, cov = np.asarray(sleeve_weights.weights.weights), optimization_input.covariance
    total = float(w @ cov @ w)
    rc = w * (cov @ w) / total if total > 0 else np.full(w.size, 1.0 / w.size)
    return dict(zip(optimization_input.atom_ids, rc.tolist(), strict=True))

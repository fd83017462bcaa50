"""Covariance estimators for the optimizers' inputs, by name: `sample`, `ledoit_wolf`, `oas`, `ridge`.

`estimate(x, name)` takes T×A per-period returns (rows = time, NaN-free, T >= 2) and returns the A×A per-period
covariance (the sleeve annualizes it). The profile chooses one (`profile.covariance`); MinVar, MaxSharpe and risk
parity use it, HRP clusters the returns with its own sample covariance.

- `sample`: `np.cov(x, ddof=1)` — the unbiased sample covariance (the default, as before this module).
- `ledoit_wolf`: Ledoit & Wolf (2004), "A well-conditioned estimator for large-dimensional covariance matrices":
  (1 − δ) S + δ μ I with S the maximum-likelihood covariance (divided by T, as in the paper), μ = tr(S) / A and the
  closed-form optimal intensity δ = min(b², d²) / d², d² = ‖S − μI‖²_F / A,
  b² = (Σ_t ‖x_t‖⁴ / T − ‖S‖²_F) / (A T) over the centred rows x_t.
- `oas`: Chen, Wiesel, Eldar & Hero (2010), "Shrinkage algorithms for MMSE covariance estimation", eq. 23 in the
  form scikit-learn uses (the 2/A terms dropped): (1 − ρ) S + ρ μ I, ρ = min(1, (α + μ²) / ((T + 1)(α − μ²/A))),
  α = mean of the squared entries of S.
- `ridge`: the method notes' "sample with a small ridge", with the ridge the notes give for clustering correlations
  (ρ' = 0.99ρ + 0.01I) applied to the sample correlation and scaled back by the sample volatilities:
  0.99 Σ + 0.01 diag(Σ). Variances are kept; every covariance shrinks by 1%; the smallest eigenvalue is at least
  1% of the smallest variance, so the matrix is positive definite whenever no variance is zero.

Both shrinkage estimators equal `sklearn.covariance.ledoit_wolf` / `oas` (tested to 1e-12 relative; scikit-learn
is a test-only dependency). They shrink the 1/T covariance, so at equal shrinkage they are (T − 1)/T of the ddof=1
scale; a common scale does not change MinVar, MaxSharpe or risk-parity weights.
"""

from __future__ import annotations

import numpy as np

from dataflows.portfolio import InvalidInput

ESTIMATORS = ("sample", "ledoit_wolf", "oas", "ridge")
"""Every estimator name `profile.covariance` accepts."""

RIDGE = 0.01
"""Weight of the identity in the correlation ridge ρ' = (1 − RIDGE) ρ + RIDGE I (the method notes' 0.01)."""


def estimate(x: np.ndarray, name: str) -> np.ndarray:
    """The A×A per-period covariance of the T×A returns `x` by estimator `name` (one of `ESTIMATORS`)."""
    x = _checked(x)
    if name == "sample":
        return np.cov(x, rowvar=False, ddof=1).reshape(x.shape[1], x.shape[1])
    if name == "ledoit_wolf":
        return ledoit_wolf(x)[0]
    if name == "oas":
        return oas(x)[0]
    if name == "ridge":
        return ridge(x)
    msg = f"unknown covariance estimator {name!r}; known: {', '.join(ESTIMATORS)}"
    raise InvalidInput(msg)


def ledoit_wolf(x: np.ndarray) -> tuple[np.ndarray, float]:
    """(Ledoit–Wolf covariance, shrinkage intensity δ) of the T×A returns `x`; see the module docstring."""
    xc, s = _mle(_checked(x))
    t, a = xc.shape
    if a == 1:
        return s, 0.0
    mu = float(np.trace(s)) / a
    norm_s = float(np.sum(s * s))
    d2 = (norm_s - 2.0 * mu * float(np.trace(s)) + a * mu * mu) / a  # ‖S − μI‖²_F / A
    row_norms = np.einsum("ij,ij->i", xc, xc)  # ‖x_t‖²
    b2 = (float(row_norms @ row_norms) / t - norm_s) / (a * t)
    b2 = min(b2, d2)
    delta = 0.0 if b2 == 0 else b2 / d2
    return _shrunk(s, mu, delta), delta


def oas(x: np.ndarray) -> tuple[np.ndarray, float]:
    """(Oracle approximating shrinkage covariance, shrinkage ρ) of the T×A returns `x`; see the module docstring."""
    xc, s = _mle(_checked(x))
    t, a = xc.shape
    if a == 1:
        return s, 0.0
    alpha = float(np.mean(s * s))
    mu = float(np.trace(s)) / a
    den = (t + 1) * (alpha - mu * mu / a)
    rho = 1.0 if den == 0 else min((alpha + mu * mu) / den, 1.0)
    return _shrunk(s, mu, rho), rho


def ridge(x: np.ndarray) -> np.ndarray:
    """0.99 Σ + 0.01 diag(Σ) of the sample covariance Σ: the correlation ridge of the method notes."""
    x = _checked(x)
    cov = np.cov(x, rowvar=False, ddof=1).reshape(x.shape[1], x.shape[1])
    out = (1.0 - RIDGE) * cov
    out.flat[:: cov.shape[0] + 1] = np.diag(cov)  # variances kept exactly
    return out


def _checked(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 1:
        msg = f"returns must be a T×A array with T >= 2 rows and A >= 1 columns, got shape {x.shape}"
        raise InvalidInput(msg)
    if not np.isfinite(x).all():
        msg = "returns must be finite (the optimizers' dense matrix has no NaN)"
        raise InvalidInput(msg)
    return x


def _mle(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centred returns and their maximum-likelihood covariance X'X / T."""
    xc = x - x.mean(axis=0)
    return xc, (xc.T @ xc) / x.shape[0]


def _shrunk(s: np.ndarray, mu: float, weight: float) -> np.ndarray:
    """(1 − weight) S + weight μ I."""
    out = (1.0 - weight) * s
    out.flat[:: s.shape[0] + 1] += weight * mu
    return out

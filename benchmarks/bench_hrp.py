"""HRP from a (T, N) returns panel: ours vs `np.cov` alone (the floor) and the peers, same seeded data.

Cases: T=2520 x N=1000 and N=3000 (quick: N=200). Correctness first: weights equal to PyPortfolioOpt, skfolio and
riskfolio-lib (single linkage, no leaf reordering) to 1e-12 on a 150-asset slice. Ours and np.cov are timed in
turns, so both see the same machine load. Peers take seconds to minutes, so they are timed once (repeat=1, no
warmup); at N=3000 a peer whose time, projected from N=1000 as N^2.2, exceeds ~120 s is skipped and the row says
so. Target: ours <= 1.3x np.cov.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from benchmarks._harness import Row, cli, quiet, rows_against, time_interleaved
from dataflows.portfolio.hrp import hrp_weights

T = 2520
TARGET = 1.3
PEER_BUDGET_S = 120.0
PEER_EXPONENT = 2.2  # peers' time grows roughly as N^2.2 (PyPortfolioOpt: 4.9 s at 1000, ~50 s at 3000)


def factor_returns(t: int, n: int, seed: int = 0) -> np.ndarray:
    """Seeded daily returns: market + 10 sector factors + heterogeneous idiosyncratic noise (rows = time)."""
    rng = np.random.default_rng(seed)
    market = rng.standard_normal(t) * 0.01
    sectors = rng.standard_normal((t, 10)) * 0.006
    sector_of = rng.integers(0, 10, n)
    beta = rng.uniform(0.5, 1.5, n)
    idio = rng.standard_normal((t, n)) * rng.uniform(0.01, 0.03, n)
    return market[:, None] * beta + sectors[:, sector_of] + idio + rng.normal(0.0003, 0.0004, n)


def _pypfopt(x: np.ndarray) -> np.ndarray:
    from pypfopt import HRPOpt

    frame = pd.DataFrame(x)
    return pd.Series(HRPOpt(frame).optimize(linkage_method="single")).reindex(frame.columns).to_numpy()


def _skfolio(x: np.ndarray) -> np.ndarray:
    from skfolio.cluster import HierarchicalClustering, LinkageMethod
    from skfolio.distance import PearsonDistance
    from skfolio.measures import RiskMeasure
    from skfolio.moments import EmpiricalCovariance
    from skfolio.optimization import HierarchicalRiskParity
    from skfolio.prior import EmpiricalPrior
    from skfolio.seriation import HierarchicalSeriation

    model = HierarchicalRiskParity(
        risk_measure=RiskMeasure.VARIANCE,
        prior_estimator=EmpiricalPrior(covariance_estimator=EmpiricalCovariance(ddof=1)),
        distance_estimator=PearsonDistance(),
        seriation_estimator=HierarchicalSeriation(
            hierarchical_clustering_estimator=HierarchicalClustering(linkage_method=LinkageMethod.SINGLE),
            optimal_ordering=False,
        ),
    )
    return model.fit(x).weights_


def _riskfolio(x: np.ndarray) -> np.ndarray:
    import riskfolio as rp

    port = rp.HCPortfolio(returns=pd.DataFrame(x))
    weights = port.optimization(model="HRP", codependence="pearson", rm="MV", rf=0, linkage="single", leaf_order=False)
    return weights["weights"].to_numpy()


PEERS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "pypfopt": _pypfopt,
    "skfolio": _skfolio,
    "riskfolio": _riskfolio,
}


def check_correctness(x: np.ndarray) -> None:
    """Our weights equal every peer's to 1e-12 (single linkage, no leaf reordering)."""
    ours = hrp_weights(x).weights
    for name, peer in PEERS.items():
        theirs = quiet(lambda peer=peer: peer(x))()
        err = float(np.abs(ours - theirs).max())
        assert err <= 1e-12, f"HRP differs from {name} by {err:.3g} on {x.shape}"


def run(repeat: int, warmup: int, quick: bool) -> list[Row]:
    """Correctness on a 150-asset slice, then HRP timings at each size (ratio against np.cov)."""
    sizes = [200] if quick else [1000, 3000]
    data = factor_returns(T, max(sizes), seed=0)
    check_correctness(np.ascontiguousarray(data[:, :150]))
    rows: list[Row] = []
    peer_seconds: dict[str, tuple[int, float]] = {}  # last measured (n, seconds) per peer
    for n in sizes:
        x = np.ascontiguousarray(data[:, :n])
        timings = time_interleaved(
            {"np.cov": lambda x=x: np.cov(x, rowvar=False), "ours": lambda x=x: hrp_weights(x)}, repeat, warmup
        )
        notes = {"ours": f"target <= {TARGET}x np.cov"}
        skipped: list[str] = []
        for name, peer in PEERS.items():
            if name in peer_seconds:
                n0, s0 = peer_seconds[name]
                projected = s0 * (n / n0) ** PEER_EXPONENT
                if projected > PEER_BUDGET_S:
                    skipped.append(f"{name} skipped (projected {projected:.0f} s from {s0:.1f} s at N={n0})")
                    continue
            t0 = time.perf_counter()
            quiet(lambda peer=peer, x=x: peer(x))()
            seconds = time.perf_counter() - t0
            peer_seconds[name] = (n, seconds)
            timings[name] = (seconds, seconds)
            notes[name] = "repeat=1"
        case = f"hrp {T}x{n}"
        rows += rows_against(case, timings, baseline="np.cov", targets={"ours": TARGET}, notes=notes)
        rows += [Row(case=case, impl=s.split()[0], seconds=float("nan"), median=float("nan"), note=s) for s in skipped]
    return rows


if __name__ == "__main__":
    cli(run, __doc__.splitlines()[0])

"""Pre-optimization analysis on the training window only: market regime, tails and antifragility per atom."""

from __future__ import annotations

import numpy as np
import polars as pl
from hamilton.function_modifiers import source, value

from dataflows import columns as C
from dataflows.analysis import Regime, antifragility, tail_stats
from dataflows.artifacts import save_to
from dataflows.sleeve import SleeveDecision
from dataflows.synthesis import AtomReturns


def market_regime(sleeve_decision: SleeveDecision) -> Regime:
    """Regime of the equal-weight series of the winners' streams (QUIET, NORMAL, TURBULENT, CRISIS)."""
    return sleeve_decision.reached("regime")


def atom_risk_profile(atom_returns: AtomReturns) -> pl.DataFrame:
    """Per atom: VaR/CVaR 95, tail ratio, max drawdown, antifragility score."""
    x = np.asarray(atom_returns.values)
    tails = tail_stats(x)
    anti = antifragility(x)
    frame = {C.ATOM_ID: list(atom_returns.atom_ids)}
    for name in ("var_95", "cvar_95", "tail_gain", "tail_ratio", "max_drawdown", "skew", "kurtosis"):
        frame[name] = np.asarray(getattr(tails, name), dtype=np.float64)
    frame["antifragility"] = np.asarray(anti.score, dtype=np.float64)
    return pl.DataFrame(frame)


@save_to.run_json(run_dir=source("run_dir"), file=value("analysis.json"), output_name_="analysis_file")
def analysis_document(market_regime: Regime, atom_risk_profile: pl.DataFrame) -> dict:
    """analysis.json: the training window's regime (label, score, features) and each atom's tail profile."""
    return {"regime": market_regime.to_dict(), "atoms": atom_risk_profile.fill_nan(None).to_dicts()}

"""Strategy synthesis: winners become atom streams (LONG raw, SHORT −min(r, 1)), applied exactly once."""

from __future__ import annotations

from dataflows.sleeve import SleeveDecision
from dataflows.synthesis import AtomReturns


def atom_returns(sleeve_decision: SleeveDecision) -> AtomReturns:
    """The winners' synthesized return streams over the training window (NaN where the symbol has no bar)."""
    return sleeve_decision.reached("atom_returns")

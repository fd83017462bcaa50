"""Strategy synthesis: winners become atom streams (LONG raw, SHORT −min(r, 1)), applied exactly once."""

from __future__ import annotations

from dataflows.returns import ReturnsPanel
from dataflows.selection.htr import SelectionResult
from dataflows.synthesis import AtomReturns, synthesize_atoms


def atom_returns(selection_result: SelectionResult, training_returns: ReturnsPanel) -> AtomReturns:
    """The winners' synthesized return streams over the training window (NaN where the symbol has no bar)."""
    winners = selection_result.require_winners().winners
    symbols = list(dict.fromkeys(w.symbol for w in winners))
    panel = training_returns.columns(symbols)
    return synthesize_atoms(panel.returns, panel.symbols, [w.atom_id for w in winners])

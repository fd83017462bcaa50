"""Natural selection (HTR, docs/selection.md): per-asset `features` and hierarchical threshold relaxation (`htr`).

`htr` is the entry point (`select_atoms`) and re-exports the pieces it is built from: `params`, `clustering`,
`scoring`, `recruitment` and `result`. The errors live here so that callers can catch them without importing the
numba kernels; submodules import NumPy, SciPy, Polars and numba, import them where they are used.
"""

from __future__ import annotations

from dataflows.errors import DataflowsError

__all__ = ["NoWinners", "SelectionError"]


class SelectionError(DataflowsError):
    """Selection inputs are inconsistent (shapes, unknown symbols or classes, duplicate atoms, bad parameters)."""


class NoWinners(SelectionError):
    """Selection ended with no winner; the message carries the result's reason and funnel counts."""

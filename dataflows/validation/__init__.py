"""Out-of-sample validation of a sleeve: the walk-forward (`walkforward`), the book simulation it runs
(`simulate`) and the one definition of the performance metrics (`metrics`). Method notes: `docs/validation.md`.

The submodules are imported where they are used (the metrics alone are light; the walk-forward pulls in the
sleeve's decision stack)."""

__all__ = ["metrics", "simulate", "walkforward"]

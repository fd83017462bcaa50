"""portfolio-dataflows: a declarative pipeline from venue market data to portfolio weights.

Heavy libraries (Hamilton, Polars, numba, Ray, cvxpy, vectorbt) are imported lazily by the modules that use them,
so the CLI answers `--help` and config errors quickly.
"""

__version__ = "0.1.0"

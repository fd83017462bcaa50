"""portfolio-dataflows: a declarative pipeline from venue market data to portfolio weights.

Heavy libraries (Hamilton, Polars, numba, Ray, cvxpy, vectorbt) are imported lazily by the modules that use them,
so the CLI answers `--help` and config errors quickly.
"""

import os as _os

__version__ = "0.1.0"

# Hamilton: no plugin autoload (~0.9 s per process) and no telemetry (there is no network to send it to).
_os.environ.setdefault("HAMILTON_AUTOLOAD_EXTENSIONS", "0")
_os.environ.setdefault("HAMILTON_TELEMETRY_ENABLED", "false")
_os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

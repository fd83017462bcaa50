"""Post-analysis visuals of a run: PNG files and a small `index.html` for the run's `plots/` folder.

- `correlation_heatmap.png`: the winners' correlation over the training window, rows and columns in the order of a
  dendrogram on the correlation distance √(½(1 − ρ)) built with the profile's HRP linkage and leaf ordering
  (`profile.linkage`, `profile.optimal_ordering`: the tearsheet's heatmap uses the same, see `dendrogram_order`), the
  dendrogram drawn above, a colour strip per HTR cluster and each contiguous run of one cluster outlined.
- `factor_map.png`: classical MDS of the distance √(2(1 − ρ)): the double-centred correlation −½·J·D²·J = J·ρ·J is
  eigen-decomposed and each asset placed at its two leading coordinates (eigenvector · √eigenvalue); colour =
  cluster, marker area ∝ the asset's volatility over the training rows (when returns are given), axis labels give
  each axis's share of the positive eigenvalues. Nearby points move together.
- `drift_monitor.png` (only with a backtest): per window and book, the drift ½·Σ|realized − target| between the
  targets set at the rebalance and the drifted exposure on the window's last row; the profile's per-symbol drift
  as a heatmap (windows × the most held symbols); per book the rolling annualized volatility of its daily
  out-of-sample returns (`dataflows.validation.metrics.rolling_vol`) with a band of its mean ± one standard
  deviation and the full-period volatility dashed.

Figures are Matplotlib `Figure` objects on the Agg canvas (never pyplot) saved as PNG in memory, deterministic bytes
(no PNG software/date metadata); `index.html` is the template `templates/plots_index.html` (Jinja2, autoescaped).
`postanalysis_figures` returns every file's bytes and writes nothing; `write_postanalysis` writes them atomically.
A figure that cannot be drawn (no symbols, no backtest) is skipped and `index.html` says why. Only NumPy and SciPy
compute.

- `correlation.py`: the correlation matrix, its dendrogram order and its classical MDS.
- `clusters.py`: the clustered correlation heatmap and the factor map.
- `drift.py`: the drift monitor.
- `figures.py`: `postanalysis_figures`, `write_postanalysis` and `index.html`.
"""

from dataflows.report.postanalysis.correlation import classical_mds, dendrogram_order
from dataflows.report.postanalysis.drift import drift_per_window
from dataflows.report.postanalysis.figures import (
    CORRELATION,
    DRIFT,
    FACTOR_MAP,
    INDEX,
    postanalysis_figures,
    write_postanalysis,
)
from dataflows.validation.metrics import rolling_vol

__all__ = [
    "CORRELATION",
    "DRIFT",
    "FACTOR_MAP",
    "INDEX",
    "classical_mds",
    "dendrogram_order",
    "drift_per_window",
    "postanalysis_figures",
    "rolling_vol",
    "write_postanalysis",
]

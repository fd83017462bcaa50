"""Meta-portfolio: several sleeves run in parallel (in-process or on Ray), meta-returns, meta-optimization within
per-sleeve bounds, flattening to signed asset weights, and the multirun comparison table.

- `config.py`: the `meta` Hydra group parsed into frozen `MetaSpec` / `SleeveSpec` (nesting, cycles, pins, bounds).
- `run.py`: the meta driver (Hamilton dynamic execution over `dataflows.nodes.meta`), executors, `run_meta`, `viz_meta`.
- `flatten.py`: bounded meta-weights and flattening with conservation checks and hard per-asset caps.
- `sweep.py`: the Hydra callback that writes `comparison.csv` / `comparison.md` after a multirun.
"""

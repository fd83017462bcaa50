"""Tests of the meta-portfolio (dataflows.meta, dataflows.meta.dag)."""

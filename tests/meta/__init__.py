"""Tests of the meta-portfolio (dataflows.meta, dataflows.nodes.meta)."""

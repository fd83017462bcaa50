"""Numba's cache checks only a kernel's own file; the package drops its cache when any kernel source changed."""

from __future__ import annotations

import kernels


def test_a_changed_kernel_source_drops_the_cache_and_the_same_sources_keep_it(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    folder = kernels.cache_folder()
    cached = [folder / "ratings" / "fused.ratings_bars_nb-22.py311.nbi", folder / "ratings" / "fused.x.1.nbc"]
    cached[0].parent.mkdir(parents=True)
    for path in cached:
        path.write_bytes(b"compiled")
    (folder / kernels._STAMP).write_text("digest of other sources\n")  # e.g. built before an upgrade

    kernels._refresh_cache()
    assert not any(p.exists() for p in cached)
    assert (folder / kernels._STAMP).read_text().strip() == kernels.sources_digest()

    for path in cached:  # compiled again from these sources
        path.write_bytes(b"compiled")
    kernels._refresh_cache()
    assert all(p.exists() for p in cached)

"""Strategy synthesis: the sign test, exactly-once inversion and flattening, conservation of gross and net."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dataflows.columns import LONG, SHORT, SYMBOL, atom_id
from dataflows.synthesis import (
    GROSS_WEIGHT,
    NET_WEIGHT,
    AtomReturns,
    AtomWeights,
    DoubleApplication,
    SymbolExposure,
    SynthesisError,
    flatten_weights,
    synthesize_atoms,
)

SYMS = ["BTC/USDT", "ETH/USDT:USDT", "AAPL", "X_Y"]


def _raw(seed: int = 1, t: int = 120) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_t(3, (t, len(SYMS))) * 0.05
    x[:30, 1] = np.nan
    x[np.arange(t) % 7 >= 5, 2] = np.nan
    x[5, 0] = 2.5  # +250%: the short loses exactly 100% that bar
    x[6, 3] = 1.0
    return x


def _atoms() -> list[str]:
    return [atom_id(s, logic, d) for s in SYMS for logic in ("trend", "rev") for d in (LONG, SHORT)]


def test_sign_test_every_short_column_is_minus_min_raw_1_exactly() -> None:
    raw = _raw()
    ar = synthesize_atoms(raw, SYMS, _atoms())
    assert ar.values.shape == (raw.shape[0], len(_atoms()))
    for k, a in enumerate(ar.atom_ids):
        col = raw[:, SYMS.index(ar.symbols[k])]
        want = col if ar.directions[k] == LONG else -np.minimum(col, 1.0)
        np.testing.assert_array_equal(ar.values[:, k], want)  # exact, NaN where no bar
        assert a.endswith(ar.directions[k])
    short_btc = ar.values[:, ar.atom_ids.index(atom_id("BTC/USDT", "trend", SHORT))]
    assert short_btc[5] == -1.0


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 30), st.integers(1, 4)),
        elements=st.one_of(st.floats(-1.0, 50.0, allow_nan=False), st.just(np.nan)),
    ),
    st.data(),
)
def test_sign_test_property(raw: np.ndarray, data: st.DataObject) -> None:
    syms = [f"S{j}" for j in range(raw.shape[1])]
    dirs = data.draw(st.lists(st.sampled_from([LONG, SHORT]), min_size=raw.shape[1], max_size=raw.shape[1]))
    atoms = [atom_id(s, "l", d) for s, d in zip(syms, dirs, strict=True)]
    ar = synthesize_atoms(raw, syms, atoms)
    for k, d in enumerate(dirs):
        want = raw[:, k] if d == LONG else -np.minimum(raw[:, k], 1.0)
        np.testing.assert_array_equal(ar.values[:, k], want)
        if d == SHORT:
            assert np.all(np.isnan(want) | (want >= -1.0))  # a short loses at most 100% per bar


def test_inversion_is_applied_exactly_once() -> None:
    raw = _raw()
    ar = synthesize_atoms(raw, SYMS, _atoms())
    with pytest.raises(DoubleApplication):
        synthesize_atoms(ar, SYMS, _atoms())  # type: ignore[arg-type]
    with pytest.raises(DoubleApplication):
        synthesize_atoms(ar.values[:, :4], SYMS, _atoms())  # a view of synthesized values
    with pytest.raises(ValueError, match="read-only"):
        ar.values[0, 0] = 0.0
    raw_view = raw[:, :]
    assert isinstance(synthesize_atoms(raw_view, SYMS, _atoms()), AtomReturns)  # raw data stays usable
    assert synthesize_atoms(raw, SYMS, _atoms()).values is not ar.values


@pytest.mark.parametrize(
    ("symbols", "atoms", "match"),
    [
        (SYMS, ["DOGE/USDT|trend|LONG"], "no returns column"),
        (SYMS, ["BTC/USDT|trend|FLAT"], "direction"),
        (SYMS, ["BTC/USDT|trend|LONG"] * 2, "duplicates"),
        (SYMS, ["BTC/USDT"], "not '<symbol>"),
        (SYMS[:2], ["BTC/USDT|trend|LONG"], "columns"),
    ],
)
def test_synthesis_bad_inputs(symbols: list[str], atoms: list[str], match: str) -> None:
    with pytest.raises(SynthesisError, match=match):
        synthesize_atoms(_raw(), symbols, atoms)


def test_atom_frame() -> None:
    ar = synthesize_atoms(_raw(), SYMS, _atoms()[:3])
    f = ar.to_frame()
    assert f.columns == list(ar.atom_ids) and f.height == _raw().shape[0]


# --------------------------------------------------------------------------- flattening


def test_flatten_signs_and_sums() -> None:
    w = AtomWeights.from_mapping(
        {
            atom_id("BTC/USDT", "trend", LONG): 0.3,
            atom_id("BTC/USDT", "rev", SHORT): 0.1,
            atom_id("ETH/USDT:USDT", "trend", SHORT): 0.4,
            atom_id("AAPL", "trend", LONG): 0.2,
        }
    )
    exp = flatten_weights(w)
    assert exp.symbols == ("BTC/USDT", "ETH/USDT:USDT", "AAPL")
    np.testing.assert_allclose(exp.net, [0.2, -0.4, 0.2], atol=1e-15)
    np.testing.assert_allclose(exp.gross, [0.4, 0.4, 0.2], atol=1e-15)
    f = exp.to_frame()
    assert f.columns == [SYMBOL, NET_WEIGHT, GROSS_WEIGHT] and f[NET_WEIGHT].dtype == pl.Float64


def test_flatten_exactly_once() -> None:
    w = AtomWeights.from_mapping({atom_id("BTC/USDT", "trend", SHORT): 1.0})
    exp = flatten_weights(w)
    assert exp.net[0] == -1.0
    with pytest.raises(DoubleApplication):
        flatten_weights(exp)  # type: ignore[arg-type]
    with pytest.raises(SynthesisError, match="AtomWeights"):
        flatten_weights(np.array([1.0]))  # type: ignore[arg-type]
    assert isinstance(exp, SymbolExposure)


@pytest.mark.parametrize("bad", [-0.1, np.nan, np.inf])
def test_atom_weights_are_synthetic_longs(bad: float) -> None:
    with pytest.raises(SynthesisError, match="finite and >= 0"):
        AtomWeights((atom_id("A", "l", LONG), atom_id("B", "l", SHORT)), np.array([0.5, bad]))
    with pytest.raises(SynthesisError, match="2 weights for 1 atoms"):
        AtomWeights((atom_id("A", "l", LONG),), np.array([0.5, 0.5]))


_atom = st.tuples(st.sampled_from(SYMS), st.sampled_from(["trend", "rev", "carry"]), st.sampled_from([LONG, SHORT]))


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(
        _atom.map(lambda t: atom_id(*t)),
        st.floats(0.0, 1.0, allow_nan=False, allow_subnormal=False),
        min_size=1,
        max_size=24,
    )
)
def test_flattening_conserves_gross_and_net(weights: dict[str, float]) -> None:
    w = AtomWeights.from_mapping(weights)
    exp = flatten_weights(w)
    longs = sum(v for a, v in weights.items() if a.endswith(f"|{LONG}"))
    shorts = sum(v for a, v in weights.items() if a.endswith(f"|{SHORT}"))
    assert exp.gross.sum() == pytest.approx(sum(weights.values()), abs=1e-12)
    assert exp.net.sum() == pytest.approx(longs - shorts, abs=1e-12)
    assert np.all(np.abs(exp.net) <= exp.gross + 1e-15)
    assert set(exp.symbols) == {a.split("|")[0] for a in weights}
    for s, n, g in zip(exp.symbols, exp.net, exp.gross, strict=True):
        mine = {a: v for a, v in weights.items() if a.rsplit("|", 2)[0] == s}
        assert n == pytest.approx(sum(v if a.endswith(LONG) else -v for a, v in mine.items()), abs=1e-12)
        assert g == pytest.approx(sum(mine.values()), abs=1e-12)

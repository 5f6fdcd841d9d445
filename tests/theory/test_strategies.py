"""Tests of theory.strategies: the drawn maps really have the Lipschitz bound they claim."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from theory import strategies
from theory.strategies import lipschitz_maps, mode_configurations


def _excess(Tmap, seed, n=400):
    """``max |T(x) - T(y)| - L |x - y|`` over random pairs, less the rounding allowance."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, Tmap.dim_in)) * 2
    y = x + rng.standard_normal((n, Tmap.dim_in)) * 10 ** rng.uniform(-5, 0.5, (n, 1))
    fx, fy = Tmap(x), Tmap(y)
    rounding = 1e-13 * (np.linalg.norm(fx, axis=1) + np.linalg.norm(fy, axis=1) + 1)
    gap = np.linalg.norm(fx - fy, axis=1) - Tmap.lipschitz * np.linalg.norm(x - y, axis=1)
    return np.max(gap - rounding)


@given(lipschitz_maps(), st.integers(0, 2**31))
def test_maps_respect_their_lipschitz_bound(Tmap, seed):
    out = Tmap(np.zeros((3, Tmap.dim_in)))
    assert out.shape == (3, Tmap.dim_out) and np.all(np.isfinite(out))
    assert _excess(Tmap, seed) <= 0


@given(lipschitz_maps(kinds=("piecewise_linear", "clip"), max_lipschitz=5.0),
       st.integers(0, 2**31))
def test_exact_maps_attain_their_constant(Tmap, seed):
    # along the map's own direction with tiny steps the slope is reached somewhere
    assert Tmap.exact
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((4000, Tmap.dim_in)) * 3
    d = rng.standard_normal(Tmap.dim_in)
    d /= np.linalg.norm(d)
    grad = np.stack([(Tmap(x + 1e-6 * e) - Tmap(x - 1e-6 * e)) / 2e-6
                     for e in np.eye(Tmap.dim_in)], axis=-1)        # [n, out, in]
    local = np.linalg.norm(grad, ord=2, axis=(1, 2))
    assert local.max() >= Tmap.lipschitz * 0.999


@given(mode_configurations(max_modes=6, dim=3))
def test_mode_configurations_are_consistent(config):
    w = np.asarray(config.weights)
    K = config.n_modes
    assert 2 <= K <= 6 and np.all(w > 0) and abs(w.sum() - 1) < 1e-12
    S = config.separation_matrix
    np.testing.assert_allclose(S, np.linalg.norm(config.centers[:, None] - config.centers[None],
                                                 axis=-1), rtol=1e-12, atol=1e-12)
    assert np.min(S[~np.eye(K, dtype=bool)]) == pytest.approx(config.separation, rel=1e-12)
    assert 0.1 <= config.lipschitz <= 10.0 * (1 + 1e-12)


@pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")
def test_bad_arguments():
    with pytest.raises(ValueError, match="max_lipschitz"):
        lipschitz_maps(max_lipschitz=-1.0).example()
    with pytest.raises(ValueError, match="kinds"):
        lipschitz_maps(kinds=("spline",)).example()
    with pytest.raises(ValueError, match="min_modes"):
        mode_configurations(min_modes=1).example()
    m = strategies.LipschitzMap(lambda x: x, 1.0, 2, 2, "mlp")
    with pytest.raises(ValueError, match=r"x must have shape \[n, 2\]"):
        m(np.zeros((3, 3)))

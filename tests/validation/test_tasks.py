"""Tests of validation/tasks: true modes, closed-form separations, seeds, argument errors."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import binomtest

from theory.transport import chunk_separation
from validation.tasks import make_task

SEED = 1234


@given(horizon=st.integers(1, 32), clearance=st.floats(0.05, 2.0),
       profile=st.sampled_from(["constant", "bump"]), w1=st.floats(0.05, 0.95),
       seed=st.integers(0, 2**31))
def test_fork_separation_closed_form_and_demos_in_modes(horizon, clearance, profile, w1, seed):
    task = make_task("fork", horizon=horizon, clearance=clearance, profile=profile,
                     weights=(w1, 1 - w1), noise=0.3)
    # Closed forms: constant profile 2 c sqrt(H); bump sum_{t=1}^H sin^2(pi t/(H+1)) = (H+1)/2.
    expected = 2 * clearance * (np.sqrt(horizon) if profile == "constant"
                                else np.sqrt((horizon + 1) / 2))
    demo = task.demonstrations(64, seed)
    np.testing.assert_allclose(task.separation(demo.obs), expected, rtol=1e-9)
    # Per-step offsets reproduce the chunk-space separation (THEORY T7).
    offsets = task.per_step_offsets(demo.obs)
    np.testing.assert_allclose(np.sqrt((offsets ** 2).sum(axis=(1, 2))), expected, rtol=1e-9)
    assert chunk_separation(offsets[0]) == pytest.approx(expected, rel=1e-9)
    dist = task.mode_distances(demo.obs, demo.actions)[:, 0, :]
    own = dist[np.arange(len(demo)), demo.modes]
    assert np.all(own <= task.rho)
    np.testing.assert_array_equal(task.mode_labels(demo.obs, demo.actions)[:, 0], demo.modes)


@given(n_modes=st.integers(2, 8), layout=st.sampled_from(["circle", "simplex"]),
       separation=st.floats(0.1, 5.0), horizon=st.integers(4, 8), seed=st.integers(0, 2**31))
def test_kway_pairwise_separation_closed_form(n_modes, layout, separation, horizon, seed):
    task = make_task("kway", n_modes=n_modes, layout=layout, separation=separation,
                     horizon=horizon, noise=0.5)
    demo = task.demonstrations(32, seed)
    K = n_modes
    i, j = np.meshgrid(np.arange(K), np.arange(K), indexing="ij")
    # Regular K-gon, neighbours Delta apart: chord 2 r sin(pi |i-j| / K), r = Delta / (2 sin(pi/K)).
    expected = (separation * np.abs(np.sin(np.pi * (i - j) / K)) / np.sin(np.pi / K)
                if layout == "circle" else separation * (i != j))
    got = task.pairwise_separation(demo.obs)
    np.testing.assert_allclose(got, np.broadcast_to(expected, got.shape), atol=1e-9 * separation)
    np.testing.assert_allclose(task.separation(demo.obs), separation, rtol=1e-9)
    own = task.mode_distances(demo.obs, demo.actions)[np.arange(32), 0, demo.modes]
    assert np.all(own <= task.rho)


@pytest.mark.parametrize("horizon", [1, 2, 4, 8, 16, 32])
def test_chunk_length_sweep_follows_t7(horizon):
    """The T7 sweep: constant per-step offset 2 * clearance, so Delta_H = 2 c sqrt(H)."""
    task = make_task("fork", horizon=horizon)
    obs = task.observations(16, SEED)
    offsets = task.per_step_offsets(obs)
    for b in range(16):
        assert task.separation(obs)[b] == pytest.approx(chunk_separation(offsets[b]), rel=1e-12)
    assert task.mode_separation == pytest.approx(2 * task.clearance * np.sqrt(horizon))


def test_kway_modes_vary_with_observation():
    task = make_task("kway", n_modes=4)
    obs = task.observations(2, SEED)
    c = task.mode_centres(obs)
    assert np.abs(c[0] - c[1]).max() > 0.1


@pytest.mark.parametrize("name,params", [("fork", {"weights": (0.3, 0.7)}),
                                         ("kway", {"n_modes": 4,
                                                   "weights": (0.1, 0.2, 0.3, 0.4)})])
def test_mode_frequencies_match_weights(name, params):
    task = make_task(name, **params)
    demo = task.demonstrations(4000, SEED)
    for k, w in enumerate(task.weights):
        ci = binomtest(int((demo.modes == k).sum()), len(demo), w).proportion_ci(0.999)
        assert ci.low <= w <= ci.high, (k, w, ci)


@pytest.mark.parametrize("name", ["fork", "kway"])
def test_determinism_under_seed(name):
    task = make_task(name)
    a, b, c = (task.demonstrations(50, s) for s in (7, 7, 8))
    for field in ("obs", "actions", "modes"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.actions, c.actions)
    np.testing.assert_array_equal(task.observations(20, 7), task.observations(20, 7))
    assert not np.array_equal(task.observations(20, 7), a.obs[:20])
    assert a.obs.dtype == np.float32 and a.actions.dtype == np.float32
    assert a.obs.shape == (50, task.obs_dim) and a.actions.shape == (50, task.chunk_dim)


def test_chunks_are_order_one():
    for task in (make_task("fork", horizon=32), make_task("kway", n_modes=8)):
        assert np.abs(task.demonstrations(500, SEED).actions).max() < 4


@pytest.mark.parametrize("call,arg", [
    (lambda: make_task("spiral"), "name"),
    (lambda: make_task(3), "name"),
    (lambda: make_task("fork", horizon=0), "horizon"),
    (lambda: make_task("fork", clearance=-1.0), "clearance"),
    (lambda: make_task("fork", profile="zigzag"), "profile"),
    (lambda: make_task("fork", weights=(0.5, 0.6)), "weights"),
    (lambda: make_task("fork", weights=(0.2, 0.3, 0.5)), "weights"),
    (lambda: make_task("fork", horizon=4, rho=2.0), "rho"),
    (lambda: make_task("fork", noise=-0.1), "noise"),
    (lambda: make_task("fork", colour="red"), "colour"),
    (lambda: make_task("kway", n_modes=9), "n_modes"),
    (lambda: make_task("kway", layout="grid"), "layout"),
    (lambda: make_task("kway", n_modes=3, weights=(0.5, 0.5)), "weights"),
    (lambda: make_task("kway", n_modes=8, layout="simplex", horizon=2), "horizon"),
    (lambda: make_task("fork").demonstrations(0, 0), "n"),
    (lambda: make_task("fork").demonstrations(10, -1), "seed"),
    (lambda: make_task("fork").separation(np.zeros((3, 5))), "obs"),
])
def test_errors_name_the_argument(call, arg):
    with pytest.raises((ValueError, TypeError), match=arg):
        call()

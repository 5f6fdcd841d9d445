"""Tests of numerics/transport.py against closed forms: 1-D OT (scipy.stats), shifted
point clouds, affine (Gaussian) maps, and T5 checks on maps with known W1 (seeds fixed)."""

import json

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial.distance import pdist

import theory
from numerics.transport import (
    check_wasserstein_bound,
    empirical_transport_map,
    lipschitz_ratio,
    wasserstein,
)

seeds = st.integers(0, 2**31 - 1)


# ------------------------------------------------------------------ distances


@given(seed=seeds, n=st.integers(1, 40), m=st.integers(1, 40), weighted=st.booleans())
def test_1d_w1_matches_scipy(seed, n, m, weighted):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=n), rng.normal(1.0, 2.0, size=m)
    a = rng.uniform(0.1, 1, n) if weighted else None
    b = rng.uniform(0.1, 1, m) if weighted else None
    ref = stats.wasserstein_distance(x, y, a, b)
    for method in ("exact", "1d", "auto", "sliced"):   # sliced is exact in 1-D (theta = +-1)
        got = wasserstein(x, y, 1, method, x_weights=a, y_weights=b, n_projections=4)
        assert got == pytest.approx(ref, rel=1e-7, abs=1e-9), method


@given(seed=seeds, n=st.integers(1, 40), p=st.sampled_from([1.5, 2, 3]))
def test_1d_wp_exact_agrees_with_sorted_samples(seed, n, p):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=n), rng.exponential(size=n)
    # equal sample sizes: the monotone (sorted) matching is optimal for convex costs
    ref = np.mean(np.abs(np.sort(x) - np.sort(y)) ** p) ** (1 / p)
    assert wasserstein(x, y, p, "exact") == pytest.approx(ref, rel=1e-7)
    assert wasserstein(x, y, p, "1d") == pytest.approx(ref, rel=1e-7)


@given(seed=seeds, n=st.integers(2, 60), dim=st.integers(1, 8), p=st.sampled_from([1, 2, 3]),
       scale=st.floats(0.01, 10))
def test_shifted_point_cloud_distance_is_the_shift(seed, n, dim, p, scale):
    # W_p(mu, mu(. - v)) = |v|: |E X - E Y| <= W_1 <= W_p, and the shift is a coupling.
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dim))
    v = scale * rng.normal(size=dim)
    assert wasserstein(x, x + v, p, "exact") == pytest.approx(np.linalg.norm(v), rel=1e-6)


@given(seed=seeds, dim=st.integers(1, 4))
def test_gaussian_affine_map_w2(seed, dim):
    # y = m + A x with A symmetric positive definite is the gradient of a convex function,
    # so the identity matching is optimal for the quadratic cost (cyclical monotonicity);
    # and W2(N(0, I), N(m, A^2))^2 = |m|^2 + tr((A - I)^2) (Gelbrich / Bures).
    rng = np.random.default_rng(seed)
    q = np.linalg.qr(rng.normal(size=(dim, dim)))[0]
    A = q @ np.diag(rng.uniform(0.2, 3, dim)) @ q.T
    mean = rng.normal(size=dim)
    x = rng.normal(size=(300, dim))
    y = x @ A + mean
    empirical = np.sqrt(np.mean(np.sum((y - x) ** 2, axis=1)))
    assert wasserstein(x, y[rng.permutation(300)], 2, "exact") == pytest.approx(empirical,
                                                                                 rel=1e-7)
    closed = np.sqrt(mean @ mean + np.trace((A - np.eye(dim)) @ (A - np.eye(dim))))
    assert empirical == pytest.approx(closed, rel=0.25)   # sampling error at n = 300


def test_gaussian_1d_w2_closed_form():
    rng = np.random.default_rng(6)   # seed 6, n = 20000 per side
    x, y = rng.normal(0.5, 1.0, 20_000), rng.normal(-1.0, 2.0, 20_000)
    # W2(N(m1, s1^2), N(m2, s2^2)) = sqrt((m1 - m2)^2 + (s1 - s2)^2)
    assert wasserstein(x, y, 2) == pytest.approx(np.sqrt(1.5**2 + 1.0), rel=0.02)


@given(seed=seeds, n=st.integers(5, 40), dim=st.integers(2, 5))
def test_sliced_below_and_sinkhorn_above_exact(seed, n, dim):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, dim)), rng.normal(0.5, 1.5, size=(n + 3, dim))
    exact = wasserstein(x, y, 1, "exact")
    assert wasserstein(x, y, 1, "sliced", n_projections=50, seed=seed % 1000) <= exact + 1e-9
    assert wasserstein(x, y, 1, "sinkhorn", reg=0.1) >= exact * (1 - 1e-6)


def test_weights_equal_repeated_samples_and_auto_switches_to_sliced():
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(5, 3)), rng.normal(size=(7, 3))
    repeated = np.vstack([x, x[:2]])   # the first two points twice
    w = np.array([2, 2, 1, 1, 1], dtype=float)
    assert wasserstein(x, y, 1, x_weights=w) == pytest.approx(wasserstein(repeated, y, 1))
    assert wasserstein(x, y, 2, max_exact=4) == pytest.approx(
        wasserstein(x, y, 2, "sliced"))


# POT 0.9.7's 1-D solver calls ``.T`` on 1-D tensors (its deprecation warning, not ours)
@pytest.mark.filterwarnings("ignore:The use of `x.T`:UserWarning")
def test_torch_in_torch_out_with_gradient():
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(20, 3)), rng.normal(size=(25, 3))
    xt = torch.tensor(x, requires_grad=True)
    for p in (1, 2):
        value = wasserstein(xt, torch.tensor(y), p, "exact")
        assert isinstance(value, torch.Tensor) and value.ndim == 0
        assert value.item() == pytest.approx(wasserstein(x, y, p, "exact"), rel=1e-10)
    value.backward()
    assert xt.grad is not None and torch.isfinite(xt.grad).all()
    assert isinstance(wasserstein(torch.tensor(x[:, 0]), y[:, 0], 2, "1d"), torch.Tensor)


@pytest.mark.parametrize("kwargs, err, match", [
    (dict(y=np.zeros((4, 2))), ValueError, "same dimension"),
    (dict(p=0.5), ValueError, "p must be >= 1"),
    (dict(method="emd"), ValueError, "method"),
    (dict(x=np.full((3, 3), np.nan)), ValueError, "x must be finite"),
    (dict(x_weights=np.ones(2)), ValueError, "x_weights"),
    (dict(x_weights=-np.ones(3)), ValueError, "x_weights"),
    (dict(method="exact", max_exact=2), ValueError, "max_exact"),
    (dict(method="1d"), ValueError, "D = 1"),
    (dict(x="abc"), TypeError, "x must be"),
])
def test_wasserstein_rejects_bad_input(kwargs, err, match):
    args = dict(x=np.zeros((3, 3)), y=np.ones((4, 3))) | kwargs
    with pytest.raises(err, match=match):
        wasserstein(**args)


# ------------------------------------------------------------------ maps


@given(seed=seeds, n=st.integers(3, 60), dim=st.integers(1, 4))
def test_transport_map_recovers_gradient_of_convex_map(seed, n, dim):
    rng = np.random.default_rng(seed)
    q = np.linalg.qr(rng.normal(size=(dim, dim)))[0]
    A = q @ np.diag(rng.uniform(0.2, 3, dim)) @ q.T
    x = rng.normal(size=(n, dim))
    y = x @ A + 1.0
    images = empirical_transport_map(x, y[rng.permutation(n)])
    assert np.allclose(images, y, atol=1e-9)
    # Lipschitz ratio of the matching vs direct pairwise quotients (<= ||A||_2)
    ref = np.max(pdist(y) / pdist(x))
    assert lipschitz_ratio(x, images, chunk=7) == pytest.approx(ref, rel=1e-9)
    assert ref <= np.linalg.norm(A, 2) * (1 + 1e-9)


def test_transport_map_is_a_matching_and_1d_ratio():
    rng = np.random.default_rng(9)
    x, y = rng.normal(size=(50, 2)), rng.uniform(size=(50, 2))
    images = empirical_transport_map(x, y, p=1)
    assert sorted(map(tuple, images.round(12))) == sorted(map(tuple, y.round(12)))
    t = np.linspace(-1, 1, 11)
    assert lipschitz_ratio(t, 2 * t + 1) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="same number"):
        lipschitz_ratio(t, t[:5])


# ------------------------------------------------------------------ T5 check


def _clip_map_policy(L, delta, n, dim, rng):
    """T2's extremal map T(x) = u clip(L x_1, -Delta/2, Delta/2) in R^dim (u = e_1)."""
    out = np.zeros((n, dim))
    out[:, 0] = np.clip(L * rng.normal(size=n), -delta / 2, delta / 2)
    return out


def _point_mode_demos(delta, n, dim, rng, noise=0.0):
    out = noise * rng.normal(size=(n, dim))
    out[:, 0] += np.where(rng.uniform(size=n) < 0.5, -delta / 2, delta / 2)
    return out


@pytest.fixture
def t5_bound():
    # THEORY.md, T5: Delta = 2, equal weights, L = 0.5, 1 -> W1 >= 0.400, 0.305
    assert theory.wasserstein_lower_bound(1.0, 2.0, weights=(0.5, 0.5), p=1) == \
        pytest.approx(0.305, abs=1e-3)
    return theory.wasserstein_lower_bound


def test_t5_check_passes_on_clip_map(t5_bound):
    # the clip map of T2 at L = 1, Delta = 2 has W1 = 0.367 to the point modes > 0.305
    rng = np.random.default_rng(10)   # seed 10
    policy = _clip_map_policy(1.0, 2.0, 600, 2, rng)
    demos = _point_mode_demos(2.0, 1200, 2, rng)
    check = check_wasserstein_bound(policy, demos, 1.0, 2.0, n_bootstrap=20, seed=0)
    assert check.verdict == "PASS" and check.n == 600
    assert check.estimate == pytest.approx(0.367, abs=0.03)
    assert check.interval[0] > check.bound   # resolved, not merely not-failed
    json.dumps(check.to_dict(), allow_nan=False)


def test_t5_check_fails_on_a_policy_too_sharp_for_its_claimed_constant(t5_bound):
    # sampling the demonstrator itself needs L = inf; claiming L = 0.5 (bound 0.400) fails
    rng = np.random.default_rng(11)   # seed 11
    demos = _point_mode_demos(2.0, 800, 2, rng, noise=0.05)
    policy = _point_mode_demos(2.0, 400, 2, rng, noise=0.05)
    check = check_wasserstein_bound(policy, demos, 0.5, 2.0, n_bootstrap=30, seed=0)
    assert check.bound == pytest.approx(0.400, abs=1e-3)
    assert check.verdict == "FAIL" and check.interval[1] < 0.400


def test_t5_check_inconclusive_when_noise_dominates(t5_bound):
    # d = 16, n = 60: the split-half W1 of the demonstrations alone exceeds the bound
    rng = np.random.default_rng(12)   # seed 12
    demos = _point_mode_demos(2.0, 120, 16, rng, noise=0.5)
    policy = _clip_map_policy(1.0, 2.0, 60, 16, rng) + 0.5 * rng.normal(size=(60, 16))
    check = check_wasserstein_bound(policy, demos, 1.0, 2.0, n_bootstrap=20, seed=0)
    assert check.verdict == "INCONCLUSIVE" and "noise floor" in check.note


def test_t5_check_rejects_bad_input():
    with pytest.raises(ValueError, match="at least"):
        check_wasserstein_bound(np.zeros((5, 2)), np.zeros((3, 2)), 1.0, 2.0)
    with pytest.raises(ValueError, match="same dimension"):
        check_wasserstein_bound(np.zeros((5, 2)), np.zeros((8, 3)), 1.0, 2.0)

"""Tests of numerics/information.py against closed forms and independent quadrature:
Gaussian KLs (torch.distributions), mixtures with known information, KL(qbar || p) by
scipy.integrate.quad, and the L4 threshold against theory and the L1 closed form."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, optimize, special, stats

import theory
from numerics.information import (
    collapse_ratio,
    collapse_threshold,
    gaussian_rate,
    latent_information,
    prior_coverage,
)

# ------------------------------------------------------------------ information terms


def test_rate_matches_torch_kl():
    rng = np.random.default_rng(20)
    mu, logvar = rng.normal(size=(50, 3)), rng.normal(scale=0.5, size=(50, 3))
    q = torch.distributions.Normal(torch.tensor(mu), torch.tensor(np.exp(0.5 * logvar)))
    p = torch.distributions.Normal(torch.zeros(3, dtype=torch.float64),
                                   torch.ones(3, dtype=torch.float64))
    kl = torch.distributions.kl_divergence(q, p).sum(-1).numpy()
    rate, se = gaussian_rate(torch.tensor(mu), logvar)
    assert rate == pytest.approx(kl.mean(), rel=1e-12)
    assert se == pytest.approx(kl.std(ddof=1) / math.sqrt(50), rel=1e-9)


def test_separated_encoders_carry_log2_mode_information():
    # two equal-weight groups with posteriors N(+-20, 1): I(M;Z) = log 2 up to e^-200
    mu = np.r_[np.full(20, -20.0), np.full(20, 20.0)][:, None]
    labels = np.r_[np.zeros(20, int), np.ones(20, int)]
    info = latent_information(mu, np.zeros_like(mu), labels, n_draws=16, seed=0)
    assert info.mode_information == pytest.approx(math.log(2), abs=1e-9)
    # within a group the posteriors coincide: I(A;Z) = I(M;Z) as well
    assert info.mutual_information == pytest.approx(math.log(2), abs=1e-9)
    assert info.rate == pytest.approx(200.0)
    assert info.marginal_kl_from_rate == pytest.approx(200 - math.log(2))
    assert abs(info.marginal_kl - info.marginal_kl_from_rate) < 4 * info.marginal_kl_se + 1e-9


def test_identical_posteriors_carry_no_information():
    mu, logvar = np.tile([[0.7, -0.2]], (30, 1)), np.tile([[-1.0, 0.3]], (30, 1))
    info = latent_information(mu, logvar, np.arange(30) % 3, n_draws=4)
    assert info.mutual_information == pytest.approx(0.0, abs=1e-12)
    assert info.mode_information == pytest.approx(0.0, abs=1e-12)
    assert info.mutual_information_upper == pytest.approx(0.0, abs=1e-12)
    # qbar = q, so KL(qbar || p) = R; the direct estimate agrees within MC error
    assert info.marginal_kl_from_rate == pytest.approx(info.rate)
    assert abs(info.marginal_kl - info.rate) < 4 * info.marginal_kl_se


@given(seed=st.integers(0, 2**31 - 1), n=st.integers(2, 6))
@settings(max_examples=10)
def test_information_terms_match_quadrature_in_1d(seed, n):
    rng = np.random.default_rng(seed)
    mu, logvar = rng.normal(scale=2, size=(n, 1)), rng.uniform(-2, 1, size=(n, 1))
    sd = np.exp(0.5 * logvar[:, 0])

    def log_q(z):   # [n] log-densities of the posteriors at z
        return -0.5 * ((z - mu[:, 0]) / sd) ** 2 - np.log(sd) - 0.5 * math.log(2 * math.pi)

    def log_qbar(z):
        return special.logsumexp(log_q(z)) - math.log(n)

    lo, hi = mu.min() - 12, mu.max() + 12
    opts = dict(points=list(mu[:, 0]), limit=200, epsabs=1e-11)
    kl_ref = integrate.quad(lambda z: math.exp(log_qbar(z)) * (
        log_qbar(z) + 0.5 * z * z + 0.5 * math.log(2 * math.pi)), lo, hi, **opts)[0]
    mi_ref = np.mean([integrate.quad(lambda z, i=i: math.exp(log_q(z)[i]) * (
        log_q(z)[i] - log_qbar(z)), lo, hi, **opts)[0] for i in range(n)])
    info = latent_information(mu, logvar, n_draws=400, seed=seed % 1000)
    assert abs(info.marginal_kl - kl_ref) < 5 * info.marginal_kl_se + 1e-6
    assert abs(info.mutual_information - mi_ref) < 5 * info.mutual_information_se + 1e-6
    # L1: R = I(A;Z) + KL(qbar || p), both sides from the independent quadrature
    assert info.rate == pytest.approx(mi_ref + kl_ref, rel=1e-5, abs=1e-8)


def test_information_rejects_bad_input():
    with pytest.raises(ValueError, match="logvar must have the shape"):
        latent_information(np.zeros((3, 2)), np.zeros((3, 1)))
    with pytest.raises(ValueError, match="modes must be an integer"):
        latent_information(np.zeros((3, 2)), np.zeros((3, 2)), modes=np.zeros(3))
    with pytest.raises(ValueError, match="mu must be finite"):
        gaussian_rate(np.full((3, 2), np.inf), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="n_draws"):
        latent_information(np.zeros((3, 2)), np.zeros((3, 2)), n_draws=0)


# ------------------------------------------------------------------ prior coverage


def test_prior_coverage_against_closed_forms():
    # posterior = prior: the central 90% interval has prior mass 0.9
    same = prior_coverage(np.zeros((4, 1)), np.zeros((4, 1)), 0.9, n_prior=20_000, seed=1)
    assert same.interval[0] <= 0.9 <= same.interval[1]
    dens = prior_coverage(np.zeros((4, 1)), np.zeros((4, 1)), 0.9, region="density",
                          n_prior=20_000, seed=2)
    assert dens.interval[0] - 0.01 <= 0.9 <= dens.interval[1] + 0.01   # level t estimated
    # posterior N(3, 0.5^2): its central 95% interval [3 -+ 0.98] has prior mass
    half = 0.5 * stats.norm.ppf(0.975)
    exact = stats.norm.cdf(3 + half) - stats.norm.cdf(3 - half)
    cov = prior_coverage(np.array([[3.0]]), np.array([[math.log(0.25)]]), 0.95, seed=3)
    assert cov.interval[0] <= exact <= cov.interval[1] and cov.posterior_mass == 0.95
    with pytest.raises(ValueError, match="region"):
        prior_coverage(np.zeros((1, 1)), np.zeros((1, 1)), region="box")


# ------------------------------------------------------------------ L4 collapse threshold


@given(delta=st.floats(0.1, 10), sigma=st.floats(0.05, 5))
@settings(max_examples=8)
def test_l2_threshold_matches_closed_form(delta, sigma):
    expected = delta**2 / (4 * sigma**2)
    if hasattr(theory, "collapse_threshold"):
        assert theory.collapse_threshold(delta, sigma) == pytest.approx(expected)
    # the floor at KL = 1e-6 puts the numeric sup ~1e-6 (relative) below the v -> 0 limit
    assert collapse_threshold(delta, sigma, "l2") == pytest.approx(expected, rel=1e-5)


def _l2_two_mode_threshold(delta, sigma, w1):
    """Independent: sup_u (J0 - Rec(u)) / KL(u), Rec by scipy quad of the posterior variance."""
    w2 = 1 - w1

    def ratio(u):
        v1, v2 = -w2 * u, w1 * u

        def var(z):   # qbar(z) Var(a | z) / Delta^2 = w1 w2 phi_1 phi_2 / qbar
            a, b = w1 * math.exp(-0.5 * (z - v1) ** 2), w2 * math.exp(-0.5 * (z - v2) ** 2)
            return a * b / (a + b) / math.sqrt(2 * math.pi) if a + b > 0 else 0.0

        rec = delta**2 / (2 * sigma**2) * integrate.quad(var, -15, 15, limit=200)[0]
        return (delta**2 * w1 * w2 / (2 * sigma**2) - rec) / (0.5 * math.log1p(w1 * w2 * u * u))

    grid = np.linspace(0.01, 6, 120)
    u0 = grid[np.argmax([ratio(u) for u in grid])]
    res = optimize.minimize_scalar(lambda u: -ratio(u), bounds=(max(u0 - 0.05, 1e-3), u0 + 0.05),
                                   method="bounded")
    return -res.fun


def test_l2_threshold_weighted_and_k_modes():
    # the v -> 0 limit lambda_max(Cov_w(c)) / sigma^2 is the sup at mild imbalance ...
    local = 0.6 * 0.4 * 4 / 0.25
    assert collapse_threshold(2.0, 0.5, weights=(0.6, 0.4)) == pytest.approx(local, rel=1e-5)
    assert _l2_two_mode_threshold(2.0, 0.5, 0.6) == pytest.approx(local, rel=1e-4)
    # ... but not at w = (0.8, 0.2): the sup sits at u ~ 1 (independent quadrature agrees)
    got = collapse_threshold(2.0, 0.5, weights=(0.8, 0.2))
    assert got == pytest.approx(_l2_two_mode_threshold(2.0, 0.5, 0.8), rel=1e-5)
    assert got > 1.04 * 0.8 * 0.2 * 4 / 0.25
    c = 2.0 / math.sqrt(2) * np.eye(3)
    w = np.full(3, 1 / 3)
    cov = (c - w @ c).T @ np.diag(w) @ (c - w @ c)
    limit = np.linalg.eigvalsh(cov).max()   # a rank-1 encoder attains it: d = 1 suffices
    assert collapse_threshold(2.0, 1.0, n_modes=3, n_starts=2) == pytest.approx(limit, rel=1e-5)
    # d = 2 by quasi-Monte Carlo (2^12 points): the optimiser may exploit its ~1e-3 error
    got = collapse_threshold(2.0, 1.0, n_modes=3, latent_dim=2, n_starts=1)
    assert got == pytest.approx(limit, rel=2e-3)


def test_l1_equal_weights_never_collapses():
    assert collapse_threshold(2.0, 1.0, "l1") == math.inf
    # Rec(u) = (Delta/sigma) Phi(-u): the gain is linear in u, the KL quadratic, so the
    # ratio grows like 1/u and exceeds every beta (here checked against the closed form).
    for u in (0.05, 0.2, 1.0):
        closed = 2.0 * (0.5 - special.ndtr(-u)) / (0.5 * math.log1p(u * u))
        assert collapse_ratio([[-u], [u]], 2.0, 1.0, "l1") == pytest.approx(closed, rel=1e-6)
    small = [collapse_ratio([[-u], [u]], 2.0, 1.0, "l1") for u in (0.1, 0.05)]
    assert small[1] / small[0] == pytest.approx(2.0, rel=0.01)
    beta = 1e4
    u = 2.0 / (beta * math.sqrt(2 * math.pi))   # J(u) - J(0) ~ -0.4 u Delta + beta u^2/2 < 0
    assert -2.0 * (0.5 - special.ndtr(-u)) + beta / 2 * math.log1p(u * u) < 0


def _l1_two_mode_threshold(delta, sigma, w1):
    """Independent: sup_u (J0 - Rec(u)) / KL(u) from the closed form of the L1 decoder."""
    w2 = 1 - w1

    def neg_ratio(log_u):
        u = math.exp(log_u)
        v1, v2 = -w2 * u, w1 * u
        t = (v1 + v2) / 2 + math.log(w1 / w2) / u   # decoder switches to mode 2 above t
        rec = delta / sigma * (w2 * special.ndtr(t - v2) + w1 * special.ndtr(v1 - t))
        return -(w2 * delta / sigma - rec) / (0.5 * math.log1p(w1 * w2 * u * u))

    grid = np.linspace(-3, 3.5, 400)
    t0 = grid[np.argmin([neg_ratio(t) for t in grid])]
    return -optimize.minimize_scalar(neg_ratio, bounds=(t0 - 0.05, t0 + 0.05),
                                     method="bounded").fun


@pytest.mark.parametrize("w1", [0.6, 0.7, 0.9])
def test_l1_unequal_weights_finite_threshold_matches_closed_form(w1):
    got = collapse_threshold(2.0, 0.5, "l1", weights=(w1, 1 - w1))
    assert math.isfinite(got)
    assert got == pytest.approx(_l1_two_mode_threshold(2.0, 0.5, w1), rel=1e-6)


def test_huber_threshold():
    # Delta > 2 delta with equal weights: a flat collapsed objective -> no finite beta*
    assert collapse_threshold(3.0, 1.0, "huber", huber_delta=1.0) == math.inf
    # Delta <= 2 delta: J_0 equals the squared loss's and Huber <= squared, so beta* >= l2's
    l2 = 1.5**2 / 4
    assert collapse_threshold(1.5, 1.0, "huber", huber_delta=1.0) >= l2 * (1 - 1e-5)
    assert math.isfinite(collapse_threshold(3.0, 1.0, "huber", huber_delta=1.0,
                                            weights=(0.6, 0.4)))


def test_more_latent_dimensions_do_not_help_two_modes():
    # K = 2: Rec depends on v_2 - v_1 only; in 2-D (quasi-Monte Carlo) it equals the 1-D
    # value at u = |v_2 - v_1| (grid), and the KL can only grow (log(1+a)+log(1+b) >= log(1+a+b))
    v2 = np.array([[-0.3, -0.4], [0.3, 0.4]])   # v_2 - v_1 = (0.6, 0.8), |.| = 1
    kl2 = 0.5 * (math.log1p(0.3**2) + math.log1p(0.4**2))
    kl1 = 0.5 * math.log1p(0.5**2)
    r2 = collapse_ratio(v2, 2.0, 1.0, "l2")
    r1 = collapse_ratio([[-0.5], [0.5]], 2.0, 1.0, "l2")
    assert kl2 > kl1
    assert r2 == pytest.approx(r1 * kl1 / kl2, rel=2e-3)   # same gain, larger KL


def test_collapse_threshold_rejects_bad_input():
    with pytest.raises(ValueError, match="loss"):
        collapse_threshold(1.0, 1.0, "l3")
    with pytest.raises(ValueError, match="weights must have"):
        collapse_threshold(1.0, 1.0, n_modes=3, weights=(0.5, 0.5))
    with pytest.raises(ValueError, match="sigma"):
        collapse_threshold(1.0, -1.0)
    with pytest.raises(ValueError, match="constant"):
        collapse_ratio([[1.0], [1.0]], 1.0, 1.0)

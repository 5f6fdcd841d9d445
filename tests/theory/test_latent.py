"""Tests of theory/latent.py (Part L), each against an independent computation.

Independent means: TV and KL of explicit distributions computed directly (sums or
scipy quadrature), Bayes errors of explicit channels, direct numerical minimisation of
objectives, Monte Carlo with Clopper-Pearson intervals. Seeds are fixed (numpy
``default_rng(seed)`` with the seed in the test) and hypothesis runs derandomized.
"""

import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, optimize, special, stats

import theory
from theory import latent

# ----------------------------------------------------------------------------- helpers


def kl_discrete(p, q):
    return float(np.sum(special.rel_entr(p, q)))


def tv_discrete(p, q):
    return 0.5 * float(np.sum(np.abs(np.asarray(p) - np.asarray(q))))


def kl_gauss(m1, s1, m2, s2):
    return math.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5


def tv_gauss(m1, s1, m2, s2):
    f = lambda x: abs(stats.norm.pdf(x, m1, s1) - stats.norm.pdf(x, m2, s2))  # noqa: E731
    lo = min(m1 - 12 * s1, m2 - 12 * s2)
    hi = max(m1 + 12 * s1, m2 + 12 * s2)
    pts = sorted({m1, m2})
    return 0.5 * integrate.quad(f, lo, hi, points=pts, limit=400, epsabs=1e-12)[0]


def clopper_pearson(k, n, confidence=0.999):
    ci = stats.binomtest(int(k), int(n)).proportion_ci(confidence, method="exact")
    return ci.low, ci.high


def kl_bin(x, y):
    return float(special.rel_entr(x, y) + special.rel_entr(1 - x, 1 - y))


simplex = st.integers(2, 6).flatmap(
    lambda k: st.lists(st.floats(0.02, 1.0), min_size=k, max_size=k)
).map(lambda v: np.asarray(v) / np.sum(v))


# ----------------------------------------------------------------------------- L1


def test_l1_rate_decomposition_on_gaussian_encoder_by_quadrature():
    # Discrete actions a_i with probabilities pi_i; encoder N(mu_i, s_i^2); prior N(0, 1).
    pi = np.array([0.2, 0.3, 0.1, 0.4])
    mu = np.array([-1.5, -1.2, 0.8, 1.6])
    s = np.array([0.5, 0.7, 0.4, 0.6])
    modes = np.array([0, 0, 1, 1])
    rate = sum(p * kl_gauss(m, v, 0.0, 1.0) for p, m, v in zip(pi, mu, s, strict=True))

    def qbar(z):
        return np.sum(pi * stats.norm.pdf(z, mu, s))

    def integrand_i(z, i):
        q = stats.norm.pdf(z, mu[i], s[i])
        return q * math.log(q / qbar(z)) if q > 0 else 0.0

    lim = dict(limit=400, epsabs=1e-13)
    mi = sum(pi[i] * integrate.quad(integrand_i, -12, 12, args=(i,), **lim)[0] for i in range(4))
    kl_marg = integrate.quad(lambda z: qbar(z) * math.log(qbar(z) / stats.norm.pdf(z)),
                             -12, 12, **lim)[0]
    assert latent.rate_decomposition(rate, mi) == pytest.approx(kl_marg, abs=1e-8)
    # data processing: I(M; Z) <= I(A; Z) <= R
    wm = np.array([pi[modes == k].sum() for k in (0, 1)])

    def qm(z, k):
        sel = modes == k
        return np.sum(pi[sel] * stats.norm.pdf(z, mu[sel], s[sel])) / wm[k]

    i_mz = sum(wm[k] * integrate.quad(lambda z, k=k: qm(z, k) * math.log(qm(z, k) / qbar(z)),
                                      -12, 12, **lim)[0] for k in (0, 1))
    assert 0 < i_mz < mi < rate


def test_l1_vectorised_and_validated():
    out = latent.rate_decomposition(np.array([1.0, 2.0]), np.array([[0.5], [1.0]]))
    assert out.shape == (2, 2) and np.allclose(out, [[0.5, 1.5], [0.0, 1.0]])
    with pytest.raises(ValueError, match="mutual_information"):
        latent.rate_decomposition(1.0, 1.5)
    with pytest.raises(ValueError, match="rate"):
        latent.rate_decomposition(-1.0, 0.0)


# ----------------------------------------------------------------------------- L2


@given(weights=simplex, n_out=st.integers(2, 6), seed=st.integers(0, 10**6))
def test_l2_fano_against_exact_bayes_error_of_random_channels(weights, n_out, seed):
    rng = np.random.default_rng(seed)
    k = weights.size
    channel = rng.dirichlet(np.full(n_out, 0.3), size=k)  # P(z | m), rows
    joint = weights[:, None] * channel
    pz = joint.sum(0)
    info = float(np.sum(special.rel_entr(joint, weights[:, None] * pz[None, :])))
    bayes_error = 1.0 - float(joint.max(0).sum())
    assert latent.fano_min_rate(weights, bayes_error) <= info + 1e-10
    assert latent.fano_min_error(weights, info) <= bayes_error + 1e-10


@given(k=st.integers(2, 8), error=st.floats(0.0, 1.0))
def test_l2_fano_is_attained_by_the_symmetric_channel(k, error):
    # K-ary symmetric channel, uniform modes: I(M; Z) = log K - h(d) - d log(K-1) exactly.
    d = min(error, (k - 1) / k)
    channel = np.full((k, k), d / (k - 1)) + np.eye(k) * (1 - d - d / (k - 1))
    w = np.full(k, 1 / k)
    joint = w[:, None] * channel
    info = float(np.sum(special.rel_entr(joint, w[:, None] * joint.sum(0)[None, :])))
    assert 1.0 - joint.max(0).sum() == pytest.approx(d, abs=1e-12)
    assert latent.fano_min_rate(w, error) == pytest.approx(info, abs=1e-10)
    if 1e-6 < d < (k - 1) / k - 1e-6:
        assert latent.fano_min_error(w, info) == pytest.approx(d, abs=1e-8)


def test_l2_round_trip_vectorised_and_symbolic():
    w = np.array([0.2, 0.3, 0.5])
    err = np.linspace(0.0, 0.6, 13)
    rates = latent.fano_min_rate(w, err)
    assert rates.shape == err.shape
    back = latent.fano_min_error(w, rates)
    assert np.allclose(back[rates > 0], err[rates > 0], atol=1e-9)
    x = sp.Symbol("x")
    expr = latent.fano_min_rate(w, x)
    for v in (0.05, 0.3, 0.66, 0.9):
        assert float(expr.subs(x, v)) == pytest.approx(latent.fano_min_rate(w, v), abs=1e-12)
    with pytest.raises(ValueError, match="weights"):
        latent.fano_min_rate([0.5, 0.6], 0.1)
    with pytest.raises(ValueError, match="error"):
        latent.fano_min_rate([0.5, 0.5], 1.5)
    with pytest.raises(ValueError, match="rate"):
        latent.fano_min_error([0.5, 0.5], -0.1)
    with pytest.raises(TypeError, match="no closed form"):
        latent.fano_min_error([0.5, 0.5], x)


# ----------------------------------------------------------------------------- L3


binary = st.floats(0.001, 0.999)


@given(p=binary, q=binary, r=binary)
def test_l3_tv_bounds_on_binary_triples(p, q, r):
    eps_max = max(kl_bin(p, r), kl_bin(q, r))
    eps_avg = 0.5 * (kl_bin(p, r) + kl_bin(q, r))
    tv = abs(p - q)
    assert tv <= latent.kl_tv_bound_exact(eps_avg) + 1e-9
    assert latent.kl_tv_bound_exact(eps_max) <= latent.kl_tv_bound(eps_max) + 1e-12
    assert tv <= latent.kl_tv_bound(eps_max) + 1e-9


@given(seed=st.integers(0, 10**6), n=st.integers(2, 8), conc=st.floats(0.05, 2.0))
def test_l3_tv_bounds_on_random_discrete_distributions(seed, n, conc):
    rng = np.random.default_rng(seed)
    p, qa, qb = rng.dirichlet(np.full(n, conc), size=3)
    p = np.clip(p, 1e-12, None) / np.clip(p, 1e-12, None).sum()
    eps_a, eps_b = kl_discrete(qa, p), kl_discrete(qb, p)
    tv = tv_discrete(qa, qb)
    assert tv <= latent.kl_tv_bound_exact((eps_a + eps_b) / 2) + 1e-9
    assert tv <= latent.kl_tv_bound(max(eps_a, eps_b)) + 1e-9


@settings(max_examples=15)
@given(m1=st.floats(-2, 2), m2=st.floats(-2, 2), s1=st.floats(0.3, 2), s2=st.floats(0.3, 2))
def test_l3_tv_bounds_on_gaussians(m1, m2, s1, s2):
    eps_a, eps_b = kl_gauss(m1, s1, 0, 1), kl_gauss(m2, s2, 0, 1)
    tv = tv_gauss(m1, s1, m2, s2)
    assert tv <= latent.kl_tv_bound_exact((eps_a + eps_b) / 2) + 1e-7
    assert tv <= latent.kl_tv_bound(max(eps_a, eps_b)) + 1e-7


@given(eps=st.floats(1e-6, 0.69))
def test_l3_exact_curve_is_attained(eps):
    # Bernoulli((1 +- t)/2) against Bernoulli(1/2): both KLs equal eps, TV = t = tau*(eps).
    t = latent.kl_tv_bound_exact(eps)
    a, b = (1 + t) / 2, (1 - t) / 2
    assert kl_bin(a, 0.5) == pytest.approx(eps, rel=1e-9, abs=1e-14)
    assert kl_bin(b, 0.5) == pytest.approx(eps, rel=1e-9, abs=1e-14)
    assert latent.min_kl_for_tv(t) == pytest.approx(eps, rel=1e-9, abs=1e-14)


def test_l3_mode_recovery_is_fano_at_two_modes():
    eps = np.linspace(0.0, 0.69, 30)
    acc = latent.mode_recovery_accuracy(eps)
    assert np.allclose(1 - acc, latent.fano_min_error([0.5, 0.5], eps), atol=1e-9)
    assert np.all(latent.mode_recovery_accuracy(eps, exact=False) >= acc - 1e-12)


def test_l3_mode_averaging_against_simulated_posterior_mean_decoder():
    # Two point modes +-Delta/2, encoder N(+-m, s^2) with KL(q_a || N(0,1)) = eps for
    # both a. The decoder is the posterior mean, estimated by binning the simulated
    # latents (no use of the closed-form tanh); its mean distance to the nearer mode
    # must be >= (Delta/2)(1 - tau(eps)) and equal (Delta/2)(1 - TV(Q1, Q2)).
    rng = np.random.default_rng(7)
    delta, m, s = 3.0, 0.9, 0.6
    eps = kl_gauss(m, s, 0, 1)
    n = 400_000
    mode = rng.integers(0, 2, n) * 2 - 1
    z = mode * m + s * rng.standard_normal(n)
    edges = np.quantile(z, np.linspace(0, 1, 401))
    idx = np.clip(np.searchsorted(edges, z) - 1, 0, 399)
    a = mode * delta / 2
    decoder = np.bincount(idx, weights=a, minlength=400) / np.bincount(idx, minlength=400)
    dist = delta / 2 - np.abs(decoder[idx])
    mean, se = dist.mean(), dist.std() / math.sqrt(n)
    tv = tv_gauss(m, s, -m, s)
    assert mean == pytest.approx(delta / 2 * (1 - tv), abs=6 * se + 2e-3)
    assert mean >= latent.mode_averaging_distance(delta, eps) - 6 * se
    assert latent.mode_averaging_distance(delta, eps) >= latent.mode_averaging_distance(
        delta, eps, exact=False)


def test_l3_mode_averaging_tight_on_binary_latent():
    # Binary latent: Q_{1,2} = Bernoulli((1 +- t)/2), p = Bernoulli(1/2), KL = eps each.
    delta, eps = 2.0, 0.2
    t = latent.kl_tv_bound_exact(eps)
    q1, q2 = np.array([(1 + t) / 2, (1 - t) / 2]), np.array([(1 - t) / 2, (1 + t) / 2])
    post1 = q1 / (q1 + q2)  # P(M = 1 | z), equal mode weights
    decoder = delta / 2 * (2 * post1 - 1)
    qbar = (q1 + q2) / 2
    mean_dist = float(np.sum(qbar * (delta / 2 - np.abs(decoder))))
    assert mean_dist == pytest.approx(latent.mode_averaging_distance(delta, eps), rel=1e-9)


def test_l3_symbolic_and_errors():
    x = sp.Symbol("x", nonnegative=True)
    expr = latent.kl_tv_bound(x)
    rng = np.random.default_rng(0)
    for v in rng.uniform(0, 3, 5):
        assert float(expr.subs(x, v)) == pytest.approx(latent.kl_tv_bound(v), rel=1e-12)
    e2 = latent.mode_averaging_distance(sp.Symbol("d"), x, exact=False)
    assert float(e2.subs({"d": 2.0, x: 0.3})) == pytest.approx(
        latent.mode_averaging_distance(2.0, 0.3, exact=False))
    e3 = latent.min_kl_for_tv(x)
    assert float(e3.subs(x, 0.4)) == pytest.approx(latent.min_kl_for_tv(0.4))
    assert latent.kl_tv_bound(np.inf) == 1.0 and latent.kl_tv_bound_exact(np.inf) == 1.0
    for f in (latent.kl_tv_bound, latent.kl_tv_bound_exact, latent.mode_recovery_accuracy):
        with pytest.raises(ValueError, match="eps"):
            f(-0.1)
        with pytest.raises(ValueError, match="eps"):
            f(np.array([0.1, np.nan]))
    with pytest.raises(ValueError, match="separation"):
        latent.mode_averaging_distance(0.0, 0.1)
    with pytest.raises(ValueError, match="tv"):
        latent.min_kl_for_tv(1.2)
    with pytest.raises(TypeError, match="exact=False"):
        latent.mode_recovery_accuracy(x)


# ----------------------------------------------------------------------------- L4


@pytest.mark.parametrize("u", [0.05, 0.3, 0.7, 1.0, 1.5, 2.5, 4.0])
def test_l4_mmse_against_quadrature(u):
    ref = integrate.quad(lambda x: np.cosh(u * u + u * x) ** -2 * stats.norm.pdf(x),
                         -30, 30, points=[-u], limit=500, epsabs=1e-15)[0]
    assert latent.binary_channel_mmse(u) == pytest.approx(ref, rel=1e-9, abs=1e-14)


def test_l4_mmse_monte_carlo():
    rng = np.random.default_rng(11)
    u = np.array([0.4, 1.0, 2.0])
    xi = rng.standard_normal((200_000, 1))
    samples = 1 - np.tanh(u * u + u * xi) ** 2
    mean, se = samples.mean(0), samples.std(0) / math.sqrt(xi.shape[0])
    assert np.all(np.abs(latent.binary_channel_mmse(u) - mean) <= 5 * se)


def test_l4_reduced_objective_matches_full_two_parameter_objective():
    # The full negative ELBO over encoder (m, s) with the Bayes decoder, computed by
    # direct quadrature in z, minimised over (m, s) at fixed u = m/s, equals J(u) + const.
    delta, sigma, beta = 2.0, 0.5, 3.0

    def full(m, s):
        def integrand(z):
            q1, q2 = stats.norm.pdf(z, m, s), stats.norm.pdf(z, -m, s)
            dec = delta / 2 * (q1 - q2) / (q1 + q2)
            return 0.5 * (q1 * (delta / 2 - dec) ** 2 + q2 * (-delta / 2 - dec) ** 2)
        rec = integrate.quad(integrand, m - 12 * s - 1, m + 12 * s + 1, limit=200)[0]
        kl = 0.5 * (m * m + s * s - 1 - math.log(s * s))
        return rec / (2 * sigma**2) + beta * kl

    for u in (0.3, 1.0, 2.0):
        res = optimize.minimize_scalar(lambda ls, u=u: full(u * math.exp(ls), math.exp(ls)),
                                       bounds=(-4, 2), method="bounded",
                                       options={"xatol": 1e-8})
        assert res.fun == pytest.approx(latent.collapse_objective(u, beta, delta, sigma),
                                        abs=1e-6)


def _argmin_j(beta, delta, sigma):
    grid = np.concatenate([[0.0], np.geomspace(1e-3, 12.0, 1500)])
    j = latent.collapse_objective(grid, beta, delta, sigma)
    i = int(np.argmin(j))
    if i == 0:
        return 0.0, j[0], j[0]
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
    res = optimize.minimize_scalar(lambda u: latent.collapse_objective(u, beta, delta, sigma),
                                   bounds=(lo, hi), method="bounded",
                                   options={"xatol": 1e-10})
    return float(res.x), float(res.fun), j[0]


@settings(max_examples=8)
@given(delta=st.floats(0.2, 5.0), sigma=st.floats(0.05, 2.0), below=st.floats(0.2, 0.9),
       above=st.floats(1.1, 5.0))
def test_l4_threshold_matches_direct_minimisation(delta, sigma, below, above):
    beta_star = latent.collapse_threshold(delta, sigma)
    u_lo, j_lo, j0 = _argmin_j(below * beta_star, delta, sigma)
    assert u_lo > 0.05 and j_lo < j0
    u_hi, _, _ = _argmin_j(above * beta_star, delta, sigma)
    assert u_hi == 0.0
    # bisection on beta for the point where the optimum moves to u = 0
    lo, hi = 0.5 * beta_star, 2.0 * beta_star
    for _ in range(12):
        mid = 0.5 * (lo + hi)
        u, j, j0 = _argmin_j(mid, delta, sigma)
        if u > 0 and j < j0 - 1e-14 * abs(j0):
            lo = mid
        else:
            hi = mid
    assert 0.5 * (lo + hi) == pytest.approx(beta_star, rel=0.02)


def test_l4_global_collapse_inequality_on_a_grid():
    # The proof's key step: E tanh^2(s + sqrt(s) xi) <= log(1 + s) for all s >= 0
    # (checked here via the computed g, independently of the elementary bound).
    s = np.geomspace(1e-4, 20.0, 4000)
    assert np.all(1 - latent.binary_channel_mmse(np.sqrt(s)) <= np.log1p(s))
    elementary = 1 - (1 + 2 * s) ** -0.5 * np.exp(-(s**2) / (1 + 2 * s))
    assert np.all(1 - latent.binary_channel_mmse(np.sqrt(s)) <= elementary + 1e-13)
    assert np.all(elementary <= np.log1p(s))


def test_l4_global_collapse_inequality_proof():
    # F(s) = log(1 + s) - 1 + G(s) >= 0, G(s) = (1 + 2s)^(-1/2) exp(-s^2 / (1 + 2s)),
    # proved in three pieces (docs/theory.md (Part L), L4).
    # (a) s in (0, 0.2]: F >= P(s), a polynomial from one-sided Taylor bounds; P/s^3 is
    #     5/6 at 0 and its smallest positive root lies beyond 0.2.
    s = sp.Symbol("s", positive=True)
    x = -s + sp.Rational(2, 3) * s**3 - 4 * s**4  # lower bound of log G
    poly = sp.Poly(sp.expand(((s - s**2 / 2 + s**3 / 3 - s**4 / 4) - 1
                              + (1 + x + x**2 / 2 + x**3 / 6)) / s**3), s)
    assert poly.eval(0) == sp.Rational(5, 6)
    assert all(r > sp.Rational(1, 5) for r in poly.real_roots() if r > 0)
    # (b) s in [0.2, e - 1]: log(1+s) increases and G decreases, so on each grid cell
    #     F >= log(1 + s_i) - 1 + G(s_{i+1}).
    grid = np.append(np.arange(0.2, math.e - 1, 1e-4), math.e - 1)
    g = (1 + 2 * grid) ** -0.5 * np.exp(-(grid**2) / (1 + 2 * grid))
    assert np.min(np.log1p(grid[:-1]) - 1 + g[1:]) > 1e-3
    # (c) s >= e - 1: E tanh^2 < 1 <= log(1 + s). Nothing to check.


def test_l4_threshold_paper_check_and_symbolic():
    assert latent.collapse_threshold(2.0, math.sqrt(0.1)) == pytest.approx(10.0)
    d, s = sp.symbols("d s", positive=True)
    assert sp.simplify(latent.collapse_threshold(d, s) - d**2 / (4 * s**2)) == 0
    u, b = sp.symbols("u b", positive=True)
    # the symbolic J holds g as an unevaluated Integral: evaluate it by scipy quadrature
    expr = latent.collapse_objective(u, b, d, s).subs({u: 0.8, b: 2.0, d: 1.5, s: 0.7})
    (integral,) = expr.atoms(sp.Integral)
    (xi,) = integral.variables
    g_int = integrate.quad(sp.lambdify(xi, integral.function), -np.inf, np.inf)[0]
    val = expr.subs(integral, g_int)
    assert float(val) == pytest.approx(latent.collapse_objective(0.8, 2.0, 1.5, 0.7), rel=1e-8)
    with pytest.raises(ValueError, match="sigma"):
        latent.collapse_threshold(1.0, 0.0)
    with pytest.raises(ValueError, match="beta"):
        latent.collapse_objective(0.5, -1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="u"):
        latent.collapse_objective(np.nan, 1.0, 1.0, 1.0)


@settings(max_examples=10)
@given(theta=st.floats(0.05, 5.0), beta=st.floats(0.2, 3.0), eta2=st.floats(0.1, 2.0))
def test_l4_linear_vae_collapse_by_direct_optimisation(theta, beta, eta2):
    # One direction of a linear VAE: x ~ N(0, theta), encoder N(e x, v), decoder w z,
    # loss E (x - w z)^2 / (2 eta2) + beta KL(N(e x, v) || N(0, 1)), minimised directly.
    ratio = theta / (beta * eta2)
    if 0.9 < ratio < 1.1:
        return

    def loss(p):
        w, e, lv = p
        v = math.exp(lv)
        rec = (theta * (1 - w * e) ** 2 + w * w * v) / (2 * eta2)
        return rec + beta * 0.5 * (e * e * theta + v - 1 - lv)

    best = min((optimize.minimize(loss, x0, method="BFGS", options={"gtol": 1e-10})
                for x0 in ([1.0, 1.0, 0.0], [2.0, 0.3, -1.0], [0.1, 0.1, 0.0])),
               key=lambda r: r.fun)
    collapsed = abs(best.x[0] * best.x[1]) < 1e-3
    assert collapsed == latent.collapsed_directions(theta, beta, eta2)


def test_l4_collapsed_directions_vectorised():
    out = latent.collapsed_directions(np.array([0.5, 1.0, 2.0]), np.array([[1.0], [0.4]]), 1.0)
    assert out.dtype == bool and out.tolist() == [[True, True, False], [False, False, False]]
    with pytest.raises(ValueError, match="decoder_noise_var"):
        latent.collapsed_directions(1.0, 1.0, -1.0)


# ------------------------------------------------- L4: any mode geometry, unequal weights

_Z = np.linspace(-12.0, 12.0, 2401)
_DZ = _Z[1] - _Z[0]


def _cvae_objective(centres, weights, mu, log_s, sigma, beta):
    """The CVAE objective of point modes on a line, 1-D latent, computed directly.

    Encoder N(mu_k, s_k^2) for mode k, prior N(0, 1), the Bayes decoder D(z) = E[a | z] on a
    z grid (trapezoid): E|a - D(z)|^2 / (2 sigma^2) + beta sum_k w_k KL_k. No closed form
    of the theory is used.
    """
    c, w, mu = np.asarray(centres, float), np.asarray(weights, float), np.asarray(mu, float)
    s = np.exp(np.broadcast_to(np.asarray(log_s, float), mu.shape))
    dens = np.exp(-0.5 * ((_Z[None, :] - mu[:, None]) / s[:, None]) ** 2) / (
        s[:, None] * math.sqrt(2 * math.pi))
    joint = w[:, None] * dens                                  # [K, z]
    qbar = joint.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        decoder = np.where(qbar > 0, (joint * c[:, None]).sum(0) / qbar, 0.0)
    recon = np.sum(joint * (c[:, None] - decoder[None, :]) ** 2) * _DZ / (2 * sigma**2)
    kl = np.sum(w * (mu**2 + s**2 - 1 - 2 * np.log(s)) / 2)
    return recon + beta * kl


def test_l4_local_threshold_four_collinear_modes():
    # THEORY.md (Additions): modes at -3, -1, 1, 3 (sigma = 1) have lambda_max(Cov_w) = 5
    # (by hand: (9 + 1 + 1 + 9) / 4); random geometries against numpy's weighted covariance.
    c = np.array([-3.0, -1.0, 1.0, 3.0])
    assert latent.collapse_threshold_local(c, 1.0) == pytest.approx(5.0, rel=1e-14)
    rng = np.random.default_rng(0)
    for _ in range(5):
        K, D = int(rng.integers(2, 6)), int(rng.integers(1, 4))
        pts, w = rng.normal(size=(K, D)) * 3, rng.dirichlet(np.ones(K))
        sigma = float(rng.uniform(0.3, 2))
        ref = np.linalg.eigvalsh(np.atleast_2d(np.cov(pts.T, aweights=w, bias=True)))[-1]
        assert latent.collapse_threshold_local(pts, sigma, w) == pytest.approx(
            ref / sigma**2, rel=1e-10)
    # two equal modes: Delta^2 / (4 sigma^2), the L4 threshold
    assert latent.collapse_threshold_local([0.0, 2.0], 0.5) == pytest.approx(
        latent.collapse_threshold(2.0, 0.5), rel=1e-14)


@pytest.mark.parametrize("centres, weights", [([-3.0, -1.0, 1.0, 3.0], None),
                                              ([0.0, 1.0, 4.0], [0.5, 0.3, 0.2])])
def test_l4_local_threshold_is_where_the_collapsed_latent_turns_unstable(centres, weights):
    # Direct evaluation of the objective: along the top direction mu = eps v (v_k the centred
    # centre, the top eigenvector in weighted coordinates), collapse loses at 0.9 beta_loc;
    # at 1.1 beta_loc no small move of the means and of the variances improves on it.
    c = np.asarray(centres)
    w = np.full(c.size, 1 / c.size) if weights is None else np.asarray(weights)
    beta_loc = latent.collapse_threshold_local(c, 1.0, weights)
    v = c - w @ c
    v /= np.linalg.norm(v)
    j0 = _cvae_objective(c, w, np.zeros(c.size), 0.0, 1.0, 0.9 * beta_loc)
    assert _cvae_objective(c, w, 0.05 * v, 0.0, 1.0, 0.9 * beta_loc) < j0 - 1e-7
    rng = np.random.default_rng(1)
    j0 = _cvae_objective(c, w, np.zeros(c.size), 0.0, 1.0, 1.1 * beta_loc)
    for direction in [v, *rng.normal(size=(6, c.size))]:
        direction = direction / np.linalg.norm(direction)
        for log_s in (-0.02, 0.0, 0.02):
            assert _cvae_objective(c, w, 0.05 * direction, log_s, 1.0, 1.1 * beta_loc) > j0


def _best_objective(w1, beta, starts=6):
    rng = np.random.default_rng(2)
    c, w = np.array([-1.0, 1.0]), np.array([w1, 1 - w1])
    best = _cvae_objective(c, w, np.zeros(2), 0.0, 1.0, beta)
    for _ in range(starts):
        x0 = [rng.uniform(0.3, 3), -rng.uniform(0.3, 3), rng.uniform(-2, 0), rng.uniform(-2, 0)]
        res = optimize.minimize(lambda x: _cvae_objective(c, w, x[:2], x[2:], 1.0, beta), x0,
                                method="Nelder-Mead",
                                options={"xatol": 1e-7, "fatol": 1e-12, "maxiter": 2000})
        best = min(best, res.fun)
    return best


@pytest.mark.parametrize("w1", [0.6, 0.7])
def test_l4_unequal_weights_threshold_by_direct_minimisation(w1):
    # Two modes 2 apart (sigma = 1), encoder means and variances per mode minimised from
    # several starts: collapse is beaten at 0.95 beta*, optimal at 1.05 beta*.
    beta_star = latent.collapse_threshold(2.0, 1.0, weights=[w1, 1 - w1])
    assert beta_star == pytest.approx(4 * w1 * (1 - w1), rel=1e-14)
    c, w = np.array([-1.0, 1.0]), np.array([w1, 1 - w1])
    j0 = _cvae_objective(c, w, np.zeros(2), 0.0, 1.0, 0.95 * beta_star)
    assert _best_objective(w1, 0.95 * beta_star, starts=2) < j0 - 1e-5
    j0 = _cvae_objective(c, w, np.zeros(2), 0.0, 1.0, 1.05 * beta_star)
    assert _best_objective(w1, 1.05 * beta_star) >= j0 - 1e-12


def test_l4_unequal_weights_beyond_the_range_jump_and_are_refused():
    # w1 = 0.9 (w1 w2 = 0.09 < 1/5): a non-collapsed encoder still wins at 1.1 x the local
    # value, so the closed form would be wrong there: collapse_threshold refuses, naming
    # where to get the value.
    c, w = np.array([-1.0, 1.0]), np.array([0.9, 0.1])
    beta_loc = latent.collapse_threshold_local(c, 1.0, w)
    assert beta_loc == pytest.approx(0.36, rel=1e-12)
    j0 = _cvae_objective(c, w, np.zeros(2), 0.0, 1.0, 1.1 * beta_loc)
    assert _best_objective(0.9, 1.1 * beta_loc) < j0 - 1e-3
    with pytest.raises(ValueError, match="collapse_threshold_local"):
        latent.collapse_threshold(2.0, 1.0, weights=[0.9, 0.1])
    with pytest.raises(ValueError, match="^weights must"):
        latent.collapse_threshold(2.0, 1.0, weights=[0.2, 0.3, 0.5])
    with pytest.raises(ValueError, match="^centres must"):
        latent.collapse_threshold_local([1.0], 1.0)
    with pytest.raises(ValueError, match="^weights must have one weight per centre"):
        latent.collapse_threshold_local([0.0, 1.0, 2.0], 1.0, [0.5, 0.5])


@given(st.lists(st.floats(-50, 50), min_size=2, max_size=6, unique=True),
       st.floats(0.1, 10.0), st.floats(-100, 100), st.floats(0.01, 100.0))
def test_l4_local_threshold_transforms_like_a_variance(points, sigma, shift, scale):
    c = np.asarray(points)
    if np.ptp(c) < 1e-6:
        return
    base = latent.collapse_threshold_local(c, sigma)
    assert base > 0
    assert latent.collapse_threshold_local(c + shift, sigma) == pytest.approx(base, rel=1e-8)
    assert latent.collapse_threshold_local(c * scale, sigma * scale) == pytest.approx(
        base, rel=1e-9)
    assert latent.collapse_threshold_local(c[::-1], sigma) == pytest.approx(base, rel=1e-12)
    assert latent.collapse_threshold_local(np.column_stack([c, 0 * c]), sigma) == \
        pytest.approx(base, rel=1e-12)


# ----------------------------------------------------------------------------- L5


@given(kl=st.floats(1e-4, 8.0), m=st.floats(0.01, 1.0))
def test_l5_coverage_against_brute_force(kl, m):
    c = latent.min_prior_coverage(kl, m)
    # brute force: Brent on log c, where kl_bin(m || e^y) is monotone for e^y <= m
    f = lambda y: kl_bin(m, math.exp(y)) - kl  # noqa: E731
    lo = -700.0
    ref = 0.0 if f(lo) < 0 else math.exp(optimize.brentq(f, lo, math.log(m), xtol=1e-13))
    assert c == pytest.approx(ref, rel=1e-8, abs=1e-300)


@settings(max_examples=20)
@given(mu=st.floats(0.05, 3.0), t=st.floats(-3.0, 3.0))
def test_l5_coverage_on_gaussians(mu, t):
    # qbar = N(mu, 1), p = N(0, 1): KL = mu^2 / 2; C = {z > t}.
    kl = mu * mu / 2
    post, prior = stats.norm.sf(t - mu), stats.norm.sf(t)
    assert prior >= latent.min_prior_coverage(kl, post) - 1e-12
    assert abs(post - prior) <= latent.prior_tv_bound(kl) + 1e-12


def test_l5_coverage_monte_carlo_and_tightness():
    rng = np.random.default_rng(3)
    mu, t, n = 1.5, 0.5, 100_000
    c_star = latent.min_prior_coverage(mu * mu / 2, stats.norm.sf(t - mu))
    hits = int(np.sum(rng.standard_normal(n) > t))
    low, high = clopper_pearson(hits, n)
    assert high >= c_star
    # tight: binary p, qbar with qbar(C) = m, p(C) = c* have KL exactly the budget
    m, kl = 0.9, 0.7
    c = latent.min_prior_coverage(kl, m)
    assert kl_bin(m, c) == pytest.approx(kl, rel=1e-10)
    assert latent.min_prior_coverage(2.0, 1.0) == pytest.approx(math.exp(-2.0), rel=1e-12)


def test_l5_tv_bound_on_gaussians_and_symbolic():
    for mu, s in ((0.5, 1.0), (2.0, 0.5), (3.0, 3.0)):
        kl = kl_gauss(mu, s, 0, 1)
        assert tv_gauss(mu, s, 0, 1) <= latent.prior_tv_bound(kl) + 1e-9
    x = sp.Symbol("x", nonnegative=True)
    for v in (0.1, 1.0, 2.5):
        assert float(latent.prior_tv_bound(x).subs(x, v)) == pytest.approx(
            latent.prior_tv_bound(v))
    ks = np.array([0.0, 0.5, 2.0])
    assert np.allclose(latent.prior_tv_bound(ks), np.minimum(np.sqrt(ks / 2),
                                                             np.sqrt(1 - np.exp(-ks))))
    out = latent.min_prior_coverage(np.array([[0.1], [1.0]]), np.array([0.5, 0.9, 1.0]))
    assert out.shape == (2, 3) and np.all(np.diff(out, axis=0) < 0)
    with pytest.raises(ValueError, match="posterior_mass"):
        latent.min_prior_coverage(0.1, 1.1)
    with pytest.raises(ValueError, match="marginal_kl"):
        latent.prior_tv_bound(-1.0)
    with pytest.raises(TypeError, match="no closed form"):
        latent.min_prior_coverage(x, 0.5)


# ----------------------------------------------------------------------------- ACT


def test_act_conversion_aloha_and_round_trip():
    assert latent.act_effective_kl_weight(10, 100, 14) == 14_000
    w = np.array([0.1, 1.0, 10.0])
    back = latent.act_kl_weight(latent.act_effective_kl_weight(w, 50, 7, 0.5), 50, 7, 0.5)
    assert np.allclose(back, w)
    # Independent check of the convention: ACT's loss times H d / b is the Laplace
    # negative log-likelihood (minus its constant) plus beta_eff KL.
    rng = np.random.default_rng(0)
    h, d, b, kl_w, kl = 5, 3, 0.7, 10.0, 0.37
    a, pred = rng.normal(size=(h, d)), rng.normal(size=(h, d))
    act_loss = np.abs(a - pred).mean() + kl_w * kl
    nll = -stats.laplace.logpdf(a, pred, b).sum() - h * d * math.log(2 * b)
    beta = latent.act_effective_kl_weight(kl_w, h, d, b)
    assert act_loss * h * d / b == pytest.approx(nll + beta * kl, rel=1e-12)
    with pytest.raises(ValueError, match="chunk_length"):
        latent.act_effective_kl_weight(10, 2.5, 14)
    with pytest.raises(ValueError, match="action_dim"):
        latent.act_kl_weight(10, 100, 0)
    hs = sp.Symbol("H")
    assert latent.act_effective_kl_weight(10, hs, 14).subs(hs, 100) == 14_000


# ----------------------------------------------------------------------------- L6


def test_l6_decoder_mode_mass_closed_form_and_monte_carlo():
    lip, delta = 1.5, 2.0
    bound = latent.decoder_max_mode_mass(lip, delta)
    assert bound == pytest.approx(stats.norm.cdf(-delta / (2 * lip)), rel=1e-12)
    k = 3
    assert latent.decoder_max_mode_mass(lip, delta, n_modes=k) == pytest.approx(
        stats.norm.cdf(stats.norm.ppf(1 / k) - delta / (2 * lip)), rel=1e-12)
    # The clip decoder D(z) = clip(L z_1, -Delta/2, Delta/2) attains the two-mode limit.
    rng = np.random.default_rng(5)
    n = 200_000
    a = np.clip(lip * rng.standard_normal(n), -delta / 2, delta / 2)
    low, high = clopper_pearson(int(np.sum(a >= delta / 2)), n)
    assert low <= bound <= high
    # output noise: (z, eps) -> D(z) + s eps is sqrt(L^2 + s^2)-Lipschitz
    assert latent.decoder_max_mode_mass(lip, delta, output_noise_std=0.5) == pytest.approx(
        stats.norm.cdf(-delta / (2 * math.hypot(lip, 0.5))), rel=1e-12)
    with pytest.raises(ValueError, match="output_noise_std"):
        latent.decoder_max_mode_mass(1.0, 1.0, output_noise_std=-1.0)


def test_public_names_exported():
    for name in latent.__all__:
        assert getattr(theory, name) is getattr(latent, name)


# ----------------------------------------------------------------------------- API


def test_exact_curve_relative_accuracy_against_mpmath():
    import mpmath

    eps = np.array([1e-250, 1e-40, 1e-12, 1e-3, 0.2, 0.6, 0.69, math.log(2) - 1e-9])
    with mpmath.workdps(400):  # the textbook form cancels: 400 digits cover t ~ 1e-125
        for e, t in zip(eps, latent.kl_tv_bound_exact(eps), strict=True):
            t = mpmath.mpf(t)
            f = ((1 + t) * mpmath.log1p(t) + (1 - t) * mpmath.log1p(-t)) / 2
            assert float(abs(f - e) / e) < 1e-12


ARRAY_CASES = [
    (latent.kl_tv_bound, lambda r: (r.uniform(0, 2, 7),)),
    (latent.kl_tv_bound_exact, lambda r: (r.uniform(0, 1, 7),)),
    (latent.min_kl_for_tv, lambda r: (r.uniform(0, 1, 7),)),
    (latent.prior_tv_bound, lambda r: (r.uniform(0, 3, 7),)),
    (latent.mode_recovery_accuracy, lambda r: (r.uniform(0, 1, 7),)),
    (latent.mode_averaging_distance, lambda r: (r.uniform(0.1, 3, 7), r.uniform(0, 1, 7))),
    (latent.min_prior_coverage, lambda r: (r.uniform(0, 3, 7), r.uniform(0, 1, 7))),
    (latent.collapse_threshold, lambda r: (r.uniform(0.1, 3, 7), r.uniform(0.1, 2, 7))),
    (latent.binary_channel_mmse, lambda r: (r.uniform(-4, 4, 7),)),
    (latent.collapse_objective, lambda r: (r.uniform(0, 3, 7), r.uniform(0, 5, 7),
                                           r.uniform(0.1, 3, 7), r.uniform(0.1, 2, 7))),
    (latent.rate_decomposition, lambda r: (np.full(7, 2.0), r.uniform(0, 2, 7))),
    (latent.act_effective_kl_weight, lambda r: (r.uniform(0, 20, 7), 100, 14)),
    (latent.decoder_max_mode_mass, lambda r: (r.uniform(0.2, 3, 7), r.uniform(0.2, 3, 7))),
]


@pytest.mark.parametrize("fn,make", [pytest.param(f, m, id=f.__name__) for f, m in ARRAY_CASES])
def test_array_input_matches_scalar_calls(fn, make):
    args = make(np.random.default_rng(1))
    out = fn(*args)
    assert isinstance(out, np.ndarray) and out.shape == (7,)
    for i in range(7):
        scalar = fn(*(a[i] if isinstance(a, np.ndarray) else a for a in args))
        assert isinstance(scalar, float)
        assert scalar == pytest.approx(out[i], rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("fn", [latent.kl_tv_bound, latent.prior_tv_bound,
                                latent.binary_channel_mmse])
def test_non_numeric_input_is_a_type_error(fn):
    with pytest.raises(TypeError):
        fn("abc")
    with pytest.raises(TypeError):
        fn(True)


def test_coverage_relative_accuracy_against_mpmath():
    import mpmath

    with mpmath.workdps(50):
        for kl, m in [(1e-8, 0.3), (1e-8, 0.999999), (0.3, 0.99), (30.0, 0.3), (30.0, 1.0)]:
            big_m, big_k = mpmath.mpf(m), mpmath.mpf(kl)

            def excess(y, big_m=big_m, big_k=big_k, m=m):  # kl_bin(m || e^y) - KL
                tail = (1 - big_m) * mpmath.log((1 - big_m) / (1 - mpmath.e**y)) if m < 1 else 0
                return big_m * (mpmath.log(big_m) - y) + tail - big_k

            lo, hi = mpmath.log(big_m) - 400, mpmath.log(big_m)
            for _ in range(200):  # bisection on log c: the root to 400 / 2^200
                mid = (lo + hi) / 2
                lo, hi = (mid, hi) if excess(mid) > 0 else (lo, mid)
            assert latent.min_prior_coverage(kl, m) == pytest.approx(float(mpmath.e**hi),
                                                                     rel=1e-12)

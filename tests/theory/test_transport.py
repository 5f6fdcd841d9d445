"""Tests of theory.transport (Part T) against independent computations.

References used here, none of them the code under test: the numbers THEORY.md states
(measured independently before this code existed), mpmath at 50 digits, closed forms
re-derived in the test, direct optimisation/quadrature with scipy.integrate.quad and
brute-force grids, scipy.stats.wasserstein_distance, and Monte Carlo with
Clopper-Pearson intervals (seeds fixed in each test). Property-based tests with random
Lipschitz maps are in test_transport_properties.py.
"""

import math
import subprocess
import sys

import mpmath
import numpy as np
import pytest
import sympy
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate, linalg, optimize, special, stats
from scipy.optimize import elementwise

import theory
from theory import transport as T

mpmath.mp.dps = 50
CONF = 1 - 1e-6


def cp_interval(k: int, n: int) -> tuple[float, float]:
    ci = stats.binomtest(int(k), int(n)).proportion_ci(confidence_level=CONF, method="exact")
    return ci.low, ci.high


# ------------------------------------------------------------------ T2 values and tails


def test_two_mode_limit_values_and_clip_map_monte_carlo():
    # THEORY.md: the clip map's mode mass matches Phi(-Delta/(2L)) (seed 0, n = 400k).
    rng = np.random.default_rng(0)
    x = rng.standard_normal(400_000)
    for L, delta in [(1.0, 2.0), (0.5, 1.0), (2.0, 1.0)]:
        y = np.clip(L * x, -delta / 2, delta / 2)
        lo, hi = cp_interval(np.sum(y >= delta / 2), x.size)
        assert lo <= T.max_mode_mass(L, delta) <= hi
    assert T.max_mode_mass(1.0, 2.0) == pytest.approx(0.15865525393145707, rel=1e-15)


@pytest.mark.parametrize("ratio", [0.1, 1.0, 10.0, 40.0, 74.0])
def test_max_mode_mass_exact_to_double_precision(ratio):
    exact = mpmath.ncdf(-mpmath.mpf(ratio) / 2)
    assert T.max_mode_mass(1.0, ratio) == pytest.approx(float(exact), rel=4e-15)
    assert T.max_mode_mass(1.0, np.array([ratio]))[0] == pytest.approx(float(exact), rel=4e-15)
    assert T.log_max_mode_mass(1.0, ratio) == pytest.approx(float(mpmath.log(exact)), rel=1e-14)


def test_log_form_where_the_plain_one_underflows():
    exact = float(mpmath.log(mpmath.ncdf(-40)))   # Delta/L = 80
    assert T.max_mode_mass(1.0, 80.0) == 0.0
    assert T.log_max_mode_mass(1.0, 80.0) == pytest.approx(exact, rel=1e-14)
    assert T.log_max_mode_mass(0.5, 40.0) == pytest.approx(exact, rel=1e-14)


def test_k_mode_upper_bound_values():
    # THEORY.md, T3 at K = 3, Delta/L = 1, 2, 4: upper 0.176 / 0.076 / 0.0075.
    np.testing.assert_allclose(T.max_mode_mass(1.0, np.array([1.0, 2.0, 4.0]), 3),
                               [0.176, 0.076, 0.0075], atol=6e-4)
    q = stats.norm.ppf(1 / 5)
    assert T.max_mode_mass(2.0, 3.0, 5) == pytest.approx(stats.norm.cdf(q - 0.75), rel=1e-12)


def test_limits_in_L():
    assert T.max_mode_mass(math.inf, 3.0) == 0.5
    assert T.max_mode_mass(math.inf, 3.0, 4) == pytest.approx(0.25, rel=1e-15)
    assert T.max_mode_mass(1e-3, 3.0) == 0.0
    assert T.max_mode_mass(1e9, 3.0) == pytest.approx(0.5, rel=1e-8)
    assert T.min_bridge_mass(math.inf, 2.0) == 0.0
    assert T.min_bridge_mass(1e-3, 2.0) == 1.0


def test_frontier_equality_case_shifted_clip_map():
    # Clip map with threshold c: m1 = Phi((c - D/2)/L), m2 = Phi(-(c + D/2)/L) exactly.
    rng = np.random.default_rng(1)
    x = rng.standard_normal(400_000)
    L, delta, c = 0.8, 1.5, 0.4
    y = np.clip(L * x - c, -delta / 2, delta / 2)
    m1 = stats.norm.cdf((c - delta / 2) / L)
    lo, hi = cp_interval(np.sum(y >= delta / 2), x.size)
    assert lo <= T.mode_mass_frontier(m1, L, delta) <= hi
    assert T.mode_mass_frontier(m1, L, delta) == pytest.approx(
        stats.norm.cdf(-(c + delta / 2) / L), rel=1e-12)
    assert T.mode_mass_frontier(0.0, 1.0, 1.0) == 1.0
    assert T.mode_mass_frontier(1.0, 1.0, 1.0) == 0.0


def test_min_lipschitz_round_trip_and_values():
    m = np.array([1e-12, 1e-4, 0.01, 0.2, 0.3, 0.49])
    for K in (2, 3):
        mm = m[m <= 1 / K]
        L = T.min_lipschitz(mm, 2.0, K)
        np.testing.assert_allclose(T.max_mode_mass(L, 2.0, K), mm, rtol=1e-10)
    assert T.min_lipschitz(0.0, 2.0) == 0.0
    assert T.min_lipschitz(0.5, 2.0) == math.inf
    assert T.min_lipschitz(0.5, 0.0) == 0.0
    assert T.min_lipschitz(0.1, 2.0) == pytest.approx(2.0 / (2 * stats.norm.ppf(0.9)))


# --------------------------------------------------------------------------- T3


def test_achievable_mode_mass_matches_theory_numbers_and_quad():
    got = T.achievable_mode_mass(1.0, np.array([1.0, 2.0, 4.0]), 3)
    np.testing.assert_allclose(got, [0.163, 0.063, 0.0040], atol=6e-4)
    for K, ratio in [(3, 1.0), (4, 2.0), (8, 0.5), (5, 6.0)]:
        c = ratio / math.sqrt(2)
        ref, _ = integrate.quad(lambda g, c=c, K=K: stats.norm.pdf(g) * stats.norm.cdf(g - c)
                                ** (K - 1), -np.inf, np.inf, epsabs=1e-14, epsrel=1e-12)
        assert T.achievable_mode_mass(1.0, ratio, K) == pytest.approx(ref, rel=1e-8)
    assert T.achievable_mode_mass(1.0, 2.0, 2) == pytest.approx(T.max_mode_mass(1.0, 2.0),
                                                                rel=1e-12)
    assert np.all(got <= T.max_mode_mass(1.0, np.array([1.0, 2.0, 4.0]), 3))


@pytest.mark.parametrize("K, ratio", [(3, 1.0), (3, 2.0), (4, 1.5)])
def test_simplex_construction_by_monte_carlo(K, ratio):
    # Regular simplex in R^{K-1}: cells {x : <x, u_kj> >= eps for all j}, u_kj unit normal
    # of the facet between cones k and j; eps = Delta/(2L). Each cell has the claimed mass
    # and any two cells are >= 2 eps = Delta/L apart (so an L-Lipschitz map exists).
    eps = ratio / 2
    basis = linalg.null_space(np.ones((1, K)))          # K x (K-1), orthonormal
    vertices = np.eye(K) @ basis                        # regular simplex in R^{K-1}
    rng = np.random.default_rng(7)
    x = rng.standard_normal((200_000, K - 1))
    label = np.full(x.shape[0], -1)
    for k in range(K):
        ok = np.ones(x.shape[0], bool)
        for j in range(K):
            if j != k:
                u = (vertices[k] - vertices[j]) / np.linalg.norm(vertices[k] - vertices[j])
                ok &= x @ u >= eps
        label[ok] = k
    bound = T.achievable_mode_mass(1.0, ratio, K)
    for k in range(K):
        lo, hi = cp_interval(np.sum(label == k), x.shape[0])
        assert lo <= bound <= hi
    a, b = x[label == 0][:400], x[label == 1][:400]
    gaps = np.linalg.norm(a[:, None] - b[None], axis=-1)
    assert gaps.min() >= 2 * eps - 1e-12


def test_weighted_coverage_two_modes_is_the_frontier():
    for w1, L, delta in [(0.5, 1.0, 2.0), (0.3, 0.7, 1.5), (0.05, 2.0, 4.0)]:
        w = (w1, 1 - w1)
        t = T.max_weighted_coverage(L, delta, w)
        # defining equation, checked with scipy.stats.norm
        assert stats.norm.ppf(t * w[0]) + stats.norm.ppf(t * w[1]) == pytest.approx(
            -delta / L, abs=1e-9)
        # attained: shifted clip map with masses t w1 and t w2 (Monte Carlo, seed 2)
        c = L * stats.norm.ppf(t * w[0]) + delta / 2
        x = np.random.default_rng(2).standard_normal(300_000)
        y = np.clip(L * x - c, -delta / 2, delta / 2)
        for count, target in [(np.sum(y <= -delta / 2), t * w[0]),
                              (np.sum(y >= delta / 2), t * w[1])]:
            lo, hi = cp_interval(count, x.size)
            assert lo <= target <= hi
    assert T.max_weighted_coverage(1.0, 0.0, (0.4, 0.6)) == 1.0
    assert T.max_weighted_coverage(1.0, 2.0, (0.5, 0.5)) == pytest.approx(
        2 * T.max_mode_mass(1.0, 2.0), rel=1e-12)


def _symmetric_root(L, S, w):
    # THEORY.md's T3 with r_k = min_j Delta_kj / (2L), solved by brentq in t.
    K = len(w)
    r = np.min(np.where(np.eye(K, dtype=bool), np.inf, S), axis=1) / (2 * L)
    f = lambda t: np.sum(stats.norm.cdf(stats.norm.ppf(t * w) + r)) - 1  # noqa: E731
    return optimize.brentq(f, 1e-300, 1 / np.max(w) * (1 - 1e-15), xtol=1e-15)


def test_weighted_coverage_many_modes_never_worse_than_symmetric_r():
    rng = np.random.default_rng(11)
    for _ in range(6):
        K = int(rng.integers(3, 6))
        pts = rng.standard_normal((K, 2)) * 2
        S = np.linalg.norm(pts[:, None] - pts[None], axis=-1)
        w = rng.uniform(0.1, 1, K)
        w /= w.sum()
        L = float(rng.uniform(0.3, 3))
        t = T.max_weighted_coverage(L, S, w)
        assert t <= _symmetric_root(L, S, w) * (1 + 1e-9)
        assert 0 < t <= 1 / w.max()
    # equal weights, equal separation: t*/K is the K-mode bound (symmetric r is optimal
    # here) and lies above the construction
    for ratio in (1.0, 2.0, 4.0):
        t = T.max_weighted_coverage(1.0, ratio, np.full(3, 1 / 3))
        assert t / 3 == pytest.approx(T.max_mode_mass(1.0, ratio, 3), rel=1e-9)
        assert t / 3 >= T.achievable_mode_mass(1.0, ratio, 3)


def test_weighted_coverage_strictly_improves_on_symmetric_r_somewhere():
    # Unequal separations: one mode far from the others. The optimised r must beat the
    # symmetric choice (our extension has content), and stay a valid bound: it must be >=
    # what a feasible configuration attains. Feasible here: a 1-D noise pushed along a path
    # M1 -> M2 -> M3 in the plane (|M1 M2| = 1, |M2 M3| = |M1 M3| = 6) at speed L, resting
    # on each mode on an interval of the noise; its masses are exact Gaussian interval
    # masses, and the plateau ends are searched on a grid for the best min_k m_k / w_k.
    # At L = 4 that path attains 91% of the bound (at L = 1 only 2%: too weak a check).
    S = np.array([[0, 1, 6], [1, 0, 6], [6, 6, 0]], float)
    w = np.array([0.25, 0.25, 0.5])
    assert T.max_weighted_coverage(1.0, S, w) < _symmetric_root(1.0, S, w) * (1 - 1e-3)
    L = 4.0
    t = T.max_weighted_coverage(L, S, w)
    a = np.linspace(-3, 2, 801)[:, None]            # M1 on (-inf, a]
    b = np.linspace(-3, 3, 801)[None, :]            # M2 on [a + 1/L, b]; M3 on [b + 6/L, inf)
    m1 = stats.norm.cdf(a) + 0 * b
    m2 = np.clip(stats.norm.cdf(b) - stats.norm.cdf(a + 1 / L), 0, None)
    m3 = stats.norm.sf(b + 6 / L) + 0 * a
    attained = np.max(np.minimum(np.minimum(m1 / w[0], m2 / w[1]), m3 / w[2]))
    assert 0.85 * t < attained <= t


# --------------------------------------------------------------------------- T4


def test_bridge_balanced_closed_form_and_clip_map():
    for L, delta in [(1.0, 2.0), (0.5, 1.0), (3.0, 1.0)]:
        b = T.min_bridge_mass(L, delta)
        assert b == pytest.approx(2 * stats.norm.cdf(delta / (2 * L)) - 1, rel=1e-12)
        x = np.random.default_rng(3).standard_normal(300_000)
        y = np.clip(L * x, -delta / 2, delta / 2)
        lo, hi = cp_interval(np.sum(np.abs(y) < delta / 2), x.size)
        assert lo <= b <= hi


def test_bridge_given_m1_by_quadrature_and_the_attaining_map():
    # Independent of the closed form: the T2 frontier is attained by half-lines, so the least
    # bridge given m1 is the Gaussian mass of the gap [a, a + Delta/L] between them,
    # a = Phi^{-1}(m1), integrated here by adaptive quadrature of the density; and the
    # shifted clip map with mode-1 mass m1 has that bridge mass (Monte Carlo, seed 3).
    x = np.random.default_rng(3).standard_normal(300_000)
    for m1 in (1e-6, 0.1, 0.5, 0.93):
        for L, delta in [(1.0, 2.0), (0.3, 5.0)]:
            a = stats.norm.ppf(m1)
            gap = integrate.quad(stats.norm.pdf, a, a + delta / L, epsabs=1e-15,
                                 epsrel=1e-12)[0]
            assert T.min_bridge_mass(L, delta, m1=m1) == pytest.approx(gap, rel=1e-9,
                                                                      abs=1e-15)
            y = np.clip(L * (x - a) - delta / 2, -delta / 2, delta / 2)   # mode 1: x <= a
            lo, hi = cp_interval(np.sum(np.abs(y) < delta / 2), x.size)
            assert lo <= T.min_bridge_mass(L, delta, m1=m1) <= hi
    assert T.min_bridge_mass(1.0, 2.0, m1=0.0) == 0.0
    assert T.min_bridge_mass(1.0, 2.0, m1=1.0) == 0.0
    # balanced coverage is the m1 = (1 - b)/2 case
    b = T.min_bridge_mass(1.0, 2.0)
    assert T.min_bridge_mass(1.0, 2.0, m1=(1 - b) / 2) == pytest.approx(b, rel=1e-9)


def test_bridge_inverse_round_trip():
    b = np.array([1e-10, 1e-3, 0.2, 0.7, 0.999])
    L = T.min_lipschitz_for_bridge(b, 2.0)
    np.testing.assert_allclose(T.min_bridge_mass(L, 2.0), b, rtol=1e-9)
    assert T.min_lipschitz_for_bridge(0.0, 2.0) == math.inf
    assert T.min_lipschitz_for_bridge(1.0, 2.0) == 0.0
    assert T.min_lipschitz_for_bridge(0.3, 0.0) == 0.0
    assert np.all(np.diff(L) < 0)


# --------------------------------------------------------------------------- T5


def _clip_map_w1(L, delta, seed=5, n=200_000):
    x = np.random.default_rng(seed).standard_normal(n)
    policy = np.clip(L * x, -delta / 2, delta / 2)
    return stats.wasserstein_distance(policy, [-delta / 2, delta / 2], v_weights=[0.5, 0.5])


def test_wasserstein_values_and_clip_map():
    # THEORY.md: Delta = 2, equal weights: bound 0.400/0.305/0.184; the clip map's W1 is
    # 2 Phi(1/L) + 2 L (phi(1/L) - phi(0)) - 1 = 0.6095/0.3687/0.1954 (the Additions; the
    # 0.607/0.367/0.194 stated first were rounded low), checked here by sampling.
    Ls = np.array([0.5, 1.0, 2.0])
    np.testing.assert_allclose(T.wasserstein_lower_bound(Ls, 2.0), [0.400, 0.305, 0.184],
                               atol=6e-4)
    exact = 2 * stats.norm.cdf(1 / Ls) + 2 * Ls * (stats.norm.pdf(1 / Ls) - stats.norm.pdf(0)) - 1
    np.testing.assert_allclose(exact, [0.6095, 0.3687, 0.1954], atol=6e-5)
    clip = [_clip_map_w1(L, 2.0) for L in Ls]
    np.testing.assert_allclose(clip, exact, atol=4e-3)
    assert np.all(T.wasserstein_lower_bound(Ls, 2.0) <= exact)


def _deficit_brute(w, s):
    # min over the frontier (n1, f(n1)) of sum (w_k - n_k)_+ on a grid that contains both
    # candidate ends (n1 = w1 and n2 = w2); s: [R] separations -> [R] deficits.
    s = np.asarray(s)[:, None]
    n1 = np.concatenate([np.linspace(0, 1, 2001)[None, :].repeat(s.shape[0], 0),
                         np.full_like(s, w[0]),
                         special.ndtr(-special.ndtri(w[1]) - s)], axis=1)
    n2 = special.ndtr(-special.ndtri(n1) - s)
    return np.min(np.maximum(w[0] - n1, 0) + np.maximum(w[1] - n2, 0), axis=1)


@pytest.mark.parametrize("w1, L, delta, p", [(0.5, 1.0, 2.0, 1), (0.3, 0.6, 1.5, 1),
                                             (0.5, 1.0, 2.0, 2), (0.2, 1.3, 3.0, 3.5)])
def test_wasserstein_against_brute_force_integral(w1, L, delta, p):
    w = (w1, 1 - w1)
    rho = np.linspace(0, delta / 2, 1201)
    ref = integrate.simpson(p * rho ** (p - 1) * _deficit_brute(w, (delta - 2 * rho) / L), x=rho)
    assert T.wasserstein_lower_bound(L, delta, w, p) == pytest.approx(ref ** (1 / p), rel=1e-7)


def test_enlargement_deficit_reduces_to_the_two_mode_deficit():
    # The vertex enumeration used for K >= 3, run at K = 2, must equal the brute-force
    # frontier minimum (all splits r1 + r2 = s are equivalent at K = 2).
    for w1 in (0.5, 0.3, 0.05):
        for s in (0.1, 1.0, 3.0):
            w = np.array([w1, 1 - w1])
            got = T._enlargement_deficit(w, np.array([s / 2, s / 2]))
            assert got == pytest.approx(_deficit_brute(w, [s])[0], rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("L", [0.5, 1.0, 3.0])
def test_wasserstein_many_modes_below_a_staircase_map(L):
    # Three collinear point modes -D, 0, D and an L-Lipschitz staircase map onto them
    # (np.interp with slope L between plateaus); its exact 1-D W1 to the demonstrator
    # (scipy.stats.wasserstein_distance) must be >= the bound, for the matrix separation
    # and for the scalar (minimum) separation alike.
    D, w = 2.0, np.array([0.3, 0.3, 0.4])
    a1 = stats.norm.ppf(w[0]) - D / (2 * L)
    a2 = max(stats.norm.ppf(w[0] + w[1]) - D / (2 * L), a1 + D / L)
    x = np.random.default_rng(9).standard_normal(200_000)
    y = np.interp(x, [a1, a1 + D / L, a2, a2 + D / L], [-D, 0, 0, D])
    w1 = stats.wasserstein_distance(y, [-D, 0, D], v_weights=w)
    S = np.array([[0, D, 2 * D], [D, 0, D], [2 * D, D, 0]])
    by_matrix = T.wasserstein_lower_bound(L, S, w)
    by_scalar = T.wasserstein_lower_bound(L, D, w)
    # the matrix has the larger separations: at least the scalar bound (to rounding)
    assert 0 < by_scalar <= by_matrix * (1 + 1e-9) and by_matrix <= w1
    assert T.wasserstein_lower_bound(math.inf, D, w) == 0.0
    with pytest.raises(ValueError, match="separation"):
        T.wasserstein_lower_bound(L, S[:2, :2], w)


# --------------------------------------------------------------------------- T6


def test_flow_bounds_on_linear_fields():
    rng = np.random.default_rng(4)
    h = np.full(10, 0.1)
    for _ in range(5):
        A = rng.standard_normal((3, 3))
        lip = np.linalg.norm(A, 2)
        euler = np.linalg.multi_dot([np.eye(3) + 0.1 * A] * 10)
        assert np.linalg.norm(euler, 2) <= T.flow_lipschitz_bound(np.full(10, lip), h) + 1e-12
        flow = linalg.expm(A)
        assert np.linalg.norm(flow, 2) <= T.flow_lipschitz_bound(np.full(10, lip), h,
                                                                 "gronwall") + 1e-12
        mu = np.linalg.eigvalsh((A + A.T) / 2).max()
        one_sided = T.flow_lipschitz_bound(np.full(10, mu), h, "one_sided")
        assert np.linalg.norm(flow, 2) <= one_sided + 1e-12
        assert one_sided <= T.flow_lipschitz_bound(np.full(10, lip), h, "gronwall")
    # tight for v = a x: Euler (1 + h a)^n, flow e^a; contracting field below 1
    assert T.flow_lipschitz_bound(np.full(10, 0.7), h) == pytest.approx(1.07 ** 10, rel=1e-13)
    assert T.flow_lipschitz_bound(np.full(10, 0.7), h, "gronwall") == pytest.approx(
        math.exp(0.7), rel=1e-13)
    assert T.flow_lipschitz_bound(np.full(10, -0.5), h, "one_sided") == pytest.approx(
        math.exp(-0.5), rel=1e-13)
    batch = T.flow_lipschitz_bound(np.array([[1.0, 2.0], [0.0, 0.0]]), [0.5, 0.5])
    np.testing.assert_allclose(batch, [1.5 * 2.0, 1.0])


def test_min_integrated_lipschitz():
    m, delta = 0.2, 3.0
    rate = T.min_integrated_lipschitz(m, delta)
    assert rate == pytest.approx(math.log(delta / (2 * stats.norm.ppf(1 - m))), rel=1e-12)
    # a flow with exactly that rate reaches L = exp(rate), where mass m is just allowed
    assert T.max_mode_mass(math.exp(rate), delta) == pytest.approx(m, rel=1e-10)
    assert T.min_integrated_lipschitz(0.0, delta) == -math.inf


def test_gaussian_equivalent_lipschitz():
    assert T.gaussian_equivalent_lipschitz(2.0, base_std=0.5) == 1.0
    assert T.gaussian_equivalent_lipschitz(2.0, base_convexity=4.0) == 1.0
    # N(0, s^2) base = s * standard base: the clip map of s*x has mass Phi(-D/(2 s L))
    x = 0.5 * np.random.default_rng(6).standard_normal(300_000)
    y = np.clip(2.0 * x, -1.0, 1.0)
    lo, hi = cp_interval(np.sum(y >= 1.0), x.size)
    assert lo <= T.max_mode_mass(T.gaussian_equivalent_lipschitz(2.0, base_std=0.5), 2.0) <= hi


# --------------------------------------------------------------------------- T7


def test_chunk_separation():
    rng = np.random.default_rng(8)
    a, b = rng.standard_normal((16, 7)), rng.standard_normal((16, 7))
    assert T.chunk_separation(a - b) == pytest.approx(np.sqrt(np.sum((a - b) ** 2)), rel=1e-14)
    assert T.chunk_separation(np.full(25, 0.3)) == pytest.approx(0.3 * 5, rel=1e-14)
    per_step = np.linalg.norm(a - b, axis=1)
    assert T.chunk_separation(per_step) == pytest.approx(T.chunk_separation(a - b), rel=1e-14)
    d = sympy.symbols("d1:4", positive=True)
    assert sympy.simplify(T.chunk_separation(list(d)) - sympy.sqrt(sum(x**2 for x in d))) == 0


# --------------------------------------------------------------------------- T8


def _monotone_map_lipschitz(mean, std):
    # T = F^{-1} o Phi for F the mixture CDF: invert F by a bracketing root finder on a
    # grid, then take the largest finite-difference slope.
    coarse = np.linspace(-3, 3, 601)
    x = np.sort(np.concatenate([coarse[np.abs(coarse) > 0.015], np.linspace(-0.01, 0.01, 401)]))

    def excess(y, q):
        return 0.5 * (special.ndtr((y + mean) / std) + special.ndtr((y - mean) / std)) - q

    q = special.ndtr(x)
    bracket = (np.full_like(x, -mean - 12 * std), np.full_like(x, mean + 12 * std))
    y = elementwise.find_root(excess, bracket, args=(q,)).x
    return np.max(np.diff(y) / np.diff(x))


@pytest.mark.parametrize("mean, std", [(1.0, 0.3), (0.5, 1.0), (1.0, 0.6), (0.0, 2.0)])
def test_exact_fit_matches_the_monotone_map(mean, std):
    bound = T.exact_fit_min_lipschitz(mean, std)
    assert bound == pytest.approx(_monotone_map_lipschitz(mean, std), rel=2e-3)
    if (mean, std) == (1.0, 0.3):
        assert bound == pytest.approx(77.6, abs=0.05)


def test_isoperimetric_min_lipschitz_general_form():
    # Gaussian target N(0, s^2): every half-line gives exactly s (the map x -> s x).
    s = 1.7
    y = np.linspace(-3, 3, 13)
    mass, per = stats.norm.cdf(y / s), stats.norm.pdf(y / s) / s
    np.testing.assert_allclose(T.isoperimetric_min_lipschitz(mass, per), s, rtol=1e-12)
    # the mixture at the middle cut is exact_fit_min_lipschitz
    m, sd = 1.0, 0.3
    assert T.isoperimetric_min_lipschitz(0.5, stats.norm.pdf(m / sd) / sd) == pytest.approx(
        T.exact_fit_min_lipschitz(m, sd), rel=1e-12)


# ---------------------------------------------------- API: symbolic, vectorised, errors


def _symbolic_cases():
    L, D, m = sympy.symbols("L Delta m", positive=True)
    return [
        (T.max_mode_mass, (L, D), lambda a: T.max_mode_mass(*a)),
        (T.log_max_mode_mass, (L, D), lambda a: T.log_max_mode_mass(*a)),
        (lambda L, D: T.max_mode_mass(L, D, 3), (L, D), lambda a: T.max_mode_mass(*a, 3)),
        (T.mode_mass_frontier, (m, L, D), lambda a: T.mode_mass_frontier(*a)),
        (T.min_lipschitz, (m, D), lambda a: T.min_lipschitz(*a)),
        (T.min_bridge_mass, (L, D), lambda a: T.min_bridge_mass(*a)),
        (lambda L, D, m: T.min_bridge_mass(L, D, m), (L, D, m),
         lambda a: T.min_bridge_mass(a[0], a[1], m1=a[2])),
        (T.min_lipschitz_for_bridge, (m, D), lambda a: T.min_lipschitz_for_bridge(*a)),
        (T.wasserstein_lower_bound, (L, D), lambda a: T.wasserstein_lower_bound(*a)),
        (T.min_integrated_lipschitz, (m, D), lambda a: T.min_integrated_lipschitz(*a)),
        (T.exact_fit_min_lipschitz, (m, L), lambda a: T.exact_fit_min_lipschitz(*a)),
        (T.isoperimetric_min_lipschitz, (m, L), lambda a: T.isoperimetric_min_lipschitz(*a)),
        (T.preimage_separation, (L, D), lambda a: T.preimage_separation(*a)),
        (T.achievable_mode_mass, (L, D), lambda a: T.achievable_mode_mass(*a, 3)),
    ]


def _numeric_value(expr):
    # Integrals (T3 construction, T5) by scipy quad on the lambdified integrand: sympy's
    # own evalf of these takes minutes.
    values = {}
    for I in expr.atoms(sympy.Integral):
        (var, a, b), = I.limits
        f = sympy.lambdify(var, I.function, modules=["scipy", "numpy"])
        values[I] = integrate.quad(f, float(a), float(b), epsabs=1e-14, epsrel=1e-12)[0]
    return float(sympy.N(expr.xreplace(values), 30))


@pytest.mark.parametrize("case", range(14))
def test_symbolic_equals_numeric_on_random_inputs(case):
    fn, syms, numeric = _symbolic_cases()[case]
    expr = fn(*syms) if case != 13 else T.achievable_mode_mass(*syms, 3)
    assert sympy.latex(expr)
    rng = np.random.default_rng(case)
    for _ in range(4):
        vals = [float(rng.uniform(0.05, 0.3)) if s.name == "m" else float(rng.uniform(0.3, 3))
                for s in syms]
        sym_value = _numeric_value(expr.subs(dict(zip(syms, vals, strict=True))))
        assert numeric(vals) == pytest.approx(sym_value, rel=1e-9)


def test_vectorised_equals_elementwise():
    L = np.array([[0.5], [1.0], [4.0]])
    D = np.array([0.0, 1.0, 2.5, 7.0])
    m = np.array([0.01, 0.2, 0.45, 0.49])
    cases = [
        (lambda a, b: T.max_mode_mass(a, b, 3), L, D),
        (T.log_max_mode_mass, L, D),
        (lambda a, b: T.mode_mass_frontier(m, a, b), L, D),
        (lambda a, b: T.min_lipschitz(m * 0.5, b) * np.ones_like(a), L, D),
        (T.min_bridge_mass, L, D),
        (lambda a, b: T.min_bridge_mass(a, b, m1=m), L, D),
        (lambda a, b: T.max_weighted_coverage(a, b, (0.3, 0.7)), L, D),
        (lambda a, b: T.achievable_mode_mass(a, b, 4), L, D),
        (T.wasserstein_lower_bound, L, D),
        (lambda a, b: T.wasserstein_lower_bound(a, b, (0.2, 0.8), 2), L, D),
    ]
    for i, (f, a, b) in enumerate(cases):
        out = f(a, b)
        assert out.shape == (3, 4), i
        for r in range(3):
            for c in range(4):
                if i in (2, 5):
                    one = (T.mode_mass_frontier if i == 2 else
                           lambda mm, x, y: T.min_bridge_mass(x, y, m1=mm))(
                        float(m[c]), float(a[r, 0]), float(b[c]))
                elif i == 3:
                    one = T.min_lipschitz(float(m[c] * 0.5), float(b[c]))
                else:
                    one = f(float(a[r, 0]), float(b[c]))
                assert isinstance(one, float)
                assert out[r, c] == pytest.approx(one, rel=1e-12, abs=1e-300), (i, r, c)


@pytest.mark.parametrize("call, name", [
    (lambda: T.max_mode_mass(-1.0, 1.0), "L"),
    (lambda: T.max_mode_mass(0.0, 1.0), "L"),
    (lambda: T.max_mode_mass(float("nan"), 1.0), "L"),
    (lambda: T.max_mode_mass(1.0, -0.5), "separation"),
    (lambda: T.max_mode_mass(1.0, np.array([1.0, np.nan])), "separation"),
    (lambda: T.max_mode_mass(1.0, np.array([1.0, -np.inf])), "separation"),
    (lambda: T.max_mode_mass(1.0, 1.0, 1), "n_modes"),
    (lambda: T.log_max_mode_mass(1.0, 1.0, 2.5), "n_modes"),
    (lambda: T.mode_mass_frontier(1.2, 1.0, 1.0), "m1"),
    (lambda: T.min_lipschitz(0.6, 1.0), "mass"),
    (lambda: T.min_lipschitz(0.3, 1.0, 4), "mass"),
    (lambda: T.max_weighted_coverage(1.0, 1.0, (0.5, 0.6)), "weights"),
    (lambda: T.max_weighted_coverage(1.0, 1.0, (1.0,)), "weights"),
    (lambda: T.max_weighted_coverage(1.0, np.ones((2, 3)), (0.5, 0.5)), "separation"),
    (lambda: T.max_weighted_coverage(1.0, np.array([[0, 1], [2, 0.0]]), (0.5, 0.5)),
     "separation"),
    (lambda: T.achievable_mode_mass(1.0, 1.0, 9), "n_modes"),
    (lambda: T.min_bridge_mass(1.0, 1.0, m1=-0.1), "m1"),
    (lambda: T.min_lipschitz_for_bridge(1.5, 1.0), "bridge_mass"),
    (lambda: T.wasserstein_lower_bound(1.0, 1.0, p=0.5), "p"),
    (lambda: T.wasserstein_lower_bound(1.0, 1.0, p=float("nan")), "p"),
    (lambda: T.wasserstein_lower_bound(1.0, 1.0, p=math.inf), "p"),
    (lambda: T.wasserstein_lower_bound(1.0, 1.0, weights=(0.2, 0.2)), "weights"),
    (lambda: T.flow_lipschitz_bound([1.0, -1.0], [0.1, 0.1]), "step_lipschitz"),
    (lambda: T.flow_lipschitz_bound([1.0, 1.0], [0.1, 0.0]), "step_sizes"),
    (lambda: T.flow_lipschitz_bound([1.0, 1.0], [0.1, 0.1], "rk4"), "form"),
    (lambda: T.chunk_separation([]), "per_step_offsets"),
    (lambda: T.exact_fit_min_lipschitz(1.0, 0.0), "std"),
    (lambda: T.isoperimetric_min_lipschitz(0.5, 0.0), "boundary_measure"),
    (lambda: T.gaussian_equivalent_lipschitz(1.0, base_convexity=-1.0), "base_convexity"),
])
def test_errors_name_the_argument(call, name):
    with pytest.raises(ValueError, match=rf"^{name} must"):
        call()


def test_type_errors():
    with pytest.raises(TypeError, match="L must be a real number"):
        T.max_mode_mass("one", 1.0)
    with pytest.raises(TypeError, match="separation"):
        T.max_mode_mass(1.0, True)
    with pytest.raises(TypeError, match="n_modes must be an integer"):
        T.max_mode_mass(1.0, 1.0, "2")
    with pytest.raises(TypeError, match="per_step_offsets"):
        T.chunk_separation(["a", "b"])
    with pytest.raises(TypeError, match="max_weighted_coverage is the root"):
        T.max_weighted_coverage(sympy.Symbol("L"), 1.0, (0.5, 0.5))


def test_outputs_are_probabilities_everywhere():
    L = np.geomspace(1e-3, 1e3, 41)[:, None]
    D = np.concatenate([[0.0], np.geomspace(1e-6, 1e3, 40)])
    for K in (2, 3, 8):
        v = T.max_mode_mass(L, D, K)
        assert np.all((v >= 0) & (v <= 1 / K + 1e-16)) and not np.any(np.isnan(v))
        assert np.all(np.diff(v, axis=0) >= 0) and np.all(np.diff(v, axis=1) <= 0)
    b = T.min_bridge_mass(L, D, m1=np.linspace(0, 1, 41))
    assert np.all((b >= 0) & (b <= 1)) and not np.any(np.isnan(b))
    w = T.wasserstein_lower_bound(L, D)
    assert np.all(w >= 0) and np.all(w <= D / 2 + 1e-12) and not np.any(np.isnan(w))


def test_registry():
    local = [f"T{i}-local" for i in range(2, 6)]
    assert [p.id for p in T.PROPOSITIONS] == [f"T{i}" for i in range(1, 9)] + local
    for p in T.PROPOSITIONS:
        assert isinstance(p.statement(), sympy.Basic)
        assert p.latex() and p.assumptions and p.reference and callable(p.evaluate)
        assert p.id.split("-")[0] in p.evaluate.__doc__
        assert "docs/theory.md" in p.reference
    for pid in local:
        assert theory.PROPOSITIONS[pid].extensions.startswith("ours")
    assert theory.PROPOSITIONS["T2"].evaluate is T.max_mode_mass
    assert "optimised" in theory.PROPOSITIONS["T3"].extensions


def test_numeric_path_never_imports_sympy():
    code = ("import sys, numpy as np, theory\n"
            "theory.max_mode_mass(1.0, 2.0); theory.max_mode_mass(np.ones(3), 2.0, 3)\n"
            "theory.log_max_mode_mass(1.0, 80.0); theory.min_bridge_mass(1.0, 2.0, m1=0.3)\n"
            "theory.max_weighted_coverage(1.0, 2.0, (0.2, 0.3, 0.5))\n"
            "theory.wasserstein_lower_bound(1.0, 2.0, p=2)\n"
            "theory.achievable_mode_mass(1.0, 2.0, 3)\n"
            "theory.isoperimetric_profile(0.3); theory.flow_lipschitz_bound([1.0], [1.0])\n"
            "assert 'sympy' not in sys.modules, 'sympy imported'\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr


def test_scalar_in_float_out():
    for v in (T.max_mode_mass(1, 2), T.log_max_mode_mass(1, 2), T.min_bridge_mass(1, 2),
              T.wasserstein_lower_bound(1, 2), T.achievable_mode_mass(1, 2, 3),
              T.max_weighted_coverage(1, 2, (0.5, 0.5)), T.min_lipschitz(0.1, 2),
              T.mode_mass_frontier(0.1, 1, 2), T.preimage_separation(2, 1),
              T.exact_fit_min_lipschitz(1, 1), T.flow_lipschitz_bound([1, 2], [0.5, 0.5])):
        assert type(v) is float


@given(st.integers(2, 8), st.integers(0, 2**32 - 1))
def test_chord_relaxation_is_below_the_exact_enlargement_deficit(K, seed):
    # The O(K log K) relaxation used beyond K = 8 must never exceed the exact vertex value
    # (it is a lower bound on the deficit, hence on W_p).
    rng = np.random.default_rng(seed)
    w = rng.dirichlet(np.ones(K)) / rng.uniform(0.5, 1.0)     # local forms scale w up
    w = np.minimum(w, 1.0)
    r = rng.uniform(0, 3, K)
    assert T._enlargement_deficit_lp(w, r) <= T._enlargement_deficit(w, r) + 1e-12

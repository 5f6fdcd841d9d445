"""Local forms of T2-T5 (docs/theory.md, "Local forms"): ``T`` Lipschitz only on a convex set.

Independent references used here, none of them the code under test: Monte Carlo of
explicit maps (Clopper-Pearson intervals at confidence ``1 - 1e-6``), adaptive quadrature of
the Gaussian mass of a slab inside a disc, mpmath roots of the defining equations at 40
digits, brute-force optimisation over the split of the outside mass and over the
conditional masses on grids, and exact 1-D ``W_1`` of explicit maps. Property tests draw
random maps from `theory.strategies` and restrict them to random balls.
"""

import math

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, special, stats

import theory
from theory import strategies
from theory import transport as T

CONF = 1 - 1e-6
Phi, Phinv = special.ndtr, special.ndtri


def cp_interval(k: int, n: int) -> tuple[float, float]:
    ci = stats.binomtest(int(k), int(n)).proportion_ci(confidence_level=CONF, method="exact")
    return ci.low, ci.high


# ------------------------------------------------ the correction is necessary (d = 2)


def _slab_in_disc(a: float, b: float, R: float) -> float:
    """Gaussian mass of ``{a <= x_1 <= b, |x| <= R}`` in ``R^2`` by adaptive quadrature."""
    a, b = max(a, -R), min(b, R)
    if a >= b:
        return 0.0
    def f(x):
        return math.exp(-x * x / 2) / math.sqrt(2 * math.pi) * math.erf(
            math.sqrt(max(R * R - x * x, 0.0) / 2))

    return integrate.quad(f, a, b, epsabs=1e-14, epsrel=1e-12)[0]


def test_d2_construction_beats_the_global_bound_and_respects_the_local_one():
    # THEORY.md (Additions): inside the disc of radius 2 a 1-Lipschitz clip map onto two
    # point modes 1 apart (s = 1); outside, every sample is sent onto the mode on its side.
    # The global T2 bound Phi(-1/2) = 0.3085 would forbid what this map does: 0.3177.
    R, delta, L = 2.0, 1.0, 1.0
    p = math.exp(-R * R / 2)
    assert theory.outside_ball_mass(R, 2) == pytest.approx(p, rel=1e-13)
    exact = _slab_in_disc(delta / 2, R, R) + p / 2       # by symmetry, each mode's mass
    assert exact == pytest.approx(0.31769, abs=1e-5)

    x = np.random.default_rng(0).standard_normal((400_000, 2))
    inside = np.linalg.norm(x, axis=1) <= R
    y = np.where(inside, np.clip(L * x[:, 0], -delta / 2, delta / 2),
                 np.sign(x[:, 0]) * delta / 2)
    k = min(np.sum(y >= delta / 2), np.sum(y <= -delta / 2))
    lo, hi = cp_interval(k, x.shape[0])
    assert lo <= exact <= hi
    assert lo > theory.max_mode_mass(L, delta) == pytest.approx(stats.norm.cdf(-0.5))
    local = theory.max_mode_mass_local(L, delta, p)
    assert hi < local == pytest.approx(0.3382, abs=5e-5)
    assert local <= theory.max_mode_mass_local(L, delta, p, form="unnormalised") \
        <= theory.max_mode_mass_local(L, delta, p, form="additive")


def test_shifted_construction_gets_closer_and_stays_below():
    # A better use of the same freedom: shift the clip threshold by c and hand the outside
    # mass to the modes so that they balance. Still below m_B (the bracket is
    # [0.3212, 0.3382] at s = 1, p = e^-2; docs/theory.md).
    from scipy.optimize import minimize_scalar

    R, p = 2.0, math.exp(-2.0)

    def balanced(c):
        right, left = _slab_in_disc(c + 0.5, R, R), _slab_in_disc(-R, c - 0.5, R)
        t = min(max((left + p - right) / 2, 0.0), p)
        return min(right + t, left + p - t)

    res = minimize_scalar(lambda c: -balanced(c), bounds=(0.0, 0.6), method="bounded",
                          options={"xatol": 1e-4})
    best = -res.fun
    assert best == pytest.approx(0.3212, abs=2e-4)
    assert best <= theory.max_mode_mass_local(1.0, 1.0, p)


# ------------------------------------------------ the reduction and the root, independently


def _mp_quantile(u):
    """Phi^{-1}(u) in mpmath by Newton from the float estimate (tiny u included)."""
    x = (mpmath.mpf(float(Phinv(float(u)))) if float(u) > 1e-300
         else -mpmath.sqrt(-2 * mpmath.log(u)))
    for _ in range(12):
        x -= (mpmath.ncdf(x) - u) / mpmath.npdf(x)
    return x


def _mp_root(s, p, normalised=True):
    """Root in m of Phi^{-1}((m-p)/c) + Phi^{-1}(m/c) = -s (c = 1-p or 1), 40 digits.

    Solved for v = log((m - p)/c) by a bracketing method (Illinois): the estimate that
    ignores u in the second term, u0 = Phi(-s - Phi^{-1}(p/c)), is on the upper side; the
    lower side is found by shrinking u0. Then m = p + c u (at most 1/2).
    """
    with mpmath.workdps(40):
        s, p = mpmath.mpf(s), mpmath.mpf(p)
        c = 1 - p if normalised else mpmath.mpf(1)
        q = p / c

        def F(v):
            u = mpmath.exp(v)
            return _mp_quantile(u) + _mp_quantile(u + q) + s

        hi = mpmath.log(mpmath.ncdf(-s - _mp_quantile(q)))
        lo = hi - 10
        while F(lo) > 0:
            lo -= 10 * (hi - lo)
        v = mpmath.findroot(F, (lo, hi), solver="illinois", tol=mpmath.mpf(10) ** -30)
        return float(min(p + c * mpmath.exp(v), mpmath.mpf(1) / 2))


@pytest.mark.parametrize("s, p", [(1.0, math.exp(-2)), (0.2, 0.4), (3.0, 0.01),
                                  (1e-6, 0.3), (40.0, 1e-5), (60.0, 1e-250), (8.0, 0.45)])
def test_root_agrees_with_the_defining_equation_in_mpmath(s, p):
    assert theory.max_mode_mass_local(1.0, s, p) == pytest.approx(_mp_root(s, p), rel=1e-12)
    assert theory.max_mode_mass_local(2.0, 2 * s, p, form="unnormalised") == pytest.approx(
        _mp_root(s, p, normalised=False), rel=1e-12)


def _brute_force_two_modes(s, p, n_grid=801):
    """max over (t_1, n_1) grids of min(m_1, m_2), n_2 on the conditional T2 frontier."""
    t1 = np.linspace(0, p, n_grid)[:, None]
    n1 = np.concatenate([np.linspace(0, 1, n_grid), Phi(np.linspace(-8, 8, n_grid))])[None, :]
    n2 = Phi(-Phinv(n1) - s)
    m1 = (1 - p) * n1 + t1
    m2 = (1 - p) * n2 + (p - t1)
    return float(np.max(np.minimum(m1, m2)))


@pytest.mark.parametrize("s, p", [(1.0, math.exp(-2)), (0.2, 0.4), (0.05, 0.45),
                                  (2.0, 0.2), (0.5, 0.01)])
def test_worst_split_is_at_an_extreme_by_brute_force(s, p):
    # The proof's reduction (all outside mass on one mode) checked by direct optimisation
    # over every split, including where the conditional masses exceed 1/2 (p = 0.4,
    # s = 0.2: n_2 = m/(1 - p) ~ 0.81), where concavity of Phi^{-1} alone says nothing.
    brute = _brute_force_two_modes(s, p)
    bound = theory.max_mode_mass_local(1.0, s, p)
    assert brute <= bound * (1 + 1e-9)
    assert brute >= bound - 2e-3


def _brute_force_many(s, p, K, n_grid=41):
    """max over splits t on a simplex grid of the largest m with sum_k E(n_k) <= 1."""
    grid = np.linspace(0, p, n_grid)
    t = np.array(np.meshgrid(*[grid] * (K - 1))).reshape(K - 1, -1).T
    t = t[t.sum(axis=1) <= p]
    t = np.column_stack([t, p - t.sum(axis=1)])          # all outside mass used
    lo, hi = np.zeros(len(t)), np.full(len(t), 1.0 / K)
    for _ in range(60):                                  # bisection on m, every split at once
        m = (lo + hi) / 2
        n = np.clip((m[:, None] - t) / (1 - p), 0, 1)
        ok = np.sum(np.where(n > 0, Phi(Phinv(n) + s / 2), 0.0), axis=1) <= 1
        lo, hi = np.where(ok, m, lo), np.where(ok, hi, m)
    return float(lo.max())


@pytest.mark.parametrize("s, p, K", [(1.0, 0.1, 3), (2.0, 0.25, 3), (0.5, 0.05, 4),
                                     (6.0, 0.02, 3)])
def test_many_modes_by_brute_force_and_by_vertex_enumeration(s, p, K):
    bound = theory.max_mode_mass_local(1.0, s, p, K)
    brute = _brute_force_many(s, p, K)
    assert brute <= bound * (1 + 1e-9)
    assert brute >= bound * (1 - 0.02)
    # the general vertex enumeration (weighted coverage code, symmetric r) agrees
    log_w = np.log(np.full(K, 1.0 / K))
    t = math.exp(T._local_coverage_log_root(log_w, np.full(K, s / 2), p))
    assert t / K == pytest.approx(bound, rel=1e-10)
    assert theory.max_weighted_coverage_local(1.0, s, np.full(K, 1 / K), p) / K <= bound * (
        1 + 1e-9)


lipschitz = st.floats(1e-2, 1e2)
separation = st.floats(0.0, 50.0)
outside = st.floats(0.0, 0.99)


@given(lipschitz, separation, outside, st.integers(2, 6), st.floats(1.01, 3.0),
       st.floats(0.01, 2.0))
def test_local_forms_are_ordered_and_monotone(L, delta, p, K, factor, extra):
    f = theory.max_mode_mass_local
    exact, unnorm, additive = (f(L, delta, p, K, form=x) for x in
                               ("exact", "unnormalised", "additive"))
    glob = theory.max_mode_mass(L, delta, K)
    tol = 1 + 1e-9
    assert glob <= exact * tol and exact <= unnorm * tol and unnorm <= additive * tol
    assert 0 <= exact <= 1 / K * tol
    assert f(L * factor, delta, p, K) * tol >= exact            # more Lipschitz, more mass
    assert f(L, delta + extra, p, K) <= exact * tol              # more separation, less
    assert f(L, delta, min(p * factor, 1.0), K) * tol >= exact   # more outside, more
    assert f(L, delta, 0.0, K) == glob


@given(lipschitz, separation, outside, st.floats(0.0, 1.0))
def test_bridge_local_is_a_probability_and_consistent(L, delta, p, m1):
    b = theory.min_bridge_mass_local(L, delta, p)
    assert 0 <= b <= 1
    assert b == pytest.approx(1 - 2 * theory.max_mode_mass_local(L, delta, p), abs=1e-12)
    assert b <= theory.min_bridge_mass(L, delta) * (1 + 1e-9) + 1e-300
    bm = theory.min_bridge_mass_local(L, delta, p, m1=m1)
    assert 0 <= bm <= theory.min_bridge_mass(L, delta, m1=m1) + 1e-12


@pytest.mark.parametrize("s, p, m1", [(1.0, 0.1, 0.3), (2.0, 0.2, 0.5), (0.5, 0.05, 0.8),
                                      (3.0, 0.3, 0.35)])
def test_bridge_given_m1_by_brute_force(s, p, m1):
    # 1 - m1 - max m2 over every split t_1 of the outside mass and the conditional frontier.
    t1 = np.linspace(max(0.0, m1 - (1 - p)), min(p, m1), 20001)
    n1 = (m1 - t1) / (1 - p)
    m2 = (1 - p) * Phi(-Phinv(n1) - s) + (p - t1)
    brute = max(1 - m1 - float(np.max(m2)), 0.0)
    assert theory.min_bridge_mass_local(1.0, s, p, m1=m1) == pytest.approx(brute, rel=1e-6,
                                                                           abs=1e-12)


def test_bridge_local_keeps_relative_accuracy_for_small_bridges():
    # b = 1 - 2 m_B cancels for s -> 0; the interval form does not. Reference: mpmath root.
    for s, p in [(1e-8, 0.2), (1e-4, 0.01)]:
        with mpmath.workdps(50):
            q = mpmath.mpf(p) / (1 - p)
            y = mpmath.findroot(lambda y, s=s, q=q: mpmath.ncdf(y) - mpmath.ncdf(-y - s) - q,
                                0.2)
            ref = (1 - mpmath.mpf(p)) * (mpmath.ncdf(y + s) - mpmath.ncdf(y))
        assert theory.min_bridge_mass_local(1.0, s, p) == pytest.approx(float(ref), rel=1e-9)


def _local_deficit_brute(w, s, p, n_grid=4001):
    """min over the conditional frontier and the split of the outside mass, on a grid."""
    n1 = np.concatenate([np.linspace(0, 1, n_grid), Phi(np.linspace(-8, 8, n_grid)),
                         np.clip([w[0] / (1 - p), Phi(-Phinv(min(w[1] / (1 - p), 1)) - s)],
                                 0, 1)])
    n2 = Phi(-Phinv(n1) - s)
    short = np.maximum(w[0] - (1 - p) * n1, 0) + np.maximum(w[1] - (1 - p) * n2, 0)
    return float(np.min(np.maximum(short - p, 0)))


@pytest.mark.parametrize("w1, L, delta, p, order", [(0.5, 1.0, 2.0, 0.1, 1),
                                                    (0.3, 0.6, 1.5, 0.05, 1),
                                                    (0.5, 1.0, 2.0, 0.2, 2),
                                                    (0.2, 1.3, 3.0, 0.15, 3.5)])
def test_wasserstein_local_against_brute_force_integral(w1, L, delta, p, order):
    w = (w1, 1 - w1)
    rho = np.linspace(0, delta / 2, 801)
    D = np.array([_local_deficit_brute(w, (delta - 2 * r) / L, p) for r in rho])
    ref = integrate.simpson(order * rho ** (order - 1) * D, x=rho) ** (1 / order)
    got = theory.wasserstein_lower_bound_local(L, delta, p, w, order)
    assert got == pytest.approx(ref, rel=1e-5)
    assert got <= theory.wasserstein_lower_bound(L, delta, w, order) * (1 + 1e-12)


@pytest.mark.parametrize("L", [0.5, 1.0, 3.0])
def test_wasserstein_local_many_modes_below_a_staircase_map(L):
    # Three collinear modes -D, 0, D; inside the interval |x| <= R of the 1-D noise an
    # L-Lipschitz staircase, outside the samples are sent to the heaviest mode's target
    # side (any choice is allowed there). Exact 1-D W1 must exceed the local bound.
    D, w, R = 2.0, np.array([0.3, 0.3, 0.4]), 1.5
    p = theory.outside_ball_mass(R, 1)
    a1 = stats.norm.ppf(w[0]) - D / (2 * L)
    a2 = max(stats.norm.ppf(w[0] + w[1]) - D / (2 * L), a1 + D / L)
    x = np.random.default_rng(9).standard_normal(200_000)
    y = np.interp(x, [a1, a1 + D / L, a2, a2 + D / L], [-D, 0, 0, D])
    y = np.where(np.abs(x) <= R, y, np.where(x < 0, -D, D))
    w1 = stats.wasserstein_distance(y, [-D, 0, D], v_weights=w)
    bound = theory.wasserstein_lower_bound_local(L, D, p, w)
    assert 0 <= bound <= theory.wasserstein_lower_bound(L, D, w) <= w1 + 1e-12
    assert bound <= w1


# ------------------------------------------------ random maps restricted to random balls

N_LOCAL, N_PILOT = 100_000, 4_000
seeds = st.integers(0, 2**32 - 1)


def _ball_setup(Tmap, radius, offset, seed):
    rng = np.random.default_rng(seed)
    d = Tmap.dim_in
    c = rng.standard_normal(d)
    c *= offset / max(np.linalg.norm(c), 1e-12)
    u = rng.standard_normal(Tmap.dim_out)
    u /= np.linalg.norm(u)
    pilot = rng.standard_normal((N_PILOT, d))
    x = rng.standard_normal((N_LOCAL, d))
    inside = np.linalg.norm(x - c, axis=1) <= radius
    p = theory.outside_ball_mass(radius, d, float(np.linalg.norm(c)))
    return rng, pilot, x, inside, p, u


@settings(max_examples=25, deadline=None)
@given(strategies.lipschitz_maps(dim_in=st.integers(1, 3), kinds=("clip", "clip",
                                                                     "piecewise_linear", "mlp")),
       st.floats(0.3, 3.0), st.floats(0.8, 2.5), st.floats(0.0, 0.5), seeds)
def test_local_bounds_hold_for_random_maps_on_balls(Tmap, ratio, radius, offset, seed):
    # Inside a ball B the map is the drawn L-Lipschitz one; outside, the samples go to the
    # two modes in the proportion that balances them (the best use of the outside mass for
    # min(m_1, m_2)), chosen on a pilot sample. Modes: half-lines Delta apart around the
    # pilot median of the inside projections.
    L = Tmap.lipschitz
    delta = ratio * L
    rng, pilot, x, inside, p, u = _ball_setup(Tmap, radius, offset, seed)
    y_pilot = Tmap(pilot) @ u
    c = float(np.median(y_pilot))
    y = Tmap(x) @ u
    in_1, in_2 = (y <= c - delta / 2) & inside, (y >= c + delta / 2) & inside
    share = np.clip((np.mean(in_2) - np.mean(in_1) + np.mean(~inside))
                    / (2 * max(np.mean(~inside), 1e-12)), 0, 1)
    to_1 = ~inside & (rng.random(x.shape[0]) < share)
    k1, k2 = np.sum(in_1 | to_1), np.sum(in_2 | (~inside & ~to_1))
    (lo1, hi1), (lo2, _) = cp_interval(k1, x.shape[0]), cp_interval(k2, x.shape[0])
    assert min(lo1, lo2) <= theory.max_mode_mass_local(L, delta, p)                   # T2-loc
    _, hi_bridge = cp_interval(x.shape[0] - k1 - k2, x.shape[0])                      # T4-loc
    m1_grid = np.linspace(lo1, hi1, 201)
    assert hi_bridge >= np.min(theory.min_bridge_mass_local(L, delta, p, m1=m1_grid)) - 1e-12


@settings(max_examples=20, deadline=None)
@given(strategies.lipschitz_maps(dim_in=st.integers(1, 3), dim_out=1),
       st.floats(0.2, 3.0), st.floats(0.8, 2.5), st.floats(0.1, 0.9), seeds)
def test_local_wasserstein_bound_holds_for_random_maps_on_balls(Tmap, ratio, radius, w1, seed):
    # clip(T - c) inside B is L-Lipschitz; outside B the samples go to the target point of
    # the mode that lacks mass. W1 of the empirical law plus Delta * eps_DKW bounds its true
    # W1 from above (DKW, level 1e-6): that must be >= the local T5 bound.
    L = Tmap.lipschitz
    delta = ratio * L
    rng, pilot, x, inside, p, _ = _ball_setup(Tmap, radius, 0.0, seed)
    c = float(np.median(Tmap(pilot)[:, 0]))
    y = np.clip(Tmap(x)[:, 0] - c, -delta / 2, delta / 2)
    lacking = -delta / 2 if np.mean(y[inside] <= 0) * (1 - p) < w1 else delta / 2
    y = np.where(inside, y, lacking)
    w = (w1, 1 - w1)
    empirical = stats.wasserstein_distance(y, [-delta / 2, delta / 2], v_weights=w)
    dkw = math.sqrt(math.log(2 / (1 - CONF)) / (2 * x.shape[0]))
    assert empirical + delta * dkw >= theory.wasserstein_lower_bound_local(L, delta, p, w)


# ------------------------------------------------ the ball's outside mass, API, registry


@pytest.mark.parametrize("R, d, offset", [(2.0, 3, 0.0), (1.5, 5, 0.7), (3.0, 2, 2.0)])
def test_outside_ball_mass_by_monte_carlo(R, d, offset):
    rng = np.random.default_rng(4)
    c = np.zeros(d)
    c[0] = offset
    x = rng.standard_normal((400_000, d))
    lo, hi = cp_interval(np.sum(np.linalg.norm(x - c, axis=1) > R), x.shape[0])
    assert lo <= theory.outside_ball_mass(R, d, offset) <= hi
    assert theory.outside_ball_mass(math.inf, d) == 0.0
    assert theory.outside_ball_mass(0.0, d) == 1.0


def test_local_forms_reduce_to_the_global_ones_at_p_zero():
    L, D = np.array([[0.5], [1.0], [3.0]]), np.array([0.0, 0.7, 2.0, 9.0])
    np.testing.assert_array_equal(theory.max_mode_mass_local(L, D, 0.0),
                                  theory.max_mode_mass(L, D))
    np.testing.assert_array_equal(theory.min_bridge_mass_local(L, D, 0.0),
                                  theory.min_bridge_mass(L, D))
    np.testing.assert_allclose(theory.wasserstein_lower_bound_local(L, D, 0.0, (0.3, 0.7)),
                               theory.wasserstein_lower_bound(L, D, (0.3, 0.7)), rtol=1e-14)
    assert theory.max_weighted_coverage_local(1.0, 2.0, (0.3, 0.7), 0.0) == \
        theory.max_weighted_coverage(1.0, 2.0, (0.3, 0.7))
    assert theory.max_mode_mass_local(1.0, 2.0, 0.5) == 0.5     # p >= (K-1)/K: void
    assert theory.max_mode_mass_local(1.0, 2.0, 0.7, 3) == pytest.approx(1 / 3)


def test_local_forms_api():
    import sympy

    L, D, p = sympy.symbols("L Delta p", positive=True)
    expr = theory.max_mode_mass_local(L, D, p, form="additive")
    assert float(expr.subs({L: 1, D: 1, p: 0.1})) == pytest.approx(
        theory.max_mode_mass_local(1.0, 1.0, 0.1, form="additive"), rel=1e-12)
    with pytest.raises(TypeError, match="form='additive'"):
        theory.max_mode_mass_local(L, D, p)
    with pytest.raises(ValueError, match="^form must be one of"):
        theory.max_mode_mass_local(1.0, 1.0, 0.1, form="tight")
    with pytest.raises(ValueError, match="^outside_mass must be"):
        theory.max_mode_mass_local(1.0, 1.0, 1.5)
    with pytest.raises(ValueError, match="outside_mass .shape"):
        theory.max_mode_mass_local(np.ones(2), 1.0, np.full(3, 0.1))
    with pytest.raises(ValueError, match="^weights must hold at most 6"):
        theory.max_weighted_coverage_local(1.0, 1.0, np.full(7, 1 / 7), 0.1)
    out = theory.max_mode_mass_local(np.ones((2, 1)), np.linspace(0, 3, 4), [[0.0], [0.2]])
    assert out.shape == (2, 4)
    for i in range(2):
        for j in range(4):
            assert out[i, j] == pytest.approx(theory.max_mode_mass_local(
                1.0, float(np.linspace(0, 3, 4)[j]), [0.0, 0.2][i]), rel=1e-14)
    assert type(theory.min_bridge_mass_local(1, 2, 0.1)) is float
    expr = theory.min_bridge_mass_local(L, D, p, sympy.Rational(1, 2))
    assert float(expr.subs({L: 1, D: 1, p: 0.1})) == pytest.approx(
        theory.min_bridge_mass_local(1.0, 1.0, 0.1, 0.5), rel=1e-10)


@pytest.mark.parametrize("s", [math.inf, 300.0])
def test_saturated_enlargements_give_the_combinatorial_answer(s):
    # Once s is huge, any conditional mass > 0 fills its whole enlargement: at most one mode
    # can be fed from inside B, every other must be served from outside. So K = 3 equal
    # modes get at most p/2 each, and weighted coverage with w = (0.2, 0.3, 0.5), p = 0.1 is
    # t* = p / (1 - w_max) = 0.2 (the heaviest mode inside). A root finder stopped inside
    # the flat part of the enlargement sum once and returned 0.139 (unsound).
    L = 1.0 / s if s < math.inf else 1e-300
    assert theory.max_mode_mass_local(L, 1.0, 0.1, 3) == pytest.approx(0.05, rel=1e-12)
    assert theory.max_weighted_coverage_local(L, 1.0, (0.2, 0.3, 0.5), 0.1) == pytest.approx(
        0.2, rel=1e-12)
    assert theory.max_mode_mass_local(L, 1.0, 0.1) == pytest.approx(0.1, rel=1e-12)   # K = 2

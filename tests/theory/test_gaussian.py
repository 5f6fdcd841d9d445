"""Tests of theory.gaussian: the isoperimetric profile and the enlargement function.

Independent references: scipy.stats.norm (pdf/ppf/cdf), mpmath at 50 digits for the
tails, and Monte Carlo of Gaussian isoperimetry on unions of balls (Clopper-Pearson).
"""

import math

import mpmath
import numpy as np
import pytest
import sympy
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from theory import gaussian

mpmath.mp.dps = 50
CONF = 1 - 1e-6   # per-check confidence: 40 examples x a few checks stay far from 1e-3


def cp_interval(k: int, n: int) -> tuple[float, float]:
    ci = stats.binomtest(int(k), int(n)).proportion_ci(confidence_level=CONF, method="exact")
    return ci.low, ci.high


def mp_quantile(m):
    # Newton on ncdf(x) = m in 50-digit arithmetic (erfinv(2m - 1) would lose tiny m).
    return mpmath.findroot(lambda x: mpmath.ncdf(x) - m, float(stats.norm.ppf(float(m))))


def mp_enlargement(m, r):
    return mpmath.ncdf(mp_quantile(mpmath.mpf(m)) + r)


def test_profile_matches_scipy_stats_and_known_values():
    m = np.linspace(0, 1, 101)
    expected = stats.norm.pdf(stats.norm.ppf(m))
    np.testing.assert_allclose(gaussian.isoperimetric_profile(m), expected, rtol=1e-13,
                               atol=1e-300)
    assert gaussian.isoperimetric_profile(0.5) == pytest.approx(1 / math.sqrt(2 * math.pi))
    assert gaussian.isoperimetric_profile(0.0) == 0.0 == gaussian.isoperimetric_profile(1.0)
    assert isinstance(gaussian.isoperimetric_profile(0.3), float)


@given(st.floats(1e-300, 0.5))
def test_profile_symmetric_and_log_consistent(m):
    a, b = gaussian.isoperimetric_profile(m), gaussian.isoperimetric_profile(1 - m)
    if m > 1e-6:   # 1 - m rounds for smaller m
        assert a == pytest.approx(b, rel=1e-6)
    log_a = gaussian.log_isoperimetric_profile(m)
    if a > 1e-300:
        assert log_a == pytest.approx(math.log(a), rel=1e-12, abs=1e-12)


def test_log_forms_exact_in_the_tails():
    # r = -80 from m = 1/2: the plain value underflows, the log form keeps 14 digits.
    exact = float(mpmath.log(mp_enlargement(0.5, -80)))
    assert gaussian.gaussian_enlargement(0.5, -80.0) == 0.0
    assert gaussian.log_gaussian_enlargement(0.5, -80.0) == pytest.approx(exact, rel=1e-13)
    for m, r in [(1e-10, 3.0), (0.2, -20.0), (0.9, 2.0), (1e-200, 1.0)]:
        ref = mp_enlargement(m, r)
        assert gaussian.gaussian_enlargement(m, r) == pytest.approx(float(ref), rel=1e-9)
        assert gaussian.log_gaussian_enlargement(m, r) == pytest.approx(
            float(mpmath.log(ref)), rel=1e-11)
    profile = float(mpmath.npdf(mp_quantile(mpmath.mpf(1e-250))))
    assert gaussian.isoperimetric_profile(1e-250) == pytest.approx(profile, rel=1e-10)


@given(st.floats(0, 1, allow_subnormal=False), st.floats(-5, 5))
def test_enlargement_is_a_probability_and_monotone(m, r):
    v = gaussian.gaussian_enlargement(m, r)
    assert 0.0 <= v <= 1.0
    assert gaussian.gaussian_enlargement(m, r + 0.1) >= v
    # Phi(Phi^{-1}(m)) = m up to the round trip's conditioning, ~ x^2 ulp at x = Phi^{-1}(m)
    tol = 1e-15 * (1 + float(stats.norm.ppf(m)) ** 2) if 0 < m < 1 else 0.0
    assert (v >= m * (1 - tol)) if r >= 0 else (v <= m * (1 + tol))


@given(st.integers(1, 6), st.integers(1, 4), st.floats(0.05, 1.0), st.integers(0, 2**31))
def test_isoperimetry_holds_on_unions_of_balls(d, n_balls, r, seed):
    # gamma(A_r) >= Phi(Phi^{-1}(gamma(A)) + r) for A a union of balls; A_r = same centres,
    # radii + r. Fails only when the intervals clearly contradict the inequality.
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1.5, (n_balls, d))
    radii = rng.uniform(0.2, 1.5, n_balls)
    x = rng.standard_normal((20_000, d))
    dist = np.min(np.linalg.norm(x[:, None] - centres[None], axis=-1) - radii, axis=1)
    in_a, in_ar = np.sum(dist <= 0), np.sum(dist <= r)
    a_low, _ = cp_interval(in_a, x.shape[0])
    _, ar_high = cp_interval(in_ar, x.shape[0])
    assert ar_high >= gaussian.gaussian_enlargement(a_low, r)


@given(st.integers(1, 8), st.floats(0.01, 0.99), st.floats(0.0, 3.0), st.integers(0, 2**31))
def test_halfspaces_attain_the_enlargement(d, m, r, seed):
    rng = np.random.default_rng(seed)
    e = rng.standard_normal(d)
    e /= np.linalg.norm(e)
    t = stats.norm.ppf(m)                      # A = {<e, x> <= t}, gamma(A) = m
    x = rng.standard_normal((20_000, d))
    lo, hi = cp_interval(np.sum(x @ e <= t + r), x.shape[0])
    assert lo <= gaussian.gaussian_enlargement(m, r) <= hi


def test_symbolic_forms_agree_with_numeric():
    m, r = sympy.symbols("m r", real=True)
    funcs = {
        "isoperimetric_profile": (gaussian.isoperimetric_profile(m), (m,)),
        "log_isoperimetric_profile": (gaussian.log_isoperimetric_profile(m), (m,)),
        "gaussian_enlargement": (gaussian.gaussian_enlargement(m, r), (m, r)),
        "log_gaussian_enlargement": (gaussian.log_gaussian_enlargement(m, r), (m, r)),
    }
    rng = np.random.default_rng(3)
    ms, rs = rng.uniform(0.01, 0.99, 20), rng.uniform(-3, 3, 20)
    for name, (expr, args) in funcs.items():
        f = sympy.lambdify(args, expr, modules=["scipy", "numpy"])
        num = getattr(gaussian, name)(ms, rs) if len(args) == 2 else getattr(gaussian, name)(ms)
        sym = f(ms, rs) if len(args) == 2 else f(ms)
        np.testing.assert_allclose(num, sym, rtol=1e-10, err_msg=name)
        assert sympy.latex(expr)


@pytest.mark.parametrize("call, name", [
    (lambda: gaussian.isoperimetric_profile(1.5), "m"),
    (lambda: gaussian.isoperimetric_profile(float("nan")), "m"),
    (lambda: gaussian.gaussian_enlargement(-0.1, 1.0), "m"),
    (lambda: gaussian.gaussian_enlargement(0.5, float("inf")), "r"),
    (lambda: gaussian.log_gaussian_enlargement(0.5, np.array([0.0, np.nan])), "r"),
])
def test_errors_name_the_argument(call, name):
    with pytest.raises(ValueError, match=rf"^{name} must"):
        call()


def test_vectorised_equals_elementwise():
    m = np.array([[0.0, 0.1], [0.5, 1.0]])
    r = np.array([0.3, -1.0])
    out = gaussian.gaussian_enlargement(m, r)
    assert out.shape == (2, 2)
    for i in range(2):
        for j in range(2):
            assert out[i, j] == gaussian.gaussian_enlargement(float(m[i, j]), float(r[j]))

"""Regression tests for the reliability findings of issue #12 that concern `theory`.

One test per finding; each reference value is computed independently (mpmath, a limit in
closed form, NumPy on a rescaled input) or is the exception the API promises. The fuzz test
(tests/test_fuzz_public_api.py) covers the same categories on random input.
"""

import math
import time

import mpmath
import numpy as np
import pytest
import sympy

import theory

# --------------------------------------------------------------- unsound or wrong results


def test_wasserstein_bound_does_not_cancel_for_large_L():
    # W1 = int_0^1 (Phi(0) - Phi(-(2 - 2 rho)/L)) d rho (Delta = 2, equal weights), in
    # mpmath: 4.0e-13 at L = 1e12 (the textbook closed form gave 1.1e-5).
    def exact(L):
        with mpmath.workdps(60):
            f = lambda r: mpmath.ncdf(0) - mpmath.ncdf(-(2 - 2 * r) / mpmath.mpf(L))  # noqa: E731
            return float(mpmath.quad(f, [0, 1]))

    for L in (1e3, 1e8, 1e12, 1e14, 1e200):
        assert theory.wasserstein_lower_bound(L, 2.0) == pytest.approx(exact(L), rel=1e-12)
    assert theory.wasserstein_lower_bound(1e12, 2.0) == pytest.approx(4.0e-13, rel=2e-3)
    Ls = np.geomspace(1e-3, 1e15, 400)
    values = theory.wasserstein_lower_bound(Ls, 2.0)
    assert np.all(np.diff(values) <= 0)             # monotone in L
    for p in (1.5, 3.0):
        v = theory.wasserstein_lower_bound(Ls, 2.0, (0.3, 0.7), p)
        assert np.all(np.diff(v) <= 1e-15 * v[:-1]) and np.all(v > 0)


# --------------------------------------------------------------- NaN on valid input


def test_coverage_and_construction_underflow_to_zero():
    for ratio in (1e155, 1e200, 1e308):
        assert theory.achievable_mode_mass(1.0, ratio, 3) == 0.0
        assert theory.max_weighted_coverage(1.0, ratio, (0.3, 0.7)) == 0.0
        assert theory.max_weighted_coverage(1.0, ratio, (0.3, 0.3, 0.4)) == 0.0
    out = theory.achievable_mode_mass(1.0, np.array([1.0, 1e155]), 3)
    assert out[1] == 0.0 and 0 < out[0] < 1 / 3


def test_wasserstein_at_tiny_L_is_the_limit():
    # L -> 0: D(rho) -> Phi(0) = 1/2 on [0, Delta/2], W1 -> Delta/4
    assert theory.wasserstein_lower_bound(1e-308, 2.0) == pytest.approx(0.5, rel=1e-12)
    assert theory.wasserstein_lower_bound(5e-324, 2.0, p=2) == pytest.approx(
        math.sqrt(0.5) * 1.0, rel=1e-9)         # (int_0^1 2 rho / 2 d rho)^(1/2)


def test_log_max_mode_mass_at_subnormal_L():
    assert theory.log_max_mode_mass(5e-324, 0.0) == pytest.approx(math.log(0.5), rel=1e-15)
    assert theory.log_max_mode_mass(np.array([5e-324]), 0.0)[0] == pytest.approx(
        math.log(0.5), rel=1e-15)
    assert theory.max_mode_mass(np.array([5e-324]), 0.0)[0] == 0.5


def test_collapse_threshold_of_tiny_arguments():
    assert theory.collapse_threshold(1e-300, 1e-300) == 0.25
    assert theory.collapse_threshold(np.array([1e-300]), 1e-300)[0] == 0.25


def test_min_prior_coverage_scalar_and_array_paths_agree():
    kl = np.array([1e308, 1e308, 0.5, 800.0, 1e-300])
    m = np.array([5e-324, 0.3, 0.2, 0.9, 0.7])
    arr = theory.min_prior_coverage(kl, m)
    assert not np.any(np.isnan(arr))
    for k, mm, a in zip(kl, m, arr, strict=True):
        assert theory.min_prior_coverage(float(k), float(mm)) == pytest.approx(a, rel=1e-12,
                                                                               abs=1e-300)


# --------------------------------------------------------------- spurious inf


def test_collapse_objective_at_huge_u():
    # J = g(u) Delta^2/(8 sigma^2) + (beta/2) log(1 + u^2), g(1e308) = 0 to double precision:
    # (1/2) log(1 + 1e616) = 308 log 10.
    assert theory.collapse_objective(1e308, 1.0, 1.0, 1.0) == pytest.approx(
        308 * math.log(10), rel=1e-14)


def test_chunk_separation_near_the_float_limit():
    assert theory.chunk_separation([1e308, 1e308]) == pytest.approx(math.sqrt(2) * 1e308,
                                                                    rel=1e-15)
    assert theory.chunk_separation(np.full((3, 2), 5e-324)) == pytest.approx(
        math.sqrt(6) * 5e-324, rel=0.3)          # subnormal: a few bits only


def test_act_weights_without_intermediate_overflow():
    assert theory.act_effective_kl_weight(1e300, 1e10, 1e10, 1e300) == pytest.approx(1e20,
                                                                                   rel=1e-15)
    assert theory.act_kl_weight(1e300, 1e200, 1e200, 1e-100) == pytest.approx(1e-200,
                                                                             rel=1e-15)
    assert theory.act_effective_kl_weight(1e300, 1e10, 1e10, 1.0) == math.inf   # truly > max


# --------------------------------------------------------------- wrong shape


def test_decoder_mass_with_all_zero_noise_keeps_the_broadcast_shape():
    out = theory.decoder_max_mode_mass(np.ones((2, 1)), 1.0, output_noise_std=np.zeros((1, 5)))
    assert out.shape == (2, 5)
    np.testing.assert_array_equal(out, theory.max_mode_mass(1.0, 1.0))


# --------------------------------------------------------------- invalid input accepted


@pytest.mark.parametrize("bad", ["1.0", b"0.5", 1 + 0j, complex(0.5, 0.0), True,
                                 np.array([True, False]), np.array(["1.0"]),
                                 np.array([0.5 + 0j]), None, [0.5, "a"]])
def test_non_real_input_is_a_type_error_naming_the_argument(bad):
    for call, name in [(lambda: theory.max_mode_mass(bad, 2.0), "L"),
                       (lambda: theory.min_bridge_mass(1.0, bad), "separation"),
                       (lambda: theory.kl_tv_bound(bad), "eps"),
                       (lambda: theory.isoperimetric_profile(bad), "m"),
                       (lambda: theory.wasserstein_lower_bound(1.0, 2.0, bad), "weights"),
                       (lambda: theory.max_mode_mass_local(1.0, 2.0, bad), "outside_mass")]:
        with pytest.raises(TypeError, match=name):
            call()


def test_numpy_scalars_and_zero_d_arrays_are_accepted():
    ref = theory.max_mode_mass(1.0, 2.0)
    for L in (np.float64(1.0), np.float32(1.0), np.array(1.0), np.int64(1), 1):
        assert theory.max_mode_mass(L, np.array(2.0)) == pytest.approx(ref, rel=1e-15)
    assert theory.max_mode_mass(1.0, 2.0, np.array(3)) == theory.max_mode_mass(1.0, 2.0, 3)


@pytest.mark.parametrize("call, name", [
    (lambda: theory.max_mode_mass(sympy.Integer(-1), 2), "L"),
    (lambda: theory.min_bridge_mass(1, sympy.Integer(-1)), "separation"),
    (lambda: theory.max_mode_mass(sympy.nan, 2), "L"),
    (lambda: theory.max_mode_mass(sympy.zoo, 2), "L"),
    (lambda: theory.max_mode_mass(sympy.I, 2), "L"),
    (lambda: theory.kl_tv_bound(sympy.Integer(-2)), "eps"),
    (lambda: theory.mode_mass_frontier(sympy.Integer(2), 1.0, 1.0), "m1"),
    (lambda: theory.max_mode_mass(sympy.Symbol("L", negative=True), 2), "L"),
    (lambda: theory.collapse_threshold(sympy.Integer(0), 1), "separation"),
])
def test_sympy_constants_are_validated_like_floats(call, name):
    with pytest.raises((ValueError, TypeError), match=name):
        call()


def test_valid_sympy_constants_give_the_exact_expression():
    half = theory.max_mode_mass(sympy.Rational(1), sympy.Integer(2))
    assert isinstance(half, sympy.Basic)
    assert float(half) == pytest.approx(theory.max_mode_mass(1.0, 2.0), rel=1e-14)
    tiny = theory.collapse_objective(sympy.Integer(0), 1.0, 1.0, 5e-324)   # no float 0/0
    assert isinstance(tiny, sympy.Basic)


def test_python_ints_beyond_float64():
    with pytest.raises(ValueError, match="^L must be representable as a float64"):
        theory.max_mode_mass(10**400, 2.0)
    with pytest.raises(ValueError, match="^separation must be representable"):
        theory.max_mode_mass(1.0, [1.0, 10**400])
    with pytest.raises(ValueError, match="^n_modes must be an integer in"):
        theory.max_mode_mass(1.0, 2.0, 10**400)
    with pytest.raises(ValueError, match="^p must be representable"):
        theory.wasserstein_lower_bound(1.0, 2.0, p=10**400)


def test_broadcast_errors_name_the_arguments():
    with pytest.raises(ValueError, match=r"L \(shape \(2,\)\).*separation \(shape \(3,\)\)"):
        theory.max_mode_mass(np.ones(2), np.ones(3))
    with pytest.raises(ValueError, match=r"m \(shape \(2,\)\).*r \(shape \(3,\)\)"):
        theory.gaussian_enlargement(np.full(2, 0.5), np.ones(3))
    with pytest.raises(ValueError, match="rate .shape"):
        theory.rate_decomposition(np.ones(2), np.zeros(3))


def test_sympy_mixed_with_an_array_is_a_type_error():
    with pytest.raises(TypeError, match="separation must be scalars when L"):
        theory.max_mode_mass(sympy.Symbol("L", positive=True), np.array([1.0, 2.0]))


def test_nan_is_rejected_everywhere_it_is_checked():
    for call, name in [(lambda: theory.max_mode_mass(math.nan, 1.0), "L"),
                       (lambda: theory.flow_lipschitz_bound([math.nan], [0.1], "one_sided"),
                        "step_lipschitz"),
                       (lambda: theory.binary_channel_mmse(math.nan), "u"),
                       (lambda: theory.collapse_threshold_local([0.0, math.nan], 1.0),
                        "centres"),
                       (lambda: theory.max_mode_mass_local(1.0, 1.0, math.nan), "outside_mass")]:
        with pytest.raises(ValueError, match=name):
            call()


# --------------------------------------------------------------- sizes and hangs


def test_huge_counts_are_fast_or_refused():
    start = time.perf_counter()
    assert 0 <= theory.max_mode_mass(1.0, 2.0, 10**12) <= 1e-12
    assert theory.max_mode_mass(1.0, 2.0, 1e12) == theory.max_mode_mass(1.0, 2.0, 10**12)
    assert time.perf_counter() - start < 1.0
    with pytest.raises(ValueError, match=r"^n_modes must be an integer in \[2, 8\]"):
        theory.achievable_mode_mass(1.0, 2.0, 9)
    with pytest.raises(ValueError, match="^weights must hold at most 32"):
        theory.wasserstein_lower_bound(1.0, 2.0, np.full(33, 1 / 33))


@pytest.mark.parametrize("K", [12, 20])
def test_many_equal_weights_finish_quickly(K):
    # They hung for more than 10 s (a recursion over all maximal matchings).
    start = time.perf_counter()
    w = theory.wasserstein_lower_bound(1.0, 2.0, np.full(K, 1 / K))
    assert time.perf_counter() - start < 10.0
    assert 0 < w <= 1.0


# --------------------------------------------------------------- found by the fuzz test


def test_fuzz_findings():
    # coincident centres with a subnormal sigma: 0 * inf was NaN
    assert theory.collapse_threshold_local([[1.0, 1.0], [1.0, 1.0]], 5e-324) == 0.0
    # symbolic local bridge with all mass outside the certified set: (m1 - p)/(1 - p) = zoo
    assert theory.min_bridge_mass_local(sympy.Integer(3), 1.0, 1.0, 0.5) == 0
    # an empty step array gave 1.0
    with pytest.raises(ValueError, match="^step_lipschitz must hold at least one step"):
        theory.flow_lipschitz_bound([], [0.1])
    # a SymPy number mixed with arrays: the error names both kinds of argument
    with pytest.raises(TypeError, match="kl_weight must be scalars when chunk_length"):
        theory.act_effective_kl_weight([1.0], sympy.Integer(3), 14)
    # symbolic paths convert floats to SymPy first: no float 0/0 or overflow there
    assert isinstance(theory.normal_pdf_expr(1e300), sympy.Basic)
    assert float(theory.max_mode_mass(sympy.Integer(3), 1.0, 2**40)) == pytest.approx(
        theory.max_mode_mass(3.0, 1.0, 2**40), rel=1e-9)
    # the numbers SymPy mislabels as not real (erfinv of a rational near -1) are evaluated
    expr = theory.normal_cdf_expr(theory.normal_quantile_expr(sympy.Rational(1, 2**40)))
    assert float(expr) == pytest.approx(2.0**-40, rel=1e-9)

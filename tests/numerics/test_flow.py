"""Tests of numerics.flow against closed forms.

Ground truths: the flow-matching velocity of a point-mass mixture and its Jacobian
(closed form, checked against autograd); the single-point target, whose exact flow is
``x_t = t c + (1 - t) x_0`` (Lipschitz ``1 - t``, reproduced exactly by Euler, Heun
and RK4); linear velocities ``v = s x``, whose step maps are the Taylor polynomials of
``exp(h s)``; the Euler flow map's Jacobian as the product of ``I + h J_v`` along the
trajectory.
"""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from numerics.flow import (
    ddim_coefficients,
    flow_lipschitz_lower,
    flow_lipschitz_upper,
    ideal_velocity,
    ideal_velocity_jacobian,
    integrate_flow,
    step_lipschitz_bound,
)
from numerics.lipschitz import jacobian_norm

CENTERS = torch.tensor([[-1.0, 0.0], [1.0, 0.0]], dtype=torch.float64)
WEIGHTS = torch.tensor([0.5, 0.5], dtype=torch.float64)


def two_mode_velocity(x, t):
    return ideal_velocity(x, t, CENTERS, WEIGHTS)


def sup_velocity_lipschitz(t, separation=2.0):
    """sup_x ||J_v(x, t)|| for two point masses: Cov = s u u^T, 0 <= s <= separation^2/4."""
    top = t * separation**2 / 4 / (1 - t) ** 2
    return max(1.0, abs(top - 1.0)) / (1 - t)


def sup_velocity_one_sided(t, separation=2.0):
    """sup_x lambda_max(sym J_v(x, t)) = (t (separation/2)^2 / (1-t)^2 - 1) / (1 - t)."""
    return (t * separation**2 / 4 / (1 - t) ** 2 - 1) / (1 - t)


@pytest.mark.parametrize("t", [0.0, 0.3, 0.7, 0.95])
def test_ideal_velocity_jacobian_matches_autograd(t):
    g = torch.Generator().manual_seed(0)
    centers = torch.randn(3, 4, generator=g, dtype=torch.float64)
    weights = torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64)
    x = torch.randn(5, 4, generator=g, dtype=torch.float64) * 0.5
    closed = ideal_velocity_jacobian(x, t, centers, weights)
    auto = torch.stack([torch.func.jacrev(lambda z: ideal_velocity(z[None], t, centers,
                                                                    weights)[0])(xi)
                        for xi in x])
    torch.testing.assert_close(closed, auto, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("method", ["euler", "heun", "rk4"])
def test_single_point_target_flow_is_exact(method):
    # one mode c: x_t = t c + (1 - t) x_0 solves dx/dt = (c - x)/(1 - t); every stage of
    # these solvers evaluates the exact line, so the flow map is x_0 -> t1 c + (1-t1) x_0
    c = torch.tensor([[2.0, -1.0, 0.5]], dtype=torch.float64)
    w = torch.tensor([1.0], dtype=torch.float64)
    x0 = torch.randn(6, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    t1 = 0.9
    out = integrate_flow(lambda x, t: ideal_velocity(x, t, c, w), x0, 7, method, t1=t1)
    torch.testing.assert_close(out, t1 * c + (1 - t1) * x0, rtol=1e-12, atol=1e-12)
    lower = flow_lipschitz_lower(lambda x, t: ideal_velocity(x, t, c, w), x0, 7, method,
                                 t1=t1, seed=0, ascent_steps=0, n_power=3)
    assert lower.value == pytest.approx(1 - t1, rel=1e-9)


def test_euler_flow_jacobian_is_the_product_of_step_jacobians():
    n_steps, t1 = 8, 0.9
    h = t1 / n_steps
    x0 = torch.tensor([[0.05, 0.3], [0.4, -0.2], [-0.02, 0.0]], dtype=torch.float64)
    path = integrate_flow(two_mode_velocity, x0, n_steps, "euler", t1=t1, return_path=True)
    jac = torch.eye(2, dtype=torch.float64).expand(3, 2, 2)
    for j in range(n_steps):
        step = torch.eye(2, dtype=torch.float64) + h * ideal_velocity_jacobian(
            path[j], j * h, CENTERS, WEIGHTS)
        jac = step @ jac
    exact = torch.linalg.matrix_norm(jac, 2)
    sigma, _ = jacobian_norm(lambda x: integrate_flow(two_mode_velocity, x, n_steps, "euler",
                                                      t1=t1),
                             x0, torch.ones(2, dtype=torch.bool), 30,
                             torch.Generator().manual_seed(0))
    torch.testing.assert_close(sigma, exact, rtol=1e-8, atol=0)


@pytest.mark.parametrize("method", ["euler", "heun", "rk4"])
def test_flow_product_bound_contains_the_flow_lower_bound(method):
    n_steps, t1 = 6, 0.8
    x0 = torch.randn(8, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    x0[:, 0] *= 0.2  # near the boundary between the two basins, where the map is steep
    lower = flow_lipschitz_lower(two_mode_velocity, x0, n_steps, method, t1=t1, seed=0,
                                 ascent_steps=2, n_power=6)
    upper = flow_lipschitz_upper(sup_velocity_lipschitz, n_steps, method, t1=t1)
    assert lower.kind == "lower" and upper.kind == "upper"
    assert 1.0 < lower.value <= upper.value  # the two-mode flow must expand
    if method == "euler":
        sharper = flow_lipschitz_upper(sup_velocity_lipschitz, n_steps, method, t1=t1,
                                       one_sided_at=sup_velocity_one_sided)
        assert lower.value <= sharper.value < upper.value


@settings(max_examples=30)
@given(st.sampled_from(["euler", "heun", "rk4"]), st.floats(0.01, 0.5), st.floats(0.0, 4.0))
def test_step_bound_is_exact_for_scalar_linear_velocity(method, h, s):
    # v = s x: the step map is x -> p(h s) x with p the method's Taylor polynomial of exp
    order = {"euler": 1, "heun": 2, "rk4": 4}[method]
    exact = sum((h * s) ** k / math.factorial(k) for k in range(order + 1))
    x = torch.ones(1, 1, dtype=torch.float64)
    assert float(integrate_flow(lambda z, t: s * z, x, 1, method, t1=h)) == pytest.approx(exact)
    stages = {"euler": (s,), "heun": (s, s), "rk4": (s, s, s)}[method]
    assert step_lipschitz_bound(method, h, stages) == pytest.approx(exact, rel=1e-12)


@settings(max_examples=30)
@given(st.sampled_from(["euler", "heun", "rk4"]), st.floats(0.01, 0.5), st.integers(0, 10_000))
def test_step_bound_covers_matrix_linear_velocity(method, h, seed):
    a = np.random.default_rng(seed).normal(size=(3, 3))
    order = {"euler": 1, "heun": 2, "rk4": 4}[method]
    step = sum(np.linalg.matrix_power(h * a, k) / math.factorial(k) for k in range(order + 1))
    l = np.linalg.norm(a, 2)
    mu = np.linalg.eigvalsh((a + a.T) / 2)[-1]
    bound = step_lipschitz_bound(method, h, (l,) * {"euler": 1, "heun": 2, "rk4": 3}[method])
    assert np.linalg.norm(step, 2) <= bound * (1 + 1e-12)
    if method == "euler":
        assert np.linalg.norm(step, 2) <= step_lipschitz_bound("euler", h, (l,), one_sided=mu) \
            * (1 + 1e-12)


def test_ddim_linear_noise_model():
    # eps(x, t) = s x: each DDIM step is x -> (a_j + b_j s) x, so Lip = prod |a_j + b_j s|
    alpha_bars = torch.tensor([0.02, 0.1, 0.4, 0.8, 0.99], dtype=torch.float64)
    a, b = ddim_coefficients(alpha_bars)
    s = 0.7
    exact = float(torch.prod((a + b * s).abs()))
    x0 = torch.randn(4, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = integrate_flow(lambda x, t: s * x, x0, 4, "ddim", alpha_bars=alpha_bars)
    torch.testing.assert_close(out, x0 * float(torch.prod(a + b * s)))
    lower = flow_lipschitz_lower(lambda x, t: s * x, x0, 4, "ddim", alpha_bars=alpha_bars)
    upper = flow_lipschitz_upper(lambda t: s, 4, "ddim", alpha_bars=alpha_bars)
    assert lower.value == pytest.approx(exact, rel=1e-9)
    assert upper.value >= exact
    assert upper.value == pytest.approx(float(torch.prod(a.abs() + b.abs() * s)))
    # DDIM with an exact noise predictor of a point mass at 0 recovers x -> 0 scaled:
    # eps = x / sqrt(1 - abar) makes every step x -> sqrt((1-abar')/(1-abar)) x
    ratio = math.sqrt((1 - 0.99) / (1 - 0.02))
    abar = dict(zip([j / 4 for j in range(5)], alpha_bars.tolist(), strict=True))
    out = integrate_flow(lambda x, t: x / math.sqrt(1 - abar[t]), x0, 4, "ddim",
                         alpha_bars=alpha_bars)
    torch.testing.assert_close(out, ratio * x0)


def test_flow_errors():
    x0 = torch.zeros(2, 2)
    with pytest.raises(ValueError, match="method"):
        integrate_flow(lambda x, t: x, x0, 3, "midpoint")
    with pytest.raises(ValueError, match="n_steps"):
        integrate_flow(lambda x, t: x, x0, 0)
    with pytest.raises(ValueError, match="alpha_bars"):
        integrate_flow(lambda x, t: x, x0, 3, "ddim")
    with pytest.raises(ValueError, match="alpha_bars"):
        integrate_flow(lambda x, t: x, x0, 3, "ddim", alpha_bars=[0.1, 0.5, 1.0])
    with pytest.raises(TypeError, match="x0"):
        integrate_flow(lambda x, t: x, [[0.0]], 3)
    with pytest.raises(ValueError, match="t must lie"):
        ideal_velocity(x0.double(), 1.0, CENTERS, WEIGHTS)
    with pytest.raises(ValueError, match="one_sided_at"):
        flow_lipschitz_upper(lambda t: 1.0, 3, "rk4", one_sided_at=lambda t: 0.0)
    with pytest.raises(ValueError, match="stage Lipschitz"):
        step_lipschitz_bound("euler", 0.1, (-1.0,))

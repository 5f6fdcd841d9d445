"""`numerics.sampler_lipschitz_local`: the certified constant on a ball, checked against
an independent computation (dense float64 Jacobians by torch.func and random pairs)."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from numerics import sampler_lipschitz_local, sampler_map
from numerics.lipschitz import local as local_module
from theory import outside_ball_mass


def _velocity(seed: int, width: int = 16, act=nn.SiLU) -> nn.Sequential:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(3, width), act(), nn.Linear(width, width), act(),
                        nn.Linear(width, 2)).double()
    with torch.no_grad():  # steeper than the default initialisation: a real test
        for m in net:
            if isinstance(m, nn.Linear):
                m.weight.mul_(2.0)
    return net


def _condition(t):
    return torch.tensor([t], dtype=torch.float64)


def _dense_max_jacobian(net, radius: float, sampler="euler", n_steps=4, points=161, **kw):
    """max ||J_S|| over a grid of the ball (float64, torch.func): a lower bound on L_B."""
    f = sampler_map(net, sampler, n_steps, state_dim=2, condition=_condition, **kw)
    g = torch.linspace(-radius, radius, points, dtype=torch.float64)
    x = torch.cartesian_prod(g, g)
    x = x[(x * x).sum(1) <= radius * radius]
    jac = torch.func.vmap(torch.func.jacrev(lambda e: f(e[None])[0]))(x)
    return float(torch.linalg.matrix_norm(jac, 2).max().detach()), f


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 10_000), act=st.sampled_from([nn.SiLU, nn.Tanh, nn.ReLU, nn.GELU]))
def test_local_bound_is_above_every_jacobian_and_quotient_in_the_ball(seed, act):
    net = _velocity(seed, act=act)
    est = sampler_lipschitz_local(net, "euler", 4, state_dim=2, condition=_condition,
                                  radius=2.5, max_seconds=60)
    dense, f = _dense_max_jacobian(net, 2.5)
    assert est.kind == "upper"
    assert dense <= est.value * (1 + 1e-9)
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(4000, 2, generator=gen, dtype=torch.float64)
    b = a + 0.05 * torch.randn(4000, 2, generator=gen, dtype=torch.float64)
    inside = ((a * a).sum(1) <= 6.25) & ((b * b).sum(1) <= 6.25)
    q = (f(b) - f(a)).norm(dim=1) / (b - a).norm(dim=1)
    assert float(q[inside].max()) <= est.value
    if est.details["converged"]:  # tight as well as valid
        assert est.value <= (1 + est.details["tolerance"]) * est.details["lower"] * (1 + 1e-6)
    # the lower end is attained: ||J|| at a point of the ball, recomputed by torch.func
    point = torch.tensor(est.details["lower_point"], dtype=torch.float64)
    assert float(point.norm()) <= 2.5
    at = torch.func.jacrev(lambda e: f(e[None])[0])(point)
    assert math.isclose(float(torch.linalg.matrix_norm(at, 2)), est.details["lower"],
                        rel_tol=1e-9)


def test_ddim_with_clipping_and_outside_mass():
    net = _velocity(3)
    kw = dict(alpha_bars=[0.02, 0.3, 0.7, 0.99], clip_sample=1.0)
    est = sampler_lipschitz_local(net, "ddim", state_dim=2, condition=_condition,
                                  outside_mass=0.01, max_seconds=60, **kw)
    assert math.isclose(est.details["outside_mass"], 0.01, rel_tol=1e-9)
    assert math.isclose(float(outside_ball_mass(est.details["radius"], 2)), 0.01, rel_tol=1e-9)
    dense, _ = _dense_max_jacobian(net, est.details["radius"], "ddim", None, **kw)
    assert dense <= est.value


def test_a_planted_bug_in_the_slope_ranges_is_caught(monkeypatch):
    """The dense check fails the bound once each neuron's slope range is replaced by its
    slope at the middle of its interval (a pointwise linearisation): the test above can
    fail."""
    net = _velocity(1, act=nn.Tanh)
    coarse = dict(state_dim=2, condition=_condition, radius=2.5, initial_cells=16,
                  max_cells=16)
    dense, _ = _dense_max_jacobian(net, 2.5)
    assert dense <= sampler_lipschitz_local(net, "euler", 4, **coarse).value
    def midpoint_slope(act, lo, hi):
        mid = local_module._derivative(act, (lo + hi) / 2)
        return mid, mid

    monkeypatch.setattr(local_module, "_slope_range", midpoint_slope)
    assert dense > sampler_lipschitz_local(net, "euler", 4, **coarse).value * 1.01


def test_much_tighter_than_the_global_certificate():
    from numerics import sampler_lipschitz_upper

    net = _velocity(7, width=32)
    loc = sampler_lipschitz_local(net, "euler", 8, state_dim=2, condition=_condition,
                                  radius=3.0, max_seconds=60)
    glob = sampler_lipschitz_upper(net, "euler", 8, state_dim=2, condition=_condition)
    assert loc.value < glob.value


def test_caps_return_a_certified_value():
    net = _velocity(2)
    est = sampler_lipschitz_local(net, "euler", 4, state_dim=2, condition=_condition,
                                  radius=2.5, max_cells=300, initial_cells=64)
    dense, _ = _dense_max_jacobian(net, 2.5)
    assert est.details["stopped"] in ("max_cells", "tolerance")
    assert dense <= est.value


@pytest.mark.parametrize("kwargs, match", [
    ({}, "exactly one of radius"),
    ({"radius": 1.0, "outside_mass": 0.1}, "exactly one of radius"),
    ({"radius": -1.0}, "radius"),
    ({"outside_mass": 1.5}, "outside_mass"),
    ({"radius": 1.0, "tolerance": 0.0}, "tolerance"),
    ({"radius": 1.0, "max_cells": 0}, "max_cells"),
])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sampler_lipschitz_local(_velocity(0), "euler", 2, state_dim=2, condition=_condition,
                                **kwargs)


def test_unsupported_layers_and_samplers():
    net = nn.Sequential(nn.Linear(3, 4), nn.Softsign(), nn.Linear(4, 2)).double()
    with pytest.raises(TypeError, match="Softsign"):
        sampler_lipschitz_local(net, "euler", 2, state_dim=2, condition=_condition, radius=1.0)
    with pytest.raises(ValueError, match="ddpm"):
        sampler_lipschitz_local(_velocity(0), "ddpm", state_dim=2, condition=_condition,
                                radius=1.0, alpha_bars=[0.1, 0.5, 0.9])
    with pytest.raises(ValueError, match="state_dim"):
        sampler_lipschitz_local(nn.Sequential(nn.Linear(10, 9)).double(), "euler", 2,
                                state_dim=9, condition=_condition, radius=1.0)

"""Tests of the certified one-sided Lipschitz constant (numerics.lipschitz.one_sided).

Checks: above the largest sampled lambda_max(sym J) (autograd Jacobians at 2000 points,
seed 0); below the certified Lipschitz constant; exactly 0 (up to rounding) on the
gradient-descent field v(x) = -W^T relu(W x), whose Jacobian -W^T D W is negative
semidefinite with 0 attained where every unit is off.
"""

import pytest
import torch
from torch import nn

from numerics.flow import flow_lipschitz_upper, integrate_flow
from numerics.lipschitz import lipschitz_lower, lipschitz_upper, one_sided_lipschitz_upper


@pytest.mark.parametrize("activation", [nn.Tanh, nn.ReLU, nn.GELU])
def test_one_sided_bound_between_sampled_lognorm_and_lipschitz(activation):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 12), activation(), nn.Linear(12, 2))  # input (x, t)
    mu = one_sided_lipschitz_upper(model, slice(0, 2)).value
    x = torch.randn(2000, 3, generator=torch.Generator().manual_seed(0))
    jac = torch.func.vmap(torch.func.jacrev(lambda z: model(z[None])[0]))(x)[:, :, :2]
    sampled = torch.linalg.eigvalsh((jac + jac.transpose(1, 2)) / 2)[:, -1].max()
    assert float(sampled) <= mu
    assert mu <= lipschitz_upper(model, input_slice=slice(0, 2)).value * (1 + 1e-9)


def test_one_sided_bound_is_zero_for_a_monotone_gradient_field():
    w = torch.randn(8, 3, generator=torch.Generator().manual_seed(1))
    model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 3))
    with torch.no_grad():
        model[0].weight.copy_(w)
        model[2].weight.copy_(-w.T)
    assert one_sided_lipschitz_upper(model).value == pytest.approx(0.0, abs=1e-9)


def test_one_sided_euler_certificate_holds_for_a_trained_size_velocity():
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 2)).double()

    def velocity(x, t):
        return model(torch.cat([x, torch.full_like(x[:, :1], t)], dim=1))

    l = lipschitz_upper(model, input_slice=slice(0, 2)).value
    mu = one_sided_lipschitz_upper(model, slice(0, 2)).value
    plain = flow_lipschitz_upper(lambda t: l, 20, "euler").value
    sharp = flow_lipschitz_upper(lambda t: l, 20, "euler", one_sided_at=lambda t: mu).value
    x0 = torch.randn(16, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    lower = lipschitz_lower(lambda x: integrate_flow(velocity, x, 20, "euler"), x0, n_steps=3,
                            n_power=10).value
    assert lower <= sharp <= plain


def test_one_sided_errors():
    with pytest.raises(ValueError, match="one hidden layer"):
        one_sided_lipschitz_upper(nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 4),
                                                nn.ReLU(), nn.Linear(4, 2)))
    with pytest.raises(ValueError, match="outputs"):
        one_sided_lipschitz_upper(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)))

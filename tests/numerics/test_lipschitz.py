"""Tests of numerics.lipschitz against closed forms, brute force and each other.

Seeds are fixed (torch.manual_seed / generator seeds in each test; hypothesis
derandomized in CI). Ground truths used:
- linear maps: Lip = top singular value (numpy.linalg.norm(., 2));
- nonnegative weights: Lip = ||W_1 W_0|| exactly (0 <= W_1 D W_0 <= W_1 W_0 entrywise);
- one hidden ReLU layer with full-row-rank W_0: every activation pattern D occurs, so
  Lip = max_D ||W_1 D W_0|| over all 2^n patterns (brute force);
- the certificate's Schur recursion against the dense LipSDP-Neuron matrix (numpy).
"""

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from numerics.lipschitz import (
    UPPER_METHODS,
    LipschitzEstimate,
    NotCertified,
    activation_slopes,
    certify_multipliers,
    lipschitz_lower,
    lipschitz_upper,
    network_from_sequential,
)

ACTIVATIONS = (nn.ReLU, nn.Tanh, nn.Sigmoid, nn.SiLU, nn.GELU, lambda: nn.LeakyReLU(0.1))
FAST_UPPER = ("spectral-product", "eclipse-fast", "fast-certified")


def mlp(widths, activation=nn.ReLU, seed=0):
    torch.manual_seed(seed)
    layers = []
    for i in range(len(widths) - 1):
        layers.append(nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


def brute_force_one_hidden_relu(w0: np.ndarray, w1: np.ndarray) -> float:
    """max over all activation patterns of ||W1 D W0|| (exact when W0 has full row rank)."""
    return max(np.linalg.norm(w1 @ np.diag(d) @ w0, 2)
               for d in itertools.product((0.0, 1.0), repeat=w0.shape[0]))


def test_estimate_validates_kind_and_value():
    with pytest.raises(ValueError, match="kind"):
        LipschitzEstimate(1.0, "approx", "m", 0.0)
    with pytest.raises(ValueError, match="value"):
        LipschitzEstimate(float("nan"), "upper", "m", 0.0)


@settings(max_examples=12)
@given(st.integers(1, 6), st.integers(1, 6), st.integers(0, 10_000))
def test_linear_map_upper_equal_and_lower_reaches_singular_value(n_in, n_out, seed):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(n_in, n_out))
    sigma = np.linalg.norm(model[0].weight.detach().double().numpy(), 2)
    for method in FAST_UPPER:
        est = lipschitz_upper(model, method)
        assert est.kind == "upper"
        assert est.value == pytest.approx(sigma, rel=1e-9)
    lower = lipschitz_lower(model, n_starts=4, seed=seed, n_steps=0, n_power=60)
    assert lower.kind == "lower"
    assert lower.value == pytest.approx(sigma, rel=1e-4)
    quotient = lipschitz_lower(model, method="difference-quotient", seed=seed)
    assert quotient.value <= sigma * (1 + 1e-5)


def test_linear_layers_with_identity_between_are_multiplied():
    model = nn.Sequential(nn.Linear(4, 5), nn.Identity(), nn.Linear(5, 3))
    w = (model[2].weight @ model[0].weight).detach().double().numpy()
    assert lipschitz_upper(model, "eclipse-fast").value == pytest.approx(np.linalg.norm(w, 2))


@pytest.mark.parametrize("seed", range(3))
def test_nonnegative_weights_constant_is_attained(seed):
    # 0 <= W1 D W0 <= W1 W0 entrywise, and the spectral norm is monotone on nonnegative
    # matrices, so Lip = ||W1 W0||, attained where every unit is active (x > 0 here).
    g = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 7, bias=False), nn.ReLU(), nn.Linear(7, 3, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.rand(7, 5, generator=g))
        model[2].weight.copy_(torch.rand(3, 7, generator=g))
    exact = np.linalg.norm((model[2].weight @ model[0].weight).detach().double().numpy(), 2)
    for method in UPPER_METHODS:
        assert lipschitz_upper(model, method).value >= exact * (1 - 1e-7), method
    # LipSDP-Neuron is exact on this net (the all-active pattern is the worst one)
    assert lipschitz_upper(model, "fast-certified").value == pytest.approx(exact, rel=2e-3)
    starts = torch.rand(8, 5, generator=g)
    lower = lipschitz_lower(model, starts, seed=seed)
    assert lower.value == pytest.approx(exact, rel=1e-5)


def test_identity_through_relu_pair_is_exact():
    # f(x) = A relu(x) - A relu(-x) = A x: W0 = [I; -I], W1 = [A, -A]; Lip = ||A||.
    torch.manual_seed(3)
    a = torch.randn(3, 4, dtype=torch.float64)
    model = nn.Sequential(nn.Linear(4, 8, bias=False), nn.ReLU(), nn.Linear(8, 3, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.cat([torch.eye(4), -torch.eye(4)]))
        model[2].weight.copy_(torch.cat([a, -a], dim=1))
    exact = float(torch.linalg.matrix_norm(a, 2))
    for method in UPPER_METHODS:
        assert lipschitz_upper(model, method).value >= exact * (1 - 1e-6), method
    # Neuron-wise multipliers cannot see that relu(x) and relu(-x) never both grow, so
    # LipSDP-Neuron is loose here (measured: exactly 2 ||A||); it must not be below.
    neuron = lipschitz_upper(model, "fast-certified").value
    assert neuron == pytest.approx(lipschitz_upper(model, "lipsdp-neuron").value, rel=1e-3)
    assert lipschitz_lower(model.double(), seed=0).value == pytest.approx(exact, rel=1e-6)


@settings(max_examples=12)
@given(st.integers(2, 5), st.integers(1, 3), st.integers(0, 10_000))
def test_brute_force_relu_constant_between_lower_and_upper(hidden, n_out, seed):
    model = mlp([6, hidden, n_out], seed=seed)
    w0 = model[0].weight.detach().double().numpy()
    w1 = model[2].weight.detach().double().numpy()
    exact = brute_force_one_hidden_relu(w0, w1)
    for method in ("eclipse-fast", "fast-certified", "lipsdp-neuron", "lipsdp-layer"):
        assert lipschitz_upper(model, method).value >= exact * (1 - 1e-7), method
    lower = lipschitz_lower(model, n_starts=64, seed=seed)
    assert lower.value <= exact * (1 + 1e-5)


def _dense_neuron_matrix(net, mults, rho):
    """The full LipSDP-Neuron matrix M(rho, T) (numpy), built from its definition."""
    w = [x.numpy() for x in net.weights]
    sizes = [x.shape[1] for x in w]
    offs = np.concatenate([[0], np.cumsum(sizes)])
    m = np.zeros((offs[-1], offs[-1]))
    m[:sizes[0], :sizes[0]] = -rho * np.eye(sizes[0])
    for k in range(1, len(w)):
        a, b = net.slopes[k - 1]
        t = np.diag(mults[k - 1].numpy())
        i, j = slice(offs[k - 1], offs[k]), slice(offs[k], offs[k + 1])
        m[i, i] += -2 * a * b * w[k - 1].T @ t @ w[k - 1]
        m[j, j] += -2 * t
        m[j, i] += (a + b) * t @ w[k - 1]
        m[i, j] += (a + b) * w[k - 1].T @ t
    last = slice(offs[-2], offs[-1])
    m[last, last] += w[-1].T @ w[-1]
    return m


@pytest.mark.parametrize("activation", [nn.ReLU, nn.GELU, nn.Sigmoid])
def test_certificate_is_the_smallest_feasible_rho_of_the_dense_lmi(activation):
    net = network_from_sequential(mlp([3, 6, 5, 2], activation, seed=1))
    est = lipschitz_upper(net, "fast-certified")
    mults = est.details["multipliers"]
    rho = est.value**2
    assert np.linalg.eigvalsh(_dense_neuron_matrix(net, mults, rho * (1 + 1e-9)))[-1] <= 1e-9
    assert np.linalg.eigvalsh(_dense_neuron_matrix(net, mults, rho * (1 - 1e-4)))[-1] > 0
    assert est.details["min_pivot_eigenvalue"] > 0


def test_certify_refuses_infeasible_multipliers():
    net = network_from_sequential(mlp([3, 4, 2], seed=0))
    with pytest.raises(NotCertified):
        certify_multipliers(net, [torch.zeros(4, dtype=torch.float64)])
    with pytest.raises(NotCertified):
        certify_multipliers(net, [-torch.ones(4, dtype=torch.float64)])


def test_fast_certified_matches_lipsdp_neuron_and_beats_eclipse():
    model = mlp([8, 24, 24, 3], seed=5)
    neuron = lipschitz_upper(model, "lipsdp-neuron")
    fast = lipschitz_upper(model, "fast-certified")
    eclipse = lipschitz_upper(model, "eclipse-fast")
    layer = lipschitz_upper(model, "lipsdp-layer")
    assert fast.value == pytest.approx(neuron.value, rel=5e-3)
    assert fast.value <= eclipse.value
    assert neuron.value <= layer.value * (1 + 1e-4)
    assert lipschitz_upper(model, "spectral-product").value >= neuron.value


@settings(max_examples=10)
@given(
    st.lists(st.integers(1, 6), min_size=3, max_size=5),
    st.sampled_from(range(len(ACTIVATIONS))),
    st.integers(0, 10_000),
)
def test_every_upper_bound_exceeds_every_lower_bound(widths, act, seed):
    model = mlp(widths, ACTIVATIONS[act], seed=seed)
    lowers = [lipschitz_lower(model, n_starts=16, seed=seed, n_steps=5).value,
              lipschitz_lower(model, method="difference-quotient", n_starts=16,
                              seed=seed).value]
    methods = ["spectral-product", "fast-certified", "lipsdp-neuron"]
    if ACTIVATIONS[act] in (nn.ReLU, nn.Tanh, nn.Sigmoid):
        methods.append("eclipse-fast")
    for method in methods:
        upper = lipschitz_upper(model, method).value
        assert upper >= max(lowers) * (1 - 1e-6), (method, upper, lowers)


def test_input_slice_uses_only_the_noise_columns():
    # (noise, observation) input: only the noise block varies
    model = mlp([5, 16, 3], nn.Tanh, seed=2)
    full = network_from_sequential(model)
    noise = network_from_sequential(model, slice(0, 3))
    assert noise.weights[0].shape == (16, 3)
    assert torch.equal(noise.weights[0], full.weights[0][:, :3])
    upper = lipschitz_upper(model, "fast-certified", input_slice=slice(0, 3)).value
    assert upper <= lipschitz_upper(model, "fast-certified").value * (1 + 1e-6)
    obs = torch.randn(1, 2).expand(32, 2)
    inputs = torch.cat([torch.randn(32, 3), obs], dim=1)
    lower = lipschitz_lower(model, inputs, input_slice=slice(0, 3), seed=0, n_steps=10)
    assert lower.value <= upper
    assert torch.equal(lower.details["argmax"][3:], obs[0])  # observation never moved
    linear = nn.Sequential(nn.Linear(5, 3))
    sigma = np.linalg.norm(linear[0].weight.detach().numpy()[:, :3], 2)
    assert lipschitz_upper(linear, input_slice=[0, 1, 2]).value == pytest.approx(sigma, rel=1e-6)


def test_region_restricts_the_lower_bound():
    # f(x) = relu(x_0) * 2: slope 2 only on x_0 > 0; in the region x_0 < 0 it is 0
    model = nn.Sequential(nn.Linear(2, 1, bias=False), nn.ReLU(), nn.Linear(1, 1, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, 0.0]]))
        model[2].weight.fill_(2.0)
    points = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
    negative = points[points[:, 0] < 0]
    assert lipschitz_lower(model, region=negative).value == 0.0
    assert lipschitz_lower(model, points, region=lambda x: x[:, 0] < 0).value == 0.0
    assert lipschitz_lower(model, points).value == pytest.approx(2.0)


def test_activation_slope_table_contains_the_derivative_range():
    x = torch.linspace(-12, 12, 200_001, dtype=torch.float64, requires_grad=True)
    for layer in (nn.ReLU(), nn.Tanh(), nn.Sigmoid(), nn.SiLU(), nn.GELU(),
                  nn.GELU(approximate="tanh"), nn.Mish(), nn.ELU(), nn.Softplus(),
                  nn.LeakyReLU(0.2)):
        (grad,) = torch.autograd.grad(layer(x).sum(), x)
        lo, hi = activation_slopes(layer)
        assert lo <= float(grad.min()) and float(grad.max()) <= hi, layer
        assert float(grad.min()) - lo < 1e-4 and hi - float(grad.max()) < 1e-4, layer


def test_errors_name_the_problem():
    with pytest.raises(TypeError, match="Conv1d"):
        lipschitz_upper(nn.Sequential(nn.Linear(3, 4), nn.Conv1d(1, 1, 1)))
    with pytest.raises(TypeError, match="BatchNorm1d"):
        lipschitz_upper(nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1)))
    with pytest.raises(TypeError, match="Sequential"):
        lipschitz_upper(nn.Linear(3, 4))
    with pytest.raises(ValueError, match="method"):
        lipschitz_upper(mlp([2, 3, 1]), "lipsdp-network")
    with pytest.raises(ValueError, match="follow an nn.Linear"):
        lipschitz_upper(nn.Sequential(nn.ReLU(), nn.Linear(3, 1)))
    with pytest.raises(ValueError, match="alpha >= 0"):
        lipschitz_upper(mlp([2, 3, 1], nn.GELU), "eclipse-fast")
    with pytest.raises(ValueError, match="input_slice"):
        lipschitz_upper(mlp([2, 3, 1]), input_slice=slice(5, 9))
    with pytest.raises(ValueError, match="n_starts"):
        lipschitz_lower(mlp([2, 3, 1]), n_starts=0)
    with pytest.raises(ValueError, match="method"):
        lipschitz_lower(mlp([2, 3, 1]), method="grid")
    with pytest.raises(ValueError, match="input_dim"):
        lipschitz_lower(lambda x: x)
    with pytest.raises(ValueError, match="inputs"):
        lipschitz_lower(lambda x: x, torch.zeros(3))


def test_trailing_activation_gets_identity_output_layer():
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh())
    est = lipschitz_upper(model, "fast-certified")
    assert est.value >= lipschitz_lower(model, seed=1, n_steps=10).value
    assert est.value <= np.linalg.norm(model[0].weight.detach().numpy(), 2) * (1 + 1e-6)


def test_fast_certified_out_of_time_returns_the_certified_start():
    model = mlp([4, 16, 16, 2], seed=7)
    eclipse = lipschitz_upper(model, "eclipse-fast").value
    stopped = lipschitz_upper(model, "fast-certified", max_seconds=0.0)
    assert stopped.value == pytest.approx(eclipse, rel=1e-12)
    assert stopped.details["evaluations"] == 0

"""Tests of the whole-sampler certificate (numerics.lipschitz.sampler).

Ground truths, none taken from the code under test:
- linear velocities / noise models (depth-0 networks): every sampler map is linear, its
  constant is the top singular value of the product of the step matrices (numpy);
- one-dimensional states: the map is scalar, and difference quotients on a dense grid over
  a wide interval are (valid) lower bounds that approach the constant;
- random small networks: lower bounds (Jacobian ascent, difference quotients) through the
  sampler map, which is built independently of the certificate's recursion;
- the joint LipSDP-Neuron matrix of the whole unrolled graph, assembled densely from its
  definition in numpy: for the certificate's own multipliers it must be negative
  semidefinite at the certified rho and not below the recursion's lambda_max(P_0);
- the existing one-network certificate (`certify_multipliers`) for the one-step decoder;
- diffusers' DDIMScheduler / DDPMScheduler step loops (skipped without diffusers).
"""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from numerics.lipschitz import certify_multipliers, lipschitz_lower, lipschitz_upper
from numerics.lipschitz.network import network_from_sequential
from numerics.lipschitz.sampler import (
    _clip_network,
    certify_chain,
    product_bound,
    sampler_lipschitz_upper,
    sampler_map,
    unroll_sampler,
)

F64 = torch.float64
SCHEDULE = {"alpha_bars": [0.05, 0.3, 0.7, 0.95, 1.0]}  # 4 DDIM steps, noisy to clean


def mlp(widths, activation=nn.ReLU, seed=0):
    torch.manual_seed(seed)
    layers = []
    for i in range(len(widths) - 1):
        layers.append(nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            layers.append(activation())
    return nn.Sequential(*layers).double()


def time_input(t):
    return torch.tensor([float(t)], dtype=F64)


def quick(net, sampler, n_steps=None, **kw):
    kw.setdefault("max_iter", 30)
    kw.setdefault("refine_iter", 15)
    kw.setdefault("smoothing", (1e-2, 1e-3))
    return sampler_lipschitz_upper(net, sampler, n_steps, **kw)


# --------------------------------------------------------------------------- linear maps


def step_matrices(unrolled, k):
    """Each step of a sampler whose network is the linear map ``k`` (numpy), built from the
    sampler's definition: Euler/Heun/RK4 tableaux, DDIM/DDPM update formulas."""
    eye = np.eye(k.shape[0])
    out = []
    for step in unrolled.steps:
        ys = [eye]
        for stage in step.stages:
            z = sum(c * y for c, y in zip(stage.inputs, ys, strict=False))
            ys.append(z if stage.clip else k @ z)
        out.append(sum(o * y for o, y in zip(step.output, ys, strict=True)))
    return out


@pytest.mark.parametrize("sampler, n_steps, schedule", [
    ("euler", 5, {}), ("heun", 3, {}), ("rk4", 2, {}), ("ddim", None, SCHEDULE),
])
def test_linear_network_certificate_is_the_exact_constant(sampler, n_steps, schedule):
    g = torch.Generator().manual_seed(3)
    k = torch.randn(3, 3, generator=g, dtype=F64)
    net = nn.Sequential(nn.Linear(3, 3, bias=False)).double()
    with torch.no_grad():
        net[0].weight.copy_(k)
    unrolled = unroll_sampler(sampler, n_steps, **schedule)
    prod = np.eye(3)
    for m in step_matrices(unrolled, k.numpy()):
        prod = m @ prod
    exact = np.linalg.norm(prod, 2)
    est = quick(net, unrolled, state_dim=3)
    assert est.value >= exact
    assert est.value == pytest.approx(exact, rel=1e-6)
    # the product of step norms is valid and never below
    assert est.details["product"] >= exact * (1 - 1e-12)


@pytest.mark.parametrize("sampler", ["euler", "heun", "rk4"])
def test_scalar_linear_velocity_gives_the_taylor_polynomial(sampler):
    # v = s x: one step multiplies by the method's Taylor polynomial of exp(h s)
    s, n = 1.7, 4
    order = {"euler": 1, "heun": 2, "rk4": 4}[sampler]
    factor = sum((s / n) ** i / math.factorial(i) for i in range(order + 1))
    net = nn.Sequential(nn.Linear(1, 1, bias=False)).double()
    with torch.no_grad():
        net[0].weight.fill_(s)
    est = quick(net, sampler, n, state_dim=1)
    assert est.value == pytest.approx(factor**n, rel=1e-7)
    assert sampler_map(net, sampler, n, state_dim=1)(torch.ones(1, 1, dtype=F64)).item() == \
        pytest.approx(factor**n, rel=1e-12)


# --------------------------------------------------------------------------- 1-D states


def grid_lower(f, lo=-30.0, hi=30.0, n=200_001):
    x = torch.linspace(lo, hi, n, dtype=F64)[:, None]
    with torch.no_grad():
        y = f(x)[:, 0]
    return float(((y[1:] - y[:-1]).abs() / (x[1:, 0] - x[:-1, 0])).max())


@settings(max_examples=12)
@given(st.sampled_from(["euler", "heun", "rk4", "ddim", "ddim-clip", "decoder"]),
       st.integers(1, 4), st.sampled_from([nn.ReLU, nn.Tanh, nn.SiLU]), st.integers(0, 10_000))
def test_one_dimensional_certificate_is_above_the_dense_grid_constant(sampler, n_steps,
                                                                      activation, seed):
    net = mlp([2, 6, 1], activation, seed)
    cond = time_input
    if sampler.startswith("ddim"):
        path = np.linspace(0.1, 1.0, n_steps + 1).tolist()
        schedule = {"alpha_bars": path, "clip_sample": 1.5 if sampler == "ddim-clip" else None}
        unrolled = unroll_sampler("ddim", **schedule)
    else:
        unrolled = unroll_sampler(sampler, None if sampler == "decoder" else n_steps)
    est = quick(net, unrolled, state_dim=1, condition=cond)
    exact_ish = grid_lower(sampler_map(net, unrolled, state_dim=1, condition=cond))
    assert exact_ish <= est.value * (1 + 1e-9), (exact_ish, est.value)
    assert est.value <= est.details["product"] * (1 + 1e-12)


# --------------------------------------------------------------------------- lower bounds


@settings(max_examples=10)
@given(st.sampled_from(["euler", "heun", "rk4", "ddim", "ddpm"]), st.integers(1, 3),
       st.lists(st.integers(2, 8), min_size=1, max_size=2),
       st.sampled_from([nn.ReLU, nn.Tanh, nn.SiLU, nn.GELU]), st.integers(0, 10_000))
def test_certificate_is_never_below_a_lower_bound(sampler, n_steps, hidden, activation, seed):
    d = 2
    net = mlp([d + 1, *hidden, d], activation, seed)
    if sampler in ("ddim", "ddpm"):
        schedule = {"alpha_bars": np.linspace(0.2, 1.0, n_steps + 1).tolist()}
        unrolled = unroll_sampler(sampler, **schedule)
    else:
        unrolled = unroll_sampler(sampler, n_steps)
    est = quick(net, unrolled, state_dim=d, condition=time_input)
    f = sampler_map(net, unrolled, state_dim=d, condition=time_input)
    width = d * (1 + unrolled.n_noise_blocks)
    g = torch.Generator().manual_seed(seed)
    starts = torch.cat([torch.randn(16, width, generator=g, dtype=F64) * r for r in (1, 4)])
    lowers = [lipschitz_lower(f, starts, n_steps=5, n_power=10, seed=seed).value,
              lipschitz_lower(f, starts, method="difference-quotient", seed=seed).value]
    assert max(lowers) <= est.value * (1 + 1e-9), (lowers, est.value)


def test_joint_sees_the_contraction_of_the_skip_connection():
    # v = -2 tanh(x) (as tanh(-x) - tanh(x)): each Euler step x - 0.4 tanh(x) has slope in
    # [0.6, 1], so the map is 1-Lipschitz (approached as |x| -> inf). The product of step
    # bounds is (1 + h l)^5 >= 1.4^5; the joint certificate must find 1.
    net = mlp([3, 16, 2], nn.Tanh, 4)
    with torch.no_grad():
        net[0].weight[:, :2] = torch.cat([torch.eye(2), -torch.eye(2), 0.1 * torch.randn(12, 2)])
        net[2].weight.copy_(torch.cat([-torch.eye(2), torch.eye(2), torch.zeros(2, 12)], 1))
    est = quick(net, "euler", 5, state_dim=2, condition=time_input)
    assert est.details["product"] > 5.0
    assert 1.0 <= est.value <= 1.001


# --------------------------------------------------------------------------- dense joint LMI


def dense_joint_lmi(unrolled, net, clip, mults, d_in, rho, rho_noise):
    """The LipSDP-Neuron matrix of the whole unrolled graph (numpy), from its definition:
    variables [x_0, xi_1.., every hidden increment]; form |x_N|^2 - rho |x_0|^2
    - rho_noise sum |xi|^2 + sum_neurons 2 t (w - a u)(b u - w)."""
    nets = {"net": net, "clip": clip}
    d = net.weights[-1].shape[0]
    n_noise = unrolled.n_noise_blocks
    n_hidden = sum(sum(w.shape[0] for w in nets["clip" if stage.clip else "net"].weights[:-1])
                   for step in unrolled.steps for stage in step.stages)
    total = d_in + n_noise * d + n_hidden
    offset = d_in + n_noise * d
    x = np.zeros((d_in, total))
    x[:, :d_in] = np.eye(d_in)
    x0 = x.copy()
    noise_at = d_in
    quad = np.zeros((total, total))
    for j, step in enumerate(unrolled.steps):
        ys = [x]
        for s, stage in enumerate(step.stages):
            z = sum(c * y for c, y in zip(stage.inputs, ys, strict=False))
            sn = nets["clip" if stage.clip else "net"]
            u = sn.weights[0].numpy() @ z
            for k, (a, b) in enumerate(sn.slopes):
                n = sn.weights[k].shape[0]
                w = np.zeros((n, total))
                w[:, offset:offset + n] = np.eye(n)
                offset += n
                t = mults[j][s][k].numpy()
                left = w - a * u
                right = b * u - w
                quad += 2 * (left.T * t) @ right
                u = sn.weights[k + 1].numpy() @ w
            ys.append(u)
        x = sum(o * y for o, y in zip(step.output, ys, strict=True))
        if step.noise > 0:
            xi = np.zeros((d, total))
            xi[:, noise_at:noise_at + d] = np.eye(d)
            quad -= rho_noise * xi.T @ xi
            x = x + step.noise * xi
            noise_at += d
    quad += x.T @ x - rho * x0.T @ x0
    return (quad + quad.T) / 2


@pytest.mark.parametrize("sampler, schedule", [
    ("euler", {"n_steps": 3}), ("heun", {"n_steps": 2}), ("rk4", {"n_steps": 1}),
    ("ddim", {**SCHEDULE, "clip_sample": 1.0}), ("ddpm", SCHEDULE), ("decoder", {}),
])
def test_recursion_equals_the_dense_joint_lmi(sampler, schedule):
    d = 2
    net_module = mlp([d + 1, 4, 3, d], nn.SiLU, 7)
    est = quick(net_module, sampler, state_dim=d, condition=time_input, **schedule)
    assert est.method == "sampler-joint"
    net = network_from_sequential(net_module, slice(0, d))
    unrolled = unroll_sampler(sampler, **schedule)
    mults = est.details["multipliers"]
    rho_noise = est.details["rho_noise"] or 0.0
    lam0 = est.details["lambda_max_P0"]
    rho = est.value**2
    # at the certified rho the joint LMI holds; a little below lambda_max(P_0) it fails
    m = dense_joint_lmi(unrolled, net, _clip_network(d), mults, d, rho, rho_noise)
    assert np.linalg.eigvalsh(m)[-1] <= 1e-9 * rho
    below = dense_joint_lmi(unrolled, net, _clip_network(d), mults, d, lam0 * (1 - 1e-4),
                            rho_noise)
    assert np.linalg.eigvalsh(below)[-1] > 0


def test_decoder_reduces_to_the_network_certificate():
    net_module = mlp([3, 7, 5, 4], nn.GELU, 2)
    net = network_from_sequential(net_module)
    single = lipschitz_upper(net_module, "fast-certified")
    mults = single.details["multipliers"]
    chained, _ = certify_chain(unroll_sampler("decoder"), {"net": net, "clip": _clip_network(4)},
                               3, [[mults]])
    direct, _ = certify_multipliers(net, mults)
    assert chained == pytest.approx(direct, rel=1e-7)
    est = quick(net_module, "decoder", state_dim=3)
    assert est.value <= single.value * (1 + 1e-6)


def test_ddpm_bound_covers_all_the_noise():
    net = mlp([3, 6, 2], nn.Tanh, 5)
    unrolled = unroll_sampler("ddpm", alphas_cumprod=[0.9, 0.6, 0.3, 0.1])
    assert unrolled.n_noise_blocks == 3
    est = quick(net, unrolled, state_dim=2, condition=time_input)
    f = sampler_map(net, unrolled, state_dim=2, condition=time_input)
    starts = torch.randn(64, 8, generator=torch.Generator().manual_seed(0), dtype=F64) * 3
    assert lipschitz_lower(f, starts, n_steps=5).value <= est.value
    # the injected noise alone has gain at least its last scale: the bound sees it
    assert est.value >= unrolled.steps[-2].noise


def test_product_bound_matches_the_step_formulas():
    l = 2.5
    value, factors = product_bound(unroll_sampler("heun", 2), l)
    h = 0.5
    assert factors[0] == pytest.approx(1 + h / 2 * (l + l * (1 + h * l)))
    ab, ab1 = 0.3, 0.7
    clipped = unroll_sampler("ddim", alpha_bars=[ab, ab1], clip_sample=1.0)
    expected = math.sqrt(ab1 / ab) * (1 + math.sqrt(1 - ab) * l) + math.sqrt(1 - ab1) * l
    assert product_bound(clipped, l)[0] == pytest.approx(expected)
    assert value == pytest.approx(factors[0] * factors[1])


# --------------------------------------------------------------------------- schedules


def test_ddim_coefficients_match_the_update_formula():
    ab = [0.02, 0.2, 0.6, 1.0]
    unrolled = unroll_sampler("ddim", alpha_bars=ab)
    for (a0, a1), step in zip(zip(ab[:-1], ab[1:], strict=True), unrolled.steps, strict=True):
        assert step.output[0] == pytest.approx(math.sqrt(a1 / a0))
        assert step.output[1] == pytest.approx(math.sqrt(1 - a1) - math.sqrt(a1 * (1 - a0) / a0))


def _diffusers():
    try:
        import diffusers as dif
    except ImportError:
        pytest.skip("diffusers is not installed (pip install diffusers): schedule comparison "
                    "skipped")
    return dif


@pytest.mark.parametrize("clip", [False, True])
def test_ddim_matches_diffusers(clip):
    dif = _diffusers()
    sched = dif.DDIMScheduler(num_train_timesteps=100, beta_schedule="squaredcos_cap_v2",
                              prediction_type="epsilon", clip_sample=clip,
                              clip_sample_range=1.0)
    sched.set_timesteps(10)
    net = mlp([3, 16, 2], nn.SiLU, 1)

    def eps(x, t):
        return net(torch.cat([x, torch.full_like(x[:, :1], float(t) / 100)], 1))

    x0 = torch.randn(32, 2, generator=torch.Generator().manual_seed(0), dtype=F64) * 2
    x = x0.clone()
    for t in sched.timesteps:
        x = sched.step(eps(x, t), t, x, eta=0.0).prev_sample
    ours = sampler_map(net, "ddim", state_dim=2, scheduler=sched,
                       condition=lambda t: torch.tensor([t / 100], dtype=F64))(x0)
    torch.testing.assert_close(ours, x.to(F64), rtol=1e-6, atol=1e-6)
    est = quick(net, "ddim", state_dim=2, scheduler=sched, condition=time_input)
    f = sampler_map(net, "ddim", state_dim=2, scheduler=sched, condition=time_input)
    assert est.value >= lipschitz_lower(f, x0, n_steps=5).value


def test_ddpm_matches_diffusers():
    dif = _diffusers()
    sched = dif.DDPMScheduler(num_train_timesteps=20, beta_schedule="squaredcos_cap_v2",
                              prediction_type="epsilon", clip_sample=False)
    sched.set_timesteps(20)
    net = mlp([3, 8, 2], nn.Tanh, 2)

    def eps(x, t):
        return net(torch.cat([x, torch.full_like(x[:, :1], float(t))], 1))

    g = torch.Generator().manual_seed(1)
    x0 = torch.randn(8, 2, generator=g, dtype=F64)
    zs = [torch.randn(8, 2, generator=g, dtype=F64) for _ in range(19)]
    x = x0.clone()
    for i, t in enumerate(sched.timesteps):
        out = sched.step(eps(x, t), t, x).pred_original_sample
        # diffusers draws its own noise: rebuild its mean and add ours
        prev = sched.previous_timestep(t) if hasattr(sched, "previous_timestep") else t - 1
        ab = sched.alphas_cumprod[t]
        ab_prev = sched.alphas_cumprod[prev] if prev >= 0 else torch.tensor(1.0)
        beta = 1 - ab / ab_prev
        mean = (ab_prev.sqrt() * beta / (1 - ab)) * out + ((1 - beta).sqrt() * (1 - ab_prev)
                                                           / (1 - ab)) * x
        var = (1 - ab_prev) / (1 - ab) * beta
        x = mean + (var.sqrt() * zs[i] if t > 0 else 0)
    ours = sampler_map(net, "ddpm", state_dim=2, scheduler=sched,
                       condition=lambda t: torch.tensor([t], dtype=F64))(
        torch.cat([x0, *zs], 1))
    torch.testing.assert_close(ours, x.to(F64), rtol=1e-6, atol=1e-6)


# --------------------------------------------------------------------------- errors


def test_errors_name_the_argument():
    net = mlp([3, 4, 2])
    with pytest.raises(ValueError, match="sampler"):
        sampler_lipschitz_upper(net, "midpoint", 3, state_dim=2, condition=time_input)
    with pytest.raises(ValueError, match="t1"):
        unroll_sampler("euler", 3, t0=1.0, t1=0.0)
    with pytest.raises(ValueError, match="n_steps"):
        unroll_sampler("euler", 0)
    with pytest.raises(ValueError, match="n_steps"):
        unroll_sampler("euler", 10**9)
    with pytest.raises(ValueError, match="inputs"):
        sampler_lipschitz_upper(net, "euler", 3, state_dim=2)  # width 3, no condition
    with pytest.raises(ValueError, match="outputs"):
        sampler_lipschitz_upper(mlp([3, 4, 1]), "euler", 3, state_dim=2, condition=time_input)
    with pytest.raises(ValueError, match="method"):
        sampler_lipschitz_upper(net, "euler", 3, state_dim=2, condition=time_input, method="x")
    with pytest.raises(ValueError, match="max_iter"):
        sampler_lipschitz_upper(net, "euler", 3, state_dim=2, condition=time_input, max_iter=-1)
    with pytest.raises(ValueError, match="tolerance"):
        sampler_lipschitz_upper(net, "euler", 3, state_dim=2, condition=time_input,
                                tolerance=float("nan"))
    with pytest.raises(ValueError, match="CUDA|device"):
        if torch.cuda.is_available():
            raise ValueError("device: CUDA present, nothing to test")
        sampler_lipschitz_upper(net, "euler", 3, state_dim=2, condition=time_input,
                                device="cuda")
    with pytest.raises(ValueError, match="alpha_bars|schedule"):
        unroll_sampler("ddim", 3)
    with pytest.raises(TypeError, match="Conv1d|Sequential"):
        sampler_lipschitz_upper(nn.Sequential(nn.Linear(3, 4), nn.Conv1d(1, 1, 1)), "euler", 3,
                                state_dim=2, condition=time_input)
    bad = mlp([3, 4, 2])
    with torch.no_grad():
        bad[0].weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        sampler_lipschitz_upper(bad, "euler", 3, state_dim=2, condition=time_input)


def test_wrapper_module_is_accepted_only_if_it_is_its_sequential():
    class Wrap(nn.Module):
        def __init__(self, scale):
            super().__init__()
            self.body = mlp([3, 4, 2])
            self.scale = scale

        def forward(self, x):
            return self.scale * self.body(x)

    plain = quick(Wrap(1.0), "euler", 2, state_dim=2, condition=time_input)
    assert plain.kind == "upper"
    with pytest.raises(TypeError, match="Sequential itself"):
        quick(Wrap(3.0), "euler", 2, state_dim=2, condition=time_input)


def test_certificate_does_not_depend_on_the_thread_count():
    """The optimisation runs on one torch/BLAS thread whatever the process's count, so a
    Ray task (one thread) and a local run (two) certify the same number; before, two
    threads changed the L-BFGS path (2.0452745984 against 2.0452745973 here) and the
    paper suite's flows differed by 0.8% between the backends. The caller's count is kept."""
    torch.manual_seed(0)
    v = nn.Sequential(nn.Linear(10, 128), nn.SiLU(), nn.Linear(128, 128), nn.SiLU(),
                      nn.Linear(128, 8))
    before = torch.get_num_threads()
    values = []
    try:
        for n in (2, 1):
            torch.set_num_threads(n)
            values.append(sampler_lipschitz_upper(v, "euler", 8, state_dim=8,
                                                  condition=torch.zeros(2), max_iter=5).value)
            assert torch.get_num_threads() == n
    finally:
        torch.set_num_threads(before)
    assert values[0] == values[1]


def test_refined_start_survives_the_checks_margins_on_a_trained_velocity():
    """Regression: a plain-torch flow-matching velocity (2 x 256 SiLU on ``[x, sin/cos time
    features]``, two modes in R^8, 1000 Adam steps, Euler 10). Its refined per-step
    multipliers sit near the boundary of feasibility, where each step amplifies a small
    change of ``P_{j+1}``: when the greedy start optimised each step against ``R_j`` and the
    check then added its margins, ``P~_1`` came out 19% larger and step 0's pivot was
    indefinite, so no joint certificate was returned (only the product, 1.1e7). The start
    is now optimised against the checked ``P~`` and must certify, well below the product."""
    torch.manual_seed(0)
    dim, freqs = 8, 4
    net = nn.Sequential(nn.Linear(dim + 2 * freqs, 256), nn.SiLU(), nn.Linear(256, 256),
                        nn.SiLU(), nn.Linear(256, dim))

    def features(t: torch.Tensor) -> torch.Tensor:
        ang = 2 * math.pi * t[..., None] * torch.arange(1, freqs + 1, dtype=t.dtype)
        return torch.cat([torch.sin(ang), torch.cos(ang)], -1)

    gen = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    centre = torch.ones(dim) / math.sqrt(dim)
    for _ in range(1000):
        sign = torch.where(torch.rand(256, 1, generator=gen) < 0.5, -1.0, 1.0)
        x1 = sign * centre + 0.05 * torch.randn(256, dim, generator=gen)
        x0 = torch.randn(256, dim, generator=gen)
        t = torch.rand(256, generator=gen)
        xt = (1 - t[:, None]) * x0 + t[:, None] * x1
        loss = ((net(torch.cat([xt, features(t)], -1)) - (x1 - x0)) ** 2).sum(-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    est = sampler_lipschitz_upper(net, "euler", 10, state_dim=dim,
                                  condition=lambda t: features(torch.tensor(float(t))),
                                  max_seconds=20.0)
    assert est.details["joint"] is not None, est.details.get("joint_failure")
    assert est.method == "sampler-joint"
    assert est.value < est.details["product"] / 5
    f = sampler_map(net, "euler", 10, state_dim=dim,
                    condition=lambda t: features(torch.tensor(float(t))))
    low = lipschitz_lower(f, torch.randn(8, dim, generator=gen), n_steps=5)
    assert low.value <= est.value

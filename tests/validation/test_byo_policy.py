"""Bring your own policy: `ExternalPolicy` and the schedule adapters against the peer
libraries themselves (diffusers' schedulers, the ECLipsE authors' eclipse-nn), skipped
with a message where the ``test`` extra is not installed."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
import torch
from torch import nn

import numerics
import validation.policies.external as external
from validation.checks import transport_checks
from validation.policies.external import (
    ExternalPolicy,
    SamplerSchedule,
    diffusers_schedule,
    flow_schedule,
)
from validation.tasks import make_task

OBS, CHUNK, TIME = 4, 8, 4       # the fork at horizon 4: obs (start, goal), 4 planar steps


def _needs(module: str):
    return pytest.importorskip(
        module, reason=f"{module} is not installed: pip install 'modebound[test]' to run the "
                       "comparisons with the peer library")


def _epsilon_net(seed: int = 0, out_scale: float = 1.0) -> nn.Sequential:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(CHUNK + TIME + OBS, 64), nn.SiLU(), nn.Linear(64, 64),
                        nn.SiLU(), nn.Linear(64, CHUNK))
    with torch.no_grad():
        net[-1].weight.mul_(out_scale)
    return net


def condition(t: float, obs: torch.Tensor) -> torch.Tensor:
    """Sinusoidal features of the scheduler's timestep label, then the observation."""
    freqs = torch.arange(1, TIME // 2 + 1, dtype=obs.dtype)
    a = torch.as_tensor(float(t), dtype=obs.dtype) / 100 * freqs
    return torch.cat([torch.cat([a.sin(), a.cos()]).expand(obs.shape[0], -1), obs], -1)


def _diffusers_loop(net, scheduler, obs, noise):
    """diffusers' own sampling loop (what a LeRobot/diffusers policy runs)."""
    x = noise
    for t in scheduler.timesteps:
        eps = net(torch.cat([x, condition(float(t), obs)], -1))
        x = scheduler.step(eps, t, x, eta=0.0).prev_sample
    return x


def _ddim(clip: bool, **config):
    diffusers = _needs("diffusers")
    s = diffusers.DDIMScheduler(num_train_timesteps=100, beta_schedule="squaredcos_cap_v2",
                                prediction_type="epsilon", clip_sample=clip, **config)
    s.set_timesteps(10)
    return s


def test_module_doctests():
    result = doctest.testmod(external, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 5 and result.failed == 0


@pytest.mark.parametrize("clip", [False, True])
@pytest.mark.parametrize("config", [{}, {"set_alpha_to_one": False},
                                    {"timestep_spacing": "trailing"}])
def test_ddim_sampling_agrees_with_diffusers_loop(clip, config):
    """Same network, same noise: the adapter's sampler (built from the scheduler alone)
    and diffusers' DDIMScheduler loop (100 training steps, cosine schedule, 10 steps,
    eta 0) give the same chunks to float32 rounding."""
    scheduler = _ddim(clip, **config)
    net = _epsilon_net(0, out_scale=4.0)          # large epsilons: clipping is active
    gen = torch.Generator().manual_seed(1)
    obs, noise = torch.randn(16, OBS, generator=gen), torch.randn(16, CHUNK, generator=gen)
    with torch.no_grad():
        theirs = _diffusers_loop(net, scheduler, obs, noise)
        policy = ExternalPolicy.from_diffusers(net, scheduler, OBS, CHUNK, condition=condition)
        mine = policy.transport(obs, noise[:, None, :])[:, 0]
    scale = float(theirs.abs().max())
    assert float((mine - theirs).abs().max()) <= 1e-5 * max(1.0, scale)
    if clip:  # the clipping mattered: without it the chunks differ
        unclipped = ExternalPolicy.from_diffusers(net, _ddim(False, **config), OBS, CHUNK,
                                                  condition=condition)
        with torch.no_grad():
            other = unclipped.transport(obs, noise[:, None, :])[:, 0]
        assert float((other - theirs).abs().max()) > 1e-2


def test_ddpm_with_injected_noise_agrees_with_diffusers():
    """DDPM ('fixed_small'): the adapter's map of all the noise ``[x_T, xi_1, ..]``
    equals diffusers' DDPMScheduler loop when ``xi_j`` are the draws diffusers makes from
    the same generator."""
    diffusers = _needs("diffusers")
    scheduler = diffusers.DDPMScheduler(num_train_timesteps=100,
                                        beta_schedule="squaredcos_cap_v2", clip_sample=True)
    scheduler.set_timesteps(10)
    net = _epsilon_net(2)
    obs = torch.randn(6, OBS, generator=torch.Generator().manual_seed(3))
    x = torch.randn(6, CHUNK, generator=torch.Generator().manual_seed(4))
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        theirs = x
        for t in scheduler.timesteps:
            eps = net(torch.cat([theirs, condition(float(t), obs)], -1))
            theirs = scheduler.step(eps, t, theirs, generator=gen).prev_sample
    replay = torch.Generator().manual_seed(5)
    injected = [torch.randn(6, CHUNK, generator=replay) for t in scheduler.timesteps if t > 0]
    policy = ExternalPolicy.from_diffusers(net, scheduler, OBS, CHUNK, condition=condition)
    assert policy.noise_dim == CHUNK * (1 + len(injected))
    with torch.no_grad():
        mine = policy.transport(obs, torch.cat([x, *injected], -1)[:, None, :])[:, 0]
    assert float((mine - theirs).abs().max()) <= 1e-5 * max(1.0, float(theirs.abs().max()))


def test_schedule_from_arrays_equals_schedule_from_scheduler():
    scheduler = _ddim(True, set_alpha_to_one=False, clip_sample_range=2.0)
    by_hand = diffusers_schedule(timesteps=scheduler.timesteps.tolist(),
                                 alphas_cumprod=scheduler.alphas_cumprod.numpy(),
                                 final_alpha_cumprod=float(scheduler.alphas_cumprod[0]),
                                 clip_sample=True, clip_sample_range=2.0)
    assert by_hand == diffusers_schedule(scheduler)
    assert dict(by_hand.options)["clip_sample"] == 2.0
    assert by_hand.unrolled().clip_range == 2.0


def test_user_transport_is_checked_against_the_description():
    """Your own loop is accepted when it is the described sampler, refused when it is not
    (here: the same network under a schedule that clips)."""
    scheduler = _ddim(False)
    net = _epsilon_net(0, out_scale=4.0)

    def loop(obs, noise):
        return _diffusers_loop(net, scheduler, obs, noise)

    policy = ExternalPolicy.from_diffusers(net, scheduler, OBS, CHUNK, condition=condition,
                                           transport=loop)
    assert policy.agreement(torch.randn(3, OBS)) < 1e-5
    with pytest.raises(ValueError, match="differ by"):
        ExternalPolicy.from_diffusers(net, _ddim(True), OBS, CHUNK, condition=condition,
                                      transport=loop)


def _max_jacobian_norm(fn, obs, noises) -> float:
    """The largest ``||d fn(obs, noise) / d noise||_2`` over the given points, by
    torch.autograd.functional.jacobian: an independent lower bound on the constant."""
    best = 0.0
    for o, e in zip(obs, noises, strict=True):
        jac = torch.autograd.functional.jacobian(lambda v, o=o: fn(o[None], v[None])[0], e)
        best = max(best, float(torch.linalg.matrix_norm(jac, 2)))
    return best


@pytest.mark.parametrize("clip", [False, True])
def test_certificate_bounds_diffusers_loops_jacobians_and_checks_pass(clip):
    """The certificate of the described network is at least every Jacobian norm of
    diffusers' own loop (computed by autograd, without the adapter), scales with the
    action normalisation, and the Part T checks run on the wrapped policy without hand
    code and pass."""
    scheduler = _ddim(clip)
    net = _epsilon_net(0)
    policy = ExternalPolicy.from_diffusers(net, scheduler, OBS, CHUNK, condition=condition,
                                           certify="product",
                                           certify_options={"max_seconds": 10.0})
    cert = policy.certified_lipschitz()
    gen = torch.Generator().manual_seed(7)
    obs, noises = torch.randn(6, OBS, generator=gen), torch.randn(6, CHUNK, generator=gen)
    found = _max_jacobian_norm(lambda o, e: _diffusers_loop(net, scheduler, o, e), obs, noises)
    assert cert.kind == "upper" and found <= cert.value and math.isfinite(cert.value)
    joint = policy.certified_lipschitz("joint")
    assert found <= joint.value <= cert.value * (1 + 1e-12)

    scaled = ExternalPolicy.from_diffusers(net, scheduler, OBS, CHUNK, condition=condition,
                                           certify="product", action_scale=2.5,
                                           action_shift=0.3)
    assert scaled.certified_lipschitz().value == pytest.approx(2.5 * cert.value, rel=1e-12)
    noise = torch.randn(2, 3, CHUNK)
    with torch.no_grad():
        np.testing.assert_allclose(scaled.transport(obs[:2], noise),
                                   0.3 + 2.5 * policy.transport(obs[:2], noise), atol=1e-5)

    task = make_task("fork", horizon=4)
    checks = transport_checks(policy, task, task.observations(2, 0), 400, seed=0)
    assert {c.proposition for c in checks} >= {"T2", "T5", "SANDWICH", "BRACKET"}
    assert not [c for c in checks if c.verdict == "FAIL"]


def test_flow_schedule_matches_a_hand_written_euler_loop():
    torch.manual_seed(4)
    velocity = nn.Sequential(nn.Linear(CHUNK + 1 + OBS, 32), nn.Tanh(), nn.Linear(32, CHUNK))
    policy = ExternalPolicy(OBS, CHUNK, net=velocity, schedule=flow_schedule("euler", 6),
                            condition=lambda t, o: torch.cat([torch.full((o.shape[0], 1), t),
                                                              o], -1))
    obs, x = torch.randn(5, OBS), torch.randn(5, CHUNK)
    with torch.no_grad():
        mine = policy.transport(obs, x[:, None])[:, 0]
        for j in range(6):
            t = j / 6
            x = x + velocity(torch.cat([x, torch.full((5, 1), t), obs], -1)) / 6
    np.testing.assert_allclose(mine, x, atol=1e-6)
    lower = policy.empirical_lipschitz(obs[:2], n_starts=2, ascent_steps=3, segment_points=4)
    assert lower.value <= policy.certified_lipschitz("product").value


@pytest.mark.parametrize("widths", [[16, 64, 64, 4], [16, 256, 256, 4]])
def test_eclipse_fast_matches_the_authors_package(widths):
    """`numerics.lipschitz_upper(method="eclipse-fast")` against eclipse-nn's
    ``LipConstEstimator(model).estimate("ECLipsE_Fast")`` on random ReLU MLPs."""
    eclipse_nn = _needs("eclipse_nn")
    for seed in range(3):
        torch.manual_seed(seed)
        layers = []
        for a, b in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.Linear(a, b), nn.ReLU()]
        net = nn.Sequential(*layers[:-1]).double()
        theirs = float(eclipse_nn.LipConstEstimator(model=net).estimate("ECLipsE_Fast"))
        est = numerics.lipschitz_upper(net, method="eclipse-fast")
        assert est.details["closed_form"] == pytest.approx(theirs, rel=1e-12, abs=0)
        assert est.value == pytest.approx(theirs, rel=1e-12, abs=0)


@pytest.mark.parametrize("call,error,match", [
    (lambda: diffusers_schedule(timesteps=[5, 0], alphas_cumprod=[0.9] * 10,
                                prediction_type="v_prediction"), ValueError, "epsilon"),
    (lambda: diffusers_schedule(timesteps=[5.5], alphas_cumprod=[0.9] * 10), ValueError,
     "integer"),
    (lambda: diffusers_schedule(timesteps=[50], alphas_cumprod=[0.9] * 10), ValueError,
     "timesteps"),
    (lambda: diffusers_schedule(timesteps=[5, 0]), ValueError, "alphas_cumprod"),
    (lambda: diffusers_schedule(object()), TypeError, "DDIMScheduler"),
    (lambda: flow_schedule("ddim", 3), ValueError, "sampler"),
    (lambda: SamplerSchedule("euler"), ValueError, "n_steps"),
    (lambda: ExternalPolicy(OBS, CHUNK), ValueError, "transport="),
    (lambda: ExternalPolicy(OBS, CHUNK, net=_epsilon_net()), ValueError, "together"),
    (lambda: ExternalPolicy(OBS, CHUNK, net=_epsilon_net(), schedule=flow_schedule("euler", 2),
                            condition=condition, noise_dim=3), ValueError, "noise_dim"),
    (lambda: ExternalPolicy(OBS, CHUNK, net=_epsilon_net(), schedule=flow_schedule("euler", 2),
                            condition=condition, certify="exact"), ValueError, "certify"),
    (lambda: ExternalPolicy(OBS, CHUNK, net=nn.Sequential(nn.Linear(5, CHUNK)),
                            schedule=flow_schedule("euler", 2), condition=condition),
     ValueError, "first layer takes 5"),
    (lambda: ExternalPolicy(OBS, CHUNK, transport=lambda o, e: e, action_scale=[1.0, 2.0]),
     ValueError, "action_scale must be a scalar or have 8"),
    (lambda: ExternalPolicy(OBS, CHUNK, transport=lambda o, e: e).certified_lipschitz(),
     TypeError, "no network description"),
    (lambda: ExternalPolicy(OBS, CHUNK, transport=lambda o, e: e).fit(np.zeros((2, OBS)),
                                                                      np.zeros((2, CHUNK))),
     TypeError, "trained elsewhere"),
    (lambda: ExternalPolicy(OBS, CHUNK, transport=lambda o, e: e[:, :2]).sample(
        torch.zeros(1, OBS), 2), ValueError, "numbers per row"),
])
def test_errors_say_what_to_do(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_make_policy_builds_the_adapter():
    from validation.policies import make_policy

    policy = make_policy("external", OBS, CHUNK, net=_epsilon_net(),
                         schedule=diffusers_schedule(_ddim(False)), condition=condition)
    assert isinstance(policy, ExternalPolicy) and policy.kind == "external"
    assert tuple(policy.sample(torch.zeros(2, OBS), 3).shape) == (2, 3, CHUNK)


def test_thresholding_scheduler_is_refused():
    diffusers = _needs("diffusers")
    s = diffusers.DDIMScheduler(num_train_timesteps=100, beta_schedule="squaredcos_cap_v2",
                                thresholding=True)
    s.set_timesteps(10)
    with pytest.raises(ValueError, match="thresholding"):
        diffusers_schedule(s)


def test_joint_certificate_failure_falls_back_to_the_product(monkeypatch):
    import numerics.lipschitz.sampler as sampler

    real = sampler.sampler_lipschitz_upper

    def joint_fails(*args, method="joint", **kwargs):
        if method == "joint":
            raise numerics.NotCertified("step 0: planted failure")
        return real(*args, method=method, **kwargs)

    policy = ExternalPolicy(OBS, CHUNK, net=_epsilon_net(), schedule=flow_schedule("euler", 3),
                            condition=lambda t, o: torch.cat(
                                [torch.full((len(o), TIME), t), o], -1))
    product = policy.certified_lipschitz("product").value
    monkeypatch.setattr(sampler, "sampler_lipschitz_upper", joint_fails)
    est = policy.certified_lipschitz()
    assert est.value == product and "planted" in est.details["joint_failed"]
    with pytest.raises(numerics.NotCertified):
        monkeypatch.setattr(sampler, "sampler_lipschitz_upper",
                            lambda *a, **k: (_ for _ in ()).throw(numerics.NotCertified("x")))
        policy.certified_lipschitz("product")

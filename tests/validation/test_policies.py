"""Tests of validation/policies: learning, mode averaging and recovery, transport maps,
Lipschitz certificates against exact linear-map norms, argument errors.

Seeds: tasks and policies use SEED = 0 everywhere (demonstrations, weights, minibatches,
evaluation noise); every assertion below is deterministic under those seeds.
"""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from numerics import assign_modes, mode_masses
from theory.latent import act_effective_kl_weight
from validation.policies import TrainConfig, make_policy
from validation.tasks import make_task

SEED = 0
SMALL = {"hidden": (64, 64)}


@pytest.fixture(scope="module")
def fork():
    task = make_task("fork", horizon=2)
    return task, task.demonstrations(2000, SEED)


def _train(kind, task, demo, steps, lr=3e-3, **hyper):
    policy = make_policy(kind, task.obs_dim, task.chunk_dim, seed=SEED, **{**SMALL, **hyper})
    log = policy.fit(demo.obs, demo.actions,
                     TrainConfig(steps=steps, batch_size=128, lr=lr, seed=SEED))
    return policy, log


def _gen(seed=SEED):
    return torch.Generator().manual_seed(seed)


def _mode_interval(task, obs, samples, k, confidence=0.999):
    """Mass of mode k (-1 = bridge) and its Clopper-Pearson interval (`numerics.mode_masses`).

    Samples are pooled over observations: the count is a sum of independent Bernoullis
    with per-observation means, whose variance is at most the binomial one at the average
    mass, so the pooled interval is conservative for the average mass.
    """
    labels = assign_modes(samples.numpy(), task.mode_centres(obs), task.rho)
    np.testing.assert_array_equal(labels, task.mode_labels(obs, samples.numpy()))
    masses = mode_masses(labels, task.n_modes, confidence=confidence)
    if k == -1:
        return masses.bridge_mass, masses.bridge_interval
    return float(masses.masses[k]), tuple(masses.intervals[k])


def _conditional_variance(task, obs):
    """``E |a - E[a|o]|^2`` of the demonstrator from its known modes (noise neglected)."""
    c = task.mode_centres(obs)
    mean = np.einsum("k,bkd->bd", task.weights, c)
    return float(np.mean(np.einsum("k,bk->b", task.weights,
                                   ((c - mean[:, None]) ** 2).sum(-1))))


def test_regression_lands_between_the_modes(fork):
    task, demo = fork
    policy, log = _train("regression", task, demo, steps=600)
    obs = task.observations(200, SEED)
    floor = _conditional_variance(task, obs) + task.chunk_dim * task.noise ** 2
    # The MSE optimum is E[a|o]: its loss is the conditional variance (Delta^2 / 4 here).
    assert floor <= log.final_loss * 1.1 and log.final_loss <= 1.15 * floor
    pred = policy.predict(obs).detach().numpy()
    midpoint = task.mode_centres(obs).mean(axis=1)
    dist = np.linalg.norm(pred - midpoint, axis=1)
    assert dist.mean() < 0.1 * task.mode_separation
    samples = policy.sample(obs, 3)
    assert samples.shape == (200, 3, task.chunk_dim)
    assert np.all(task.mode_labels(obs, samples.numpy()) == -1)  # mode averaging: bridge only


@pytest.mark.slow
def test_gmm_recovers_both_fork_modes(test_size):
    task = make_task("fork", horizon=2, weights=(0.3, 0.7))
    demo = task.demonstrations(2000, SEED)
    policy, _ = _train("gmm", task, demo, steps=800 if test_size == "reduced" else 3000,
                       n_components=4)
    obs = task.observations(200, SEED)
    samples = policy.sample(obs, 50, _gen())
    tol = 0.08
    for k, w in enumerate(task.weights):
        mass, (lo, hi) = _mode_interval(task, obs, samples, k)
        assert lo <= w + tol and hi >= w - tol, (k, mass, w)
    bridge, (lo, _) = _mode_interval(task, obs, samples, -1)
    assert lo <= 0.05, bridge


@pytest.mark.slow
@pytest.mark.parametrize("kind,hyper", [("flow", {}), ("diffusion", {}),
                                        ("diffusion", {"sampler": "ddpm"}),
                                        ("diffusion", {"n_sampling_steps": 100,
                                                       "clip_sample": 3.0})])
def test_action_generators_learn_and_cover_both_modes(fork, test_size, kind, hyper):
    task, demo = fork
    steps = 3000 if test_size == "reduced" else 8000
    policy, log = _train(kind, task, demo, steps=steps, lr=2e-3, hidden=(128, 128), **hyper)
    # Best x-independent predictor: flow v = E[a|o] has loss D + Var(a|o), diffusion
    # eps = 0 has loss D; beating half of that means the map uses x.
    var = _conditional_variance(task, demo.obs[:500].astype(np.float64))
    reference = task.chunk_dim + (var if kind == "flow" else 0.0)
    assert log.final_loss < 0.5 * reference, (log.final_loss, reference)
    assert len(log.losses) == steps and log.seconds > 0
    obs = task.observations(100, SEED)
    samples = policy.sample(obs, 50, _gen())
    for k in (0, 1):  # both modes, each with a substantial share of the samples
        mass, (_, hi) = _mode_interval(task, obs, samples, k)
        assert hi >= 0.3, (k, mass)
    bridge, (lo, _) = _mode_interval(task, obs, samples, -1)
    assert lo <= 0.3, bridge


@pytest.mark.slow
def test_cvae_small_beta_keeps_the_modes(fork, test_size):
    task, demo = fork
    policy, log = _train("cvae", task, demo, steps=600 if test_size == "reduced" else 3000,
                         beta=0.01, latent_dim=2)
    obs = task.observations(100, SEED)
    floor = _conditional_variance(task, obs)
    # Reconstruction far below the mode-averaging floor: z carries the mode (THEORY L3/L4).
    assert log.final_loss < 0.5 * floor
    mu, _ = policy.encode(demo.obs[:400], demo.actions[:400])
    recon = policy.decode(demo.obs[:400], mu).detach().numpy()
    labels = task.mode_labels(demo.obs[:400], recon)[:, 0]
    assert (labels == demo.modes[:400]).mean() > 0.9  # decoding the posterior mean keeps the mode


def test_cvae_conventions_convert_exactly(fork):
    """'mean' with beta equals 'sum' with beta * chunk_dim, up to the factor chunk_dim."""
    task, demo = fork
    mean = make_policy("cvae", task.obs_dim, task.chunk_dim, seed=SEED, reduction="mean",
                       beta=10.0, loss="l1", **SMALL)
    total = make_policy("cvae", task.obs_dim, task.chunk_dim, seed=SEED, reduction="sum",
                        beta=10.0 * task.chunk_dim, loss="l1", **SMALL)
    assert mean.effective_beta == pytest.approx(total.beta)
    assert mean.effective_beta == pytest.approx(
        act_effective_kl_weight(10.0, task.horizon, task.action_dim))
    obs, act = torch.as_tensor(demo.obs[:64]), torch.as_tensor(demo.actions[:64])
    lm = mean.loss(obs, act, _gen(3)).detach()
    ls = total.loss(obs, act, _gen(3)).detach()
    assert float(ls) == pytest.approx(task.chunk_dim * float(lm), rel=1e-5)


def test_cvae_mean_deployment_is_deterministic(fork):
    task, _ = fork
    policy = make_policy("cvae", task.obs_dim, task.chunk_dim, deploy="mean", **SMALL)
    obs = task.observations(5, SEED)
    s = policy.sample(obs, 4, _gen())
    assert torch.equal(s, s[:, :1].expand_as(s))
    z0 = torch.zeros(5, policy.latent_dim)
    torch.testing.assert_close(s[:, 0], policy.decode(obs, z0))


TRANSPORTS = [
    ("flow", {"solver": "euler", "n_steps": 4}),
    ("flow", {"solver": "heun", "n_steps": 3}),
    ("diffusion", {"sampler": "ddim", "n_train_steps": 20, "n_sampling_steps": 5}),
    ("diffusion", {"sampler": "ddpm", "n_train_steps": 8}),
    ("diffusion", {"sampler": "ddim", "n_train_steps": 20, "n_sampling_steps": 20,
                   "clip_sample": 3.0}),
    ("cvae", {"latent_dim": 3}),
]


@pytest.mark.parametrize("kind,hyper", TRANSPORTS)
def test_sample_equals_transport_of_the_same_noise(fork, kind, hyper):
    task, _ = fork
    policy = make_policy(kind, task.obs_dim, task.chunk_dim, seed=SEED, **SMALL, **hyper)
    obs = task.observations(6, SEED)
    s = policy.sample(obs, 5, _gen(11))
    noise = torch.randn(6, 5, policy.noise_dim, generator=_gen(11))
    torch.testing.assert_close(s, policy.transport(obs, noise), rtol=0, atol=0)
    noise.requires_grad_(True)
    policy.transport(obs, noise).sum().backward()
    assert noise.grad is not None and torch.isfinite(noise.grad).all()


@pytest.mark.slow
@pytest.mark.parametrize("kind,hyper", TRANSPORTS)
def test_certified_lipschitz_dominates_empirical(fork, kind, hyper):
    task, demo = fork
    policy, _ = _train(kind, task, demo, steps=150, **hyper)
    cert = policy.certified_lipschitz()
    emp = policy.empirical_lipschitz(task.observations(4, SEED), n_starts=4, seed=SEED,
                                     ascent_steps=5)
    assert cert.kind == "upper" and emp.kind == "lower"
    assert 0 < emp.value <= cert.value, (emp.value, cert.value)


def _affine_policy(kind, task, **hyper):
    """hidden=(): the noise-to-chunk map is linear; its exact norm is a matrix norm."""
    policy = make_policy(kind, task.obs_dim, task.chunk_dim, seed=SEED, hidden=(), **hyper)
    with torch.no_grad():  # a non-trivial linear part, away from the identity
        for p in policy.parameters():
            p.mul_(3.0)
    return policy


def _exact_linear_norm(policy, obs):
    jac = torch.autograd.functional.jacobian(
        lambda e: policy.transport(obs, e.reshape(1, 1, -1))[0, 0],
        torch.zeros(policy.noise_dim))
    return float(torch.linalg.matrix_norm(jac, 2))


@pytest.mark.parametrize("kind,hyper", [("flow", {"n_steps": 3}), ("flow", {"solver": "heun"}),
                                        ("cvae", {"latent_dim": 3}),
                                        ("diffusion", {"n_train_steps": 20,
                                                       "n_sampling_steps": 4}),
                                        # clip range far outside the data: the map stays linear
                                        ("diffusion", {"n_train_steps": 20,
                                                       "n_sampling_steps": 4,
                                                       "clip_sample": 1e6})])
def test_certificate_and_lower_bound_bracket_exact_norm_of_linear_maps(fork, kind, hyper):
    task, _ = fork
    policy = _affine_policy(kind, task, **hyper)
    obs = task.observations(1, SEED)
    exact = _exact_linear_norm(policy, obs)
    cert = policy.certified_lipschitz().value
    emp = policy.empirical_lipschitz(obs, n_starts=2, ascent_steps=0).value
    assert emp == pytest.approx(exact, rel=1e-5)  # a linear map's Jacobian is its norm
    assert cert >= exact * (1 - 1e-6)
    if kind == "cvae":  # a single linear layer: the certificate must be exact
        assert cert == pytest.approx(exact, rel=1e-4)


@given(eigenvalues=st.lists(st.floats(0.0, 5.0), min_size=4, max_size=4),
       n_steps=st.integers(1, 12), solver=st.sampled_from(["euler", "heun"]),
       seed=st.integers(0, 2**16))
def test_flow_certificate_is_tight_for_symmetric_psd_linear_velocity(eigenvalues, n_steps,
                                                                    solver, seed):
    """v(x) = M x + c with M symmetric PSD: the Euler/Heun map is a polynomial in M whose
    norm is exactly the product bound, (1 + h lam)^N or (1 + h lam + (h lam)^2/2)^N."""
    policy = make_policy("flow", 4, 4, hidden=(), n_steps=n_steps, solver=solver)
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    m = q @ np.diag(eigenvalues) @ q.T
    with torch.no_grad():
        policy.velocity_net[0].weight[:, :4] = torch.as_tensor(m, dtype=torch.float32)
    obs = torch.as_tensor(rng.normal(size=(1, 4)), dtype=torch.float32)
    exact = _exact_linear_norm(policy, obs)
    cert = policy.certified_lipschitz().value
    assert cert >= exact * (1 - 1e-5)
    assert cert == pytest.approx(exact, rel=1e-4)


@pytest.mark.slow
def test_spectral_norm_and_scale_bound_the_velocity(fork):
    task, demo = fork
    policy, _ = _train("flow", task, demo, steps=200, spectral_norm=True, activation="relu",
                       lipschitz_scale=2.0)
    cert = policy.certified_lipschitz()
    # Each layer's exact norm is ~1 after training (power iteration converged), so the
    # velocity is ~2-Lipschitz and the Euler product at most (1 + 2/N)^N.
    assert cert.details["velocity_lipschitz"] <= 2.0 * 1.05
    assert cert.value <= (1 + 2.0 * 1.05 / policy.n_steps) ** policy.n_steps


def test_training_is_deterministic(fork):
    task, demo = fork
    a, la = _train("flow", task, demo, steps=20)
    b, lb = _train("flow", task, demo, steps=20)
    assert la.losses == lb.losses
    obs = task.observations(3, SEED)
    torch.testing.assert_close(a.sample(obs, 4, _gen()), b.sample(obs, 4, _gen()), rtol=0, atol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_trains_and_samples_on_cuda(fork):
    task, demo = fork
    policy = make_policy("flow", task.obs_dim, task.chunk_dim, **SMALL)
    policy.fit(demo.obs, demo.actions, TrainConfig(steps=20, device="cuda"))
    s = policy.sample(task.observations(3, SEED), 4, torch.Generator("cuda").manual_seed(0))
    assert s.device.type == "cuda" and s.shape == (3, 4, task.chunk_dim)


@pytest.mark.parametrize("call,arg", [
    (lambda t: make_policy("transformer", 4, 4), "kind"),
    (lambda t: make_policy("flow", 0, 4), "obs_dim"),
    (lambda t: make_policy("flow", 4, 4, solver="rk9"), "solver"),
    (lambda t: make_policy("flow", 4, 4, n_steps=0), "n_steps"),
    (lambda t: make_policy("flow", 4, 4, activation="swish"), "activation"),
    (lambda t: make_policy("flow", 4, 4, lipschitz_scale=-1.0), "output_scale"),
    (lambda t: make_policy("flow", 4, 4, colour=1), "colour"),
    (lambda t: make_policy("cvae", 4, 4, loss="l3"), "loss"),
    (lambda t: make_policy("cvae", 4, 4, deploy="median"), "deploy"),
    (lambda t: make_policy("cvae", 4, 4, beta=-1.0), "beta"),
    (lambda t: make_policy("diffusion", 4, 4, sampler="euler"), "sampler"),
    (lambda t: make_policy("diffusion", 4, 4, n_train_steps=10, n_sampling_steps=11),
     "n_sampling_steps"),
    (lambda t: make_policy("gmm", 4, 4, n_components=0), "n_components"),
    (lambda t: TrainConfig(steps=0), "steps"),
    (lambda t: TrainConfig(lr=0.0), "lr"),
    (lambda t: TrainConfig(device="tpu"), "device"),
    (lambda t: make_policy("regression", 4, 4).fit(np.zeros((8, 3)), np.zeros((8, 4))), "obs"),
    (lambda t: make_policy("regression", 4, 4).fit(np.zeros((8, 4)), np.full((8, 4), np.nan)),
     "actions"),
    (lambda t: make_policy("regression", 4, 4).fit(np.zeros((8, 4)), np.zeros((7, 4))), "length"),
    (lambda t: make_policy("gmm", 4, 4).sample(np.zeros((2, 4)), 0), "n"),
    (lambda t: make_policy("flow", 4, 4).transport(np.zeros((2, 4)), torch.zeros(2, 3, 5)),
     "noise"),
])
def test_errors_name_the_argument(call, arg):
    with pytest.raises((ValueError, TypeError), match=arg):
        call(None)

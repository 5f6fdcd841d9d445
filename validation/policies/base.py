"""The policy interface: `Policy.fit`, `Policy.sample`, and the noise-to-chunk map.

`Policy` trains by minibatch AdamW on the policy's own `loss`; `TransportPolicy` adds
what the Part T bounds need from an action-space generator ``a = T_o(eps)``,
``eps ~ N(0, I_d)``: `transport` (differentiable in the noise), `certified_lipschitz`
(an upper bound on ``Lip(T_o)`` valid for every observation) and `empirical_lipschitz`
(a lower bound: the largest Jacobian norm found).
"""

from __future__ import annotations

import abc
import contextlib
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from theory import _args
from validation.devices import resolve_device
from validation.policies.networks import converge_spectral_norms


@dataclass(frozen=True)
class TrainConfig:
    """Training hyper-parameters (AdamW, uniform minibatches with replacement).

    ``seed`` drives minibatch and training-noise draws; network initialisation is
    seeded by the policy's own ``seed`` hyper-parameter (`make_policy`).
    """

    steps: int = 2000
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.0
    seed: int = 0
    device: str = "cpu"
    progress: bool = False

    def __post_init__(self):
        _args.integer_at_least(self.steps, "steps", 1)
        _args.integer_at_least(self.batch_size, "batch_size", 1)
        _args.positive(self.lr, "lr")
        _args.nonnegative(self.weight_decay, "weight_decay")
        _args.integer_at_least(self.seed, "seed", 0)
        if self.device == "auto":
            raise ValueError("device must be a concrete device ('cpu', 'cuda', 'cuda:N'); "
                             "resolve 'auto' with validation.devices.resolve_device first")
        resolve_device(self.device)


@dataclass(frozen=True)
class TrainLog:
    """Per-step training losses, wall time, and ``final_loss`` = mean of the last 5% of steps."""

    losses: tuple[float, ...]
    seconds: float
    final_loss: float


class Policy(nn.Module, abc.ABC):
    """A conditional chunk generator ``pi(. | o)`` on ``R^chunk_dim``."""

    kind: str

    def __init__(self, obs_dim: int, chunk_dim: int):
        super().__init__()
        self.obs_dim = _args.integer_at_least(obs_dim, "obs_dim", 1)
        self.chunk_dim = _args.integer_at_least(chunk_dim, "chunk_dim", 1)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @abc.abstractmethod
    def loss(self, obs: torch.Tensor, actions: torch.Tensor,
             generator: torch.Generator) -> torch.Tensor:
        """The scalar training loss on a minibatch (``[b, obs_dim]``, ``[b, chunk_dim]``)."""

    @abc.abstractmethod
    def sample(self, obs, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``[B, n, chunk_dim]`` chunks for observations ``obs`` ``[B, obs_dim]``."""

    def fit(self, obs, actions, config: TrainConfig | None = None) -> TrainLog:
        """Train on ``obs`` ``[N, obs_dim]`` and ``actions`` ``[N, chunk_dim]`` (NumPy or torch)."""
        config = TrainConfig() if config is None else config
        self.to(config.device)
        obs = self._as_obs(obs)
        actions = self._as_batch(actions, self.chunk_dim, "actions")
        if actions.shape[0] != obs.shape[0]:
            raise ValueError(f"obs and actions must have the same length, got {obs.shape[0]} "
                             f"and {actions.shape[0]}")
        gen = torch.Generator(device=self.device).manual_seed(config.seed)
        opt = torch.optim.AdamW([p for p in self.parameters() if p.requires_grad],
                                lr=config.lr, weight_decay=config.weight_decay)
        steps = range(config.steps)
        if config.progress:
            from tqdm.auto import tqdm
            steps = tqdm(steps, desc=f"fit {self.kind}")
        losses = []
        start = time.perf_counter()
        self.train()
        for _ in steps:
            idx = torch.randint(0, obs.shape[0], (config.batch_size,), generator=gen,
                                device=self.device)
            loss = self.loss(obs[idx], actions[idx], gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.detach())  # kept on the device: no sync per step on a GPU
        converge_spectral_norms(self)
        self.eval()
        losses = torch.stack(losses).cpu().tolist()
        tail = max(1, len(losses) // 20)
        return TrainLog(losses=tuple(losses), seconds=time.perf_counter() - start,
                        final_loss=float(np.mean(losses[-tail:])))

    def _as_batch(self, x, dim: int, name: str) -> torch.Tensor:
        x = torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x)
        if x.ndim != 2 or x.shape[1] != dim:
            raise ValueError(f"{name} must have shape [N, {dim}], got {tuple(x.shape)}")
        if not torch.isfinite(x).all():
            raise ValueError(f"{name} must be finite (found NaN or inf)")
        return x.to(device=self.device, dtype=torch.float32)

    def _as_obs(self, obs) -> torch.Tensor:
        return self._as_batch(obs, self.obs_dim, "obs")


class TransportPolicy(Policy):
    """An action-space generator: ``a = transport(o, eps)``, ``eps ~ N(0, I_noise_dim)``."""

    noise_dim: int

    def transport(self, obs, noise: torch.Tensor) -> torch.Tensor:
        """``obs [B, obs_dim]``, ``noise [B, n, noise_dim]`` -> ``[B, n, chunk_dim]``.

        Differentiable in ``noise``; ``sample(obs, n, g) == transport(obs, randn(g))``.
        """
        obs = self._as_obs(obs)
        if (not torch.is_tensor(noise) or noise.ndim != 3 or noise.shape[0] != obs.shape[0]
                or noise.shape[2] != self.noise_dim):
            shape = tuple(noise.shape) if torch.is_tensor(noise) else type(noise).__name__
            raise ValueError(f"noise must be a tensor of shape [{obs.shape[0]}, n, "
                             f"{self.noise_dim}], got {shape}")
        return self._push(obs, noise.to(self.device))

    @abc.abstractmethod
    def _push(self, obs: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """`transport` on validated tensors (no data-dependent checks: runs under vmap)."""

    @abc.abstractmethod
    def certified_lipschitz(self, method: str = "joint", obs=None, **options):
        """`LipschitzEstimate` (kind "upper") of ``eps -> transport(o, eps)``, valid for every
        observation ``o`` (conditioning enters additively, so ``obs`` never changes it).

        ``method``: "joint" (default: `numerics.sampler_lipschitz_upper` on the unrolled
        sampler), "product" (T6's product of per-step bounds), or a network certifier of
        `numerics.UPPER_METHODS` for the product; ``options`` go to the certifier."""

    @torch.no_grad()
    def sample(self, obs, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        obs = self._as_obs(obs)
        n = _args.integer_at_least(n, "n", 1)
        noise = torch.randn(obs.shape[0], n, self.noise_dim, generator=generator,
                            device=self.device)
        return self._push(obs, noise)

    def empirical_lipschitz(self, obs, n_starts: int = 8, seed: int = 0, ascent_steps: int = 20,
                            segment_points: int = 16, n_power: int = 20):
        """A lower bound on ``sup_o Lip(T_o)``: `numerics.transition_lipschitz_lower` at each
        observation (pairs of noises ranked by their difference quotient, zoomed segments
        between them, Jacobian ascent and random search from the steepest points and from
        Gaussian starts at radii 1, 3, 10), the largest value over ``obs``.

        Args:
            obs: ``[B, obs_dim]``.
            n_starts: segments and ascent starts per radius, per observation (``>= 1``);
                seed: the noise seed.
            ascent_steps: ascent steps and random-search rounds (``>= 0``);
                segment_points: points per segment (at least 3 are used);
                n_power: power iterations per Jacobian norm (``>= 1``).
        Returns: `numerics.LipschitzEstimate` with kind "lower", method "transition-search".
        """
        from numerics import LipschitzEstimate, transition_lipschitz_lower

        obs = self._as_obs(obs)
        n_starts = _args.integer_at_least(n_starts, "n_starts", 1, 4096)
        ascent_steps = _args.integer_at_least(ascent_steps, "ascent_steps", 0, 100_000)
        segment_points = _args.integer_at_least(segment_points, "segment_points", 1, 4096)
        n_power = _args.integer_at_least(n_power, "n_power", 1, 10_000)
        seed = _args.integer_at_least(seed, "seed", 0)
        start = time.perf_counter()
        best, where = None, 0
        with _frozen(self):
            for b in range(obs.shape[0]):
                o = obs[b:b + 1]
                est = transition_lipschitz_lower(
                    lambda e, o=o: self._push(o, e[None])[0], self.noise_dim,
                    n_samples=max(64, 8 * n_starts), n_pairs=n_starts,
                    segment_points=max(3, segment_points), zoom_rounds=2, n_starts=n_starts,
                    radii=(1.0, 3.0, 10.0), ascent_steps=ascent_steps,
                    search_rounds=ascent_steps, n_power=n_power, seed=seed + b)
                if best is None or est.value > best.value:
                    best, where = est, b
        return LipschitzEstimate(value=best.value, kind="lower", method=best.method,
                                 seconds=time.perf_counter() - start,
                                 details={**best.details, "n_obs": obs.shape[0],
                                          "argmax_obs": where, "n_starts": n_starts,
                                          "segment_points": segment_points,
                                          "ascent_steps": ascent_steps, "n_power": n_power,
                                          "seed": seed})


@contextlib.contextmanager
def _frozen(module: nn.Module):
    """Parameters without gradients inside the block (only the noise is optimised)."""
    flags = [p.requires_grad for p in module.parameters()]
    for p in module.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, f in zip(module.parameters(), flags, strict=True):
            p.requires_grad_(f)


def certify_network(net: nn.Sequential, input_dim: int, method: str = "fast-certified"):
    """`numerics.LipschitzEstimate` (kind "upper") of ``net`` in its first ``input_dim``
    inputs, valid for every value of the others (conditioning enters additively):
    ``numerics.lipschitz_upper(net, method, input_slice=slice(0, input_dim))``, computed
    from the exact current weights (a spectral-norm parametrisation's effective weight)."""
    from numerics import lipschitz_upper

    return lipschitz_upper(net, method=method, input_slice=slice(0, input_dim))


# The joint certificate's optimisation budget in the policies: L-BFGS iterations per
# smoothing stage, not seconds, so that a certificate is the same number on every machine
# and backend (a wall-clock cap would make it depend on the load). The value is certified
# wherever the optimisation stops; pass max_iter=... to certified_lipschitz for a tighter
# one. JOINT_MAX_SECONDS only guards against a hang (a run that reaches it is reported).
JOINT_MAX_ITER = 5
JOINT_MAX_SECONDS = 900.0


def sampler_certificate(policy: TransportPolicy, net: nn.Module, unrolled, state_dim: int,
                        condition, method: str, obs, options: dict, alias: str):
    """`numerics.LipschitzEstimate` of a policy's noise-to-chunk map, from its network and
    unrolled sampler (`numerics.unroll_sampler`); shared by the policies'
    ``certified_lipschitz``.

    ``condition(t, obs [1, obs_dim])`` is the rest of the network's input. Before
    certifying, `numerics.sampler_map` of (net, sampler, condition) is compared with the
    policy's own ``_push`` on random noise: a policy whose network or sampler was replaced
    (e.g. a monkey-patched ``epsilon``) would otherwise certify a map it does not run, and
    raises ``TypeError`` instead. The value does not depend on ``obs`` (conditioning is a
    bias), so it is cached per method, options and weights (parameter versions).

    ``method="local"``: `numerics.sampler_lipschitz_local`, the constant ``L_B`` on a ball of
    the noise at the one observation ``obs`` (``options``: ``radius`` or ``outside_mass``,
    ``tolerance``, caps), for the local forms of Part T; cached per observation too.
    """
    from numerics import (
        UPPER_METHODS,
        LipschitzEstimate,
        product_bound,
        sampler_lipschitz_local,
        sampler_lipschitz_upper,
        sampler_map,
    )

    if not isinstance(method, str) or method not in ("joint", "product", "local",
                                                     *UPPER_METHODS):
        raise ValueError(f"method must be 'joint', 'product', 'local' or a network certifier "
                         f"of {UPPER_METHODS}, got {method!r}")
    if method == "local" and obs is None:
        raise ValueError("method='local' certifies one observation's map on a ball: pass "
                         "obs=[1, obs_dim]")
    probe = (torch.zeros(1, policy.obs_dim, device=policy.device) if obs is None
             else policy._as_obs(obs)[:1])
    # a local certificate depends on the observation (the ball is in the noise, the
    # conditioning moves the map's steep parts); the global ones do not
    where = tuple(probe[0].tolist()) if method == "local" else None
    key = (method, where, tuple(sorted(options.items())),
           tuple((id(p), p._version) for p in policy.parameters()),
           tuple((id(b), b._version) for b in policy.buffers()))
    cached = policy.__dict__.get("_lipschitz_cache")
    if cached is not None and cached[0] == key:
        return cached[1]
    gen = torch.Generator(device=policy.device).manual_seed(0)
    noise = torch.randn(1, 8, policy.noise_dim, generator=gen, device=policy.device)
    with torch.no_grad():
        runs = policy._push(probe, noise)[0]
        described = sampler_map(net, unrolled, state_dim=state_dim,
                                condition=lambda t: condition(t, probe))(noise[0])
    gap = float((runs - described).abs().max() / (1 + described.abs().max()))
    if not gap <= 1e-4:
        raise TypeError(f"{type(policy).__name__}'s sampler no longer computes its network "
                        f"{alias.split('_')[0]} net and schedule (they differ by {gap:.3g}): "
                        "was a method or network replaced? Certify the map it runs, e.g. "
                        "with validation.policies.external.ExternalPolicy")
    start = time.perf_counter()
    if method in UPPER_METHODS:
        net_est = certify_network(net, state_dim, method)
        value, factors = product_bound(unrolled, net_est.value)
        est = LipschitzEstimate(value=value, kind="upper",
                                method=f"{net_est.method}+sampler-product",
                                seconds=time.perf_counter() - start,
                                details={alias: net_est.value, "network": dict(net_est.details),
                                         "product_step_bounds": factors,
                                         "n_steps": len(unrolled.steps)})
    elif method == "local":
        cond = lambda t: condition(t, probe)[0].detach().cpu().double()  # noqa: E731
        est = sampler_lipschitz_local(net, unrolled, state_dim=state_dim, condition=cond,
                                      **options)
    else:
        options = ({"max_iter": JOINT_MAX_ITER, "max_seconds": JOINT_MAX_SECONDS, **options}
                   if method == "joint" else options)
        cond = lambda t: condition(t, probe).detach().cpu().double()  # noqa: E731
        found = sampler_lipschitz_upper(net, unrolled, state_dim=state_dim, condition=cond,
                                        method=method, **options)
        # sampler_lipschitz_upper already returns the smaller of the joint and the product
        # certificate (both in its details)
        est = LipschitzEstimate(value=found.value, kind="upper", method=found.method,
                                seconds=time.perf_counter() - start,
                                details={**found.details,
                                         alias: found.details["network_lipschitz"]})
    policy.__dict__["_lipschitz_cache"] = (key, est)
    return est

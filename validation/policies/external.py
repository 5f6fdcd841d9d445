r"""Bring your own policy: a `TransportPolicy` around a network and a sampler you trained.

A LeRobot- or diffusers-style policy is a noise-prediction (or velocity) network
``f`` and a sampler loop. The checks of Part T need two things from it:

- the map ``noise -> chunk`` at an observation (`TransportPolicy.transport`): either the
  user's own callable ``(obs [N, obs_dim], noise [N, noise_dim]) -> chunk [N, ...]``, or
  the sampler the description below defines, run by `numerics.lipschitz.sampler.sampler_map`;
- a certified Lipschitz constant of that map for every observation: from the description
  (`numerics.lipschitz.sampler.sampler_lipschitz_upper`): the network as an
  ``nn.Sequential`` of linear layers and slope-restricted activations fed
  ``[x, condition(t, o)]`` (state first; time and observation enter additively), the
  sampler and its schedule (`SamplerSchedule`), and the state width.

The chunk is ``action_shift + action_scale * x`` (LeRobot's un-normalisation of a
diagonal standard score), so the constant is the sampler's times ``max |action_scale|``.

Schedules. `diffusers_schedule` reads a diffusers ``DDIMScheduler`` / ``DDPMScheduler``
after ``set_timesteps(n)`` (duck-typed, diffusers is never imported here), or the same
arrays given by hand (``timesteps``, ``alphas_cumprod``, ``final_alpha_cumprod``,
``clip_sample`` and ``clip_sample_range``), and turns them into the keywords of
`numerics.lipschitz.sampler.unroll_sampler`: DDIM (``eta = 0``) step ``x -> sqrt(abar')
x0 + sqrt(1 - abar') eps`` with ``x0 = (x - sqrt(1 - abar) eps) / sqrt(abar)`` clipped to
``[-c, c]`` when ``clip_sample``, ``abar = alphas_cumprod[t]``, ``abar' =
alphas_cumprod[t - T // n]`` or ``final_alpha_cumprod`` past the end (diffusers'
conventions, Song et al. 2021). The network sees the scheduler's own timestep labels
(``t = 90, 80, ..`` for 10 of 100 steps), so ``condition(t, o)`` receives them as floats.
`flow_schedule` does the same for Euler, Heun and RK4 on a time grid.

When both a callable and a description are given, the constructor checks that they are
the same map on random inputs (`ExternalPolicy.agreement`): a certificate of a network
the policy does not run would certify nothing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from theory import _args
from validation.policies.base import TransportPolicy

FLOW_SAMPLERS = ("euler", "heun", "rk4")
DIFFUSION_SAMPLERS = ("ddim", "ddpm")
Condition = Callable[[float, torch.Tensor], torch.Tensor]
Transport = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class SamplerSchedule:
    """A sampler and its schedule as `numerics.lipschitz.sampler.unroll_sampler` takes them.

    Attributes:
        sampler: ``"euler" | "heun" | "rk4" | "ddim" | "ddpm"``.
        n_steps: number of steps (``None``: read from the arrays).
        options: the keywords of `unroll_sampler`, as ``((key, value), ...)`` with tuples
            for arrays (frozen and JSON-ready: a schedule can be part of a cache key).

    Construction validates the schedule (by unrolling it once).
    """

    sampler: str
    n_steps: int | None = None
    options: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self):
        self.unrolled()

    def unrolled(self):
        """The `UnrolledSampler` (scalar-coefficient steps) of this schedule."""
        from numerics.lipschitz.sampler import unroll_sampler

        return unroll_sampler(self.sampler, self.n_steps, **dict(self.options))


def _floats(x: Any, name: str) -> tuple[float, ...]:
    if torch.is_tensor(x):
        x = x.detach().cpu().double().numpy()
    a = np.asarray(x, dtype=np.float64).reshape(-1)
    if a.size == 0 or not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be a non-empty array of finite numbers")
    return tuple(float(v) for v in a)


def _per_element(value: Any, name: str, size: int) -> np.ndarray:
    a = np.asarray(value, dtype=np.float64)
    if a.ndim > 1 or a.size not in (1, size):
        raise ValueError(f"{name} must be a scalar or have {size} entries (one per chunk "
                         f"element), got shape {a.shape}")
    return np.broadcast_to(a.reshape(-1), (size,))


def diffusers_schedule(scheduler: Any = None, *, sampler: str | None = None,
                       timesteps: Sequence[int] | None = None,
                       alphas_cumprod: Sequence[float] | None = None,
                       final_alpha_cumprod: float | None = None, clip_sample: bool = False,
                       clip_sample_range: float = 1.0,
                       prediction_type: str = "epsilon") -> SamplerSchedule:
    r"""The `SamplerSchedule` of a diffusers-style epsilon-prediction sampler.

    .. math::
        x_{t'} = \sqrt{\bar a_{t'}}\,\hat x_0 + \sqrt{1 - \bar a_{t'}}\,\epsilon_\theta(x_t),
        \qquad \hat x_0 = \mathrm{clip}_c\!\Big(\frac{x_t - \sqrt{1 - \bar a_t}\,
        \epsilon_\theta(x_t)}{\sqrt{\bar a_t}}\Big)

    for DDIM with ``eta = 0`` (DDPM: diffusers' "fixed_small" ancestral step, docs/theory.md T6),
    ``bar a_t = alphas_cumprod[t]`` along ``timesteps``, ``bar a_{t'} =
    alphas_cumprod[t - T // n]`` and ``final_alpha_cumprod`` after the last step.

    Args:
        scheduler: a diffusers ``DDIMScheduler`` or ``DDPMScheduler`` after
            ``set_timesteps(n)``; its ``timesteps``, ``alphas_cumprod``,
            ``final_alpha_cumprod`` (DDPM: 1), ``config.clip_sample``,
            ``config.clip_sample_range`` and ``config.prediction_type`` are read. Or
            ``None`` and the arrays below.
        sampler: ``"ddim"`` or ``"ddpm"`` (default: from the scheduler's class name,
            else ``"ddim"``).
        timesteps: ``[n]`` descending integer labels in ``[0, T - 1]``.
        alphas_cumprod: ``[T]`` the training schedule's cumulative alphas, in ``(0, 1]``.
        final_alpha_cumprod: ``bar a`` after the last step (diffusers: 1 with
            ``set_alpha_to_one``, else ``alphas_cumprod[0]``); default 1.
        clip_sample, clip_sample_range: clip the predicted clean sample to
            ``[-clip_sample_range, clip_sample_range]``.
        prediction_type: must be ``"epsilon"`` (what the certificate covers).

    Reference: Song, Meng & Ermon, "Denoising Diffusion Implicit Models", ICLR 2021;
    diffusers ``DDIMScheduler.step``.

    Examples:
        >>> s = diffusers_schedule(timesteps=[2, 0], alphas_cumprod=[0.9, 0.5, 0.1, 0.05])
        >>> s.sampler, s.n_steps, len(s.unrolled().steps)
        ('ddim', 2, 2)
    """
    if scheduler is not None:
        if any(v is not None for v in (timesteps, alphas_cumprod, final_alpha_cumprod)):
            raise ValueError("pass either scheduler= or the schedule arrays, not both")
        config = getattr(scheduler, "config", None)
        if config is None or getattr(scheduler, "timesteps", None) is None \
                or not hasattr(scheduler, "alphas_cumprod"):
            raise TypeError("scheduler must be a diffusers DDIMScheduler or DDPMScheduler "
                            "(config, timesteps, alphas_cumprod) after set_timesteps(n)")
        if getattr(scheduler, "num_inference_steps", 1) is None:
            raise ValueError("call scheduler.set_timesteps(n) before reading its schedule")
        if getattr(config, "thresholding", False):
            raise ValueError("scheduler.config.thresholding (dynamic thresholding) is not "
                             "supported: its clip range depends on the sample")
        if getattr(config, "variance_type", "fixed_small") not in (None, "fixed_small"):
            raise ValueError("scheduler.config.variance_type must be 'fixed_small', got "
                             f"{config.variance_type!r}")
        if sampler is None:
            sampler = "ddpm" if "DDPM" in type(scheduler).__name__ else "ddim"
        timesteps = scheduler.timesteps
        alphas_cumprod = scheduler.alphas_cumprod
        final = getattr(scheduler, "final_alpha_cumprod", None)
        final_alpha_cumprod = 1.0 if final is None else float(final)
        clip_sample = bool(getattr(config, "clip_sample", False))
        clip_sample_range = float(getattr(config, "clip_sample_range", 1.0))
        prediction_type = getattr(config, "prediction_type", "epsilon")
    sampler = "ddim" if sampler is None else sampler
    if sampler not in DIFFUSION_SAMPLERS:
        raise ValueError(f"sampler must be one of {DIFFUSION_SAMPLERS}, got {sampler!r}")
    if prediction_type != "epsilon":
        raise ValueError(f"prediction_type must be 'epsilon' (the certificate is of an "
                         f"epsilon-prediction sampler), got {prediction_type!r}")
    if timesteps is None or alphas_cumprod is None:
        raise ValueError("pass scheduler=, or both timesteps= and alphas_cumprod=")
    if not isinstance(clip_sample, (bool, np.bool_)):
        raise TypeError(f"clip_sample must be a bool (diffusers' flag), got {clip_sample!r}")
    steps = _floats(timesteps, "timesteps")
    if any(not float(t).is_integer() for t in steps):
        raise ValueError(f"timesteps must be integer labels, got {list(steps)}")
    options: dict[str, Any] = {
        "timesteps": tuple(int(t) for t in steps),
        "alphas_cumprod": _floats(alphas_cumprod, "alphas_cumprod"),
        "final_alpha_cumprod": 1.0 if final_alpha_cumprod is None
        else float(_args.probability(final_alpha_cumprod, "final_alpha_cumprod")),
    }
    if clip_sample:
        options["clip_sample"] = float(_args.positive(clip_sample_range, "clip_sample_range"))
    return SamplerSchedule(sampler, len(steps), tuple(sorted(options.items())))


def flow_schedule(sampler: str = "euler", n_steps: int | None = None, *, t0: float = 0.0,
                  t1: float = 1.0, times: Sequence[float] | None = None) -> SamplerSchedule:
    """The `SamplerSchedule` of an ODE sampler ``dx/dt = v(x, t)`` (Euler, Heun, RK4) on
    the uniform grid of ``n_steps`` steps from ``t0`` to ``t1``, or on ``times``.

    Examples:
        >>> flow_schedule("heun", 4).unrolled().steps[0].output
        (1.0, 0.125, 0.125)
    """
    if sampler not in FLOW_SAMPLERS:
        raise ValueError(f"sampler must be one of {FLOW_SAMPLERS}, got {sampler!r}")
    options: dict[str, Any] = {"t0": float(t0), "t1": float(t1)}
    if times is not None:
        options = {"times": _floats(times, "times")}
    return SamplerSchedule(sampler, n_steps, tuple(sorted(options.items())))


class ExternalPolicy(TransportPolicy):
    """A trained policy from outside modebound, as a `TransportPolicy` the checks accept.

    Args:
        obs_dim, chunk_dim: sizes of the observation and the flattened chunk.
        net: the velocity / epsilon network: an ``nn.Sequential`` (or a Module wrapping
            exactly one and computing it) fed ``[x, condition(t, o)]``; needed for
            `certified_lipschitz` and, without ``transport``, for sampling.
        schedule: its sampler (`diffusers_schedule`, `flow_schedule`).
        condition: ``(t, obs [N, obs_dim]) -> [N, k]``, the rest of the network's input at
            stage time ``t`` (time features, observation features); ``None`` if the input
            is the state alone.
        transport: your own map ``(obs [N, obs_dim], noise [N, noise_dim]) -> [N, ...]``
            (``chunk_dim`` numbers per row, the un-normalised chunk); default the
            described sampler's.
        state_dim: width of the sampler's state ``x`` (default ``chunk_dim``).
        noise_dim: width of the noise (default: ``state_dim``; for DDPM all the injected
            noise too, docs/theory.md T6); required without a description.
        action_scale, action_shift: the chunk is ``action_shift + action_scale * x``
            (scalars or ``[chunk_dim]``) for the described sampler.
        certify: ``"joint"`` (the unrolled-graph certificate) or ``"product"`` (T6's
            product of step bounds), `sampler_lipschitz_upper`'s ``method``.
        certify_options: more keywords of `sampler_lipschitz_upper` (``max_seconds``, ..).
        check_agreement: with both ``transport`` and a description, check at
            construction that they agree within ``atol`` (relative to the chunks' size).

    Examples:
        >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
        <torch._C.Generator object at ...>
        >>> net = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 2))
        >>> policy = ExternalPolicy(1, 2, net=net, schedule=flow_schedule("euler", 4),
        ...                         condition=lambda t, o: o)
        >>> tuple(policy.sample(torch.zeros(5, 1), 3).shape)
        (5, 3, 2)
        >>> policy.certified_lipschitz("product").kind
        'upper'
    """

    kind = "external"

    def __init__(self, obs_dim: int, chunk_dim: int, *, net: nn.Module | None = None,
                 schedule: SamplerSchedule | None = None, condition: Condition | None = None,
                 transport: Transport | None = None, state_dim: int | None = None,
                 noise_dim: int | None = None, action_scale: float | Sequence[float] = 1.0,
                 action_shift: float | Sequence[float] = 0.0, certify: str = "joint",
                 certify_options: dict[str, Any] | None = None, check_agreement: bool = True,
                 atol: float = 1e-4):
        super().__init__(obs_dim, chunk_dim)
        if (net is None) != (schedule is None):
            raise ValueError("pass net= and schedule= together (the network description), "
                             "or neither")
        if net is None and transport is None:
            raise ValueError("pass transport= (your noise -> chunk map), or net= and "
                             "schedule= (the sampler to run)")
        if net is not None and not isinstance(net, nn.Module):
            raise TypeError(f"net must be a torch.nn.Module, got {type(net).__name__}")
        if schedule is not None and not isinstance(schedule, SamplerSchedule):
            raise TypeError("schedule must be a SamplerSchedule (diffusers_schedule, "
                            f"flow_schedule), got {type(schedule).__name__}")
        if transport is not None and not callable(transport):
            raise TypeError(f"transport must be callable, got {type(transport).__name__}")
        if condition is not None and not callable(condition):
            raise TypeError(f"condition must be callable, got {type(condition).__name__}")
        if certify not in ("joint", "product"):
            raise ValueError(f"certify must be 'joint' or 'product', got {certify!r}")
        self.net, self.schedule, self.condition = net, schedule, condition
        # A Module transport is registered so that `.to(device)` moves it.
        self.user_transport = transport
        self.state_dim = _args.integer_at_least(
            chunk_dim if state_dim is None else state_dim, "state_dim", 1)
        self._unrolled = None if schedule is None else schedule.unrolled()
        blocks = 1 if self._unrolled is None else 1 + self._unrolled.n_noise_blocks
        described = self.state_dim * blocks
        self.noise_dim = _args.integer_at_least(
            described if noise_dim is None else noise_dim, "noise_dim", 1)
        if schedule is not None and self.noise_dim != described:
            raise ValueError(f"noise_dim must be {described} for this sampler "
                             f"(state_dim x {blocks} noise blocks), got {self.noise_dim}")
        scale, shift = (_per_element(v, name, chunk_dim) for v, name in
                        ((action_scale, "action_scale"), (action_shift, "action_shift")))
        if not (np.all(np.isfinite(scale)) and np.all(np.isfinite(shift))):
            raise ValueError("action_scale and action_shift must be finite")
        if net is not None and self.state_dim != chunk_dim:
            raise ValueError(f"state_dim ({self.state_dim}) must equal chunk_dim "
                             f"({chunk_dim}): the chunk is action_shift + action_scale * x")
        if net is not None:
            self._check_width(net)
        self.register_buffer("action_scale", torch.as_tensor(scale.copy(), dtype=torch.float32))
        self.register_buffer("action_shift", torch.as_tensor(shift.copy(), dtype=torch.float32))
        self._scale_norm = float(np.max(np.abs(scale)))
        self.certify = certify
        self.certify_options = dict(certify_options or {})
        self.atol = float(_args.positive(atol, "atol"))
        if check_agreement and net is not None and transport is not None:
            gap = self.agreement(torch.randn(2, obs_dim, generator=torch.Generator()
                                             .manual_seed(0)))
            if not gap <= self.atol:
                raise ValueError(
                    f"transport and the described sampler (net, schedule, condition) differ "
                    f"by {gap:.3g} (relative to the chunks' size) on random inputs, more than "
                    f"atol={self.atol:g}: the certificate would be of another map. Check the "
                    "schedule, the condition and the action scale, or pass "
                    "check_agreement=False to skip the check")
        self.eval()

    def _check_width(self, net: nn.Module) -> None:
        """The network's input must be ``[x (state_dim), condition(t, o)]``: a one-line
        error here rather than a shape error from inside the sampler."""
        first = next((m for m in net.modules() if isinstance(m, nn.Linear)), None)
        if first is None:
            raise TypeError("net must contain nn.Linear layers (an MLP the certificate covers)")
        width = 0
        if self.condition is not None:
            t0 = next(st.time for st in self._unrolled.steps[0].stages if not st.clip)
            probe = self.condition(t0, torch.zeros(1, self.obs_dim,
                                                   dtype=first.weight.dtype))
            if not torch.is_tensor(probe) or probe.ndim != 2 or probe.shape[0] != 1:
                raise ValueError("condition(t, obs [N, obs_dim]) must return a tensor "
                                 f"[N, k]; for N = 1 it returned {getattr(probe, 'shape', probe)}")
            width = probe.shape[1]
        if first.in_features != self.state_dim + width:
            raise ValueError(f"net's first layer takes {first.in_features} inputs but "
                             f"state_dim + condition width = {self.state_dim} + {width}: the "
                             "input must be [x, condition(t, obs)]")

    @classmethod
    def from_diffusers(cls, net: nn.Module, scheduler: Any, obs_dim: int, chunk_dim: int,
                       **kwargs: Any) -> ExternalPolicy:
        """`ExternalPolicy` of an epsilon network and a diffusers scheduler after
        ``set_timesteps(n)`` (`diffusers_schedule`); ``kwargs`` as the constructor's."""
        return cls(obs_dim, chunk_dim, net=net, schedule=diffusers_schedule(scheduler),
                   **kwargs)

    @property
    def device(self) -> torch.device:
        found = next(iter(self.parameters()), None)
        return self.action_scale.device if found is None else found.device

    def loss(self, obs, actions, generator):
        raise TypeError("ExternalPolicy wraps a policy trained elsewhere: train it with its "
                        "own code, then wrap the trained network")

    def fit(self, obs, actions, config=None):
        self.loss(obs, actions, None)

    def described_transport(self, obs: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """``[N, chunk_dim]``: the described sampler's chunk for flat ``obs [N, obs_dim]``
        and ``noise [N, noise_dim]`` (`numerics.lipschitz.sampler.sampler_map`)."""
        from numerics.lipschitz.sampler import sampler_map

        if self.net is None:
            raise TypeError("no network description: pass net= and schedule=")
        condition = None if self.condition is None else (lambda t: self.condition(t, obs))
        x = sampler_map(self.net, self._unrolled, state_dim=self.state_dim,
                        condition=condition)(noise)
        return self.action_shift.to(x.dtype) + self.action_scale.to(x.dtype) * x

    def _flat(self, obs: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        if self.user_transport is None:
            return self.described_transport(obs, noise)
        out = self.user_transport(obs, noise)
        if not torch.is_tensor(out) or out.shape[0] != obs.shape[0] \
                or out[0].numel() != self.chunk_dim:
            shape = tuple(out.shape) if torch.is_tensor(out) else type(out).__name__
            raise ValueError(f"transport must return a tensor [N, ...] with {self.chunk_dim} "
                             f"numbers per row for N = {obs.shape[0]}, got {shape}")
        return out.reshape(obs.shape[0], self.chunk_dim)

    def _push(self, obs: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        B, n = noise.shape[0], noise.shape[1]
        flat_obs = obs[:, None, :].expand(B, n, self.obs_dim).reshape(B * n, self.obs_dim)
        return self._flat(flat_obs, noise.reshape(B * n, self.noise_dim)).reshape(
            B, n, self.chunk_dim)

    @torch.no_grad()
    def agreement(self, obs, n: int = 4, seed: int = 0) -> float:
        """``max |transport - described| / (1 + max |described|)`` over ``n`` standard
        normal noises at each observation of ``obs`` ``[B, obs_dim]``: 0 up to rounding
        when your map is the described sampler."""
        obs = self._as_obs(obs)
        n = _args.integer_at_least(n, "n", 1)
        gen = torch.Generator(device=self.device).manual_seed(_args.integer_at_least(
            seed, "seed", 0))
        noise = torch.randn(obs.shape[0] * n, self.noise_dim, generator=gen,
                            device=self.device)
        flat = obs.repeat_interleave(n, 0)
        mine = self.described_transport(flat, noise)
        theirs = self._flat(flat, noise)
        return float((theirs - mine).abs().max() / (1 + mine.abs().max()))

    def certified_lipschitz(self, method: str | None = None):
        """`LipschitzEstimate` (kind "upper") of ``noise -> chunk`` for every observation:
        ``max |action_scale|`` times `sampler_lipschitz_upper` of the described sampler
        (``method`` "joint" or "product", default the constructor's ``certify``). When the
        joint certificate fails its float64 check the product is returned, and
        ``details["joint_failed"]`` says why."""
        from numerics import LipschitzEstimate, NotCertified
        from numerics.lipschitz.sampler import sampler_lipschitz_upper

        if self.net is None:
            raise TypeError("no network description to certify: pass net= and schedule= "
                            "to ExternalPolicy, or give the checks lipschitz=...")
        method = self.certify if method is None else method
        start = time.perf_counter()
        probe = torch.zeros(1, self.obs_dim, device=self.device)
        condition = None if self.condition is None else (
            lambda t: self.condition(t, probe).detach().cpu().double())
        joint_failed = None
        try:
            est = sampler_lipschitz_upper(self.net, self._unrolled, state_dim=self.state_dim,
                                          condition=condition, method=method,
                                          **self.certify_options)
        except NotCertified as exc:
            if method != "joint":
                raise
            # The product of step bounds always certifies; the joint one may fail its
            # float64 check on a steep network.
            joint_failed = str(exc)
            est = sampler_lipschitz_upper(self.net, self._unrolled, state_dim=self.state_dim,
                                          condition=condition, method="product",
                                          **self.certify_options)
        value = est.value * self._scale_norm
        if not math.isfinite(value):
            raise ValueError(f"the certificate is not finite ({value}); the sampler is too "
                             "steep to certify")
        return LipschitzEstimate(value=value, kind="upper", method=est.method,
                                 seconds=time.perf_counter() - start,
                                 details={**est.details, "sampler_lipschitz": est.value,
                                          "action_scale_norm": self._scale_norm,
                                          "joint_failed": joint_failed})


__all__ = ["DIFFUSION_SAMPLERS", "FLOW_SAMPLERS", "ExternalPolicy", "SamplerSchedule",
           "diffusers_schedule", "flow_schedule"]

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
    def certified_lipschitz(self, method: str = "fast-certified"):
        """`LipschitzEstimate` (kind "upper") of ``eps -> transport(o, eps)``, all ``o``;
        ``method`` is the network certifier (`numerics.UPPER_METHODS`)."""

    @torch.no_grad()
    def sample(self, obs, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        obs = self._as_obs(obs)
        n = _args.integer_at_least(n, "n", 1)
        noise = torch.randn(obs.shape[0], n, self.noise_dim, generator=generator,
                            device=self.device)
        return self._push(obs, noise)

    def empirical_lipschitz(self, obs, n_starts: int = 8, seed: int = 0, ascent_steps: int = 20,
                            segment_points: int = 16):
        """A lower bound on ``sup_o Lip(T_o)``: the largest ``||d T_o / d eps||_2`` found.

        Every Jacobian norm evaluated is a valid lower bound on the Lipschitz constant
        (``T_o`` is a.e. differentiable), so the maximum over all evaluations is reported.
        The search looks where docs/theory.md, T4 (local form) says the steep part is, between the
        preimages of different modes: for each observation it draws ``n_starts`` pairs
        of Gaussian noises, evaluates the Jacobian at ``segment_points`` points of each
        segment between them, and pushes the steepest point of each segment uphill on
        ``sigma_max(J(eps))`` by ``ascent_steps`` Adam steps.

        Args:
            obs: ``[B, obs_dim]``.
            n_starts: segments per observation (``>= 1``); seed: the noise seed.
            ascent_steps: Adam steps (``>= 0``); segment_points: points per segment (``>= 1``).
        Returns: `numerics.LipschitzEstimate` with kind "lower", method "jacobian-ascent".
        """
        from numerics import LipschitzEstimate

        obs = self._as_obs(obs)
        n_starts = _args.integer_at_least(n_starts, "n_starts", 1)
        ascent_steps = _args.integer_at_least(ascent_steps, "ascent_steps", 0)
        segment_points = _args.integer_at_least(segment_points, "segment_points", 1)
        start = time.perf_counter()
        gen = torch.Generator(device=self.device).manual_seed(_args.integer_at_least(
            seed, "seed", 0))
        B, d = obs.shape[0], self.noise_dim
        ends = torch.randn(2, B * n_starts, d, generator=gen, device=self.device)
        frac = torch.linspace(0, 1, segment_points, device=self.device)[:, None, None]
        points = (1 - frac) * ends[0] + frac * ends[1]             # [P, B * n_starts, d]
        flat_obs = obs.repeat_interleave(n_starts, 0)

        def one(o: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
            return self._push(o[None], e[None, None])[0, 0]

        jac = torch.func.vmap(torch.func.jacrev(one, argnums=1))

        def sigma(e: torch.Tensor) -> torch.Tensor:
            return torch.linalg.matrix_norm(jac(flat_obs, e), 2)

        with _frozen(self):
            with torch.no_grad():
                sig = torch.stack([sigma(p) for p in points])      # [P, B * n_starts]
            best = float(sig.max())
            eps = points[sig.argmax(0), torch.arange(B * n_starts)].clone().requires_grad_(True)
            opt = torch.optim.Adam([eps], lr=0.05)
            for _ in range(ascent_steps):
                opt.zero_grad()
                s = sigma(eps)
                (-s.sum()).backward()
                opt.step()
                best = max(best, float(s.detach().max()))
            if ascent_steps:
                with torch.no_grad():
                    best = max(best, float(sigma(eps).max()))
        return LipschitzEstimate(value=best, kind="lower", method="jacobian-ascent",
                                 seconds=time.perf_counter() - start,
                                 details={"n_obs": B, "n_starts": n_starts,
                                          "segment_points": segment_points,
                                          "ascent_steps": ascent_steps, "seed": seed})


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

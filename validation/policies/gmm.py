"""Mixture-density policy (Bishop 1994): a Gaussian-mixture head on an MLP.

``pi(a | o) = sum_j pi_j(o) N(a; mu_j(o), sigma_j(o)^2 I)``, trained by negative
log-likelihood. Sampling first draws the component ``j`` (a discrete choice) and then
the Gaussian: the map from base randomness to chunks is discontinuous, the sharp-
transition extreme of docs/theory.md, T4 -- no Lipschitz constant, hence no `transport`.
"""

from __future__ import annotations

import math

import torch

from theory import _args
from validation.policies.base import Policy
from validation.policies.networks import mlp

# log sigma is clamped from below so that a component cannot collapse onto one training
# chunk (unbounded likelihood) and from above so that it cannot swallow all modes.
LOG_STD_RANGE = (-7.0, 2.0)


class GMMPolicy(Policy):
    """Gaussian-mixture policy with ``n_components`` isotropic components.

    Args:
        obs_dim, chunk_dim: sizes; n_components: ``J >= 1``; hidden, activation: the MLP.
    """

    kind = "gmm"

    def __init__(self, obs_dim: int, chunk_dim: int, n_components: int = 8,
                 hidden: tuple[int, ...] = (256, 256), activation: str = "silu"):
        super().__init__(obs_dim, chunk_dim)
        self.n_components = _args.integer_at_least(n_components, "n_components", 1)
        J = self.n_components
        self.net = mlp(self.obs_dim, J * (1 + self.chunk_dim + 1), hidden, activation)
        self.eval()

    def mixture(self, obs) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(log_weights [B, J], means [B, J, chunk_dim], log_std [B, J])``."""
        out = self.net(self._as_obs(obs))
        J, D = self.n_components, self.chunk_dim
        logits, means, log_std = out.split([J, J * D, J], dim=-1)
        log_std = log_std.clamp(*LOG_STD_RANGE)
        return logits.log_softmax(-1), means.reshape(-1, J, D), log_std

    def log_prob(self, obs, actions: torch.Tensor) -> torch.Tensor:
        """``[B]`` ``log pi(a | o)``."""
        logw, mu, log_std = self.mixture(obs)
        D = self.chunk_dim
        sq = ((actions[:, None, :] - mu) ** 2).sum(-1)
        comp = -0.5 * sq * torch.exp(-2 * log_std) - D * log_std - 0.5 * D * math.log(2 * math.pi)
        return torch.logsumexp(logw + comp, dim=-1)

    def loss(self, obs, actions, generator):
        return -self.log_prob(obs, actions).mean()

    @torch.no_grad()
    def sample(self, obs, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        obs = self._as_obs(obs)
        n = _args.integer_at_least(n, "n", 1)
        logw, mu, log_std = self.mixture(obs)
        j = torch.multinomial(logw.exp(), n, replacement=True, generator=generator)  # [B, n]
        means = torch.gather(mu, 1, j[..., None].expand(-1, -1, self.chunk_dim))
        std = torch.gather(log_std, 1, j).exp()[..., None]
        z = torch.randn(means.shape, generator=generator, device=self.device)
        return means + std * z

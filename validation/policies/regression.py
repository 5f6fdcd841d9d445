"""Regression (MSE) baseline: the mode-averaging reference.

Minimising ``E |a - f(o)|^2`` gives ``f(o) = E[A | o] = sum_k w_k c_k(o)`` on a task with
point modes: for two modes the weighted midpoint, a bridge action (docs/theory.md, T4, T7).
"""

from __future__ import annotations

import torch

from theory import _args
from validation.policies.base import Policy
from validation.policies.networks import mlp


class RegressionPolicy(Policy):
    """``a = f(o)``, trained by mean squared error; `sample` repeats the prediction ``n`` times.

    Args:
        obs_dim, chunk_dim: sizes; hidden, activation: the MLP (`networks.mlp`).
    """

    kind = "regression"

    def __init__(self, obs_dim: int, chunk_dim: int, hidden: tuple[int, ...] = (256, 256),
                 activation: str = "silu"):
        super().__init__(obs_dim, chunk_dim)
        self.net = mlp(self.obs_dim, self.chunk_dim, hidden, activation)
        self.eval()

    def loss(self, obs, actions, generator):
        return ((self.net(obs) - actions) ** 2).sum(-1).mean()

    def predict(self, obs) -> torch.Tensor:
        """``[B, chunk_dim]`` the regression output ``f(o)``."""
        return self.net(self._as_obs(obs))

    @torch.no_grad()
    def sample(self, obs, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        n = _args.integer_at_least(n, "n", 1)
        return self.predict(obs)[:, None, :].expand(-1, n, -1).clone()

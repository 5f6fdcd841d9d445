"""The fork: go around an obstacle on the left or on the right (two trajectory modes).

Observation ``o = (s, g)``: a start ``s ~ U([-1, 1]^2)`` and a goal ``g = s + l u``
with ``u = (cos theta, sin theta)``, ``theta ~ U[0, 2 pi)``; the obstacle sits at the
midpoint. The chunk is ``H`` planar waypoints relative to the start,

    c_k(o)_t = (t + 1) / H * (g - s) + sigma_k * clearance * p_t * n(o),   t = 0..H-1,

with ``n = (-u_2, u_1)`` the left normal, ``sigma_0 = +1`` (left), ``sigma_1 = -1``
(right), and the detour profile ``p_t = 1`` ("constant") or
``p_t = sin(pi (t + 1) / (H + 1))`` ("bump"). The two modes differ by
``delta_t = 2 clearance p_t n`` at step ``t``, so (docs/theory.md, T7)

    Delta_H = (sum_t |delta_t|^2)^{1/2} = 2 clearance (sum_t p_t^2)^{1/2},

``= 2 clearance sqrt(H)`` for the constant profile, the same for every observation.
`Fork.per_step_offsets` returns the ``delta_t`` for `theory.chunk_separation`.
"""

from __future__ import annotations

import numpy as np

from theory import _args
from validation.tasks.base import Task

PROFILES = ("constant", "bump")


class Fork(Task):
    """Two-mode obstacle avoidance with ``H``-step chunks of 2-D waypoints.

    Args:
        horizon: chunk length ``H >= 1`` (the T7 sweep uses 1, 2, 4, 8, 16, 32).
        clearance: lateral detour ``> 0`` per step (half the per-step mode offset).
        profile: "constant" (``|delta_t| = 2 clearance``) or "bump".
        weights: ``(w_left, w_right)``, positive, summing to 1.
        length: distance ``|g - s| > 0`` from start to goal.
        noise: per-element std of the demonstration noise (radially clipped at rho).
        rho: mode tolerance, default ``clip(Delta_H / 4, r, 0.45 Delta_H)`` with ``r`` the
            99.9% quantile of the demonstration noise's norm (`default_tolerance`); must
            be ``< Delta_H / 2``.
    """

    name = "fork"
    obs_dim = 4
    action_dim = 2
    n_modes = 2

    def __init__(self, horizon: int = 8, clearance: float = 0.5, profile: str = "constant",
                 weights=(0.5, 0.5), length: float = 1.0, noise: float = 0.02,
                 rho: float | None = None):
        self.horizon = _args.integer_at_least(horizon, "horizon", 1)
        self.clearance = _args.positive(clearance, "clearance")
        if profile not in PROFILES:
            raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
        self.profile = profile
        self.weights = _args.weight_vector(weights, "weights")
        if self.weights.size != 2:
            raise ValueError(f"weights must have 2 entries for the fork, got {self.weights.size}")
        self.length = _args.positive(length, "length")
        t = np.arange(1, self.horizon + 1)
        self._profile = (np.ones(self.horizon) if profile == "constant"
                         else np.sin(np.pi * t / (self.horizon + 1)))
        delta = self.mode_separation
        self._set_tolerance(rho, noise, delta)

    @property
    def mode_separation(self) -> float:
        """``Delta_H = 2 clearance (sum_t p_t^2)^{1/2}`` (observation-independent)."""
        return float(2 * self.clearance * np.sqrt(np.sum(self._profile ** 2)))

    def _sample_obs(self, n: int, rng: np.random.Generator) -> np.ndarray:
        s = rng.uniform(-1.0, 1.0, size=(n, 2))
        theta = rng.uniform(0.0, 2 * np.pi, size=n)
        g = s + self.length * np.stack([np.cos(theta), np.sin(theta)], axis=1)
        return np.concatenate([s, g], axis=1)

    def _frame(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = obs[:, 2:4] - obs[:, 0:2]
        u = d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)
        n = np.stack([-u[:, 1], u[:, 0]], axis=1)
        return d, n

    def mode_centres(self, obs: np.ndarray) -> np.ndarray:
        obs = self._check_obs(obs)
        d, n = self._frame(obs)
        frac = np.arange(1, self.horizon + 1) / self.horizon
        base = frac[None, :, None] * d[:, None, :]                        # [B, H, 2]
        detour = self.clearance * self._profile[None, :, None] * n[:, None, :]
        sides = np.array([1.0, -1.0])
        c = base[:, None] + sides[None, :, None, None] * detour[:, None]  # [B, 2, H, 2]
        return c.reshape(obs.shape[0], 2, self.chunk_dim)

    def per_step_offsets(self, obs: np.ndarray) -> np.ndarray:
        """``[B, H, 2]`` the offsets ``delta_t = c_0(o)_t - c_1(o)_t = 2 clearance p_t n(o)``."""
        _, n = self._frame(self._check_obs(obs))
        return 2 * self.clearance * self._profile[None, :, None] * n[:, None, :]

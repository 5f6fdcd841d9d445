"""K-way choice: ``K = 2..8`` point modes on a circle or a regular simplex in chunk space.

Observation ``o ~ U([-1, 1]^2)``. The chunk is ``H`` planar actions. With an
orthonormal frame ``e_1..e_m`` of chunk space (smooth time profiles, fixed), the modes are

    c_k(o) = b(o) + sum_j v_{k,j}(o) e_j,    b(o)_t = (t + 1) / H * o,

where the coordinates ``v_k(o)`` are rotated by ``theta(o) = pi o_1`` in the
``(e_1, e_2)`` plane (so the mode set varies with the observation) and are

- "circle": ``v_k = r (cos(theta + 2 pi k / K), sin(theta + 2 pi k / K))``,
  ``r = Delta / (2 sin(pi / K))``: neighbours ``Delta`` apart, ``Delta_ij =
  2 r sin(pi |i - j| / K)`` (cyclic);
- "simplex": ``v_k = (Delta / sqrt 2)(e_k - 1/K)``: all pairs exactly ``Delta`` apart
  (needs ``H * action_dim >= K``).
Rotations and translations are isometries, so ``Delta(o) = Delta`` for every ``o``.
"""

from __future__ import annotations

import numpy as np

from theory import _args
from validation.tasks.base import Task

LAYOUTS = ("circle", "simplex")


class KWay(Task):
    """``K`` modes at configurable separation, equal or unequal weights.

    Args:
        n_modes: ``K`` in ``[2, 8]``.
        layout: "circle" or "simplex".
        separation: the minimum pairwise distance ``Delta > 0`` of the modes.
        weights: ``[K]`` positive, summing to 1; default equal.
        horizon: chunk length ``H >= 1``; action_dim: per-step action size (2).
        noise: per-element std of the demonstration noise (radially clipped at rho).
        rho: mode tolerance ``< Delta / 2``; default ``clip(Delta / 4, r, 0.45 Delta)``
            (`default_tolerance`, ``r`` the 99.9% quantile of the noise's norm).
    """

    name = "kway"
    obs_dim = 2

    def __init__(self, n_modes: int = 3, layout: str = "circle", separation: float = 2.0,
                 weights=None, horizon: int = 4, action_dim: int = 2, noise: float = 0.02,
                 rho: float | None = None):
        self.n_modes = _args.integer_at_least(n_modes, "n_modes", 2, 8)
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
        self.layout = layout
        self.delta = _args.positive(separation, "separation")
        self.weights = (np.full(self.n_modes, 1.0 / self.n_modes) if weights is None
                        else _args.weight_vector(weights, "weights"))
        if self.weights.size != self.n_modes:
            raise ValueError(f"weights must have n_modes = {self.n_modes} entries, "
                             f"got {self.weights.size}")
        self.horizon = _args.integer_at_least(horizon, "horizon", 1)
        self.action_dim = _args.integer_at_least(action_dim, "action_dim", 2)
        n_coords = 2 if layout == "circle" else self.n_modes
        if self.chunk_dim < n_coords:
            raise ValueError(
                f"horizon * action_dim must be >= {n_coords} for layout={layout!r} with "
                f"n_modes={self.n_modes}, got horizon={self.horizon}, action_dim={self.action_dim}")
        self._frame = _time_profile_frame(self.horizon, self.action_dim, n_coords)
        self._set_tolerance(rho, noise, self.delta)

    def _sample_obs(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(-1.0, 1.0, size=(n, 2))

    def _coordinates(self, theta: np.ndarray) -> np.ndarray:
        """``[B, K, m]`` mode coordinates in the frame."""
        K = self.n_modes
        if self.layout == "circle":
            r = self.delta / (2 * np.sin(np.pi / K))
            ang = theta[:, None] + 2 * np.pi * np.arange(K)[None, :] / K
            return r * np.stack([np.cos(ang), np.sin(ang)], axis=-1)
        v = (self.delta / np.sqrt(2)) * (np.eye(K) - 1.0 / K)
        v = np.broadcast_to(v, (theta.size, K, K)).copy()
        c, s = np.cos(theta)[:, None], np.sin(theta)[:, None]
        v0, v1 = v[..., 0].copy(), v[..., 1].copy()
        v[..., 0], v[..., 1] = c * v0 - s * v1, s * v0 + c * v1
        return v

    def mode_centres(self, obs: np.ndarray) -> np.ndarray:
        obs = self._check_obs(obs)
        frac = np.arange(1, self.horizon + 1) / self.horizon
        step = np.zeros((obs.shape[0], self.action_dim))
        step[:, :2] = obs
        base = (frac[None, :, None] * step[:, None, :]).reshape(obs.shape[0], self.chunk_dim)
        coords = self._coordinates(np.pi * obs[:, 1])
        return base[:, None, :] + coords @ self._frame


def _time_profile_frame(horizon: int, action_dim: int, m: int) -> np.ndarray:
    """``[m, H * action_dim]`` orthonormal rows: smooth (polynomial) time profiles per axis.

    Low-order profiles first, so that modes differ by whole trajectories rather than by
    single time steps; QR gives exact orthonormality (an isometric embedding).
    """
    t = np.linspace(-1.0, 1.0, horizon)
    cols = []
    for degree in range(horizon):
        for axis in range(action_dim):
            v = np.zeros((horizon, action_dim))
            v[:, axis] = t ** degree
            cols.append(v.reshape(-1))
    q, _ = np.linalg.qr(np.stack(cols, axis=1)[:, :m])
    return q.T

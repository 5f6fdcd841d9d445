"""Multi-goal reach: ``K`` equally valid targets on a circle around the start.

MJCF: ``assets/multigoal_reach.xml`` (the servoed point mass of the reach task, no
obstacle). Observation ``o = (x, y, vx, vy)``; start ``s ~ U([-0.1, 0.1]^2)`` at rest;
targets ``t_k = R (cos phi_k, sin phi_k)``, ``phi_k = pi/2 + 2 pi k / K`` (fixed, so the
observation does not say which target: the demonstrator is a ``K``-mode mixture with
weights ``w``). Expert, mode ``k``: straight to ``t_k`` at ``spacing`` per control
step, then stay. At the start the modes differ by
``delta_t = spacing t (u_i - u_j)``, so ``Delta_H ~ spacing |u_i - u_j| (sum_t t^2)^{1/2}``
(docs/theory.md, T7; exact value from `Task.separation`).

Rollout mode: the target within ``goal_tolerance`` of the final position; none is a
stall (mode averaging ends between the targets).
"""

from __future__ import annotations

import numpy as np

from theory import _args
from validation.tasks.robot.scene import Outcome, RobotTask, polyline_waypoints


class MultiReach(RobotTask):
    """``K``-target point-mass reach (MuJoCo).

    Args:
        n_modes: number of targets ``K`` in ``[2, 8]``.
        horizon: chunk length ``H``.
        weights: target weights (default uniform).
        radius: target distance ``R`` from the origin.
        spacing: path length per control step.
        rho: mode tolerance; noise: demonstration noise std per element.
    """

    name = "multi_reach"
    asset = "multigoal_reach.xml"
    n_extra = 0
    tracked_body = "agent"
    goal_tolerance = 0.1

    def __init__(self, n_modes: int = 3, horizon: int = 8, weights=None, radius: float = 1.0,
                 spacing: float = 0.1, rho: float = 0.3, noise: float = 0.01):
        self.n_modes = _args.integer_at_least(n_modes, "n_modes", 2, 8)
        self.radius = _args.positive(radius, "radius")
        self.spacing = _args.positive(spacing, "spacing")
        phi = np.pi / 2 + 2 * np.pi * np.arange(self.n_modes) / self.n_modes
        self.targets = self.radius * np.stack([np.cos(phi), np.sin(phi)], axis=1)
        self.max_steps = int(np.ceil(self.radius / self.spacing)) + 10
        weights = np.full(self.n_modes, 1 / self.n_modes) if weights is None else weights
        self._init_sim(horizon, weights, rho, noise)
        for k in range(8):
            site = self.model.site(f"target{k}")
            if k < self.n_modes:
                self.model.site_pos[site.id, :2] = self.targets[k]
                self.model.site_rgba[site.id] = (0.2, 0.7, 0.3, 1.0)

    def _initial_obs(self, rng: np.random.Generator, n: int) -> np.ndarray:
        s = rng.uniform(-0.1, 0.1, size=(n, 2))
        return np.concatenate([s, np.zeros((n, 2))], axis=1)

    def expert_chunks(self, obs: np.ndarray, mode: int) -> np.ndarray:
        p = np.asarray(obs, dtype=np.float64)[:, 0:2]
        goal = np.broadcast_to(self.targets[mode], p.shape)
        way = polyline_waypoints(p, [goal], self.spacing, self.horizon)
        return (way - p[:, None, :]).reshape(p.shape[0], self.chunk_dim)

    def outcome(self, positions: np.ndarray, collided: bool, final_obs: np.ndarray) -> Outcome:
        d = np.linalg.norm(self.targets - final_obs[None, 0:2], axis=1)
        nearest = int(d.argmin())
        success = bool(d[nearest] <= self.goal_tolerance and not collided)
        return Outcome(mode=nearest if success else -1, side=nearest, success=success,
                       collision=collided, stall=bool(not collided and not success))

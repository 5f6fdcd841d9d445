"""Reach a goal around an obstacle: a servoed point mass, two homotopy classes.

MJCF: ``assets/fork_reach.xml`` (an obstacle of radius 0.25 at the origin, a sphere of
radius 0.05 on two slide joints with critically damped position servos). Observation
``o = (x, y, vx, vy, gx, gy)``: the state and the goal. Start ``s ~ (-1, 0) +
U([-0.15, 0.15]^2)`` at rest, goal ``g ~ (1, 0) + U([-0.15, 0.15]^2)``.

Expert, mode ``k`` (0 = left, ``+y``; 1 = right): follow the polyline
``p -> v_k -> g`` with ``v_k = (0, +-via)`` while ``p_x < 0``, then ``p -> g``, at
``spacing`` per control step; its chunk is the next ``H`` points of that path relative
to ``p`` (`polyline_waypoints`). Both modes clear the obstacle (the segment
``s -> v_k`` passes ``>= 0.45`` from its centre); their average, the straight line,
hits it: mode averaging shows up as a collision or a stall.

Rollout mode: the side of the first crossing of ``x = 0``; a collision or a missed goal
is bridge behaviour (`Outcome.mode = -1`).
"""

from __future__ import annotations

import numpy as np

from theory import _args
from validation.tasks.robot.scene import Outcome, RobotTask, first_crossing_side, polyline_waypoints


class ReachAround(RobotTask):
    """Two-mode point-mass reach around an obstacle (MuJoCo).

    Args:
        horizon: chunk length ``H``.
        weights: ``(w_left, w_right)``.
        via: lateral offset of the via points (``> 0.35`` keeps the detours clear).
        spacing: path length per control step (0.1 s).
        rho: mode tolerance in chunk space (below half the smallest separation at the
            initial states, checked).
        noise: per-element std of the demonstration noise (clipped to ``rho``).
    """

    name = "reach_around"
    asset = "fork_reach.xml"
    n_extra = 2
    n_modes = 2
    forbidden = ("obstacle",)
    tracked_body = "agent"
    goal_tolerance = 0.1

    def __init__(self, horizon: int = 8, weights=(0.5, 0.5), via: float = 0.55,
                 spacing: float = 0.1, rho: float = 0.25, noise: float = 0.01):
        self.via = _args.positive(via, "via")
        if self.via <= 0.35:
            raise ValueError(f"via must exceed 0.35 (obstacle + agent radius + margin), got {via}")
        self.spacing = _args.positive(spacing, "spacing")
        self.max_steps = int(np.ceil(2.6 / self.spacing)) + 12
        self._init_sim(horizon, weights, rho, noise)

    def _initial_obs(self, rng: np.random.Generator, n: int) -> np.ndarray:
        s = np.array([-1.0, 0.0]) + rng.uniform(-0.15, 0.15, size=(n, 2))
        g = np.array([1.0, 0.0]) + rng.uniform(-0.15, 0.15, size=(n, 2))
        return np.concatenate([s, np.zeros((n, 2)), g], axis=1)

    def expert_chunks(self, obs: np.ndarray, mode: int) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float64)
        p, g = obs[:, 0:2], obs[:, 4:6]
        via = np.broadcast_to(np.array([0.0, self.via if mode == 0 else -self.via]), p.shape)
        before = p[:, 0] < 0
        out = np.empty((obs.shape[0], self.horizon, 2))
        if before.any():
            out[before] = polyline_waypoints(p[before], [via[before], g[before]],
                                             self.spacing, self.horizon)
        if (~before).any():
            out[~before] = polyline_waypoints(p[~before], [g[~before]], self.spacing,
                                              self.horizon)
        return (out - p[:, None, :]).reshape(obs.shape[0], self.chunk_dim)

    def outcome(self, positions: np.ndarray, collided: bool, final_obs: np.ndarray) -> Outcome:
        side = first_crossing_side(positions)
        reached = np.linalg.norm(final_obs[0:2] - final_obs[4:6]) <= self.goal_tolerance
        success = bool(reached and not collided)
        return Outcome(mode=side if success else -1, side=side, success=success,
                       collision=collided, stall=bool(not collided and not reached))

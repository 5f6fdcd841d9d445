"""Push a block past an obstacle on either side (planar pushing in MuJoCo).

MJCF: ``assets/push_around.xml``: a servoed spherical pusher (radius 0.05), a round
block (radius 0.1) sliding with damping and dry friction, an obstacle of radius 0.2 at
the origin, a goal region of radius ``goal_tolerance`` around ``(0.9, 0)``.
Observation ``o = (pusher xy, block xy, pusher vel, block vel)`` (qpos, qvel).
Start: block at ``(-0.7, 0)``, pusher at ``(-0.95, 0)``, each ``+ U([-0.05, 0.05]^2)``.

Expert, mode ``k`` (0 = left, 1 = right): the block should follow the polyline
``b -> (0, +-via) -> goal`` (``b -> goal`` once ``b_x >= 0``). A feedback pushing rule
aims the pusher at the contact point behind the block with respect to a look-ahead
point of that path and pushes through it; when misaligned it first moves around the
block to that contact point. The expert's chunk at a state is the pusher set-points
of ``H`` steps of that rule, simulated from the state (deterministic: the state is the
full simulator state), relative to the pusher position.

Rollout mode: the side on which the block first crosses ``x = 0``; a contact with the
obstacle (block or pusher) is a collision, a block outside the goal region at the end
is a stall; both are bridge behaviour.
"""

from __future__ import annotations

import mujoco
import numpy as np

from theory import _args
from validation.tasks.robot.scene import Outcome, RobotTask, first_crossing_side, polyline_waypoints

_BLOCK_R, _PUSHER_R = 0.1, 0.05
_GOAL = np.array([0.9, 0.0])


class PushAround(RobotTask):
    """Two-mode planar pushing around an obstacle (MuJoCo).

    Args:
        horizon: chunk length ``H``.
        weights: ``(w_left, w_right)``.
        via: lateral offset of the block's via points (> 0.35 clears the obstacle).
        step: largest pusher set-point move per control step.
        rho, noise: mode tolerance and demonstration noise (see `RobotTask`).
    """

    name = "push_around"
    asset = "push_around.xml"
    n_extra = 0
    n_modes = 2
    forbidden = ("obstacle",)
    tracked_body = "block"
    goal_tolerance = 0.2

    def __init__(self, horizon: int = 8, weights=(0.5, 0.5), via: float = 0.65,
                 step: float = 0.06, rho: float = 0.07, noise: float = 0.005):
        self.via = _args.positive(via, "via")
        if self.via <= 0.35:
            raise ValueError(f"via must exceed 0.35 (obstacle + block radius + margin), got {via}")
        self.push_step = _args.positive(step, "step")
        self.max_steps = int(np.ceil(3.0 / self.push_step)) + 10
        self._init_sim(horizon, weights, rho, noise)

    def _initial_obs(self, rng: np.random.Generator, n: int) -> np.ndarray:
        p = np.array([-0.95, 0.0]) + rng.uniform(-0.05, 0.05, size=(n, 2))
        b = np.array([-0.7, 0.0]) + rng.uniform(-0.05, 0.05, size=(n, 2))
        return np.concatenate([p, b, np.zeros((n, 4))], axis=1)

    def _set_point(self, pusher: np.ndarray, block: np.ndarray, mode: int) -> np.ndarray:
        """The pushing rule: the pusher's next set-point (absolute) for one state."""
        via = np.array([0.0, self.via if mode == 0 else -self.via])
        verts = [via[None], _GOAL[None]] if block[0] < 0 else [_GOAL[None]]
        look = polyline_waypoints(block[None], verts, 0.25, 1)[0, 0]
        to_goal = look - block
        if np.linalg.norm(to_goal) < 1e-3:          # at the goal: hold still
            return pusher.copy()
        u = to_goal / np.linalg.norm(to_goal)
        contact = block - u * (_BLOCK_R + _PUSHER_R)
        rel = pusher - block
        behind = np.dot(rel, -u) / max(np.linalg.norm(rel), 1e-9)   # cos of angle to -u
        if behind > 0.95:
            aim = contact + u * self.push_step * 1.5    # push through the contact point
        elif behind > 0.0:
            aim = block - u * (_BLOCK_R + _PUSHER_R + 0.03)
        else:                                           # in front: go around the side
            normal = np.array([-u[1], u[0]])
            side = 1.0 if np.dot(rel, normal) >= 0 else -1.0
            aim = block + side * normal * (_BLOCK_R + _PUSHER_R + 0.1) - u * 0.1
        move = aim - pusher
        dist = np.linalg.norm(move)
        return pusher + (move if dist <= self.push_step else move * self.push_step / dist)

    def expert_chunks(self, obs: np.ndarray, mode: int) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float64)
        out = np.empty((obs.shape[0], self.horizon, 2))
        data = mujoco.MjData(self.model)
        for i, o in enumerate(obs):
            self.set_state(data, o)
            for t in range(self.horizon):
                target = self._set_point(data.qpos[0:2].copy(), data.qpos[2:4].copy(), mode)
                out[i, t] = target
                self.step(data, target)
        return (out - obs[:, None, 0:2]).reshape(obs.shape[0], self.chunk_dim)

    def outcome(self, positions: np.ndarray, collided: bool, final_obs: np.ndarray) -> Outcome:
        side = first_crossing_side(positions)
        reached = np.linalg.norm(final_obs[2:4] - _GOAL) <= self.goal_tolerance
        success = bool(reached and not collided)
        return Outcome(mode=side if success else -1, side=side, success=success,
                       collision=collided, stall=bool(not collided and not reached))

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

import math

import mujoco
import numpy as np

from theory import _args
from validation.tasks.robot.scene import Outcome, RobotTask, first_crossing_side

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

    def _set_point(self, px: float, py: float, bx: float, by: float, mode: int
                   ) -> tuple[float, float]:
        """The pushing rule: the pusher's next set-point (absolute) for one state.

        Scalar arithmetic in plain Python on purpose: it runs once per simulated control
        step inside `expert_chunks`, where NumPy's per-call overhead dominated.
        """
        vy = self.via if mode == 0 else -self.via
        # Look-ahead point 0.25 along the block's path b -> (0, vy) -> goal (-> goal past x=0).
        look = 0.25
        if bx < 0:
            d1 = math.hypot(-bx, vy - by)
            if d1 >= look:
                lx, ly = bx + look * (-bx) / d1, by + look * (vy - by) / d1
            else:
                d2 = math.hypot(_GOAL[0], _GOAL[1] - vy)
                f = min(look - d1, d2) / d2
                lx, ly = f * _GOAL[0], vy + f * (_GOAL[1] - vy)
        else:
            d = math.hypot(_GOAL[0] - bx, _GOAL[1] - by)
            f = min(look, d) / max(d, 1e-12)
            lx, ly = bx + f * (_GOAL[0] - bx), by + f * (_GOAL[1] - by)
        norm = math.hypot(lx - bx, ly - by)
        if norm < 1e-3:                                  # at the goal: hold still
            return px, py
        ux, uy = (lx - bx) / norm, (ly - by) / norm
        reach = _BLOCK_R + _PUSHER_R
        rx, ry = px - bx, py - by
        behind = -(rx * ux + ry * uy) / max(math.hypot(rx, ry), 1e-9)   # cos angle to -u
        if behind > 0.95:                                # push through the contact point
            depth = reach - 1.5 * self.push_step
            ax, ay = bx - ux * depth, by - uy * depth
        elif behind > 0.0:                               # swing round to the contact point
            ax, ay = bx - ux * (reach + 0.03), by - uy * (reach + 0.03)
        else:                                            # in front: go around the side
            side = 1.0 if rx * -uy + ry * ux >= 0 else -1.0
            ax = bx - side * uy * (reach + 0.1) - ux * 0.1
            ay = by + side * ux * (reach + 0.1) - uy * 0.1
        mx, my = ax - px, ay - py
        dist = math.hypot(mx, my)
        scale = 1.0 if dist <= self.push_step else self.push_step / dist
        return px + scale * mx, py + scale * my

    def expert_chunks(self, obs: np.ndarray, mode: int) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float64)
        out = np.empty((obs.shape[0], self.horizon, 2))
        data = mujoco.MjData(self.model)
        for i, o in enumerate(obs):
            self.set_state(data, o)
            for t in range(self.horizon):
                q = data.qpos
                out[i, t] = self._set_point(q[0], q[1], q[2], q[3], mode)
                self.step(data, out[i, t])
        return (out - obs[:, None, 0:2]).reshape(obs.shape[0], self.chunk_dim)

    def outcome(self, positions: np.ndarray, collided: bool, final_obs: np.ndarray) -> Outcome:
        side = first_crossing_side(positions)
        reached = np.linalg.norm(final_obs[2:4] - _GOAL) <= self.goal_tolerance
        success = bool(reached and not collided)
        return Outcome(mode=side if success else -1, side=side, success=success,
                       collision=collided, stall=bool(not collided and not reached))

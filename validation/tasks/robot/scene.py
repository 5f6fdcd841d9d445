"""MuJoCo tasks as `Task`s: a simulated robot whose expert has known point modes.

A `RobotTask` is a `validation.tasks.Task` whose observation is the full simulator
state, ``o = (qpos, qvel, extra)`` (``extra``: episode constants such as the goal), so
that the scripted expert is a deterministic function of ``o`` and its chunk for mode
``k`` is a point mode ``c_k(o)`` -- the chunk-space checks of Part T apply unchanged
(`Task.mode_labels`, `Task.separation`). An action chunk is ``H`` planar set-points of
the servoed body, relative to its position when the chunk was predicted (time-major,
as in the synthetic fork); `RobotTask.step` turns a set-point into the servo command.

A `RobotTask` holds *the expert at o* (`expert_chunks`, `mode_centres`). Its
`Task.demonstrations` are the demonstrator at the initial (decision) states, where it is
exactly the ``w``-mixture of the expert's chunks (the set the Part L checks use); how
training demonstrations are collected along closed-loop expert rollouts is
`validation.tasks.robot.rollout.expert_demonstrations`.

What the chunk-space checks cannot see -- collisions, stalls, which side of the
obstacle a closed-loop rollout went -- is read off the trajectory by
`RobotTask.outcome`.
"""

from __future__ import annotations

import abc
import importlib.resources
from dataclasses import dataclass
from functools import cache

import mujoco
import numpy as np

from theory import _args
from validation.tasks.base import Task, check_rho_noise, clipped_noise


@cache
def asset_path(name: str) -> str:
    """Filesystem path of ``validation/tasks/assets/<name>`` (shipped as package data)."""
    path = importlib.resources.files("validation.tasks") / "assets" / name
    if not path.is_file():
        raise ValueError(f"no MJCF asset named {name!r} in validation/tasks/assets")
    return str(path)


def load_model(name: str) -> mujoco.MjModel:
    """A fresh `mujoco.MjModel` of a shipped MJCF file (each task owns its copy)."""
    return mujoco.MjModel.from_xml_path(asset_path(name))


@dataclass(frozen=True)
class Outcome:
    """What one closed-loop rollout did.

    Attributes:
        mode: the mode read off the trajectory (side of the obstacle, target reached),
            ``-1`` when the rollout failed (bridge behaviour).
        side: the homotopy class / nearest target whatever the success (``-1``: none).
        success: reached the goal without a collision.
        collision: touched a forbidden body (an obstacle).
        stall: no collision but the goal was not reached in time.
    """

    mode: int
    side: int
    success: bool
    collision: bool
    stall: bool


def polyline_waypoints(start: np.ndarray, vertices: list[np.ndarray], spacing: float,
                       horizon: int) -> np.ndarray:
    """``[B, H, 2]`` points at arc length ``spacing * t`` (``t = 1..H``) along the polyline
    ``start -> vertices[0] -> ... -> vertices[-1]``, stopping at the last vertex.

    Args:
        start: ``[B, 2]``; vertices: list of ``[B, 2]``; spacing > 0; horizon >= 1.
    """
    pts = np.stack([start, *vertices], axis=1)                        # [B, V + 1, 2]
    seg = np.diff(pts, axis=1)                                        # [B, V, 2]
    seg_len = np.linalg.norm(seg, axis=-1)                            # [B, V]
    cum = np.concatenate([np.zeros((pts.shape[0], 1)), np.cumsum(seg_len, 1)], 1)
    s = np.minimum(spacing * np.arange(1, horizon + 1)[None, :], cum[:, -1:])   # [B, H]
    # Index of the segment holding arc length s (the last one for s = total length).
    idx = np.clip((s[:, :, None] >= cum[:, None, 1:]).sum(-1), 0, seg.shape[1] - 1)
    rows = np.arange(pts.shape[0])[:, None]
    frac = (s - cum[rows, idx]) / np.maximum(seg_len[rows, idx], 1e-12)
    return pts[rows, idx] + frac[..., None] * seg[rows, idx]


class RobotTask(Task):
    """A planar MuJoCo task; subclasses set the class attributes and the abstract methods.

    Class attributes: ``asset`` (MJCF file), ``n_extra`` (episode constants appended to
    the observation), ``max_steps`` (control steps per episode), ``substeps`` (physics
    steps per control step), ``forbidden`` (geoms, e.g. obstacles, that nothing may
    touch: any contact with one is a collision), ``tracked_body`` (the body whose path
    `outcome` reads).
    """

    asset: str
    n_extra: int = 0
    max_steps: int
    substeps: int = 10
    forbidden: tuple[str, ...] = ()
    tracked_body: str
    action_dim = 2

    def _init_sim(self, horizon: int, weights, rho: float, noise: float) -> None:
        self.model = load_model(self.asset)
        self.horizon = _args.integer_at_least(horizon, "horizon", 1)
        self.weights = _args.weight_vector(weights, "weights")
        if self.weights.size != self.n_modes:
            raise ValueError(f"weights must have {self.n_modes} entries, got {self.weights.size}")
        self.obs_dim = self.model.nq + self.model.nv + self.n_extra
        self._forbidden = tuple(self.model.geom(g).id for g in self.forbidden)
        self._tracked = self.model.body(self.tracked_body).id
        first = int(self.model.jnt_qposadr[self.model.body_jntadr[self._tracked]])
        self._tracked_qpos = slice(first, first + 2)
        # rho must keep the tolerance balls disjoint at every decision state: checked on a
        # fixed sample of initial states (the evaluation distribution of the checks).
        probe = self._sample_obs(64, np.random.default_rng(12345))
        self.rho, self.noise = check_rho_noise(rho, noise, float(self.separation(probe).min()))

    # ------------------------------------------------------------------ simulator

    def new_data(self, obs: np.ndarray) -> mujoco.MjData:
        """A fresh `MjData` in the state encoded by ``obs`` ``[obs_dim]``."""
        data = mujoco.MjData(self.model)
        self.set_state(data, obs)
        return data

    def set_state(self, data: mujoco.MjData, obs: np.ndarray) -> None:
        nq, nv = self.model.nq, self.model.nv
        mujoco.mj_resetData(self.model, data)
        data.qpos[:] = obs[:nq]
        data.qvel[:] = obs[nq:nq + nv]
        data.ctrl[:] = obs[:2]
        mujoco.mj_forward(self.model, data)

    def observe(self, data: mujoco.MjData, extra: np.ndarray) -> np.ndarray:
        """``[obs_dim]`` float64: ``(qpos, qvel, extra)``."""
        return np.concatenate([data.qpos, data.qvel, extra])

    def extra(self, obs: np.ndarray) -> np.ndarray:
        return np.asarray(obs[self.model.nq + self.model.nv:], dtype=np.float64)

    def anchor(self, obs: np.ndarray) -> np.ndarray:
        """``[..., 2]`` the servoed body's position: chunks are relative to it."""
        return np.asarray(obs, dtype=np.float64)[..., :2]

    def step(self, data: mujoco.MjData, target: np.ndarray) -> bool:
        """Servo towards the absolute set-point ``target`` ``[2]`` for one control step.

        Returns whether a forbidden contact occurred during the step.
        """
        data.ctrl[:] = target
        hit = False
        for _ in range(self.substeps):
            mujoco.mj_step(self.model, data)
            if not hit and data.ncon and self._forbidden:
                geoms = data.contact.geom[:data.ncon]
                hit = any((geoms == g).any() for g in self._forbidden)
        return hit

    def tracked_position(self, obs: np.ndarray) -> np.ndarray:
        """``[..., 2]`` position of the body whose path decides the mode."""
        return np.asarray(obs, dtype=np.float64)[..., self._tracked_qpos]

    # ------------------------------------------------------------------ expert

    @abc.abstractmethod
    def _initial_obs(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``[n, obs_dim]`` initial states (the decision states of the checks)."""

    @abc.abstractmethod
    def expert_chunks(self, obs: np.ndarray, mode: int) -> np.ndarray:
        """``[B, chunk_dim]`` the noise-free expert chunk of ``mode`` at states ``obs``."""

    @abc.abstractmethod
    def outcome(self, positions: np.ndarray, collided: bool, final_obs: np.ndarray) -> Outcome:
        """Classify one rollout from the tracked body's path ``[T + 1, 2]``."""

    def _sample_obs(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self._initial_obs(rng, n)

    def mode_centres(self, obs: np.ndarray) -> np.ndarray:
        obs = self._check_obs(obs)
        return np.stack([self.expert_chunks(obs, k) for k in range(self.n_modes)], axis=1)

    def noisy(self, chunks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``chunks + xi``: the task's demonstration noise (Gaussian, std ``noise`` per
        element, each chunk's noise radially clipped to ``noise_radius``; `clipped_noise`)."""
        return chunks + clipped_noise(rng, chunks.shape, self.noise, self.noise_radius)


def first_crossing_side(positions: np.ndarray, x_cross: float = 0.0) -> int:
    """Homotopy class of a planar path around an obstacle at ``x = x_cross``: ``0`` if it
    first crosses that line above the obstacle's centre (``y > 0``, left of the ``+x``
    direction), ``1`` below, ``-1`` if it never crosses."""
    x = positions[:, 0] - x_cross
    idx = np.nonzero((x[:-1] < 0) & (x[1:] >= 0))[0]
    if idx.size == 0:
        return -1
    i = idx[0]
    f = -x[i] / (x[i + 1] - x[i])
    y = positions[i, 1] + f * (positions[i + 1, 1] - positions[i, 1])
    return 0 if y > 0 else 1

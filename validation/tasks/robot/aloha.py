"""ALOHA bimanual cube pick (reduced transfer-cube) from `gym-aloha`'s own MJCF.

The ALOHA transfer-cube benchmark (Zhao et al., RSS 2023) in two stages, as ACT built
its scripted data, but with plain `mujoco` (no dm_control env, no rendering):

1. *End-effector expert* (``bimanual_viperx_end_effector_transfer_cube.xml``: the arms'
   gripper links are welded to mocap bodies). Mode ``k`` (0 = left arm, 1 = right arm):
   arm ``k`` approaches above the cube, descends, closes its gripper and lifts the cube
   by 0.2 m along ACT's ``PickAndTransferPolicy`` waypoints (pitch -60 deg for the
   right arm, +60 deg mirrored for the left); the other arm stays at rest. The joint
   positions of the 14 commanded degrees of freedom (6 arm joints and the normalised
   gripper, per arm) are recorded at 50 Hz.
2. *Joint-space task* (``bimanual_viperx_transfer_cube.xml``, 16 position actuators):
   policies command those 14 joint targets; the recorded trajectories are the expert.

Observation (25): the 14 joint positions (``agent_pos``), the cube's position (3) and
quaternion (4) from the physics, the cube's initial position (3: the episode constant
the time-indexed expert is planned from) and the phase ``t / max_steps``. The expert's
chunk at a state is the next ``H`` recorded joint targets minus the current joints: a
deterministic function of the observation (point modes). Rollout mode: the cube is
lifted (``z > 0.15``) and the arm that moved from the rest pose is the one holding it;
otherwise a stall (bridge).

What is missing against the full benchmark: the hand-over to the other arm (the
episode ends after the lift), camera observations, and randomisation over gym-aloha's
full cube range: the cube is drawn from ``x in [-0.02, 0.03], y in [0.47, 0.53]``,
where this open-loop expert lifts it with either arm (outside it the left arm misses
for ``x > 0.03``, the right arm for ``x < -0.02``).
"""

from __future__ import annotations

import os
from functools import lru_cache

import mujoco
import numpy as np

from validation.tasks.robot.scene import Outcome, RobotTask

_WAYPOINT_STEPS = (90, 130, 170, 220)   # ACT's scripted timing at 50 Hz
_LIFT = 0.2
_INIT_MOCAP = (np.array([-0.31718881, 0.5, 0.29525084]),
               np.array([0.31718881, 0.49999888, 0.29525084]))
_ARM = (slice(0, 6), slice(8, 14))            # arm joints in qpos (left, right)
_FINGER = (6, 14)                             # left finger joint of each gripper in qpos
_CUBE = slice(16, 23)


def _aloha():
    """gym-aloha's constants module and assets folder (its MJCF ships in the wheel)."""
    import gym_aloha
    from gym_aloha import constants

    return constants, os.path.join(os.path.dirname(gym_aloha.__file__), "assets")


def _quat_about_y(degrees: float) -> np.ndarray:
    q = np.zeros(4)
    mujoco.mju_axisAngle2Quat(q, np.array([0.0, 1.0, 0.0]), np.deg2rad(degrees))
    return q


@lru_cache(maxsize=256)
def expert_joint_trajectory(cube_xyz: tuple[float, float, float], mode: int) -> np.ndarray:
    """``[T + 1, 14]`` joint targets of the mocap expert picking the cube with arm ``mode``.

    Runs the end-effector model: piecewise-linear mocap waypoints (positions linearly,
    quaternions normalised-linearly) and gripper commands, 10 physics steps of 2 ms per
    50 Hz control step, recording the commanded joints after each control step.
    """
    const, assets = _aloha()
    model = mujoco.MjModel.from_xml_path(
        os.path.join(assets, "bimanual_viperx_end_effector_transfer_cube.xml"))
    data = mujoco.MjData(model)
    data.qpos[:16] = const.START_ARM_POSE
    box = np.asarray(cube_xyz, dtype=float)
    data.qpos[_CUBE] = [*box, 1.0, 0.0, 0.0, 0.0]
    for arm in (0, 1):
        data.mocap_pos[arm] = _INIT_MOCAP[arm]
        data.mocap_quat[arm] = (1.0, 0.0, 0.0, 0.0)
    close = const.PUPPET_GRIPPER_POSITION_CLOSE
    data.ctrl[:] = (close, -close, close, -close)
    mujoco.mj_forward(model, data)
    pick = _quat_about_y(-60.0 if mode == 1 else 60.0)
    rest = np.array([1.0, 0.0, 0.0, 0.0])
    waypoints = [(0, _INIT_MOCAP[mode], rest, 0.0),
                 (_WAYPOINT_STEPS[0], box + (0, 0, 0.08), pick, 1.0),
                 (_WAYPOINT_STEPS[1], box + (0, 0, -0.015), pick, 1.0),
                 (_WAYPOINT_STEPS[2], box + (0, 0, -0.015), pick, 0.0),
                 (_WAYPOINT_STEPS[3], box + (0, 0, _LIFT), pick, 0.0)]
    # As ACT's record_sim_episodes: the gripper entries are the *commanded* openings (a
    # gripper blocked by the cube measures open; replaying that would never squeeze).
    grip = [0.0, 0.0]
    out = [_with_grippers(joint_command(const, data.qpos), grip)]
    for t in range(1, _WAYPOINT_STEPS[3] + 1):
        i = max(j for j, w in enumerate(waypoints) if w[0] < t)
        (t0, x0, q0, g0), (t1, x1, q1, g1) = waypoints[i], waypoints[i + 1]
        f = (t - t0) / (t1 - t0)
        quat = q0 + f * (q1 - q0)
        data.mocap_pos[mode] = x0 + f * (x1 - x0)
        data.mocap_quat[mode] = quat / np.linalg.norm(quat)
        grip[mode] = g0 + f * (g1 - g0)
        g = const.unnormalize_puppet_gripper_position(grip[mode])
        data.ctrl[2 * mode:2 * mode + 2] = (g, -g)
        mujoco.mj_step(model, data, nstep=10)
        out.append(_with_grippers(joint_command(const, data.qpos), grip))
    return np.asarray(out)


def _with_grippers(command: np.ndarray, grip: list[float]) -> np.ndarray:
    command[6], command[13] = grip
    return command


def joint_command(const, qpos: np.ndarray) -> np.ndarray:
    """``[14]``: arm joints and the normalised gripper opening (gym-aloha's ``agent_pos``)."""
    return np.concatenate([qpos[_ARM[0]], [const.normalize_puppet_gripper_position(qpos[6])],
                           qpos[_ARM[1]], [const.normalize_puppet_gripper_position(qpos[14])]])


class AlohaTransferCube(RobotTask):
    """ALOHA cube pick with either arm (two modes), joint-space control (reduced version).

    Args:
        horizon: chunk length ``H`` (ACT uses 100 at 50 Hz; 20 keeps CPU runs small).
        weights: ``(w_left, w_right)``.
        rho: mode tolerance in chunk space (radians / normalised gripper units).
        noise: per-element std of the demonstration noise (clipped to ``rho``).
    """

    name = "aloha_transfer_cube"
    n_modes = 2
    action_dim = 14
    substeps = 10
    max_steps = _WAYPOINT_STEPS[3]
    lift_height = 0.15
    max_joint_step = 0.5

    def __init__(self, horizon: int = 20, weights=(0.5, 0.5), rho: float = 0.1,
                 noise: float = 0.005):
        self._const, assets = _aloha()
        self._path = os.path.join(assets, "bimanual_viperx_transfer_cube.xml")
        self._init_sim(horizon, weights, rho, noise)

    # The joint-space model lives in gym-aloha's package, not in validation/tasks/assets.
    def _init_sim(self, horizon, weights, rho, noise):
        from theory import _args
        from validation.tasks.base import check_rho_noise

        self.model = mujoco.MjModel.from_xml_path(self._path)
        self.horizon = _args.integer_at_least(horizon, "horizon", 1)
        self.weights = _args.weight_vector(weights, "weights")
        if self.weights.size != 2:
            raise ValueError(f"weights must have 2 entries, got {self.weights.size}")
        self.obs_dim = 25
        probe = self._sample_obs(4, np.random.default_rng(12345))
        self.rho, self.noise = check_rho_noise(rho, noise, float(self.separation(probe).min()))

    def _initial_obs(self, rng: np.random.Generator, n: int) -> np.ndarray:
        cube = np.stack([rng.uniform(-0.02, 0.03, n), rng.uniform(0.47, 0.53, n),
                         np.full(n, 0.02)], axis=1)
        rest = joint_command(self._const, np.asarray(self._const.START_ARM_POSE + [0.0] * 7))
        return np.concatenate([np.broadcast_to(rest, (n, 14)), cube,
                               np.tile([1.0, 0.0, 0.0, 0.0], (n, 1)), cube, np.zeros((n, 1))],
                              axis=1)

    def set_state(self, data: mujoco.MjData, obs: np.ndarray) -> None:
        const = self._const
        mujoco.mj_resetData(self.model, data)
        cmd = np.asarray(obs[:14], dtype=float)
        for arm in (0, 1):
            data.qpos[_ARM[arm]] = cmd[7 * arm:7 * arm + 6]
            finger = const.unnormalize_puppet_gripper_position(cmd[7 * arm + 6])
            data.qpos[_FINGER[arm]:_FINGER[arm] + 2] = (finger, -finger)
        data.qpos[_CUBE] = obs[14:21]
        data.time = float(obs[24]) * self.max_steps * self.substeps * self.model.opt.timestep
        data.ctrl[:] = self._ctrl(cmd)
        mujoco.mj_forward(self.model, data)

    def _ctrl(self, cmd: np.ndarray) -> np.ndarray:
        const = self._const
        out = np.empty(16)
        for arm in (0, 1):
            g = const.unnormalize_puppet_gripper_position(cmd[7 * arm + 6])
            out[8 * arm:8 * arm + 8] = [*cmd[7 * arm:7 * arm + 6], g, -g]
        return out

    def observe(self, data: mujoco.MjData, extra: np.ndarray) -> np.ndarray:
        phase = data.time / (self.max_steps * self.substeps * self.model.opt.timestep)
        return np.concatenate([joint_command(self._const, data.qpos), data.qpos[_CUBE],
                               extra[:3], [phase]])

    def extra(self, obs: np.ndarray) -> np.ndarray:
        return np.asarray(obs[21:24], dtype=np.float64)

    def anchor(self, obs: np.ndarray) -> np.ndarray:
        return np.asarray(obs, dtype=np.float64)[..., :14]

    def step(self, data: mujoco.MjData, target: np.ndarray) -> bool:
        """Joint targets, limited to ``max_joint_step`` from the current joints (a driver's
        safety limit: the expert moves at most 0.26 rad per step, while an untrained
        policy's far-off targets would make the simulation diverge)."""
        current = joint_command(self._const, data.qpos)
        target = current + np.clip(np.asarray(target) - current, -self.max_joint_step,
                                   self.max_joint_step)
        data.ctrl[:] = self._ctrl(target)
        mujoco.mj_step(self.model, data, nstep=self.substeps)
        return False

    def tracked_position(self, obs: np.ndarray) -> np.ndarray:
        """The cube's horizontal position (for the figures)."""
        return np.asarray(obs, dtype=np.float64)[..., 14:16]

    def expert_chunks(self, obs: np.ndarray, mode: int) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float64)
        out = np.empty((obs.shape[0], self.horizon, 14))
        for i, o in enumerate(obs):
            traj = expert_joint_trajectory(tuple(np.round(o[21:24], 6)), int(mode))
            t = int(round(o[24] * self.max_steps))
            idx = np.minimum(np.arange(t + 1, t + 1 + self.horizon), len(traj) - 1)
            out[i] = traj[idx] - o[:14]
        return out.reshape(obs.shape[0], self.chunk_dim)

    def outcome(self, positions: np.ndarray, collided: bool, final_obs: np.ndarray) -> Outcome:
        rest = joint_command(self._const, np.asarray(self._const.START_ARM_POSE + [0.0] * 7))
        moved = [float(np.linalg.norm(final_obs[7 * a:7 * a + 6] - rest[7 * a:7 * a + 6]))
                 for a in (0, 1)]
        side = int(np.argmax(moved))
        lifted = bool(final_obs[16] > self.lift_height)
        return Outcome(mode=side if lifted else -1, side=side, success=lifted,
                       collision=False, stall=not lifted)

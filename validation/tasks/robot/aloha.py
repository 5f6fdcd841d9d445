"""ALOHA bimanual transfer-cube from `gym-aloha`'s own MJCF.

The ALOHA transfer-cube benchmark (Zhao et al., RSS 2023) in two stages, as ACT built
its scripted data, but with plain `mujoco` (no dm_control env, no rendering):

1. *End-effector expert* (``bimanual_viperx_end_effector_transfer_cube.xml``: the arms'
   gripper links are welded to mocap bodies). Mode ``k`` (0 = left arm, 1 = right arm):
   arm ``k`` picks the cube (pitch -60 deg for the right arm, +60 deg mirrored for the
   left), lifts it to the meeting point ``(0, 0.5, 0.25)`` and hands it over to the
   other arm, which comes in from its side rolled 90 deg, closes on the cube and
   retreats with it while arm ``k`` opens and retreats -- ACT's ``PickAndTransferPolicy``
   waypoints (400 steps), mirrored for mode 0, with two changes that make the hand-over
   reliable in this model (`expert_joint_trajectory`). The joint positions of the 14
   commanded degrees of freedom (6 arm joints and the normalised gripper, per arm) are
   recorded at 50 Hz.
2. *Joint-space task* (``bimanual_viperx_transfer_cube.xml``, 16 position actuators):
   policies command those 14 joint targets; the recorded trajectories are the expert.

Observation (25): the 14 joint positions (``agent_pos``), the cube's position (3) and
quaternion (4) from the physics, the cube's initial position (3: the episode constant
the time-indexed expert is planned from) and the phase ``t / max_steps``. The expert's
chunk at a state is the next ``H`` recorded joint targets minus the current joints: a
deterministic function of the observation (point modes). Rollout mode (`outcome`): at
the end the cube is lifted and held by one arm in the hand-over grasp; the mode is the
arm that picked it first, the other one. Otherwise (dropped, never handed over) a stall
(bridge).

What is missing against the full benchmark: camera observations, and randomisation
over gym-aloha's full cube range (``[0, 0.2] x [0.4, 0.6]``, for the right arm only):
the cube is drawn from ``x in [-0.03, 0.03], y in [0.47, 0.53]``, where this
time-indexed expert transfers it in both directions (160/160 replayed episodes per
direction); beyond it the cube is dropped in some episodes (``y in [0.53, 0.54]``:
6 of 24 with ``x in [-0.03, 0.05]``; ``y in [0.42, 0.58]``: 13 of 32;
``x in [0.03, 0.04], y > 0.52``: 1 of 24).
"""

from __future__ import annotations

import os
from functools import lru_cache

import mujoco
import numpy as np

from validation.tasks.robot.scene import Outcome, RobotTask

# ACT's scripted timing at 50 Hz (``PickAndTransferPolicy``, 400 steps): approach, descend,
# close, carry to the meeting point; then the hand-over, where the giving arm stays
# closed until the receiving arm has closed. ACT's waypoints as published (the giving arm
# opens from step 220 on, the receiving grasp at a fixed point) drop the cube in 16 of
# 40 episodes of this model.
_T_APPROACH, _T_DESCEND, _T_CLOSE, _T_CARRY, _T_MEET = 90, 130, 170, 200, 220
_T_REACH, _T_GRASP, _T_RELEASE, _T_RETREAT, _T_END = 260, 300, 330, 370, 400
_MEET = np.array([0.0, 0.5, 0.25])
# Receiving gripper link relative to the cube when it closes: towards the giving arm (its
# fingers reach beyond the link) and slightly above the cube's centre.
# Measured on the mocap model (cube drawn from the task's range, seed 1): 0 drops in
# 30 + 30 episodes at (0.06, 0.015), (0.07, 0.02) and (0.06, 0.025); at 0.03 towards the
# giver 2-6 drops in 12 + 12, with the link 0.01 below the cube's centre 23 in 24.
_HOLD = (0.06, 0.015)
_RETREAT = 0.12
_INIT_MOCAP = (np.array([-0.31718881, 0.5, 0.29525084]),
               np.array([0.31718881, 0.49999888, 0.29525084]))
_ARM = (slice(0, 6), slice(8, 14))            # arm joints in qpos (left, right)
_FINGER = (6, 14)                             # left finger joint of each gripper in qpos
_CUBE = slice(16, 23)
_GRIPPER_BODY = ("vx300s_left/gripper_link", "vx300s_right/gripper_link")


def _aloha():
    """gym-aloha's constants module and assets folder (its MJCF ships in the wheel)."""
    import gym_aloha
    from gym_aloha import constants

    return constants, os.path.join(os.path.dirname(gym_aloha.__file__), "assets")


def _quat_about(axis: tuple[float, float, float], degrees: float) -> np.ndarray:
    q = np.zeros(4)
    mujoco.mju_axisAngle2Quat(q, np.asarray(axis, dtype=float), np.deg2rad(degrees))
    return q


def _pose_at(waypoints: list, t: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Mocap position, quaternion and gripper opening at step ``t`` (ACT's interpolation:
    positions and openings linearly, quaternions normalised-linearly)."""
    i = max(j for j, w in enumerate(waypoints) if w[0] < t)
    (t0, x0, q0, g0), (t1, x1, q1, g1) = waypoints[i], waypoints[i + 1]
    f = (t - t0) / (t1 - t0)
    quat = q0 + f * (q1 - q0)
    return x0 + f * (x1 - x0), quat / np.linalg.norm(quat), g0 + f * (g1 - g0)


@lru_cache(maxsize=256)
def expert_joint_trajectory(cube_xyz: tuple[float, float, float], mode: int) -> np.ndarray:
    """``[T + 1, 14]`` joint targets of the mocap expert transferring the cube from arm
    ``mode`` to the other arm.

    ACT's ``PickAndTransferPolicy`` waypoints for the right arm giving (mode 1),
    mirrored (``x -> -x``, quaternion ``(w, x, y, z) -> (w, x, -y, -z)``) for the left
    arm giving: the giving arm picks the cube (pitch -60 deg about ``y``, mirrored +60),
    lifts it to the meeting point ``(0, 0.5, 0.25)``; the receiving arm, rolled 90 deg
    about ``x``, comes in from its side, closes on the cube, the giving arm opens and
    both retreat. The receiving grasp is placed relative to the cube's position when the
    giving arm reaches the meeting point (read from the simulation: the cube sits in the
    giving gripper differently from one pick to the next), so the trajectory is still a
    deterministic function of the initial cube position. 10 physics steps of 2 ms per
    50 Hz control step; the commanded joints are recorded after each control step.
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
    side = np.array([1.0 if mode == 1 else -1.0, 1.0, 1.0])     # x -> -x for the left arm
    rest = np.array([1.0, 0.0, 0.0, 0.0])
    pick = _quat_about((0.0, 1.0, 0.0), -60.0 * side[0])
    roll = _quat_about((1.0, 0.0, 0.0), 90.0)                   # unchanged by the mirror
    give = [(0, _INIT_MOCAP[mode], rest, 0.0),
            (_T_APPROACH, box + (0, 0, 0.08), pick, 1.0),
            (_T_DESCEND, box + (0, 0, -0.015), pick, 1.0),
            (_T_CLOSE, box + (0, 0, -0.015), pick, 0.0),
            (_T_CARRY, _MEET + side * (0.05, 0, 0), pick, 0.0),
            (_T_MEET, _MEET, pick, 0.0),
            (_T_GRASP, _MEET, pick, 0.0),
            (_T_RELEASE, _MEET, pick, 1.0),
            (_T_RETREAT, _MEET + side * (0.1, 0, 0), pick, 1.0),
            (_T_END, _MEET + side * (0.1, 0, 0), pick, 1.0)]
    receive = [(0, _INIT_MOCAP[1 - mode], rest, 0.0),
               (_T_MEET, _MEET + side * (-0.1, 0, 0.04), roll, 1.0)]
    # As ACT's record_sim_episodes: the gripper entries are the *commanded* openings (a
    # gripper blocked by the cube measures open; replaying that would never squeeze).
    grip = [0.0, 0.0]
    out = [_with_grippers(joint_command(const, data.qpos), grip)]
    for t in range(1, _T_END + 1):
        if t == _T_MEET + 1:
            hold = data.qpos[16:19] + side * (_HOLD[0], 0, 0) + (0, 0, _HOLD[1])
            away = hold - side * (_RETREAT, 0, 0)
            receive += [(_T_REACH, hold, roll, 1.0), (_T_GRASP, hold, roll, 0.0),
                        (_T_RELEASE, hold, roll, 0.0), (_T_RETREAT, away, rest, 0.0),
                        (_T_END, away, rest, 0.0)]
        for arm, waypoints in ((mode, give), (1 - mode, receive)):
            data.mocap_pos[arm], data.mocap_quat[arm], grip[arm] = _pose_at(waypoints, t)
            g = const.unnormalize_puppet_gripper_position(grip[arm])
            data.ctrl[2 * arm:2 * arm + 2] = (g, -g)
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
    """ALOHA transfer-cube from either arm to the other (two modes), joint-space control.

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
    max_steps = _T_END
    lift_height = 0.15
    hold_distance = 0.19
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
        cube = np.stack([rng.uniform(-0.03, 0.03, n), rng.uniform(0.47, 0.53, n),
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
        """Success: at the end the cube is lifted (``z > lift_height``) and held by one arm
        (its gripper link within ``hold_distance`` of the cube, the other's farther) in the
        hand-over grasp (the gripper's axis less than about 20 deg below horizontal: its
        world ``z``-component ``> -0.35``; the expert's ends at -0.2 to 0.6, while the
        picking grasp points down, -0.49 to -0.99), with its gripper blocked by the cube
        (normalised opening between 0.2 and 0.9). The mode is the arm that picked first:
        the arm *not* holding the cube after the hand-over. Anything else (cube dropped,
        still in the picking grasp, gripper not closed on it) is a stall (bridge)."""
        cube = np.asarray(final_obs[14:17], dtype=float)
        data = self.new_data(final_obs)
        dist = [float(np.linalg.norm(data.body(b).xpos - cube)) for b in _GRIPPER_BODY]
        holder = int(np.argmin(dist))
        axis_z = float(data.body(_GRIPPER_BODY[holder]).xmat[6])   # world z of link x-axis
        held = (cube[2] > self.lift_height and dist[holder] < self.hold_distance
                < dist[1 - holder] and 0.2 < final_obs[7 * holder + 6] < 0.9)
        handed = held and axis_z > -0.35
        side = (1 - holder if handed else holder) if held else -1
        return Outcome(mode=side if handed else -1, side=side, success=handed,
                       collision=False, stall=not handed)

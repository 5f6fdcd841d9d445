"""ALOHA bimanual transfer-cube from `gym-aloha`'s own MJCF, with a closed-loop expert.

The ALOHA transfer-cube benchmark (Zhao et al., RSS 2023) in joint space
(``bimanual_viperx_transfer_cube.xml``, 16 position actuators, plain `mujoco`, no
dm_control env and no rendering). Policies command the 14 joint targets of gym-aloha's
``agent_pos`` (6 arm joints and the normalised gripper opening, per arm), 50 Hz, 400
steps. The cube is drawn from ACT's range, ``x in [0, 0.2]``, ``y in [0.4, 0.6]`` (the
table centre is ``(0, 0.5)``; parameters ``cube_x``, ``cube_y``), for both directions.

Expert, mode ``k`` (0 = the left arm gives, 1 = the right arm gives). ACT's scripted
``PickAndTransferPolicy`` timing and poses (mirrored ``x -> -x`` for the left arm),
planned for the fingertip point ``p`` of each gripper (``TCP``: gym-aloha's mocap weld
point, 0.1347 m along the gripper link's axis) and turned into joint targets by inverse
kinematics (`validation.tasks.robot.kinematics`):

- the giving arm approaches the cube pitched down (``pitch`` about ``y``), descends
  until ``p`` sits at the cube's centre, closes, lifts the cube to the meeting point
  ``MEET = (0, 0.5, 0.25)``, holds it there while the receiving arm closes, opens and
  retreats;
- the receiving arm, rolled 90 deg about its axis (its fingers close on the cube's top
  and bottom faces), comes in from its side, closes on the cube at ``MEET`` and
  retreats with it.

Closed loop: at every query the expert re-plans from the observation. The joint targets
are absolute (the position servos correct the arms' own errors), and once the giving
arm has closed (step 170) its targets are shifted by ``c - c_0``, ``c`` the measured
fingertip-to-cube offset (from the observed joints and cube position), ``c_0`` the
planned one, so that the *cube*, wherever it sits in the gripper, arrives at ``MEET``
where the receiving arm closes. ACT's open-loop waypoints replayed as joint trajectories
drop the cube over this range in most episodes (measured: docs/robot.md).

Observation (``25 + 2F``): the 14 joint positions (``agent_pos``), the cube's position (3)
and quaternion (4), the cube's initial position (3: the episode constant the pick is
planned from, as ACT's scripted policy reads it), the phase ``t / max_steps`` (the expert
is time-indexed) and ``F`` Fourier features of it (``phase_features``). The expert's
chunk at a state is its next ``H`` joint targets minus the current joints: a
deterministic function of the observation (point modes). Rollout mode
(`AlohaTransferCube.outcome`): at the end the cube is lifted and held by one arm in the
hand-over grasp; the mode is the arm that picked it first, the other one. Otherwise
(dropped, never handed over) a stall (bridge).
"""

from __future__ import annotations

import os
from functools import lru_cache

import mujoco
import numpy as np

from theory import _args
from validation.tasks.base import check_rho_noise
from validation.tasks.robot.kinematics import SerialChain, axis_angle_matrix
from validation.tasks.robot.scene import Outcome, RobotTask

# ACT's scripted timing at 50 Hz (``PickAndTransferPolicy``, 400 steps): approach, descend,
# close, carry to the meeting point; the receiving arm reaches, closes; the giving arm
# opens; both retreat. The giving arm stays closed until the receiving arm has closed
# (ACT opens it from step 220 on, which drops the cube in this model).
_T_APPROACH, _T_DESCEND, _T_CLOSE, _T_CARRY, _T_MEET = 90, 130, 170, 200, 220
_T_REACH, _T_GRASP, _T_RELEASE, _T_RETREAT, _T_END = 260, 300, 330, 370, 400
MEET = np.array([0.0, 0.5, 0.25])
# The fingertip point in the gripper link's frame: gym-aloha's mocap weld offset
# (eq_data of bimanual_viperx_end_effector_transfer_cube.xml).
TCP = (0.1347, 0.0, 0.002)
# Planned fingertip point relative to the cube: the giving arm 1.5 cm past the cube's
# centre along its approach (the cube then sits in the middle of the finger pads), the
# receiving arm 1 cm above it.
_PICK_DEPTH = 0.015
_HOLD_HEIGHT = 0.0
_CLEARANCE = 0.08                # above the cube before descending
_RETREAT = 0.12
_MAX_CORRECTION = 0.05           # the receiving arm follows the cube this far at most
_ARM = (slice(0, 6), slice(8, 14))            # arm joints in qpos (left, right)
_FINGER = (6, 14)                             # left finger joint of each gripper in qpos
_CUBE = slice(16, 23)
_GRIPPER_BODY = ("vx300s_left/gripper_link", "vx300s_right/gripper_link")


def _aloha():
    """gym-aloha's constants module and assets folder (its MJCF ships in the wheel)."""
    import gym_aloha
    from gym_aloha import constants

    return constants, os.path.join(os.path.dirname(gym_aloha.__file__), "assets")


def joint_command(const, qpos: np.ndarray) -> np.ndarray:
    """``[14]``: arm joints and the normalised gripper opening (gym-aloha's ``agent_pos``)."""
    return np.concatenate([qpos[_ARM[0]], [const.normalize_puppet_gripper_position(qpos[6])],
                           qpos[_ARM[1]], [const.normalize_puppet_gripper_position(qpos[14])]])


_BASE_XY = (np.array([-0.469, 0.5]), np.array([0.469, 0.5]))   # the arms' bases
_HEADING = (np.eye(3), axis_angle_matrix(np.array([0.0, 0.0, 1.0]), np.pi))


def gripper_rotation(arm: int, yaw, pitch, roll) -> np.ndarray:
    """``[..., 3, 3]`` world orientation of arm ``arm``'s gripper link pointing along its
    heading (``+x`` for the left arm, ``-x`` for the right) turned by ``yaw`` about the
    world ``z``, pitched *down* by ``pitch`` and rolled by ``roll`` about its own axis
    (radians, broadcasting): ``R_z(yaw) R_y(+-pitch) H_arm R_x(roll)``."""
    z, y, x = (np.array(v, dtype=float) for v in ((0, 0, 1), (0, 1, 0), (1, 0, 0)))
    down = 1.0 if arm == 0 else -1.0
    return (axis_angle_matrix(z, np.asarray(yaw)) @ axis_angle_matrix(y, down * np.asarray(pitch))
            @ _HEADING[arm] @ axis_angle_matrix(x, np.asarray(roll)))


def _interpolate(waypoints: list, T: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(p [T + 1, 3], angles [T + 1, 2], g [T + 1])`` along ``[(t, p, angles, g), ...]``,
    each linear in time between waypoints (as ACT's scripted policy; the orientation is
    interpolated in pitch and roll, the yaw follows the path: see `_nominal_plan`. A
    geodesic between the rest pose and a yawed grasp makes the wrist cross its singularity,
    forearm roll and wrist rotate spinning against each other)."""
    times = np.array([w[0] for w in waypoints], dtype=float)
    t = np.arange(T + 1, dtype=float)
    def lin(k):
        values = np.array([np.atleast_1d(w[k]) for w in waypoints], dtype=float)
        return np.stack([np.interp(t, times, values[:, j]) for j in range(values.shape[1])], 1)
    return lin(1), lin(2), lin(3)[:, 0]


class TransferExpert:
    """The closed-loop scripted expert of the transfer (module docstring), both modes.

    Plans are cached per initial cube position (`plan`); `targets` re-plans from an
    observation. One instance per ``(pitch, receive_pitch)`` is shared by every task
    (`transfer_expert`), so the cache survives building new tasks.

    Args:
        pitch, receive_pitch: the grippers' downward pitch (degrees).
    """

    def __init__(self, pitch: float, receive_pitch: float):
        const, assets = _aloha()
        model = mujoco.MjModel.from_xml_path(
            os.path.join(assets, "bimanual_viperx_transfer_cube.xml"))
        self.pitch, self.receive_pitch = np.deg2rad(pitch), np.deg2rad(receive_pitch)
        self.chains = tuple(SerialChain(model, b, offset=TCP) for b in _GRIPPER_BODY)
        self.rest_q = np.asarray(const.START_ARM_POSE, dtype=float)[[*range(6), *range(8, 14)]]
        axis = self.chains[0].forward(self.rest_q[:6])[1][:, 0]     # the link's axis at rest
        self.rest_pitch = float(np.arcsin(-axis[2]))
        self.plan = lru_cache(maxsize=1024)(self._plan)

    def waypoints(self, cube0: np.ndarray, mode: int) -> tuple[list, list]:
        """Fingertip waypoints ``(t, p, (pitch, roll), opening)`` of the giving and the
        receiving arm (the yaw follows the path, `plan`)."""
        s = 1.0 if mode == 1 else -1.0                 # the giving arm's side of the table
        g, r = mode, 1 - mode
        rest = (self.rest_pitch, 0.0)
        pick = (self.pitch, 0.0)
        hold = (self.receive_pitch, np.pi / 2)
        start = [self.chains[a].forward(self.rest_q[6 * a:6 * a + 6])[0] for a in (0, 1)]
        to_cube = np.append(cube0[:2] - _BASE_XY[g], 0.0)
        grasp = cube0 + _PICK_DEPTH * to_cube / np.linalg.norm(to_cube)
        meet = MEET + (-s * _PICK_DEPTH, 0.0, 0.0)      # the cube at MEET, as planned
        receive = MEET + (0.0, 0.0, _HOLD_HEIGHT)
        give = [(0, start[g], rest, 0.0),
                (_T_APPROACH, grasp + (0, 0, _CLEARANCE), pick, 1.0),
                (_T_DESCEND, grasp, pick, 1.0),
                (_T_CLOSE, grasp, pick, 0.0),
                (_T_CARRY, meet + (s * 0.05, 0, 0), pick, 0.0),
                (_T_MEET, meet, pick, 0.0),
                (_T_GRASP, meet, pick, 0.0),
                (_T_RELEASE, meet, pick, 1.0),
                (_T_RETREAT, meet + (s * 0.1, 0, 0), pick, 1.0),
                (_T_END, meet + (s * 0.1, 0, 0), pick, 1.0)]
        take = [(0, start[r], rest, 0.0),
                (_T_MEET, receive + (-s * 0.1, 0, 0), hold, 1.0),
                (_T_REACH, receive, hold, 1.0),
                (_T_GRASP, receive, hold, 0.0),
                (_T_RELEASE, receive, hold, 0.0),
                (_T_RETREAT, receive + (-s * _RETREAT, 0, 0), hold, 0.0),
                (_T_END, receive + (-s * _RETREAT, 0, 0), hold, 0.0)]
        return give, take

    def _plan(self, cube0: tuple[float, float, float], mode: int):
        """Fingertip path ``[T + 1, 2, 3]``, rotations ``[T + 1, 2, 3, 3]``, openings
        ``[T + 1, 2]`` and joint targets ``[T + 1, 2, 6]`` (IK) from the initial cube."""
        T = _T_END
        pos, rot = np.empty((T + 1, 2, 3)), np.empty((T + 1, 2, 3, 3))
        grip, q = np.empty((T + 1, 2)), np.empty((T + 1, 2, 6))
        for a, waypoints in zip((mode, 1 - mode), self.waypoints(np.asarray(cube0), mode),
                                strict=True):
            pos[:, a], angles, grip[:, a] = _interpolate(waypoints, T)
            # The gripper points away from its arm's base (the azimuth of the fingertip
            # seen from the base): the waist turns, the wrist only pitches and rolls, and
            # the fingers close on the cube turned by that azimuth.
            away = pos[:, a, :2] - _BASE_XY[a]
            yaw = np.arctan2(away[:, 1], away[:, 0] if a == 0 else -away[:, 0])
            rot[:, a] = gripper_rotation(a, yaw if a == 0 else -yaw, angles[:, 0],
                                         angles[:, 1])
            q[:, a] = self._solve(a, pos[:, a], rot[:, a], [w[0] for w in waypoints])
        return pos, rot, grip, q

    def _solve(self, arm: int, pos: np.ndarray, rot: np.ndarray, knots) -> np.ndarray:
        """IK along a path ``[T + 1]``: the poses at ``knots`` (the waypoint times and every
        40th step) solved one after the other, each from the previous solution, then every
        pose from the joint-space interpolation of the knots (one batched solve)."""
        chain, T = self.chains[arm], pos.shape[0] - 1
        knots = np.unique(np.concatenate([knots, np.arange(0, T + 1, 40), [T]]))
        qk = np.empty((len(knots), 6))
        q = self.rest_q[6 * arm:6 * arm + 6]
        for i, t in enumerate(knots):
            q, _ = chain.inverse(pos[t], rot[t], q, iterations=15)
            qk[i] = q
        guess = np.stack([np.interp(np.arange(T + 1), knots, qk[:, j]) for j in range(6)], 1)
        return chain.inverse(pos, rot, guess, iterations=8)[0]

    def targets(self, o: np.ndarray, mode: int, horizon: int) -> np.ndarray:
        """``[H, 14]`` absolute joint targets for the ``H`` steps after observation ``o``."""
        pos, rot, grip, q = self.plan(tuple(np.round(o[21:24], 6)), mode)
        t = int(round(o[24] * _T_END))
        idx = np.minimum(np.arange(t + 1, t + 1 + horizon), _T_END)
        joints = q[idx].copy()                                          # [H, 2, 6]
        if t >= _T_MEET:
            # The receiving arm's plan moves with the observed cube: its targets are the
            # planned ones shifted by (cube now - where the plan has it now). Once it holds
            # the cube this is a relative plan (the increments of its path from now on),
            # so following the cube it carries cannot run away. (Turning with the cube's
            # tilt in the giver's pinch as well does run away: a held cube turns with the
            # receiving wrist, which sags under gravity, turning the target further.)
            r = 1 - mode
            planned = MEET + pos[min(max(t, _T_RELEASE), _T_END), r] - pos[_T_RELEASE, r]
            shift = o[14:17] - planned
            norm = float(np.linalg.norm(shift))
            if norm > _MAX_CORRECTION:
                shift *= _MAX_CORRECTION / norm
            shift *= min(1.0, (t - _T_MEET + 1) / 10)
            joints[:, r], _ = self.chains[r].inverse(pos[idx, r] + shift, rot[idx, r],
                                                     joints[:, r], iterations=3)
        return np.concatenate([joints[:, 0], grip[idx, 0:1], joints[:, 1], grip[idx, 1:2]], 1)


@lru_cache(maxsize=8)
def transfer_expert(pitch: float, receive_pitch: float) -> TransferExpert:
    """The shared `TransferExpert` for these pitches (degrees)."""
    return TransferExpert(pitch, receive_pitch)


class AlohaTransferCube(RobotTask):
    """ALOHA transfer-cube from either arm to the other (two modes), joint-space control.

    Args:
        horizon: chunk length ``H`` in ``[1, 400]`` (ACT uses 100 at 50 Hz).
        weights: ``(w_left, w_right)``: which arm gives.
        rho: mode tolerance in chunk space (radians / normalised gripper units).
        noise: per-element std of the demonstration noise (clipped to ``rho``).
        cube_x, cube_y: the ranges the cube's initial position is drawn from (ACT's by
            default).
        pitch: the giving gripper's downward pitch (degrees; ACT: 60).
        receive_pitch: the receiving gripper's downward pitch (degrees).
        phase_features: ``F``: the observation ends with ``sin, cos(2^f pi t / T)``,
            ``f < F``, of the phase (the time-indexed expert's chunk has kinks at the
            waypoint times; measured in docs/robot.md: policies fit them far better
            from these features than from the bare phase).
    """

    name = "aloha_transfer_cube"
    n_modes = 2
    action_dim = 14
    substeps = 10
    max_steps = _T_END
    lift_height = 0.15
    hold_distance = 0.19
    max_joint_step = 0.5

    def __init__(self, horizon: int = 20, weights=(0.5, 0.5), rho: float = 0.3,
                 noise: float = 0.01, cube_x=(0.0, 0.2), cube_y=(0.4, 0.6),
                 pitch: float = 55.0, receive_pitch: float = 10.0, phase_features: int = 6):
        self._const, assets = _aloha()
        self.model = mujoco.MjModel.from_xml_path(
            os.path.join(assets, "bimanual_viperx_transfer_cube.xml"))
        self.horizon = _args.integer_at_least(horizon, "horizon", 1, self.max_steps)
        self.weights = _args.weight_vector(weights, "weights")
        if self.weights.size != 2:
            raise ValueError(f"weights must have 2 entries, got {self.weights.size}")
        self.cube_x, self.cube_y = (_range(cube_x, "cube_x", -0.25, 0.25),
                                    _range(cube_y, "cube_y", 0.3, 0.7))
        self.pitch = float(_args.positive(pitch, "pitch"))
        self.receive_pitch = float(_args.nonnegative(receive_pitch, "receive_pitch"))
        self.phase_features = _args.integer_at_least(phase_features, "phase_features", 0, 12)
        self.obs_dim = 25 + 2 * self.phase_features
        self.expert = transfer_expert(self.pitch, self.receive_pitch)
        probe = self._sample_obs(2, np.random.default_rng(12345))
        self.rho, self.noise = check_rho_noise(rho, noise, float(self.separation(probe).min()))

    # ------------------------------------------------------------------ simulator

    def _initial_obs(self, rng: np.random.Generator, n: int) -> np.ndarray:
        cube = np.stack([rng.uniform(*self.cube_x, n), rng.uniform(*self.cube_y, n),
                         np.full(n, 0.02)], axis=1)
        rest = joint_command(self._const, np.asarray(self._const.START_ARM_POSE + [0.0] * 7))
        return np.concatenate([np.broadcast_to(rest, (n, 14)), cube,
                               np.tile([1.0, 0.0, 0.0, 0.0], (n, 1)), cube,
                               np.broadcast_to(self._phase(0.0), (n, self.obs_dim - 24))],
                              axis=1)

    def _phase(self, phase: float) -> np.ndarray:
        """``[1 + 2F]``: the phase and its Fourier features."""
        angle = np.pi * 2.0 ** np.arange(self.phase_features) * phase
        return np.concatenate([[phase], np.sin(angle), np.cos(angle)])

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
                               extra[:3], self._phase(phase)])

    def extra(self, obs: np.ndarray) -> np.ndarray:
        return np.asarray(obs[21:24], dtype=np.float64)

    def anchor(self, obs: np.ndarray) -> np.ndarray:
        return np.asarray(obs, dtype=np.float64)[..., :14]

    def step(self, data: mujoco.MjData, target: np.ndarray) -> bool:
        """Joint targets, limited to ``max_joint_step`` from the current joints (a driver's
        safety limit: the expert moves at most about 0.1 rad per step, while an untrained
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

    # ------------------------------------------------------------------ expert

    def expert_chunks(self, obs: np.ndarray, mode: int) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float64)
        out = np.empty((obs.shape[0], self.horizon, 14))
        for i, o in enumerate(obs):
            out[i] = self.expert.targets(o, int(mode), self.horizon) - o[:14]
        return out.reshape(obs.shape[0], self.chunk_dim)

    def outcome(self, positions: np.ndarray, collided: bool, final_obs: np.ndarray) -> Outcome:
        """Success: at the end the cube is lifted (``z > lift_height``) and held by one arm
        (its gripper link within ``hold_distance`` of the cube, the other's farther) in the
        hand-over grasp (the gripper's axis less than about 20 deg below horizontal: its
        world ``z``-component ``> -0.35``, while the picking grasp points down), with its
        gripper blocked by the cube (normalised opening between 0.2 and 0.9). The mode is
        the arm that picked first: the arm *not* holding the cube after the hand-over.
        Anything else (cube dropped, still in the picking grasp, gripper not closed on it)
        is a stall (bridge)."""
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


def _range(value, name: str, low: float, high: float) -> tuple[float, float]:
    lo, hi = (float(v) for v in value)
    if not low <= lo <= hi <= high:
        raise ValueError(f"{name} must be an interval (lo, hi) with {low} <= lo <= hi <= "
                         f"{high}, got {value!r}")
    return lo, hi

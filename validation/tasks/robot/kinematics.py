"""Forward and inverse kinematics of a serial chain of hinge joints in a MuJoCo model.

The scripted ALOHA expert plans end-effector poses and needs the joint targets that
reach them at every query, for a whole chunk of up to ``H = 100`` future steps. MuJoCo
computes kinematics one configuration per `MjData`; here the chain's fixed transforms
are read from the `MjModel` once and the kinematics run batched in NumPy, so one query
solves all ``H`` poses at once.

Forward kinematics (MuJoCo's convention, `mj_kinematics`): a body's frame is its
parent's frame composed with the fixed ``(body_pos, body_quat)``, then rotated by each
of its hinge joints about ``axis`` through ``jnt_pos`` by ``q - qpos0``. The end
frame is the last body's frame shifted by a fixed ``offset`` (e.g. the point between
the fingertips).

Inverse kinematics: damped least squares (Levenberg-Marquardt on the pose error;
Wampler 1986, Buss 2004), ``dq = J^T (J J^T + lambda^2 I)^{-1} e`` with ``e`` the
position error and the rotation vector of ``R_target R^T`` (world frame), the geometric
Jacobian ``J_i = [z_i x (p - o_i); z_i]``, steps clipped and joints clipped to their
ranges. Written by hand because MuJoCo's IK needs one `MjData` per pose and none of the
project's libraries solves batched pose IK; checked against `mj_kinematics` and
`mj_jac` in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from theory import _args

_I3 = np.eye(3)


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """``[..., 3, 3]`` rotation matrices of unit quaternions ``q`` ``[..., 4]`` (w, x, y, z).

    Examples:
        >>> quat_to_matrix(np.array([np.cos(np.pi / 4), 0, 0, np.sin(np.pi / 4)])).round(6)[0]
        array([ 0., -1.,  0.])
    """
    q = np.asarray(q, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ], -2)


def axis_angle_matrix(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """``[..., 3, 3]`` rotations by ``angle [...]`` about the unit ``axis [3]`` (Rodrigues).

    Examples:
        >>> axis_angle_matrix(np.array([0.0, 0.0, 1.0]), np.array(np.pi / 2)).round(6)[:, 0]
        array([0., 1., 0.])
    """
    a = np.asarray(axis, dtype=np.float64)
    a = a / np.linalg.norm(a)
    angle = np.asarray(angle, dtype=np.float64)
    K = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    s, c = np.sin(angle)[..., None, None], np.cos(angle)[..., None, None]
    return np.eye(3) + s * K + (1 - c) * (K @ K)


def rotation_vector(R: np.ndarray) -> np.ndarray:
    """``[..., 3]`` the rotation vector (axis times angle in ``[0, pi]``) of ``R [..., 3, 3]``.

    Examples:
        >>> rotation_vector(axis_angle_matrix(np.array([1.0, 0, 0]), np.array(0.5))).round(6)
        array([0.5, 0. , 0. ])
    """
    R = np.asarray(R, dtype=np.float64)
    cos = np.clip((np.trace(R, axis1=-2, axis2=-1) - 1) / 2, -1.0, 1.0)
    angle = np.arccos(cos)
    v = np.stack([R[..., 2, 1] - R[..., 1, 2], R[..., 0, 2] - R[..., 2, 0],
                  R[..., 1, 0] - R[..., 0, 1]], -1)
    s = np.sin(angle)
    small = s < 1e-6
    # Near 0 the vee of the skew part is the rotation vector (first order); near pi the
    # skew part vanishes and the axis is read from the symmetric part.
    out = np.where(small[..., None], 0.5 * v, v * (angle / np.where(small, 1.0, 2 * s))[..., None])
    near_pi = small & (cos < 0)
    if np.any(near_pi):
        B = (R[near_pi] + np.eye(3)) / 2
        col = np.argmax(np.diagonal(B, axis1=-2, axis2=-1), -1)
        ax = B[np.arange(len(col)), :, col]
        out[near_pi] = np.pi * ax / np.linalg.norm(ax, axis=-1, keepdims=True)
    return out


@dataclass(frozen=True)
class _Link:
    pos: np.ndarray       # [3] body_pos in the parent frame
    rot: np.ndarray       # [3, 3] body_quat as a matrix
    # (chain index, axis, pos, q0, K, K @ K) with K the axis' cross-product matrix
    joints: tuple[tuple[int, np.ndarray, np.ndarray, float, np.ndarray, np.ndarray], ...]


class SerialChain:
    """Kinematics of the hinge joints from the world to ``body`` (plus ``offset``).

    Args:
        model: the `mujoco.MjModel`.
        body: name of the last body (e.g. ``"vx300s_left/gripper_link"``).
        offset: ``[3]`` the end point in that body's frame (default its origin).

    Attributes:
        qpos_index: ``[n]`` the chain's joints' addresses in ``qpos`` (root first).
        lower, upper: ``[n]`` joint ranges (``-inf, inf`` where unlimited).
    """

    def __init__(self, model: mujoco.MjModel, body: str, offset=(0.0, 0.0, 0.0)):
        bodies = []
        b = model.body(body).id
        while b != 0:
            bodies.append(b)
            b = int(model.body_parentid[b])
        bodies.reverse()
        links, qadr, lo, hi = [], [], [], []
        for b in bodies:
            joints = []
            for j in range(model.body_jntadr[b], model.body_jntadr[b] + model.body_jntnum[b]):
                if model.jnt_type[j] != mujoco.mjtJoint.mjJNT_HINGE:
                    raise ValueError(f"body {body!r}: only hinge joints are supported, "
                                     f"joint {model.joint(j).name!r} is not one")
                adr = int(model.jnt_qposadr[j])
                a = model.jnt_axis[j] / np.linalg.norm(model.jnt_axis[j])
                K = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
                joints.append((len(qadr), a, model.jnt_pos[j].copy(), float(model.qpos0[adr]),
                               K, K @ K))
                qadr.append(adr)
                limited = bool(model.jnt_limited[j])
                lo.append(model.jnt_range[j, 0] if limited else -np.inf)
                hi.append(model.jnt_range[j, 1] if limited else np.inf)
            links.append(_Link(model.body_pos[b].copy(), quat_to_matrix(model.body_quat[b]),
                               tuple(joints)))
        self.links = tuple(links)
        self.qpos_index = np.asarray(qadr)
        self.lower, self.upper = np.asarray(lo), np.asarray(hi)
        self.offset = np.asarray(offset, dtype=np.float64)
        if self.offset.shape != (3,):
            raise ValueError(f"offset must have 3 entries, got shape {self.offset.shape}")

    @property
    def n_joints(self) -> int:
        return len(self.qpos_index)

    def _check_q(self, q: np.ndarray) -> np.ndarray:
        q = np.asarray(q, dtype=np.float64)
        if q.ndim < 1 or q.shape[-1] != self.n_joints:
            raise ValueError(f"q must have shape [..., {self.n_joints}], got {q.shape}")
        return q

    def _frames(self, q: np.ndarray):
        """End position ``[..., 3]``, rotation ``[..., 3, 3]``, joint axes and anchors."""
        batch = q.shape[:-1]
        pos = np.zeros((*batch, 3))
        rot = np.broadcast_to(np.eye(3), (*batch, 3, 3)).copy()
        axes, anchors = [], []
        for link in self.links:
            pos = pos + rot @ link.pos
            rot = rot @ link.rot
            for i, axis, jpos, q0, K, K2 in link.joints:
                anchor = pos + rot @ jpos
                axes.append(rot @ axis)
                anchors.append(anchor)
                angle = q[..., i] - q0
                s, c = np.sin(angle)[..., None, None], np.cos(angle)[..., None, None]
                rot = rot @ (_I3 + s * K + (1 - c) * K2)      # Rodrigues
                pos = anchor - rot @ jpos
        end = pos + rot @ self.offset
        return end, rot, np.stack(axes, -2), np.stack(anchors, -2)

    def forward(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(position [..., 3], rotation [..., 3, 3])`` of the end frame at joints ``q
        [..., n]`` (world frame; the root body is assumed fixed to the world)."""
        end, rot, _, _ = self._frames(self._check_q(q))
        return end, rot

    def jacobian(self, q: np.ndarray) -> np.ndarray:
        """``[..., 6, n]`` geometric Jacobian of the end point (rows: position, rotation)."""
        end, _, axes, anchors = self._frames(self._check_q(q))
        lin = np.cross(axes, end[..., None, :] - anchors)
        return np.concatenate([np.swapaxes(lin, -1, -2), np.swapaxes(axes, -1, -2)], -2)

    def inverse(self, position: np.ndarray, rotation: np.ndarray, q_start: np.ndarray, *,
                iterations: int = 30, damping: float = 1e-2, max_step: float = 0.3,
                rotation_weight: float = 0.3, posture: float = 1e-2,
                tolerance: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
        """Joints reaching the end poses ``(position [..., 3], rotation [..., 3, 3])``.

        Damped least squares from ``q_start [..., n]`` for ``iterations`` steps (joint
        ranges enforced, each step's largest joint change at most ``max_step`` rad):
        each step minimises ``|J dq - e|^2 + damping^2 |dq|^2 + posture^2 |q + dq -
        q_start|^2``. The posture term pins the motions that leave the pose unchanged
        (near a wrist singularity, roll and rotate joints spinning against each other),
        at the price of a pose error of order ``(posture / sigma_min(J))^2``.
        ``rotation_weight`` (metres per radian) weighs orientation against position. Stops
        early once every pose error is below ``tolerance``.

        Returns ``(q [..., n], error [...])``, ``error`` the final weighted pose error norm.
        """
        iterations = _args.integer_at_least(iterations, "iterations", 1)
        damping = float(_args.positive(damping, "damping"))
        q_ref = np.clip(self._check_q(q_start), self.lower, self.upper)
        q = q_ref.copy()
        mu2 = float(_args.nonnegative(posture, "posture")) ** 2
        position = np.asarray(position, dtype=np.float64)
        rotation = np.asarray(rotation, dtype=np.float64)
        weight = np.array([1.0, 1.0, 1.0] + [rotation_weight] * 3)
        for it in range(iterations + 1):
            end, rot, axes, anchors = self._frames(q)
            err = np.concatenate([position - end,
                                  rotation_vector(rotation @ np.swapaxes(rot, -1, -2))], -1)
            err = err * weight
            norm = np.linalg.norm(err, axis=-1)
            if it == iterations or float(norm.max()) < tolerance:
                break
            lin = np.cross(axes, end[..., None, :] - anchors)
            J = np.concatenate([np.swapaxes(lin, -1, -2), np.swapaxes(axes, -1, -2)], -2)
            J = J * weight[:, None]
            Jt = np.swapaxes(J, -1, -2)
            A = Jt @ J + (damping ** 2 + mu2) * np.eye(self.n_joints)
            b = (Jt @ err[..., None])[..., 0] + mu2 * (q_ref - q)
            dq = np.linalg.solve(A, b[..., None])[..., 0]
            big = np.abs(dq).max(-1, keepdims=True)
            dq = dq * np.minimum(1.0, max_step / np.maximum(big, 1e-12))
            q = np.clip(q + dq, self.lower, self.upper)
        return q, norm


__all__ = ["SerialChain", "axis_angle_matrix", "quat_to_matrix", "rotation_vector"]

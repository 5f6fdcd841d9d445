"""Batched kinematics of the ALOHA expert against MuJoCo's own (`mj_kinematics`, `mj_jac`),
and the inverse kinematics by round trips. Seeds: hypothesis (derandomized in CI)."""

import os

import mujoco
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from validation.tasks.robot.kinematics import (
    SerialChain,
    axis_angle_matrix,
    quat_to_matrix,
    rotation_vector,
)


@pytest.fixture(scope="module")
def aloha():
    import gym_aloha

    path = os.path.join(os.path.dirname(gym_aloha.__file__), "assets",
                        "bimanual_viperx_transfer_cube.xml")
    model = mujoco.MjModel.from_xml_path(path)
    chains = {arm: SerialChain(model, f"vx300s_{arm}/gripper_link", offset=(0.1347, 0, 0.002))
              for arm in ("left", "right")}
    return model, chains


joints = arrays(np.float64, 6, elements=st.floats(-1.7, 1.2))


@given(q=joints, arm=st.sampled_from(["left", "right"]))
def test_forward_kinematics_and_jacobian_match_mujoco(aloha, q, arm):
    model, chains = aloha
    chain = chains[arm]
    data = mujoco.MjData(model)
    data.qpos[chain.qpos_index] = q
    mujoco.mj_kinematics(model, data)
    mujoco.mj_comPos(model, data)
    body = model.body(f"vx300s_{arm}/gripper_link").id
    R = data.xmat[body].reshape(3, 3)
    point = data.xpos[body] + R @ chain.offset
    jacp, jacr = np.zeros((3, model.nv)), np.zeros((3, model.nv))
    mujoco.mj_jac(model, data, jacp, jacr, point, body)
    dofs = [int(model.jnt_dofadr[np.nonzero(model.jnt_qposadr == a)[0][0]])
            for a in chain.qpos_index]
    pos, rot = chain.forward(q)
    np.testing.assert_allclose(pos, point, atol=1e-12)
    np.testing.assert_allclose(rot, R, atol=1e-12)
    np.testing.assert_allclose(chain.jacobian(q), np.vstack([jacp[:, dofs], jacr[:, dofs]]),
                               atol=1e-12)


def test_inverse_kinematics_recovers_reachable_poses(aloha):
    """Poses of random configurations, solved from a perturbed start: the pose error is
    below 0.1 mm for nearly all (a few land near a wrist singularity, where the posture
    term trades pose error for joint stability)."""
    _, chains = aloha
    rng = np.random.default_rng(0)
    chain = chains["left"]
    q = rng.uniform([-1, -1, -0.5, -1, -1, -1], [1, 0.5, 1, 1, 1, 1], size=(200, 6))
    pos, rot = chain.forward(q)
    solved, err = chain.inverse(pos, rot, q + rng.normal(scale=0.15, size=q.shape),
                                iterations=40, posture=0.0)
    got, got_rot = chain.forward(solved)
    assert np.quantile(np.linalg.norm(got - pos, axis=1), 0.95) < 1e-4
    assert np.quantile(np.abs(got_rot - rot).max(axis=(1, 2)), 0.95) < 1e-3
    assert np.all((solved >= chain.lower) & (solved <= chain.upper))
    np.testing.assert_allclose(err, np.linalg.norm(np.concatenate(
        [pos - got, 0.3 * rotation_vector(rot @ np.swapaxes(got_rot, -1, -2))], -1), axis=-1),
        atol=1e-9)


@given(axis=arrays(np.float64, 3, elements=st.floats(-1, 1)),
       angle=st.floats(0.0, 3.1))
def test_rotation_vector_inverts_axis_angle(axis, angle):
    if np.linalg.norm(axis) < 1e-3:
        return
    u = axis / np.linalg.norm(axis)
    R = axis_angle_matrix(u, np.array(angle))
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(rotation_vector(R), angle * u, atol=1e-6)


@given(q=arrays(np.float64, 4, elements=st.floats(-1, 1)))
def test_quaternion_matrix_matches_mujoco(q):
    if np.linalg.norm(q) < 1e-3:
        return
    expected = np.zeros(9)
    mujoco.mju_quat2Mat(expected, q / np.linalg.norm(q))
    np.testing.assert_allclose(quat_to_matrix(q), expected.reshape(3, 3), atol=1e-12)


def test_bad_arguments_raise_clear_errors(aloha):
    _, chains = aloha
    with pytest.raises(ValueError, match="q must have shape"):
        chains["left"].forward(np.zeros(5))
    with pytest.raises(ValueError, match="offset"):
        SerialChain(aloha[0], "vx300s_left/gripper_link", offset=(0.0, 0.0))
    with pytest.raises(ValueError, match="hinge"):
        SerialChain(aloha[0], "box")


@pytest.mark.parametrize("module", ["validation.tasks.robot.kinematics",
                                    "validation.tasks.robot.normalise"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0, result

"""Tests of validation/tasks/paper.py: geometry, demonstrations, rollouts."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import binomtest

from validation.tasks import make_task
from validation.tasks.paper import rollout

SEED = 20261124
PAPER_TASKS = [("circle", {}), ("conditional_circle", {}), ("sequential_decision", {}),
               ("radial", {"n_rays": 8}), ("radial", {"n_rays": 16})]


def _point_box_distance(p, box):
    dx = max(box[0] - p[0], 0.0, p[0] - box[2])
    dy = max(box[1] - p[1], 0.0, p[1] - box[3])
    return math.hypot(dx, dy)


def test_circle_geometry():
    task = make_task("circle")
    paths = task.mean_paths()
    assert paths.shape == (2, 60, 2)
    for path, centre in zip(paths, [(0.5, 0.7), (0.5, 0.3)], strict=True):
        np.testing.assert_allclose(np.linalg.norm(path - centre, axis=1), 0.2, atol=1e-12)
        np.testing.assert_allclose(path[0], (0.5, 0.5), atol=1e-12)
        np.testing.assert_allclose(path[-1], (0.5, 0.5), atol=1e-12)
        # Clockwise, exactly one loop: the unwrapped polar angle falls by 2 pi.
        angle = np.unwrap(np.arctan2(path[:, 1] - centre[1], path[:, 0] - centre[0]))
        assert np.all(np.diff(angle) < 0)
        np.testing.assert_allclose(angle[-1] - angle[0], -2 * np.pi, atol=1e-9)
    assert task.noise == 0.008 and task.episode_length == 60


def test_conditional_circle_context_names_the_circle():
    task = make_task("conditional_circle")
    demos = task.demonstrations(200, SEED)
    assert task.obs_dim == 4
    np.testing.assert_array_equal(demos.obs[:, 2:], np.eye(2)[demos.modes])
    # Upper circle (context 0) starts moving left, lower (context 1) right.
    first_dx = demos.actions[:, 0]
    assert np.all(first_dx[demos.modes == 0] < 0) and np.all(first_dx[demos.modes == 1] > 0)


def test_sequential_decision_fork_offsets():
    task = make_task("sequential_decision")
    paths = task.mean_paths()
    assert paths.shape == (4, 60, 2) and task.noise == 0.012
    y = paths[0, :, 1]
    before = y <= 0.4
    np.testing.assert_allclose(paths[:, before, 0], 0.5, atol=1e-12)
    between = (y >= 0.5) & (y <= 0.7)
    expected = np.array([0.25, 0.25, 0.75, 0.75])[:, None]
    np.testing.assert_allclose(paths[:, between, 0],
                               np.broadcast_to(expected, (4, between.sum())), atol=1e-12)
    # LL, LR, RL, RR end at 0.5 -+ 0.25 -+ 0.15.
    np.testing.assert_allclose(paths[:, -1, 0], [0.10, 0.40, 0.60, 0.90], atol=1e-12)


@pytest.mark.parametrize("n_rays", [8, 16])
def test_radial_obstacles_formula_and_clearance(n_rays):
    sigma = 0.006
    task = make_task("radial", n_rays=n_rays)
    half = (0.2 * math.sin(math.pi / n_rays) - 3 * sigma) / math.sqrt(2)
    boxes = task.obstacles()
    assert boxes.shape == (n_rays, 4)
    np.testing.assert_allclose(boxes[:, 2] - boxes[:, 0], 2 * half, rtol=1e-12)
    np.testing.assert_allclose(boxes[:, 3] - boxes[:, 1], 2 * half, rtol=1e-12)
    paths = task.mean_paths()
    np.testing.assert_allclose(np.linalg.norm(paths[:, -1] - 0.5, axis=1), 0.4, atol=1e-12)
    # The mean action over the (balanced) modes is zero: regression fails by construction.
    np.testing.assert_allclose(task.mean_actions().mean(axis=0), 0.0, atol=1e-15)
    # Every mean path keeps at least 3 sigma from every obstacle (point-box distance).
    gap = min(_point_box_distance(p, b) for path in paths for p in path for b in boxes)
    assert gap >= 3 * sigma - 1e-12
    # Each obstacle sits between two neighbouring rays, at equal distance from both.
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2 - 0.5
    angle = np.mod(np.arctan2(centres[:, 1], centres[:, 0]), 2 * np.pi)
    np.testing.assert_allclose(np.sort(angle), (np.arange(n_rays) + 0.5) * 2 * np.pi / n_rays,
                               atol=1e-12)


@pytest.mark.parametrize("name,params", PAPER_TASKS)
def test_expert_paths_do_not_hit_obstacles(name, params):
    from validation.paper_metrics import collisions

    task = make_task(name, **params)
    assert not collisions(task.mean_paths(), task.obstacles()).any()
    # Demonstrations keep a 3 sigma margin only on average: a rare excursion may touch an
    # obstacle; it must be rare (99% Clopper-Pearson upper limit below 1%).
    paths, _ = task.demonstration_paths(2000, SEED)
    hits = int(collisions(paths, task.obstacles()).sum())
    assert binomtest(hits, 2000).proportion_ci(0.99).high < 0.01


@pytest.mark.parametrize("name,params", PAPER_TASKS)
def test_actions_are_position_deltas_and_deterministic(name, params):
    task = make_task(name, **params)
    demos = task.demonstrations(100, SEED)
    paths, modes = task.demonstration_paths(100, SEED)
    actions = demos.actions.reshape(100, 60, 2)
    np.testing.assert_allclose(actions[:, :-1], np.diff(paths, axis=1), atol=1e-6)
    assert np.all(actions[:, -1] == 0)
    np.testing.assert_allclose(demos.obs[:, :2], paths[:, 0], atol=1e-6)
    np.testing.assert_array_equal(demos.modes, modes)
    again = task.demonstrations(100, SEED)
    np.testing.assert_array_equal(again.actions, demos.actions)
    np.testing.assert_array_equal(again.obs, demos.obs)
    assert not np.array_equal(task.demonstrations(100, SEED + 1).actions, demos.actions)


def test_action_scale_scales_actions_not_paths():
    plain = make_task("sequential_decision")
    scaled = make_task("sequential_decision", action_scale=59.0)
    a, b = plain.demonstrations(50, SEED), scaled.demonstrations(50, SEED)
    np.testing.assert_allclose(b.actions, 59.0 * a.actions, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(a.obs, b.obs)
    assert scaled.rho == pytest.approx(59.0 * plain.rho, rel=1e-12)
    start = np.array([[0.5, 0.1]])
    path = rollout(scaled, _ChunkOracle(scaled, 2), start)
    np.testing.assert_allclose(path[0], scaled.mean_paths()[2], atol=1e-9)


@given(index=st.integers(0, len(PAPER_TASKS) - 1), seed=st.integers(0, 2**31),
       length=st.floats(3.0, 20.0), w=st.floats(0.1, 0.9))
def test_demonstrations_lie_in_their_modes(index, seed, length, w):
    name, params = PAPER_TASKS[index]
    K = {"sequential_decision": 4}.get(name, params.get("n_rays", 2))
    weights = np.full(K, (1 - w) / (K - 1))
    weights[0] = w
    task = make_task(name, noise_length_scale=length, mode_weights=weights, **params)
    demos = task.demonstrations(64, seed)
    labels = task.mode_labels(demos.obs, demos.actions)[:, 0]
    np.testing.assert_array_equal(labels, demos.modes)
    # The noise-free separation at the start is the chunk distance of the mean deltas.
    c = task.mean_actions().reshape(K, -1)
    d = np.linalg.norm(c[:, None] - c[None], axis=-1) + np.diag(np.full(K, np.inf))
    np.testing.assert_allclose(task.separation(demos.obs), d.min(), rtol=1e-12)


def test_noise_is_the_paper_standard_deviation():
    task = make_task("sequential_decision")
    paths, modes = task.demonstration_paths(4000, SEED)
    noise = paths - task.mean_paths()[modes]
    # Marginal std of every coordinate at every step is sigma (clipping is rare here).
    std = noise.reshape(-1, 2 * 60).std(axis=0)
    np.testing.assert_allclose(std, 0.012, rtol=0.1)


def test_shorter_horizon_windows():
    task = make_task("radial", horizon=16)
    demos = task.demonstrations(300, SEED)
    assert task.chunk_dim == 32
    # Windows are zero-padded after the episode's end.
    late = np.linalg.norm(demos.obs[:, :2] - 0.5, axis=1) > 0.39
    assert late.any() and np.all(demos.actions[late].reshape(-1, 16, 2)[:, -1] == 0)
    labels = task.mode_labels(demos.obs, demos.actions)[:, 0]
    # Off the start the mode centre is the window at the phase nearest the *noisy*
    # position, so a few chunks fall outside the (noise-sized) rho-ball; none lands in
    # another mode's ball.
    assert np.mean(labels == demos.modes) > 0.9
    assert not np.any((labels >= 0) & (labels != demos.modes))
    # At the start the windows are the first 16 steps of the rays.
    start = np.array([[0.5, 0.5]])
    np.testing.assert_allclose(task.mode_centres(start)[0],
                               task.mean_actions()[:, :16].reshape(8, -1), atol=1e-12)


@pytest.mark.parametrize("bad,match", [
    (dict(horizon=0), "horizon"), (dict(horizon=61), "horizon"),
    (dict(mode_weights=(0.5, 0.5, 0.0)), "mode_weights"),
    (dict(mode_weights=(0.2, 0.3, 0.5)), "mode_weights"),
    (dict(rho=1.0), "rho"), (dict(noise=-0.1), "noise"),
    (dict(noise_length_scale=-1), "noise_length_scale"),
])
def test_bad_arguments(bad, match):
    with pytest.raises(ValueError, match=match):
        make_task("circle", **bad)


def test_radial_bad_arguments():
    with pytest.raises(ValueError, match="noise"):
        make_task("radial", n_rays=16, noise=0.02)
    with pytest.raises(ValueError, match="n_rays"):
        make_task("radial", n_rays=1)


class _ChunkOracle:
    """Returns each mode's mean chunk at the observation (the demonstrator without noise)."""

    def __init__(self, task, mode):
        self.task, self.mode = task, mode

    def sample(self, obs, n, generator=None):
        return np.repeat(self.task.mode_centres(obs)[:, self.mode][:, None], n, axis=1)


class _Counter:
    """Chunks of constant action ``(c / 1000, 0)``, ``c`` the number of earlier queries."""

    def __init__(self, chunk_dim):
        self.calls, self.chunk_dim = 0, chunk_dim

    def sample(self, obs, n, generator=None):
        out = np.zeros((obs.shape[0], n, self.chunk_dim))
        out[..., 0::2] = self.calls / 1000
        self.calls += 1
        return out


@pytest.mark.parametrize("horizon", [60, 16, 7])
def test_rollout_of_the_oracle_retraces_the_mean_path(horizon):
    task = make_task("sequential_decision", horizon=horizon)
    start = np.array([[0.5, 0.1]])
    for k in range(4):
        path = rollout(task, _ChunkOracle(task, k), start)
        np.testing.assert_allclose(path[0], task.mean_paths()[k], atol=1e-9)


def test_rollout_temporal_ensembling_weights():
    task = make_task("circle", horizon=5)
    m = 0.3
    path = rollout(task, _Counter(task.chunk_dim), np.array([[0.5, 0.5]]), aggregation=m)
    # Query s returns action s / 1000; at step t the live queries are s = max(0, t-4)..t and the
    # oldest gets weight exp(0), the next exp(-m), ...
    x = 0.5
    for t in range(59):
        live = np.arange(max(0, t - 4), t + 1)
        w = np.exp(-m * np.arange(live.size))
        x += float(w @ live / w.sum()) / 1000
        assert path[0, t + 1, 0] == pytest.approx(x, abs=1e-9)
    np.testing.assert_allclose(path[0, :, 1], 0.5)


class _Exploding:
    """Finite chunks for the first episode, inf from the second query on for the other."""

    def __init__(self, chunk_dim):
        self.calls, self.chunk_dim = 0, chunk_dim

    def sample(self, obs, n, generator=None):
        out = np.full((obs.shape[0], n, self.chunk_dim), 0.01)
        if self.calls >= 1:
            out[1] = np.inf
        self.calls += 1
        return out


def test_rollout_stops_diverged_episodes():
    from validation.paper_metrics import expert_reference, rollout_metrics

    task = make_task("circle", horizon=10)
    start = np.array([[0.5, 0.5], [0.5, 0.5]])
    path, diverged = rollout(task, _Exploding(task.chunk_dim), start, return_diverged=True)
    np.testing.assert_array_equal(diverged, [False, True])
    assert np.all(np.isfinite(path))
    np.testing.assert_allclose(path[0, -1], 0.5 + 59 * 0.01)
    np.testing.assert_allclose(path[1, 10:], np.broadcast_to(path[1, 10], (50, 2)))
    ref = expert_reference(*task.demonstration_paths(20, SEED), 2)
    m = rollout_metrics(path, ref, diverged)
    assert m.divergence_rate == 0.5 and not m.success[1]

"""Tests of validation/paper_metrics.py on hand-built rollouts with known answers."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from validation.paper_metrics import (
    METRICS,
    TUBE_FACTOR,
    TUBE_QUANTILE,
    TUBE_SEPARATION,
    ExpertReference,
    collisions,
    expert_reference,
    max_deviation,
    mode_coverage,
    mode_entropy_ratio,
    nearest_mean_path,
    path_lengths,
    rollout_metrics,
    seed_interval,
    tube_labels,
)

T = 11
X = np.linspace(0.1, 0.9, T)


def _line(y, x=X):
    return np.stack([x, np.full_like(x, y)], axis=1)


# Two horizontal lanes y = 0.2 and y = 0.8 from x = 0.1 to 0.9; one box between x 0.45..0.55
# on the lower lane; endpoints (0.9, 0.2) and (0.9, 0.8) with radius 0.1.
REFERENCE = ExpertReference(
    mean_paths=np.stack([_line(0.2), _line(0.8)]),
    endpoint_centres=np.array([[0.9, 0.2], [0.9, 0.8]]),
    endpoint_radii=np.array([0.1, 0.1]),
    mean_path_length=0.8,
    obstacles=np.array([[0.45, 0.25, 0.55, 0.35]]),
    tube_radii=np.array([0.2, 0.2]),     # a third of the lanes' separation 0.6
)


def test_nearest_mean_path_mean_over_time():
    paths = np.stack([_line(0.3), _line(0.7), _line(0.49), _line(0.51)])
    np.testing.assert_array_equal(nearest_mean_path(paths, REFERENCE.mean_paths), [0, 1, 0, 1])
    # A path on lane 0 for 7 of 11 steps and on lane 1 for 4: mean distances 0.6*4/11 and
    # 0.6*7/11, so mode 0.
    mixed = _line(0.2)
    mixed[7:, 1] = 0.8
    assert nearest_mean_path(mixed[None], REFERENCE.mean_paths)[0] == 0


def test_coverage_and_entropy_known_values():
    assert mode_coverage([0, 0, 1], 4) == 0.5
    expected = -(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3)) / math.log(4)
    assert mode_entropy_ratio([0, 0, 1], 4) == pytest.approx(expected, rel=1e-12)
    assert mode_entropy_ratio([2, 2, 2], 3) == 0.0
    assert mode_entropy_ratio([0, 1, 2, 0, 1, 2], 3) == pytest.approx(1.0, rel=1e-12)
    assert mode_coverage([], 3) == 0.0 and mode_entropy_ratio([], 3) == 0.0


def test_success_rules_and_rates():
    good_low = _line(0.15)             # lane 0, below the box (y 0.25..0.35)
    good_high = _line(0.8)
    through = _line(0.28)              # crosses the box at x 0.45..0.55
    jump = _line(0.28, x=np.concatenate([X[:4], X[6:], [0.9, 0.9]]))  # 0.34 -> 0.58 in one step
    assert not np.any((jump[:, 0] >= 0.45) & (jump[:, 0] <= 0.55))     # no waypoint inside
    short = _line(0.8, x=np.linspace(0.6, 0.9, T))   # length 0.3 < 0.4: too short
    astray = _line(0.8, x=np.linspace(0.0, 0.75, T))  # ends 0.15 from the endpoint
    paths = np.stack([good_low, good_high, through, jump, short, astray])
    np.testing.assert_array_equal(collisions(paths, REFERENCE.obstacles),
                                  [False, False, True, True, False, False])
    np.testing.assert_allclose(path_lengths(paths)[[0, 4, 5]], [0.8, 0.3, 0.75])
    m = rollout_metrics(paths, REFERENCE)
    np.testing.assert_array_equal(m.success, [True, True, False, False, False, False])
    np.testing.assert_array_equal(m.labels, [0, 1, 0, 0, 1, 1])
    # tubes: "short" starts 0.5 from either lane's start; the others stay within 0.2
    np.testing.assert_array_equal(m.tube_labels, [0, 1, 0, 0, -1, 1])
    assert m.tube_bridge_rate == pytest.approx(1 / 6) and m.tube_valid_mode_coverage == 1.0
    assert m.collision_rate == pytest.approx(2 / 6)
    assert m.path_length_rate == pytest.approx(5 / 6)
    assert m.endpoint_reach_rate == pytest.approx(5 / 6)
    assert m.success_rate == pytest.approx(2 / 6)
    assert m.mode_coverage == 1.0 and m.mode_entropy_ratio == pytest.approx(1.0)
    assert m.valid_mode_coverage == 1.0 and m.valid_mode_entropy_ratio == pytest.approx(1.0)
    # Only lane-1 successes: valid coverage 1/2, valid entropy 0.
    only_high = rollout_metrics(np.stack([good_high, good_high, through]), REFERENCE)
    assert only_high.valid_mode_coverage == 0.5 and only_high.valid_mode_entropy_ratio == 0.0
    assert only_high.mode_coverage == 1.0
    assert rollout_metrics(through[None], REFERENCE).valid_mode_coverage == 0.0


def test_expert_reference_endpoint_radius_rule():
    rng = np.random.default_rng(5)
    n = 40
    paths = np.repeat(REFERENCE.mean_paths[[0, 1]], n // 2, axis=0).copy()
    modes = np.repeat([0, 1], n // 2)
    # Mode 0: tight endpoints (radius floor 0.1 applies); mode 1: wide spread (mean + 5 std).
    paths[:20, -1] += rng.normal(scale=0.001, size=(20, 2))
    paths[20:, -1] += rng.normal(scale=0.05, size=(20, 2))
    ref = expert_reference(paths, modes, 2, REFERENCE.obstacles)
    ends = paths[20:, -1]
    centre = ends.mean(axis=0)
    dist = np.sqrt(((ends - centre) ** 2).sum(axis=1))
    assert ref.endpoint_radii[0] == 0.1
    assert ref.endpoint_radii[1] == pytest.approx(dist.mean() + 5 * dist.std(), rel=1e-12)
    seg = np.sqrt((np.diff(paths, axis=1) ** 2).sum(-1)).sum(1)
    assert ref.mean_path_length == pytest.approx(seg.mean(), rel=1e-12)


def test_seed_interval_is_student_t():
    v = [0.2, 0.5, 0.4, 0.9]
    mean, lo, hi = seed_interval(v)
    ref = stats.t.interval(0.95, 3, loc=np.mean(v), scale=stats.sem(v))
    assert (lo, hi) == pytest.approx(ref, rel=1e-12) and mean == pytest.approx(0.5)
    assert all(math.isnan(x) for x in seed_interval([0.3])[1:])


@pytest.mark.parametrize("call,match", [
    (lambda: rollout_metrics(np.zeros((3, 5)), REFERENCE), "paths"),
    (lambda: rollout_metrics(np.full((1, T, 2), np.nan), REFERENCE), "finite"),
    (lambda: mode_coverage([0, 3], 3), "labels"),
    (lambda: mode_entropy_ratio([0], 1), "n_modes"),
    (lambda: collisions(np.zeros((1, 3, 2)), [[0.5, 0.5, 0.4, 0.6]]), "obstacles"),
    (lambda: expert_reference(np.zeros((4, 3, 2)), [0, 0, 0, 1], 2), "at least 2"),
    (lambda: seed_interval([]), "values"),
])
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def _dense_hit(p0, p1, box, n=400):
    s = np.linspace(0, 1, n)[:, None]
    q = p0 + s * (p1 - p0)
    return bool(np.any((q[:, 0] >= box[0]) & (q[:, 0] <= box[2]) & (q[:, 1] >= box[1])
                       & (q[:, 1] <= box[3])))


def _segment_box_gap(p0, p1, box, n=400):
    s = np.linspace(0, 1, n)[:, None]
    q = p0 + s * (p1 - p0)
    dx = np.maximum(np.maximum(box[0] - q[:, 0], 0), q[:, 0] - box[2])
    dy = np.maximum(np.maximum(box[1] - q[:, 1], 0), q[:, 1] - box[3])
    return float(np.min(np.hypot(dx, dy)))


coord = st.floats(0.0, 1.0, allow_nan=False)


@given(p0=st.tuples(coord, coord), p1=st.tuples(coord, coord), c=st.tuples(coord, coord),
       h=st.floats(0.01, 0.3), axis_aligned=st.booleans())
def test_segment_collision_matches_dense_sampling(p0, p1, c, h, axis_aligned):
    p0, p1 = np.array(p0), np.array(p1)
    if axis_aligned:                  # vertical segments hit the division-by-zero branch
        p1[0] = p0[0]
    box = np.array([c[0] - h, c[1] - h, c[0] + h, c[1] + h])
    hit = bool(collisions(np.stack([p0, p1])[None], box[None])[0])
    if _dense_hit(p0, p1, box):
        assert hit
    if hit:
        # A hit may fall between the dense samples only when the segment is that close.
        assert _segment_box_gap(p0, p1, box) <= np.linalg.norm(p1 - p0) / 399 + 1e-12


@given(labels=st.lists(st.integers(0, 5), min_size=1, max_size=60))
def test_entropy_ratio_bounds(labels):
    K = 6
    r = mode_entropy_ratio(labels, K)
    counts = np.bincount(labels, minlength=K)
    p = counts[counts > 0] / len(labels)
    assert r == pytest.approx(float(-(p * np.log(p)).sum() / np.log(K)), abs=1e-12)
    assert 0.0 <= r <= 1.0 + 1e-12
    assert mode_coverage(labels, K) == len(set(labels)) / K


# --------------------------------------------------------------------------- tubes


def test_tube_is_a_maximum_over_time_not_a_mean():
    """A path on lane 0 with one step 0.25 off: the paper's mean-over-time distance keeps
    it in mode 0, the tube (radius 0.2) does not; 0.15 off stays in."""
    for bump, label in ((0.25, -1), (0.15, 0)):
        path = _line(0.2)
        path[5, 1] += bump
        assert nearest_mean_path(path[None], REFERENCE.mean_paths)[0] == 0
        assert tube_labels(path[None], REFERENCE)[0] == label


def test_tube_radius_rule_by_hand():
    rng = np.random.default_rng(3)
    lanes = np.stack([_line(0.2), _line(0.5), _line(0.9)])      # separations 0.3, 0.4
    modes = np.repeat([0, 1, 2], 30)
    for spread in (0.01, 0.08):                                  # separation decides, noise
        paths = lanes[modes] + rng.normal(scale=spread, size=(90, T, 2))
        ref = expert_reference(paths, modes, 3)
        means = [paths[modes == k].mean(0) for k in range(3)]
        own = [max(np.hypot(*(p - means[k]).T)) for p, k in zip(paths, modes, strict=True)]
        floor = TUBE_FACTOR * np.quantile(own, TUBE_QUANTILE)
        for k in range(3):
            apart = min(max(np.hypot(*(means[k] - means[j]).T)) for j in range(3) if j != k)
            assert ref.tube_radii[k] == pytest.approx(max(floor, TUBE_SEPARATION * apart),
                                                      rel=1e-12)
    assert floor > TUBE_SEPARATION * 0.3          # the wide demonstrations set the floor


def _detour_paths(T=60):
    """Two modes sharing start and goal (above and below a box), as a user task has them."""
    s = np.linspace(0, 1, T)
    base = np.stack([0.1 + 0.8 * s, np.full_like(s, 0.5)], -1)
    bump = 0.25 * np.sin(np.pi * s)[:, None] * np.array([0.0, 1.0])
    return np.stack([base + bump, base - bump])


@pytest.mark.parametrize("name,params", [("circle", {}), ("sequential_decision", {}),
                                         ("radial", {"n_rays": 8}), ("radial", {"n_rays": 16}),
                                         ("detour", {})])
def test_averaged_paths_are_in_no_tube_and_demonstrations_in_their_own(name, params):
    from validation.tasks import make_task

    if name == "detour":
        means = _detour_paths()
        rng = np.random.default_rng(0)
        modes = rng.integers(0, 2, size=300)
        paths = means[modes] + rng.normal(scale=0.006, size=(300, 60, 2)).cumsum(1) * 0.2
        train, held = (paths[:200], modes[:200]), (paths[200:], modes[200:])
    else:
        task = make_task(name, action_scale=59.0, **params)
        train, held = task.demonstration_paths(64, 0), task.demonstration_paths(500, 1)
    ref = expert_reference(*train, n_modes=int(train[1].max()) + 1)
    assert np.mean(tube_labels(held[0], ref) == held[1]) >= 0.99
    # Each mode averaged with its nearest neighbour (farther pairs may average onto a
    # third mode: rays 0 and 2 of 16 onto ray 1), and all modes averaged.
    apart = max_deviation(ref.mean_paths, ref.mean_paths)
    np.fill_diagonal(apart, np.inf)
    averages = np.stack([(ref.mean_paths[k] + ref.mean_paths[apart[k].argmin()]) / 2
                         for k in range(ref.n_modes)] + [ref.mean_paths.mean(0)])
    assert np.all(tube_labels(averages, ref) == -1)
    assert np.all(nearest_mean_path(averages, ref.mean_paths) >= 0)   # the paper's names one


finite = st.floats(-3, 3, allow_nan=False)


@given(angle=st.floats(0, 2 * np.pi), shift=st.tuples(finite, finite),
       seed=st.integers(0, 2**16), scale=st.floats(0.01, 0.5))
def test_tube_labels_by_brute_force_and_isometry_invariant(angle, shift, seed, scale):
    """Each label is what the definition says (loops over modes and steps), and rotating
    and translating rollouts and experts together changes no label."""
    rng = np.random.default_rng(seed)
    means = np.stack([_line(0.2), _line(0.8), _line(0.5, x=X[::-1])])
    modes = np.repeat([0, 1, 2], 10)
    demos = means[modes] + rng.normal(scale=0.02, size=(30, T, 2))
    rollouts = means[rng.integers(0, 3, 20)] + rng.normal(scale=scale, size=(20, T, 2))
    ref = expert_reference(demos, modes, 3)
    labels = tube_labels(rollouts, ref)
    for p, label in zip(rollouts, labels, strict=True):
        dev = [max(np.linalg.norm(p[t] - ref.mean_paths[k][t]) for t in range(T))
               for k in range(3)]
        inside = [k for k in range(3) if dev[k] <= ref.tube_radii[k]]
        want = min(inside, key=lambda k: dev[k] / ref.tube_radii[k]) if inside else -1
        assert label == want
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, -s], [s, c]])

    def move(x):
        return x @ rot.T + np.asarray(shift)

    moved = expert_reference(move(demos), modes, 3)
    np.testing.assert_allclose(moved.tube_radii, ref.tube_radii, rtol=1e-9)
    np.testing.assert_array_equal(tube_labels(move(rollouts), moved), labels)
    np.testing.assert_allclose(max_deviation(move(rollouts), move(ref.mean_paths)),
                               max_deviation(rollouts, ref.mean_paths), atol=1e-12)


def test_regression_covers_no_mode_of_radial_by_tubes():
    """A trained regression policy averages the rays (mean action 0): the paper's nearest
    mean still names modes for its rollouts, the tubes name none."""
    import torch

    from validation.experiments import Training, train_policy
    from validation.tasks import make_task
    from validation.tasks.paper import rollout

    task = make_task("radial", n_rays=8, action_scale=59.0)
    paths, modes = task.demonstration_paths(500, 0)
    ref = expert_reference(paths, modes, task.n_modes, task.obstacles())
    policy, _, _ = train_policy(task, "regression", {}, Training(300, 500, (64, 64)), seed=0,
                                device="cpu")
    rolled, diverged = rollout(task, policy, task.observations(40, 0), return_diverged=True,
                               generator=torch.Generator().manual_seed(0))
    m = rollout_metrics(rolled, ref, diverged)
    assert m.mode_coverage > 0.2
    assert m.tube_mode_coverage == 0.0 and m.tube_valid_mode_coverage == 0.0
    assert m.tube_bridge_rate == 1.0
    assert set(m.values()) == set(METRICS) and all(0 <= v <= 1 for v in m.values().values())

"""The paper's mode-coverage and success metrics of rollouts (GitHub issue #6).

Given rollouts ``p^(i)_{0..T-1}`` in the unit square and expert statistics from the
demonstrations (`ExpertReference`):

- mode of a rollout: ``k(i) = argmin_k (1/T) sum_t |p^(i)_t - mbar_k(t)|`` with
  ``mbar_k`` the mean expert path of mode ``k``;
- ``mode_coverage = #{k : some k(i) = k} / K``;
  ``mode_entropy_ratio = H(k(.)) / log K`` (``H`` the entropy, in nats, of the empirical
  distribution of the assignments);
- success: no obstacle hit (each segment ``p_t p_{t+1}`` tested against each box),
  path length ``sum_t |p_{t+1} - p_t| >= 0.5 * mean expert path length``, and the final
  position within ``r_k = max(0.1, mean_j d_j + 5 std_j d_j)`` of the mean expert
  endpoint ``ebar_k`` of some mode ``k`` (``d_j = |e_j - ebar_k|`` over mode-``k``
  demonstrations);
- ``valid_mode_coverage``, ``valid_mode_entropy_ratio``: the same over successful
  rollouts only (0 when none succeeds);
- ``collision_rate``, ``endpoint_reach_rate``, ``path_length_rate``, ``success_rate``;
- ``divergence_rate`` (ours): rollouts stopped because the policy's actions blew up
  (`validation.tasks.paper.rollout`); they never count as successes.

Tube assignment (ours, next to the paper's; `tube_labels`). The nearest mean path always
names a mode, so when the modes share a start and a goal a rollout that averages them (a
regression policy, a collapsed CVAE) is labelled by whichever mean it happens to be
nearest: coverage counts modes nobody followed. A rollout is in mode ``k``'s tube when it
stays within ``r_k`` of the mean path at every step,

    D_k(p) = max_t |p_t - mbar_k(t)| <= r_k,
    r_k = max(TUBE_FACTOR * s, TUBE_SEPARATION * min_{j != k} D_k(mbar_j)),

with ``s`` the ``TUBE_QUANTILE`` quantile over the demonstrations of their own ``D``
(each against its own mode's mean path, pooled over modes), and is labelled
``argmin_k D_k(p) / r_k`` among the tubes it lies in, ``-1`` ("no mode", counted as
bridge) when it lies in none.

Why this tube. The maximum over time, not the paper's mean, is what makes it a tube: a
path that leaves a mode for a while (to pass between two) is out of it however close it
is elsewhere. An average of modes ``j`` and ``k`` lies at ``D_k(mbar_j) / 2`` from both
where they are farthest apart, so any radius below half the separation rejects it; a
third splits the gap between two neighbouring modes into own tube, bridge and the other
tube, and leaves the policy's own error room. Measured on trained policies (seed 0, 1500
steps, chunk execution; docs/bring-your-own-task.md): successful flow and CVAE rollouts
stay within 0.01-0.32 of the separation (10-90% quantiles) on circle, radial-8 and a
detour with shared start and goal, averaging regressions sit at 0.43-0.47 (circle,
detour), 0.75-0.78 (sequential decision) and 1.2-1.25 (radial). On sequential decision
the paper's success rule also accepts paths that end between two modes' endpoints (0.2
apart, radius 0.1); the tube calls those no mode. The experts' own spread (a 1.5 margin
on their 99% quantile, pooled: per-mode quantiles from 4 demonstrations per ray on
radial-16 reject 12% of held-out demonstrations) is the floor, for tasks whose
demonstrations are wide against the separation; it is 0.06-0.22 of the separation on the
paper's tasks, so there the third decides. The metrics ``tube_mode_coverage``,
``tube_mode_entropy_ratio`` (over the rollouts in a tube), their ``tube_valid_*``
versions (successful rollouts in a tube) and ``tube_bridge_rate`` (in no tube) use it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from theory import _args

METRICS = ("mode_coverage", "mode_entropy_ratio", "valid_mode_coverage",
           "valid_mode_entropy_ratio", "tube_mode_coverage", "tube_mode_entropy_ratio",
           "tube_valid_mode_coverage", "tube_valid_mode_entropy_ratio", "tube_bridge_rate",
           "success_rate", "collision_rate", "endpoint_reach_rate", "path_length_rate",
           "divergence_rate")
TUBE_QUANTILE = 0.99
TUBE_FACTOR = 1.5
TUBE_SEPARATION = 1 / 3


@dataclass(frozen=True)
class ExpertReference:
    """What the metrics need from the demonstrations.

    Attributes:
        mean_paths: ``[K, T, 2]`` mean expert path per mode.
        endpoint_centres: ``[K, 2]`` mean final position per mode.
        endpoint_radii: ``[K]`` ``max(min_radius, mean + 5 std)`` of the endpoint distances.
        mean_path_length: mean length of the expert paths.
        obstacles: ``[M, 4]`` boxes ``(x_min, y_min, x_max, y_max)``.
        tube_radii: ``[K]`` the tube radii ``r_k`` of `tube_labels` (module docstring).
    """

    mean_paths: np.ndarray
    endpoint_centres: np.ndarray
    endpoint_radii: np.ndarray
    mean_path_length: float
    obstacles: np.ndarray
    tube_radii: np.ndarray

    @property
    def n_modes(self) -> int:
        return int(self.mean_paths.shape[0])


def expert_reference(paths, modes, n_modes: int, obstacles=None, *, min_radius: float = 0.1,
                     spread_stds: float = 5.0, tube_quantile: float = TUBE_QUANTILE,
                     tube_factor: float = TUBE_FACTOR,
                     tube_separation: float = TUBE_SEPARATION) -> ExpertReference:
    """`ExpertReference` from expert episodes ``paths`` ``[N, T, 2]`` with mode labels ``[N]``.

    Every mode needs at least two demonstrations (for the endpoint spread). Tube radii:
    the larger of ``tube_factor`` times the ``tube_quantile`` of the demonstrations'
    `max_deviation` from their own mode's mean path (pooled over modes) and
    ``tube_separation`` times the mode's `max_deviation` from the nearest other mean path
    (module docstring).
    """
    paths = _paths(paths, "paths")
    modes = np.asarray(modes)
    n_modes = _args.integer_at_least(n_modes, "n_modes", 2)
    if modes.shape != (paths.shape[0],) or not np.issubdtype(modes.dtype, np.integer):
        raise ValueError(f"modes must be an integer array of shape [{paths.shape[0]}], "
                         f"got {modes.dtype} {modes.shape}")
    tube_quantile = _args.open_probability(tube_quantile, "tube_quantile")
    tube_factor = _args.positive(tube_factor, "tube_factor")
    tube_separation = _args.nonnegative(tube_separation, "tube_separation")
    counts = np.bincount(modes, minlength=n_modes)
    if modes.min() < 0 or modes.max() >= n_modes or counts.min() < 2:
        raise ValueError(f"modes must take values in [0, {n_modes - 1}] with at least 2 "
                         f"demonstrations each, got counts {counts.tolist()}")
    mean_paths = np.stack([paths[modes == k].mean(axis=0) for k in range(n_modes)])
    ends = paths[:, -1]
    centres = mean_paths[:, -1]
    radii = np.empty(n_modes)
    for k in range(n_modes):
        d = np.linalg.norm(ends[modes == k] - centres[k], axis=1)
        radii[k] = max(min_radius, d.mean() + spread_stds * d.std())
    own = max_deviation(paths, mean_paths)[np.arange(paths.shape[0]), modes]   # [N]
    apart = max_deviation(mean_paths, mean_paths)                                 # [K, K]
    np.fill_diagonal(apart, np.inf)
    tubes = np.maximum(tube_factor * np.quantile(own, tube_quantile),
                       tube_separation * apart.min(axis=1))
    return ExpertReference(mean_paths=mean_paths, endpoint_centres=centres,
                           endpoint_radii=radii,
                           mean_path_length=float(path_lengths(paths).mean()),
                           obstacles=_boxes(obstacles), tube_radii=tubes)


def nearest_mean_path(paths, mean_paths) -> np.ndarray:
    """``[N]`` the paper's mode of each rollout: the index of the mean path nearest in
    mean-over-time Euclidean distance (`numerics.assign_modes` with ``step_dim=2``)."""
    from numerics import assign_modes

    paths = _paths(paths, "paths")
    mean_paths = _paths(mean_paths, "mean_paths")
    if mean_paths.shape[1:] != paths.shape[1:]:
        raise ValueError(f"mean_paths must have shape [K, {paths.shape[1]}, 2], "
                         f"got {mean_paths.shape}")
    return assign_modes(paths.reshape(paths.shape[0], -1),
                        mean_paths.reshape(mean_paths.shape[0], -1), step_dim=2)


def max_deviation(paths, mean_paths) -> np.ndarray:
    """``[N, K]`` ``D_k(p) = max_t |p_t - mbar_k(t)|``: the farthest a path strays from
    each mean path at equal times (a tube's radius, module docstring)."""
    paths = _paths(paths, "paths")
    mean_paths = _paths(mean_paths, "mean_paths")
    if mean_paths.shape[1:] != paths.shape[1:]:
        raise ValueError(f"mean_paths must have shape [K, {paths.shape[1]}, 2], "
                         f"got {mean_paths.shape}")
    return np.linalg.norm(paths[:, None] - mean_paths[None], axis=-1).max(axis=-1)


def tube_labels(paths, reference: ExpertReference) -> np.ndarray:
    """``[N]`` the mode whose tube holds each rollout, ``-1`` for none (module docstring):
    ``argmin_k D_k / r_k`` over the tubes with ``D_k <= r_k``.

    Scaling by ``r_k`` makes the label the tube the rollout is deepest in, relative to
    the mode's own spread, where tubes overlap (near a shared start).

    Examples:
        >>> t = np.linspace(0, 1, 5)
        >>> lanes = np.stack([np.stack([t, 0 * t + y], -1) for y in (0.0, 1.0)])
        >>> ref = ExpertReference(lanes, lanes[:, -1], np.full(2, 0.1), 1.0,
        ...                       np.zeros((0, 4)), np.array([0.1, 0.1]))
        >>> middle = np.stack([t, 0 * t + 0.5], -1)
        >>> tube_labels(np.stack([lanes[1] + 0.05, middle]), ref).tolist()
        [1, -1]
    """
    scaled = max_deviation(paths, reference.mean_paths) / reference.tube_radii[None]
    labels = scaled.argmin(axis=1).astype(np.int64)
    labels[scaled.min(axis=1) > 1.0] = -1
    return labels


def mode_coverage(labels, n_modes: int) -> float:
    """Fraction of the ``K`` modes hit by at least one rollout (0 for no rollouts)."""
    labels = _labels(labels, n_modes)
    return float(np.unique(labels).size / n_modes)


def mode_entropy_ratio(labels, n_modes: int) -> float:
    """``H(labels) / log K`` in ``[0, 1]`` (1: every mode equally often; 0 for no rollouts)."""
    labels = _labels(labels, n_modes)
    if labels.size == 0:
        return 0.0
    freq = np.bincount(labels, minlength=n_modes) / labels.size
    return float(stats.entropy(freq) / np.log(n_modes))


def path_lengths(paths) -> np.ndarray:
    """``[N]`` ``sum_t |p_{t+1} - p_t|``."""
    paths = _paths(paths, "paths")
    return np.linalg.norm(np.diff(paths, axis=1), axis=-1).sum(axis=1)


def collisions(paths, obstacles) -> np.ndarray:
    """``[N]`` bool: some segment ``p_t p_{t+1}`` meets some closed box.

    Segment-box intersection by slab clipping (Liang-Barsky), so a step that jumps over
    a box counts as a hit; written here because no installed library offers a
    vectorised segment-box test.
    """
    paths = _paths(paths, "paths")
    boxes = _boxes(obstacles)
    if boxes.shape[0] == 0:
        return np.zeros(paths.shape[0], dtype=bool)
    p0 = paths[:, :-1, None, :]                              # [N, T-1, 1, 2]
    d = np.diff(paths, axis=1)[:, :, None, :]
    lo, hi = boxes[None, None, :, :2], boxes[None, None, :, 2:]
    with np.errstate(divide="ignore", invalid="ignore"):
        ta, tb = (lo - p0) / d, (hi - p0) / d
    moving = d != 0
    inside = (p0 >= lo) & (p0 <= hi)
    enter = np.where(moving, np.minimum(ta, tb), np.where(inside, -np.inf, np.inf))
    leave = np.where(moving, np.maximum(ta, tb), np.where(inside, np.inf, -np.inf))
    t_in = np.maximum(enter.max(axis=-1), 0.0)
    t_out = np.minimum(leave.min(axis=-1), 1.0)
    return (t_in <= t_out).any(axis=(1, 2))


def endpoint_reached(paths, reference: ExpertReference) -> np.ndarray:
    """``[N]`` bool: ``|p_{T-1} - ebar_k| <= r_k`` for some mode ``k``."""
    ends = _paths(paths, "paths")[:, -1]
    d = np.linalg.norm(ends[:, None] - reference.endpoint_centres[None], axis=-1)
    return (d <= reference.endpoint_radii[None]).any(axis=1)


@dataclass(frozen=True)
class RolloutMetrics:
    """The paper's metrics of one set of rollouts (`rollout_metrics`), plus the raw flags."""

    mode_coverage: float
    mode_entropy_ratio: float
    valid_mode_coverage: float
    valid_mode_entropy_ratio: float
    tube_mode_coverage: float
    tube_mode_entropy_ratio: float
    tube_valid_mode_coverage: float
    tube_valid_mode_entropy_ratio: float
    tube_bridge_rate: float
    success_rate: float
    collision_rate: float
    endpoint_reach_rate: float
    path_length_rate: float
    divergence_rate: float
    n: int
    labels: tuple[int, ...]
    success: tuple[bool, ...]
    tube_labels: tuple[int, ...]

    def values(self) -> dict[str, float]:
        """``{metric: value}`` for the names in `METRICS`."""
        return {m: getattr(self, m) for m in METRICS}


def rollout_metrics(paths, reference: ExpertReference, diverged=None) -> RolloutMetrics:
    """The paper's metrics of rollouts ``paths`` ``[N, T, 2]`` against ``reference``;
    ``diverged`` (``[N]`` bool, default none) marks rollouts that cannot succeed."""
    paths = _paths(paths, "paths")
    if paths.shape[0] == 0:
        raise ValueError("paths must hold at least one rollout")
    diverged = (np.zeros(paths.shape[0], dtype=bool) if diverged is None
                else np.asarray(diverged))
    if diverged.shape != (paths.shape[0],) or diverged.dtype != bool:
        raise ValueError(f"diverged must be a bool array of shape [{paths.shape[0]}], "
                         f"got {diverged.dtype} {diverged.shape}")
    K = reference.n_modes
    labels = nearest_mean_path(paths, reference.mean_paths)
    hit = collisions(paths, reference.obstacles)
    long_enough = path_lengths(paths) >= 0.5 * reference.mean_path_length
    reached = endpoint_reached(paths, reference)
    success = ~hit & long_enough & reached & ~diverged
    tubes = tube_labels(paths, reference)
    in_tube = tubes >= 0
    return RolloutMetrics(
        mode_coverage=mode_coverage(labels, K),
        mode_entropy_ratio=mode_entropy_ratio(labels, K),
        valid_mode_coverage=mode_coverage(labels[success], K),
        valid_mode_entropy_ratio=mode_entropy_ratio(labels[success], K),
        tube_mode_coverage=mode_coverage(tubes[in_tube], K),
        tube_mode_entropy_ratio=mode_entropy_ratio(tubes[in_tube], K),
        tube_valid_mode_coverage=mode_coverage(tubes[in_tube & success], K),
        tube_valid_mode_entropy_ratio=mode_entropy_ratio(tubes[in_tube & success], K),
        tube_bridge_rate=float(1.0 - in_tube.mean()),
        success_rate=float(success.mean()), collision_rate=float(hit.mean()),
        endpoint_reach_rate=float(reached.mean()), path_length_rate=float(long_enough.mean()),
        divergence_rate=float(diverged.mean()),
        n=int(paths.shape[0]), labels=tuple(int(v) for v in labels),
        success=tuple(bool(v) for v in success), tube_labels=tuple(int(v) for v in tubes))


def seed_interval(values, confidence: float = 0.95) -> tuple[float, float, float]:
    """``(mean, low, high)`` of a metric over training seeds: Student-t interval.

    One seed gives ``(v, nan, nan)``: no interval without replication.
    """
    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"values must be a non-empty 1-D sequence, got shape {v.shape}")
    confidence = _args.open_probability(confidence, "confidence")
    mean = float(v.mean())
    if v.size == 1:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf(0.5 + confidence / 2, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size))
    return mean, mean - half, mean + half


def _paths(x, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    if a.ndim != 3 or a.shape[2] != 2 or a.shape[1] < 2:
        raise ValueError(f"{name} must have shape [N, T, 2] with T >= 2, got {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} must be finite (found NaN or inf)")
    return a


def _boxes(obstacles) -> np.ndarray:
    b = np.zeros((0, 4)) if obstacles is None else np.asarray(obstacles, dtype=float)
    if b.size == 0:
        return np.zeros((0, 4))
    if b.ndim != 2 or b.shape[1] != 4 or not np.all(b[:, :2] <= b[:, 2:]):
        raise ValueError("obstacles must have shape [M, 4] with rows (x_min, y_min, x_max, "
                         f"y_max), x_min <= x_max and y_min <= y_max; got shape {b.shape}")
    return b


def _labels(labels, n_modes: int) -> np.ndarray:
    n_modes = _args.integer_at_least(n_modes, "n_modes", 2)
    a = np.asarray(labels)
    if a.size == 0:
        return a.astype(np.int64).reshape(0)
    if a.ndim != 1 or not np.issubdtype(a.dtype, np.integer) or a.min() < 0 or a.max() >= n_modes:
        raise ValueError(f"labels must be a 1-D integer array with values in [0, {n_modes - 1}]")
    return a


__all__ = ["METRICS", "TUBE_FACTOR", "TUBE_QUANTILE", "TUBE_SEPARATION", "ExpertReference",
           "RolloutMetrics", "collisions", "endpoint_reached", "expert_reference",
           "max_deviation", "mode_coverage", "mode_entropy_ratio", "nearest_mean_path",
           "path_lengths", "rollout_metrics", "seed_interval", "tube_labels"]

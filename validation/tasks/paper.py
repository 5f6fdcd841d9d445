"""The paper's unit-square navigation benchmark: circle, conditional circle, sequential
decision, radial (GitHub issue #6; Rodriguez et al., arXiv 2605.22493, synthetic tasks).

A point moves in the unit square for ``T = 60`` steps. Mode ``k`` has a noise-free mean
path ``m_k(0..T-1)`` (`PaperTask.mean_paths`); a demonstration draws ``k ~ w``, adds
Gaussian path noise ``n_t`` and records the position deltas
``a_t = p_{t+1} - p_t`` (``a_{T-1} = 0``). The observation is the current position
(plus a one-hot context for ``conditional_circle``), the action chunk is the next ``H``
deltas flattened time-major (``H = T`` by default: one chunk is the whole episode,
observation horizon 1). ``action_scale`` multiplies the actions (default 1; see
`PaperTask`).

Geometry (`mean_paths`, `obstacles`):

- ``circle``: circles of radius 0.2 centred at (0.5, 0.3) and (0.5, 0.7), tangent at the
  start (0.5, 0.5); one clockwise loop ``m_k(t) = c_k + r (cos th, sin th)`` with
  ``th = th_k - 2 pi t / (T - 1)`` (``th = -pi/2`` for the upper, ``+pi/2`` for the lower).
- ``conditional_circle``: the same two loops; the observation carries ``onehot(k)``, so
  the demonstrator is unimodal given the observation (the control task).
- ``sequential_decision``: from (0.5, 0.1) straight up at constant speed to y = 0.9;
  at y = 0.4 the path shifts laterally by ``+-0.25`` and at y = 0.7 by a further
  ``+-0.15`` (each shift a smoothstep over 0.1 in y): modes LL, LR, RL, RR.
- ``radial``: ``K`` rays ``m_k(t) = (0.5, 0.5) + 0.4 t/(T-1) u_k``, ``u_k`` at angle
  ``2 pi k / K``; an axis-aligned square obstacle of half-size
  ``h = (0.2 sin(pi/K) - 3 sigma) / sqrt(2)`` centred between neighbouring rays at
  distance 0.2 from the centre. Its circumradius ``sqrt(2) h`` is ``3 sigma`` less than
  the distance ``0.2 sin(pi/K)`` from its centre to either ray, so no mean path comes
  within ``3 sigma`` of an obstacle. The mean action over modes is zero: regression
  fails by construction.

Path noise (our reading, see docs/paper-benchmark.md). Each coordinate of ``n_t`` is a
stationary Gaussian process with standard deviation ``sigma`` (the paper's value) and
squared-exponential correlation ``exp(-(s - t)^2 / (2 l^2))``, ``l = noise_length_scale``
steps (default 10; ``l = 0`` is white noise). White position noise makes the deltas
noisier than the motion itself (radial: per-step motion 0.0068, delta noise
``sqrt(2) 0.006``), and then the modes are not separated in chunk space at all
(radial ``K = 8``: chunk separation 0.040 against a noise norm of about 0.09), so Part T
would have nothing to measure. As in every task of the package the chunk noise is
radially clipped at ``rho`` (by scaling the whole path noise), so every demonstration
lies in its mode's ``rho``-ball; with the default length scale the clip is rarely active.

Chunks shorter than the episode (``horizon < T``): a demonstration is the window of a
uniformly drawn start step ``t0 in [0, T - 1]``, zero-padded past the end of the episode
(the point has stopped, as Diffusion Policy pads); the mode centres at an observation
are the windows of each mode's mean deltas at the step of its mean path nearest to the
observed position (earliest on ties). On ``circle`` the loop ends where it starts, so
with short chunks an observation near the start is ambiguous (start or finished loop):
a property of the task, which the paper's ``H = T`` avoids.
"""

from __future__ import annotations

import abc

import numpy as np
from scipy import linalg

from theory import _args
from validation.execution import ChunkExecutor
from validation.tasks.base import (
    NOISE_QUANTILE,
    Demonstrations,
    Task,
    check_rho_noise,
    clip_scale,
    default_tolerance,
)

EPISODE_LENGTH = 60
START = np.array([0.5, 0.5])
DIVERGED = 1e3   # |position| beyond which a rollout counts as diverged (the square is [0, 1]^2)


class _FinishedAfterInit(abc.ABCMeta):
    """Runs ``_finish_init()`` once the whole ``__init__`` chain has returned, so that the
    base constructor never calls an overridable method (`mean_paths`) before a subclass
    has set the attributes that method reads (before or after ``super().__init__()``)."""

    def __call__(cls, *args, **kwargs):
        obj = super().__call__(*args, **kwargs)
        obj._finish_init()
        return obj


class PaperTask(Task, metaclass=_FinishedAfterInit):
    """A unit-square navigation task of the paper (see the module docstring).

    Subclasses set ``name`` and ``default_noise`` (or pass ``noise``) and implement
    `mean_paths`; `obstacles` defaults to none. ``n_modes`` is the number of mean paths.
    The geometry is read after the subclass's ``__init__`` has run (`_finish_init`), so a
    subclass may set its own attributes before or after calling ``super().__init__``.

    Args (common):
        horizon: prediction horizon ``H`` in ``[1, 60]`` (chunk = next ``H`` deltas).
        mode_weights: mode probabilities (default balanced).
        noise: path-noise standard deviation ``sigma`` (default: the paper's).
        noise_length_scale: correlation length of the path noise in steps (``>= 0``).
        action_scale: actions are ``action_scale * (p_{t+1} - p_t)`` (default 1: the
            literal deltas; the suite uses ``T - 1``, "unit square per episode", so that
            chunks are O(1) for policies that start from ``N(0, I)``, as Diffusion Policy
            normalises its actions). `rollout` divides it out.
        rho: mode tolerance in chunk space, default ``clip(Delta / 4, r, 0.45 Delta)``
            (`default_tolerance`) with ``r`` the 99.9% quantile of the chunk noise's norm
            (Monte Carlo at construction) and ``Delta`` the smallest chunk separation at the
            start; must be ``< Delta / 2``.
    """

    action_dim = 2
    episode_length = EPISODE_LENGTH
    context_dim = 0
    default_noise: float

    def __init__(self, horizon: int = EPISODE_LENGTH, mode_weights=None,
                 noise: float | None = None, noise_length_scale: float = 10.0,
                 action_scale: float = 1.0, rho: float | None = None):
        # Arguments only: everything that reads the geometry waits for `_finish_init`.
        self.horizon = _args.integer_at_least(horizon, "horizon", 1, self.episode_length)
        self._mode_weights = (None if mode_weights is None
                              else _args.weight_vector(mode_weights, "mode_weights"))
        self.noise_length_scale = _args.nonnegative(noise_length_scale, "noise_length_scale")
        self.action_scale = _args.positive(action_scale, "action_scale")
        self._noise_arg = None if noise is None else _args.nonnegative(noise, "noise")
        self._rho_arg = rho

    def _finish_init(self) -> None:
        """Read `mean_paths` and derive ``n_modes``, the weights, the noise radius and
        ``rho`` (called once the subclass's constructor has returned)."""
        T = self.episode_length
        self.obs_dim = 2 + self.context_dim
        paths = np.asarray(self.mean_paths(), dtype=np.float64)
        if paths.ndim != 3 or paths.shape[1:] != (T, 2) or paths.shape[0] < 2:
            raise ValueError(f"{type(self).__name__}.mean_paths() must return shape [K, {T}, 2] "
                             f"with K >= 2 modes, got {paths.shape}")
        if not np.all(np.isfinite(paths)):
            raise ValueError(f"{type(self).__name__}.mean_paths() must be finite")
        K = paths.shape[0]
        declared = getattr(self, "n_modes", None)
        if declared is not None and declared != K:
            raise ValueError(f"{type(self).__name__}: n_modes = {declared} but mean_paths() "
                             f"returns {K} paths; drop n_modes (it is read from the paths)")
        self.n_modes = K
        if self.context_dim > K:
            raise ValueError(f"context_dim must be at most n_modes = {K} (the context is "
                             f"the mode's one-hot), got {self.context_dim}")
        self.weights = (np.full(K, 1.0 / K) if self._mode_weights is None
                        else self._mode_weights)
        if self.weights.size != K:
            raise ValueError(f"mode_weights must have {K} entries for {self.name}, "
                             f"got {self.weights.size}")
        noise = self._noise_arg
        if noise is None:
            if not hasattr(self, "default_noise"):
                raise ValueError(f"{type(self).__name__} has no default_noise: pass noise= "
                                 "or set the class attribute default_noise")
            noise = self.default_noise
        self._paths = paths
        self._actions = self.action_scale * deltas(paths)              # [K, T, 2]
        start_obs = np.concatenate([paths[:, 0], np.eye(K)[:, :self.context_dim]], axis=1)
        delta = float(self.separation(start_obs).min())
        self.noise = _args.nonnegative(noise, "noise")
        self._noise_factor = _noise_factor(T, self.noise_length_scale)
        self._noise_radius = self._chunk_noise_quantile(NOISE_QUANTILE)
        default = default_tolerance(self._noise_radius, delta)
        rho = self._rho_arg
        if delta > 0:
            self.rho, self.noise = check_rho_noise(default if rho is None else rho, noise,
                                                   delta)
        else:
            # The modes coincide at the start (windows before a fork): unimodal there, so no
            # separation constrains rho.
            self.rho = _args.positive(default if rho is None else rho, "rho")

    def _chunk_noise_quantile(self, quantile: float, n: int = 20_000) -> float:
        """The ``quantile`` of the norm of the (unclipped) chunk noise, by Monte Carlo with
        a fixed seed (no closed form for a windowed, scaled Gaussian-process delta)."""
        T = self.episode_length
        rng = np.random.default_rng(20261201)
        t0 = (np.zeros(n, dtype=np.int64) if self.horizon == T
              else rng.integers(0, T, size=n))
        # a batched matmul (BLAS), not einsum: 20x faster, and every task builds this
        noise = self.noise * np.matmul(self._noise_factor, rng.standard_normal((n, T, 2)))
        d = self.action_scale * deltas(noise)
        if self.horizon == T:   # one window, the whole episode: nothing to pad or gather
            chunk = d
        else:
            window = t0[:, None] + np.arange(self.horizon)
            chunk = _pad_episode(d, self.horizon)[np.arange(n)[:, None], window]
        return float(np.quantile(np.linalg.norm(chunk.reshape(n, -1), axis=1), quantile))

    # ------------------------------------------------------------------ geometry

    def mean_paths(self) -> np.ndarray:
        """``[K, T, 2]`` the noise-free expert path of each mode."""
        raise NotImplementedError

    def obstacles(self) -> np.ndarray:
        """``[M, 4]`` axis-aligned boxes ``(x_min, y_min, x_max, y_max)`` (none by default)."""
        return np.zeros((0, 4))

    def mean_actions(self) -> np.ndarray:
        """``[K, T, 2]`` the mean paths' actions: ``action_scale`` times the deltas."""
        return self._actions.copy()

    # ------------------------------------------------------------------ Task interface

    def _sample_obs(self, n: int, rng: np.random.Generator) -> np.ndarray:
        modes = rng.choice(self.n_modes, size=n, p=self.weights)
        pos = self._paths[modes, 0] + rng.normal(scale=self.noise, size=(n, 2))
        return np.concatenate([pos, self._context(modes)], axis=1)

    def _context(self, modes: np.ndarray) -> np.ndarray:
        return np.eye(self.n_modes)[modes][:, :self.context_dim]

    def _phases(self, pos: np.ndarray) -> np.ndarray:
        """``[B, K]`` step of each mode's mean path nearest to ``pos`` (earliest on ties)."""
        if self.horizon == self.episode_length:
            return np.zeros((pos.shape[0], self.n_modes), dtype=np.int64)
        d = np.linalg.norm(pos[:, None, None, :] - self._paths[None], axis=-1)
        return d.argmin(axis=-1)

    def mode_centres(self, obs: np.ndarray) -> np.ndarray:
        obs = self._check_obs(obs)
        phase = self._phases(obs[:, :2])                                 # [B, K]
        steps = phase[..., None] + np.arange(self.horizon)                # [B, K, H]
        padded = _pad_episode(self._actions, self.horizon)
        c = padded[np.arange(self.n_modes)[None, :, None], steps]         # [B, K, H, 2]
        return c.reshape(obs.shape[0], self.n_modes, self.chunk_dim)

    def demonstration_paths(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """``([n, T, 2] positions, [n] modes)`` of the full noisy expert episodes.

        These are the episodes `demonstrations` cuts its chunks from (same seed, same
        draws), for the metrics' expert statistics.
        """
        paths, modes, _ = self._draw(_args.integer_at_least(n, "n", 1), seed)
        return paths, modes

    def demonstrations(self, n: int, seed: int) -> Demonstrations:
        n = _args.integer_at_least(n, "n", 1)
        paths, modes, t0 = self._draw(n, seed)
        d = _pad_episode(self.action_scale * deltas(paths), self.horizon)
        window = t0[:, None] + np.arange(self.horizon)
        chunks = d[np.arange(n)[:, None], window].reshape(n, self.chunk_dim)
        obs = np.concatenate([paths[np.arange(n), t0], self._context(modes)], axis=1)
        return Demonstrations(obs=obs.astype(np.float32), actions=chunks.astype(np.float32),
                              modes=modes.astype(np.int64))

    def _draw(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        T = self.episode_length
        rng = np.random.default_rng([_args.integer_at_least(seed, "seed", 0), 0])
        modes = rng.choice(self.n_modes, size=n, p=self.weights)
        t0 = (np.zeros(n, dtype=np.int64) if self.horizon == T
              else rng.integers(0, T, size=n))
        # a batched matmul (BLAS), not einsum: 20x faster, and every task builds this
        noise = self.noise * np.matmul(self._noise_factor, rng.standard_normal((n, T, 2)))
        # Clip the chunk part of the noise radially at rho (every demonstration in
        # M_k^rho) by scaling the whole path noise, so the path stays a Gaussian-process
        # path up to one scalar.
        window = t0[:, None] + np.arange(self.horizon)
        chunk_noise = _pad_episode(self.action_scale * deltas(noise),
                                   self.horizon)[np.arange(n)[:, None], window]
        scale = clip_scale(chunk_noise.reshape(n, -1), self.noise_radius)
        paths = self._paths[modes] + scale[:, None, None] * noise
        return paths, modes, t0

    def demonstrations_at(self, obs: np.ndarray, n_per_obs: int, seed: int) -> Demonstrations:
        """``n_per_obs`` demonstrations at each observation: the mode centre at ``o`` plus
        this task's own chunk noise (windowed, scaled deltas of the Gaussian-process path
        noise, clipped as in `demonstrations`), not a generic per-element noise. The path
        noise is drawn unconditionally: its value at the observed position shifts every
        position of a path alike and so does not enter the deltas, but its correlation
        with the first deltas is ignored."""
        obs = self._check_obs(obs)
        n_per_obs = _args.integer_at_least(n_per_obs, "n_per_obs", 1)
        rng = np.random.default_rng([_args.integer_at_least(seed, "seed", 0), 2])
        rep = np.repeat(obs, n_per_obs, axis=0)
        n, T = rep.shape[0], self.episode_length
        modes = rng.choice(self.n_modes, size=n, p=self.weights)
        centres = self.mode_centres(rep)[np.arange(n), modes]
        # a batched matmul (BLAS), not einsum: 20x faster, and every task builds this
        noise = self.noise * np.matmul(self._noise_factor, rng.standard_normal((n, T, 2)))
        phase = self._phases(rep[:, :2])[np.arange(n), modes]
        window = phase[:, None] + np.arange(self.horizon)
        xi = _pad_episode(self.action_scale * deltas(noise),
                          self.horizon)[np.arange(n)[:, None], window].reshape(n, -1)
        xi = xi * clip_scale(xi, self.noise_radius)[:, None]
        return Demonstrations(obs=rep.astype(np.float32),
                              actions=(centres + xi).astype(np.float32),
                              modes=modes.astype(np.int64))

    def observation_at(self, pos: np.ndarray, start_obs: np.ndarray) -> np.ndarray:
        """``[B, obs_dim]`` observation at positions ``pos`` ``[B, 2]`` of an episode that
        started at ``start_obs`` (the context, if any, stays)."""
        return np.concatenate([pos, start_obs[:, 2:]], axis=1)


class Circle(PaperTask):
    """Two tangent circles, one clockwise loop around either (the paper's ``circle``)."""

    name = "circle"
    n_modes = 2
    default_noise = 0.008
    centres = np.array([[0.5, 0.7], [0.5, 0.3]])
    radius = 0.2

    def mean_paths(self) -> np.ndarray:
        T = self.episode_length
        start_angle = np.array([-np.pi / 2, np.pi / 2])
        th = start_angle[:, None] - 2 * np.pi * np.arange(T)[None, :] / (T - 1)
        return self.centres[:, None, :] + self.radius * np.stack([np.cos(th), np.sin(th)], -1)


class ConditionalCircle(Circle):
    """`Circle` with a one-hot context ``(upper, lower)`` in the observation."""

    name = "conditional_circle"
    context_dim = 2


class SequentialDecision(PaperTask):
    """Two successive forks, at y = 0.4 (``+-0.25``) and y = 0.7 (``+-0.15``): LL, LR, RL, RR."""

    name = "sequential_decision"
    n_modes = 4
    default_noise = 0.012
    start = np.array([0.5, 0.1])
    end_y = 0.9
    forks = ((0.4, 0.25), (0.7, 0.15))   # (y of the fork, lateral offset)
    transition = 0.1                     # the offset is a smoothstep over this rise in y

    def mean_paths(self) -> np.ndarray:
        T = self.episode_length
        y = self.start[1] + (self.end_y - self.start[1]) * np.arange(T) / (T - 1)
        signs = np.array([[-1, -1], [-1, 1], [1, -1], [1, 1]], dtype=float)  # LL LR RL RR
        x = np.full((self.n_modes, T), self.start[0])
        for j, (y_fork, offset) in enumerate(self.forks):
            u = np.clip((y - y_fork) / self.transition, 0.0, 1.0)
            x = x + signs[:, j:j + 1] * offset * (3 * u ** 2 - 2 * u ** 3)[None]
        return np.stack([x, np.broadcast_to(y, x.shape)], axis=-1)


class Radial(PaperTask):
    """``K`` straight rays of length 0.4 from the centre, square obstacles between them."""

    name = "radial"
    default_noise = 0.006
    length = 0.4

    def __init__(self, n_rays: int = 8, **params):
        self.n_modes = _args.integer_at_least(n_rays, "n_rays", 2)
        noise = params.get("noise")
        sigma = self.default_noise if noise is None else noise
        if not 0.2 * np.sin(np.pi / self.n_modes) - 3 * sigma > 0:
            raise ValueError(f"noise must be below 0.2 sin(pi/K) / 3 = "
                             f"{0.2 * np.sin(np.pi / self.n_modes) / 3:.4g} so that the "
                             f"obstacles of the {self.n_modes}-ray task exist, got {sigma!r}")
        super().__init__(**params)

    @property
    def obstacle_half_size(self) -> float:
        """``h = (0.2 sin(pi/K) - 3 sigma) / sqrt(2)``."""
        return float((0.2 * np.sin(np.pi / self.n_modes) - 3 * self.noise) / np.sqrt(2))

    def ray_angles(self) -> np.ndarray:
        return 2 * np.pi * np.arange(self.n_modes) / self.n_modes

    def mean_paths(self) -> np.ndarray:
        T = self.episode_length
        u = np.stack([np.cos(self.ray_angles()), np.sin(self.ray_angles())], -1)
        r = self.length * np.arange(T) / (T - 1)
        return START + r[None, :, None] * u[:, None, :]

    def obstacles(self) -> np.ndarray:
        phi = self.ray_angles() + np.pi / self.n_modes
        centre = START + 0.5 * self.length * np.stack([np.cos(phi), np.sin(phi)], -1)
        h = self.obstacle_half_size
        return np.concatenate([centre - h, centre + h], axis=1)


def rollout(task: PaperTask, policy, start_obs: np.ndarray, *, aggregation: float | None = None,
            generator=None, return_diverged: bool = False):
    """``[B, T, 2]`` positions of one closed-loop episode per start observation.

    The point moves by the policy's actions, ``p_{t+1} = p_t + a_t / action_scale``, for
    ``T - 1`` steps.
    ``aggregation=None``: the policy is queried at ``p_0, p_H, p_{2H}, ..`` and each
    predicted chunk is executed open loop. ``aggregation=m``: the policy is queried at
    every step and the action at step ``t`` is the average of every chunk predicted at
    ``s <= t < s + H``, weighted ``exp(-m i)`` with ``i = 0`` the oldest prediction
    (ACT's temporal ensembling, Zhao et al. 2023; the paper uses ``m = 0.01``).

    Divergence: an episode whose action is not finite or whose position leaves
    ``[-DIVERGED, DIVERGED]^2`` stops there (the point stays at its last valid position,
    and the policy is still queried there, so the other episodes of the batch go on);
    with ``return_diverged=True`` the ``[B]`` bool mask of such episodes is returned too,
    for the metrics to count them as failures (`paper_metrics.rollout_metrics`).

    Args:
        task: a `PaperTask`. policy: anything with ``sample(obs [B, obs_dim], n,
            generator) -> [B, n, chunk_dim]`` (torch or NumPy out).
        start_obs: ``[B, obs_dim]`` (e.g. ``task.observations(B, seed)``).
        aggregation: ``None`` or the ensembling rate ``m >= 0``.
        generator: the torch generator passed to ``policy.sample`` (seeds the rollouts).
    Returns: positions ``[B, T, 2]``, and the diverged mask ``[B]`` if asked for.
    """
    start_obs = task._check_obs(start_obs)
    if aggregation is not None:
        aggregation = _args.nonnegative(aggregation, "aggregation")
    T, H, B = task.episode_length, task.horizon, start_obs.shape[0]
    executor = ChunkExecutor(H, ensemble=aggregation)
    pos = np.zeros((B, T, 2))
    pos[:, 0] = start_obs[:, :2]
    diverged = np.zeros(B, dtype=bool)
    for t in range(T - 1):
        if executor.query_due(t):
            obs = task.observation_at(pos[:, t], start_obs).astype(np.float32)
            out = policy.sample(obs, 1, generator=generator)
            out = out.detach().cpu().numpy() if hasattr(out, "detach") else np.asarray(out)
            executor.add(t, out[:, 0].astype(np.float64).reshape(B, H, 2))
        action = executor.action(t)
        step = pos[:, t] + action / task.action_scale
        bad = ~np.all(np.isfinite(step) & (np.abs(step) <= DIVERGED), axis=1)
        diverged |= bad
        pos[:, t + 1] = np.where(diverged[:, None], pos[:, t], step)
    return (pos, diverged) if return_diverged else pos


def deltas(paths: np.ndarray) -> np.ndarray:
    """``[..., T, 2]`` position deltas ``a_t = p_{t+1} - p_t`` with ``a_{T-1} = 0``."""
    d = np.zeros_like(paths)
    d[..., :-1, :] = np.diff(paths, axis=-2)
    return d


def _pad_episode(d: np.ndarray, horizon: int) -> np.ndarray:
    """``[..., T + H - 1, 2]``: the deltas followed by zeros (the episode has ended)."""
    pad = np.zeros((*d.shape[:-2], horizon - 1, 2))
    return np.concatenate([d, pad], axis=-2)


def _noise_factor(T: int, length_scale: float) -> np.ndarray:
    """``[T, T]`` ``F`` with ``F F^T = C``, ``C_st = exp(-(s - t)^2 / (2 l^2))``.

    The squared-exponential Gram matrix is numerically singular for long length scales,
    so a symmetric square root from the eigendecomposition (negative round-off
    eigenvalues set to 0) replaces the Cholesky factor; the marginal variance stays 1
    up to round-off.
    """
    if length_scale == 0:
        return np.eye(T)
    s = np.arange(T)
    cov = np.exp(-((s[:, None] - s[None, :]) ** 2) / (2 * length_scale ** 2))
    vals, vecs = linalg.eigh(cov)
    return (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T


__all__ = ["EPISODE_LENGTH", "Circle", "ConditionalCircle", "PaperTask", "Radial",
           "SequentialDecision", "deltas", "rollout"]

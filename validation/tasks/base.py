"""The task interface: a conditional demonstrator whose modes are known exactly.

A task maps an observation ``o`` to ``K`` point modes ``c_1(o) .. c_K(o)`` in chunk
space ``R^D`` (``D = horizon * action_dim``, flattened time-major) with weights
``w_k``. The demonstrator draws a mode ``k ~ w`` and returns ``c_k(o) + xi`` where the
noise ``xi`` is Gaussian, radially clipped to norm ``<= noise_radius <= rho``: every
demonstration lies in ``M_k^rho = {a : |a - c_k(o)| <= rho}`` (docs/theory.md, Notation).
Because the modes are known, mode masses, bridge mass and distances to the
demonstrator are exact functions of policy samples (`Task.mode_labels`).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np

from theory import _args


@dataclass(frozen=True)
class Demonstrations:
    """A demonstration set.

    Attributes:
        obs: ``[N, obs_dim]`` float32 observations.
        actions: ``[N, chunk_dim]`` float32 action chunks, ``chunk_dim = horizon *
            action_dim``, flattened time-major (step 0's action first).
        modes: ``[N]`` int, the demonstrator's mode index of each chunk.
    """

    obs: np.ndarray
    actions: np.ndarray
    modes: np.ndarray

    def __len__(self) -> int:
        return int(self.obs.shape[0])


class Task(abc.ABC):
    """A synthetic multimodal task with known point modes.

    Subclasses set ``name, obs_dim, action_dim, horizon, n_modes, weights, rho,
    noise`` and implement `_sample_obs` and `mode_centres`.
    """

    name: str
    obs_dim: int
    action_dim: int
    horizon: int
    n_modes: int
    weights: np.ndarray
    rho: float
    noise: float  # per-element std of the demonstration noise (before radial clipping)

    @property
    def chunk_dim(self) -> int:
        return self.horizon * self.action_dim

    @property
    def noise_radius(self) -> float:
        """Demonstration noise is radially clipped to this norm (``<= rho``): the
        `NOISE_QUANTILE` quantile of the noise norm where the task knows it
        (`noise_quantile_radius`), else ``rho``."""
        return min(getattr(self, "_noise_radius", self.rho), self.rho)

    def _set_tolerance(self, rho: float | None, noise: float, min_separation: float) -> None:
        """Set ``noise`` and ``rho`` (checked, `check_rho_noise`) and the noise's clipping
        radius (`noise_quantile_radius` in chunk space); ``rho=None`` takes
        `default_tolerance` of that radius and ``min_separation``."""
        self._noise_radius = noise_quantile_radius(noise, self.chunk_dim)
        default = default_tolerance(self._noise_radius, min_separation)
        self.rho, self.noise = check_rho_noise(default if rho is None else rho, noise,
                                               min_separation)

    @abc.abstractmethod
    def _sample_obs(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``[n, obs_dim]`` float64 observations."""

    @abc.abstractmethod
    def mode_centres(self, obs: np.ndarray) -> np.ndarray:
        """``[B, K, chunk_dim]`` the noise-free expert chunk of each mode."""

    def observations(self, n: int, seed: int) -> np.ndarray:
        """``[n, obs_dim]`` float32 evaluation observations, deterministic in ``seed``.

        Evaluation observations use a stream independent of `demonstrations` at the
        same seed (a distinct spawn key), so train and test sets never coincide.
        """
        n = _args.integer_at_least(n, "n", 1)
        rng = np.random.default_rng([_seed(seed), 1])
        return self._sample_obs(n, rng).astype(np.float32)

    def demonstrations(self, n: int, seed: int) -> Demonstrations:
        """``n`` demonstrations ``(o, c_k(o) + xi, k)``, ``k ~ weights``; deterministic in seed."""
        n = _args.integer_at_least(n, "n", 1)
        rng = np.random.default_rng([_seed(seed), 0])
        obs = self._sample_obs(n, rng)
        modes = rng.choice(self.n_modes, size=n, p=self.weights)
        centres = self.mode_centres(obs)[np.arange(n), modes]
        xi = clipped_noise(rng, centres.shape, self.noise, self.noise_radius)
        return Demonstrations(obs=obs.astype(np.float32),
                              actions=(centres + xi).astype(np.float32),
                              modes=modes.astype(np.int64))

    def demonstrations_at(self, obs: np.ndarray, n_per_obs: int, seed: int) -> Demonstrations:
        """``n_per_obs`` demonstrations at each observation of ``obs`` (``[B, obs_dim]``),
        grouped by observation: the demonstrator at fixed observations (mode ``k ~ w``,
        chunk ``c_k(o) + xi``, the same clipped noise as `demonstrations`, which draws a
        fresh observation per chunk). Tasks with their own noise model override it."""
        obs = self._check_obs(obs)
        n_per_obs = _args.integer_at_least(n_per_obs, "n_per_obs", 1)
        rng = np.random.default_rng([_seed(seed), 2])
        rep = np.repeat(obs, n_per_obs, axis=0)
        modes = rng.choice(self.n_modes, size=rep.shape[0], p=self.weights)
        centres = self.mode_centres(rep)[np.arange(rep.shape[0]), modes]
        xi = clipped_noise(rng, centres.shape, self.noise, self.noise_radius)
        return Demonstrations(obs=rep.astype(np.float32),
                              actions=(centres + xi).astype(np.float32),
                              modes=modes.astype(np.int64))

    def pairwise_separation(self, obs: np.ndarray) -> np.ndarray:
        """``[B, K, K]`` distances ``Delta_ij(o) = |c_i(o) - c_j(o)|`` (zero diagonal)."""
        c = self.mode_centres(self._check_obs(obs))
        return np.linalg.norm(c[:, :, None, :] - c[:, None, :, :], axis=-1)

    def separation(self, obs: np.ndarray) -> np.ndarray:
        """``[B]`` the minimum pairwise distance ``Delta(o) = min_{i != j} Delta_ij(o)``."""
        d = self.pairwise_separation(obs)
        d[:, np.arange(self.n_modes), np.arange(self.n_modes)] = np.inf
        return d.min(axis=(1, 2))

    def mode_distances(self, obs: np.ndarray, chunks: np.ndarray) -> np.ndarray:
        """``[B, n, K]`` distance of each chunk to each mode centre (`numerics.mode_distances`).

        Args:
            obs: ``[B, obs_dim]``.
            chunks: ``[B, n, chunk_dim]`` (e.g. `Policy.sample` output) or ``[B, chunk_dim]``.
        """
        from numerics import mode_distances

        obs, chunks = self._check_chunks(obs, chunks)
        return mode_distances(chunks, self.mode_centres(obs))

    def mode_labels(self, obs: np.ndarray, chunks: np.ndarray, rho: float | None = None
                    ) -> np.ndarray:
        """``[B, n]`` int: the mode ``k`` with ``|a - c_k(o)| <= rho``, or ``-1`` (bridge)
        (`numerics.assign_modes`, default ``rho`` the task's).

        The balls are disjoint when ``rho < Delta(o) / 2``, so the label is unique.
        """
        from numerics import assign_modes

        obs, chunks = self._check_chunks(obs, chunks)
        return assign_modes(chunks, self.mode_centres(obs), self.rho if rho is None else rho)

    def _check_chunks(self, obs: np.ndarray, chunks: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
        obs = self._check_obs(obs)
        chunks = np.asarray(chunks, dtype=np.float64)
        if chunks.ndim == 2:
            chunks = chunks[:, None, :]
        if chunks.ndim != 3 or chunks.shape[0] != obs.shape[0] or chunks.shape[2] != self.chunk_dim:
            raise ValueError(
                f"chunks must have shape [B, n, {self.chunk_dim}] with B = {obs.shape[0]}, "
                f"got {chunks.shape}")
        return obs, chunks

    def _check_obs(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float64)
        if obs.ndim != 2 or obs.shape[1] != self.obs_dim:
            raise ValueError(f"obs must have shape [B, {self.obs_dim}], got {obs.shape}")
        return obs

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(name={self.name!r}, horizon={self.horizon}, "
                f"action_dim={self.action_dim}, n_modes={self.n_modes}, "
                f"weights={np.round(self.weights, 4).tolist()}, rho={self.rho:.4g})")


def clip_scale(noise: np.ndarray, radius: float) -> np.ndarray:
    """``[...]`` the factor ``min(1, r / |xi|)`` that radially clips each row ``xi`` of
    ``noise`` ``[..., D]`` into the closed ball of radius ``r = radius (1 - 1e-5)``.

    Radial clipping keeps every demonstration inside its mode's ``rho``-ball, so
    "demonstrations lie in their modes" holds surely, not just with high probability;
    the 1e-5 margin absorbs the float32 rounding of stored chunks.
    """
    norm = np.linalg.norm(noise, axis=-1)
    return np.minimum(1.0, radius * (1 - 1e-5) / np.maximum(norm, 1e-300))


def clipped_noise(rng: np.random.Generator, shape: tuple[int, ...], std: float,
                  radius: float) -> np.ndarray:
    """Gaussian noise ``[..., D]`` of per-element std ``std``, each row radially clipped
    to norm ``<= radius`` (`clip_scale`): the demonstration noise of every task."""
    xi = rng.normal(scale=std, size=shape)
    return xi * clip_scale(xi, radius)[..., None]


def _seed(seed: int) -> int:
    return _args.integer_at_least(seed, "seed", 0)


NOISE_QUANTILE = 0.999


def noise_quantile_radius(std: float, dim: int, quantile: float = NOISE_QUANTILE) -> float:
    """The ``quantile`` of the norm of ``N(0, std^2 I_dim)``: ``std sqrt(chi2_dim^{-1}(q))``.

    The radius demonstration noise is clipped to (99.9% of unclipped noise is that
    small), and the least mode tolerance ``rho`` a task allows (`default_tolerance`), so
    that every demonstration lies in its mode.
    """
    from scipy import stats

    std = _args.nonnegative(std, "noise")
    dim = _args.integer_at_least(dim, "dim", 1)
    quantile = _args.open_probability(quantile, "quantile")
    return float(std * np.sqrt(stats.chi2.ppf(quantile, dim)))


def default_tolerance(noise_radius: float, min_separation: float) -> float:
    """The default mode tolerance: ``rho = clip(Delta / 4, noise_radius, 0.45 Delta)``.

    At least the demonstration noise (every demonstration lies in its mode's rho-ball),
    otherwise a quarter of the separation, so the balls stay ``Delta / 2`` apart (the
    checks keep half the separation) while a trained policy's imprecision around a mode
    is not mistaken for bridge mass; at most ``0.45 Delta`` (the balls stay disjoint; the
    demonstration noise is then clipped more often than in 0.1% of the demonstrations).
    """
    if min_separation <= 0:
        return float(noise_radius) if noise_radius > 0 else 1e-6
    return float(min(max(noise_radius, min_separation / 4), 0.45 * min_separation))


def check_rho_noise(rho: float, noise: float, min_separation: float) -> tuple[float, float]:
    """Validate ``0 < rho < min_separation / 2`` (disjoint balls) and ``noise >= 0``."""
    rho = _args.positive(rho, "rho")
    noise = _args.nonnegative(noise, "noise")
    if not rho < min_separation / 2:
        raise ValueError(
            f"rho must be below half the mode separation ({min_separation / 2:.6g}) so that "
            f"the tolerance balls are disjoint, got {rho!r}")
    return rho, noise

"""Per-dimension normalisation of observations and action chunks around any policy.

Robot observations mix units and scales (positions, velocities, joint angles, a phase)
and a chunk of set-points relative to the current state grows along the chunk (step
``j``'s offset has about ``j`` times the spread of step 0's), so an unnormalised squared
or likelihood loss is dominated by the last steps and the widest coordinates, while
closed-loop execution depends most on the first steps. As in LeRobot and Diffusion
Policy, the policy is trained on

    o~ = (o - m_o) / s_o,        a~ = (a - m_a) / s_a     (elementwise)

with ``m, s`` the mean and standard deviation of the training data (stored as buffers,
so they travel with the weights), and its chunks are mapped back,
``a = m_a + s_a * a~``.

Certificates. For an action-space generator ``a~ = T_o~(eps)`` the deployed map is
``eps -> m_a + diag(s_a) T_o~(eps)``, so ``Lip = ||diag(s_a)||_2 Lip(T) = max_i s_a,i
Lip(T)`` bounds it (operator norm of a diagonal matrix; the observation enters the
network additively whatever its scaling, so one certificate still holds for every
``o``). The CVAE's KL weight then acts in the normalised chunk metric: L4's ``beta*`` is
``Delta~^2 / (4 sigma^2)`` with ``Delta~ = |diag(s_a)^{-1} (c_1 - c_2)|``.

Reference: Chi et al., Diffusion Policy (RSS 2023) and LeRobot normalise every
observation and action dimension (mean/std or min/max) inside the policy.
"""

from __future__ import annotations

import numpy as np
import torch

from validation.policies.base import Policy, TransportPolicy

#: Standard deviations are floored at this fraction of the dimensions' root-mean-square
#: std: a coordinate that is (nearly) constant in the training data would otherwise be
#: blown up when it moves at deployment.
RELATIVE_STD_FLOOR = 1e-3


def data_scale(x: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(mean [D], std [D])`` of ``x [N, D]`` over its rows, ``std`` floored at
    `RELATIVE_STD_FLOOR` times the root-mean-square std (float32).

    Examples:
        >>> m, s = data_scale(np.array([[0.0, 1.0], [2.0, 1.0]]), "x")
        >>> m.tolist(), [round(float(v), 6) for v in s]
        ([1.0, 1.0], [1.0, 0.000707])
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"{name} must have shape [N, D] with N >= 2, got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} must be finite (found NaN or inf)")
    mean, std = x.mean(0), x.std(0)
    floor = max(RELATIVE_STD_FLOOR * float(np.sqrt(np.mean(std ** 2))), 1e-12)
    return mean.astype(np.float32), np.maximum(std, floor).astype(np.float32)


class NormalisedPolicy(Policy):
    """``inner`` trained and sampled in normalised coordinates (see the module docstring).

    Build with `normalised` (it picks the subclass that keeps ``inner``'s interface:
    transport maps and certificates for `TransportPolicy`, ``encode``/``decode`` for the
    CVAE). `fit` is `Policy.fit` on the wrapper, whose `loss` is ``inner``'s on the
    normalised batch, so training, seeding and devices are unchanged.

    Args:
        inner: the policy, built for the same ``obs_dim`` and ``chunk_dim``.
        obs_mean, obs_std: ``[obs_dim]``; act_mean, act_std: ``[chunk_dim]`` (std > 0).
    """

    def __init__(self, inner: Policy, obs_mean, obs_std, act_mean, act_std):
        super().__init__(inner.obs_dim, inner.chunk_dim)
        self.inner = inner
        self.kind = inner.kind
        for name, value, dim in (("obs_mean", obs_mean, self.obs_dim),
                                 ("obs_std", obs_std, self.obs_dim),
                                 ("act_mean", act_mean, self.chunk_dim),
                                 ("act_std", act_std, self.chunk_dim)):
            t = torch.as_tensor(np.asarray(value, dtype=np.float32))
            if t.shape != (dim,) or not torch.isfinite(t).all():
                raise ValueError(f"{name} must be a finite vector of length {dim}, "
                                 f"got shape {tuple(t.shape)}")
            if name.endswith("std") and not (t > 0).all():
                raise ValueError(f"{name} must be positive")
            self.register_buffer(name, t)

    def normalise_obs(self, obs: torch.Tensor) -> torch.Tensor:
        return (obs - self.obs_mean) / self.obs_std

    def normalise_actions(self, actions: torch.Tensor) -> torch.Tensor:
        return (actions - self.act_mean) / self.act_std

    def denormalise_actions(self, actions: torch.Tensor) -> torch.Tensor:
        return self.act_mean + self.act_std * actions

    @property
    def action_scale(self) -> float:
        """``max_i s_a,i`` (float64): the factor every noise-to-chunk constant gains."""
        return float(self.act_std.double().max())

    def loss(self, obs, actions, generator):
        return self.inner.loss(self.normalise_obs(obs), self.normalise_actions(actions),
                               generator)

    @torch.no_grad()
    def sample(self, obs, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        obs = self._as_obs(obs)
        return self.denormalise_actions(self.inner.sample(self.normalise_obs(obs), n,
                                                          generator=generator))

    @torch.no_grad()
    def component_means(self, obs) -> tuple[torch.Tensor, torch.Tensor]:
        """``(log_weights [B, J], means [B, J, chunk_dim])`` of a mixture ``inner``
        (`GMMPolicy.mixture`), the means in the original coordinates."""
        logw, means, _ = self.inner.mixture(self.normalise_obs(self._as_obs(obs)))
        return logw, self.denormalise_actions(means)

    def predict(self, obs) -> torch.Tensor:
        """``[B, chunk_dim]`` the deterministic prediction of a regression ``inner``."""
        obs = self._as_obs(obs)
        return self.denormalise_actions(self.inner.predict(self.normalise_obs(obs)))


class NormalisedTransportPolicy(NormalisedPolicy, TransportPolicy):
    """A normalised action-space generator: ``a = m_a + s_a * T_o~(eps)``."""

    @property
    def noise_dim(self) -> int:
        return self.inner.noise_dim

    def _push(self, obs: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return self.denormalise_actions(self.inner._push(self.normalise_obs(obs), noise))

    @torch.no_grad()
    def sample(self, obs, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return NormalisedPolicy.sample(self, obs, n, generator)

    def certified_lipschitz(self, method: str = "joint", obs=None, **options):
        """``max_i s_a,i`` times ``inner``'s certified constant (module docstring); the
        arguments are ``inner.certified_lipschitz``'s."""
        from numerics import LipschitzEstimate

        est = self.inner.certified_lipschitz(method, None if obs is None else
                                             self.normalise_obs(self._as_obs(obs)), **options)
        scale = self.action_scale
        return LipschitzEstimate(value=scale * est.value, kind="upper",
                                 method=f"{est.method}+action-std",
                                 seconds=est.seconds,
                                 details={**dict(est.details), "normalised_lipschitz": est.value,
                                          "action_std_max": scale})


class NormalisedCVAE(NormalisedTransportPolicy):
    """A normalised `CVAEPolicy`: ``encode``/``decode`` in the original coordinates."""

    @property
    def latent_dim(self) -> int:
        return self.inner.latent_dim

    @property
    def effective_beta(self) -> float:
        """``inner``'s KL weight (per chunk, in the *normalised* chunk metric)."""
        return self.inner.effective_beta

    def encode(self, obs, actions) -> tuple[torch.Tensor, torch.Tensor]:
        obs, actions = self._as_obs(obs), self._as_batch(actions, self.chunk_dim, "actions")
        return self.inner.encode(self.normalise_obs(obs), self.normalise_actions(actions))

    def decode(self, obs, z: torch.Tensor) -> torch.Tensor:
        return self.denormalise_actions(self.inner.decode(self.normalise_obs(self._as_obs(obs)),
                                                          z))


def normalised(inner: Policy, obs, actions) -> NormalisedPolicy:
    """Wrap ``inner`` with the mean/std normalisation of the training data ``obs [N,
    obs_dim]``, ``actions [N, chunk_dim]`` (`data_scale`); fit the result on the same data.

    Examples:
        >>> from validation.policies import make_policy
        >>> obs = np.random.default_rng(0).normal(size=(64, 3))
        >>> act = 100.0 * obs[:, :2]
        >>> p = normalised(make_policy("flow", 3, 2, hidden=(8,)), obs, act)
        >>> type(p).__name__, p.kind, round(p.action_scale / float(act.std(0).max()), 4)
        ('NormalisedTransportPolicy', 'flow', 1.0)
    """
    if not isinstance(inner, Policy):
        raise TypeError(f"inner must be a validation.policies.Policy, got {type(inner).__name__}")
    obs_mean, obs_std = data_scale(obs, "obs")
    act_mean, act_std = data_scale(actions, "actions")
    if obs_mean.shape[0] != inner.obs_dim or act_mean.shape[0] != inner.chunk_dim:
        raise ValueError(f"obs and actions must have {inner.obs_dim} and {inner.chunk_dim} "
                         f"columns, got {obs_mean.shape[0]} and {act_mean.shape[0]}")
    if hasattr(inner, "encode") and hasattr(inner, "decode"):
        cls = NormalisedCVAE
    elif isinstance(inner, TransportPolicy):
        cls = NormalisedTransportPolicy
    else:
        cls = NormalisedPolicy
    return cls(inner, obs_mean, obs_std, act_mean, act_std)


__all__ = ["RELATIVE_STD_FLOOR", "NormalisedCVAE", "NormalisedPolicy",
           "NormalisedTransportPolicy", "data_scale", "normalised"]

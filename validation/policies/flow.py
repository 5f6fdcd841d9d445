"""Flow matching on the linear interpolation path, sampled by Euler or Heun.

Training (Lipman et al. 2023, rectified-flow path): ``x_t = (1 - t) x_0 + t x_1``,
``x_0 ~ N(0, I)``, ``x_1`` a demonstration chunk, ``t ~ U[0, 1]``; regress
``v(x_t, t, o)`` on ``x_1 - x_0``. Sampling integrates ``dx/dt = v(x, t, o)`` from
``x_0 = eps`` at ``t = 0`` to ``t = 1`` in ``N`` equal steps ``h = 1/N``.

Certificate (docs/theory.md, T6): if ``v(., t, o)`` is ``l``-Lipschitz in ``x`` for every ``t, o``
(one network certificate, conditioning enters additively), then one step is
``(1 + h l)``-Lipschitz (Euler) or ``(1 + h l + (h l)^2 / 2)``-Lipschitz (Heun:
``x + h/2 (v(x) + v(x + h v(x)))``), and the sampler map ``eps -> a`` is Lipschitz with
the product over steps.
"""

from __future__ import annotations

import torch

from theory import _args
from validation.policies.base import TransportPolicy, sampler_certificate
from validation.policies.networks import mlp, time_embedding

SOLVERS = ("euler", "heun")


class FlowPolicy(TransportPolicy):
    """Flow-matching policy; ``noise_dim = chunk_dim``.

    Args:
        obs_dim, chunk_dim: sizes.
        n_steps: integration steps ``N >= 1``; solver: "euler" or "heun".
        hidden, activation: the velocity MLP on ``cat([x, emb(t), o])``.
        time_dim: size of the sinusoidal time embedding.
        spectral_norm: spectral normalisation of every velocity layer.
        lipschitz_scale: if given, the velocity is ``lipschitz_scale * net(...)`` by a frozen
            final ``Linear`` (with ``spectral_norm`` and a 1-Lipschitz activation such as
            "relu", ``l <= lipschitz_scale``): an explicit knob on ``Lip(v)``.
    """

    kind = "flow"

    def __init__(self, obs_dim: int, chunk_dim: int, n_steps: int = 10, solver: str = "euler",
                 hidden: tuple[int, ...] = (256, 256), activation: str = "silu",
                 time_dim: int = 16, spectral_norm: bool = False,
                 lipschitz_scale: float | None = None):
        super().__init__(obs_dim, chunk_dim)
        self.n_steps = _args.integer_at_least(n_steps, "n_steps", 1)
        if solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
        self.solver = solver
        self.time_dim = _args.integer_at_least(time_dim, "time_dim", 2)
        self.noise_dim = self.chunk_dim
        self.velocity_net = mlp(self.chunk_dim + self.time_dim + self.obs_dim, self.chunk_dim,
                                hidden, activation, spectral_norm=spectral_norm,
                                output_scale=lipschitz_scale)
        self.eval()

    def velocity(self, x: torch.Tensor, t: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        """``v(x, t, o)``: ``x [..., chunk_dim]``, ``t [...]``, ``obs [..., obs_dim]``."""
        return self.velocity_net(torch.cat([x, time_embedding(t, self.time_dim), obs], -1))

    def loss(self, obs, actions, generator):
        x0 = torch.randn(actions.shape, generator=generator, device=actions.device)
        t = torch.rand(actions.shape[0], generator=generator, device=actions.device)
        xt = (1 - t[:, None]) * x0 + t[:, None] * actions
        return ((self.velocity(xt, t, obs) - (actions - x0)) ** 2).sum(-1).mean()

    def _push(self, obs: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        from numerics import integrate_flow

        o = obs[:, None, :].expand(-1, noise.shape[1], -1)

        def velocity(x: torch.Tensor, t: float) -> torch.Tensor:
            return self.velocity(x, torch.full(x.shape[:-1], t, device=x.device,
                                               dtype=x.dtype), o)

        return integrate_flow(velocity, noise, self.n_steps, self.solver)

    def certified_lipschitz(self, method: str = "joint", obs=None, **options):
        """Upper bound on ``Lip(eps -> a)`` for every observation (docs/theory.md T6).

        ``method="joint"`` (default): `numerics.sampler_lipschitz_upper` of the velocity
        network through the unrolled Euler/Heun sampler (one certificate of the whole
        map, checked step by step in float64; ``options`` such as ``max_seconds`` go to
        it, default cap 60 s). ``"product"`` or a network certifier of
        `numerics.UPPER_METHODS`: T6's product ``prod_j (1 + h l)`` (Euler) or
        ``prod_j (1 + h l + (h l)^2/2)`` (Heun) with ``l`` that certifier's constant of the
        velocity network in its ``x`` block (exact weights: a spectral-norm
        parametrisation's power-iteration estimate is not trusted). ``obs`` is accepted
        for the per-observation interface; the bound does not depend on it.
        ``details["velocity_lipschitz"]`` is the network's certified constant.
        """
        from numerics import unroll_sampler

        unrolled = unroll_sampler(self.solver, self.n_steps)
        return sampler_certificate(
            self, self.velocity_net, unrolled, self.chunk_dim,
            lambda t, o: torch.cat([time_embedding(torch.full((o.shape[0],), float(t),
                                                              device=o.device), self.time_dim),
                                    o], -1),
            method, obs, options, "velocity_lipschitz")

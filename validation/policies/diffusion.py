"""Diffusion policy: DDPM training with epsilon prediction; DDIM or DDPM sampling.

Forward process (Ho et al. 2020) on ``T`` steps with the ``squaredcos_cap_v2`` schedule
(Nichol & Dhariwal 2021, as in Diffusion Policy): ``x_t = sqrt(abar_t) x_0 +
sqrt(1 - abar_t) eps``, ``t in {0..T-1}``; the network ``eps_theta(x_t, t, o)`` regresses
``eps``.

Samplers, both written as one step ``x' = A x + B eps_theta(x, t, o) + s z``:

- DDIM (Song et al. 2021, ``eta = 0``) on ``S`` of the ``T`` steps ("leading" spacing,
  ``t = (S-1) k, .., k, 0`` with ``k = T // S``), deterministic:
  ``A = sqrt(abar'/abar)``, ``B = sqrt(1 - abar') - sqrt(abar' (1 - abar) / abar)``,
  ``s = 0`` (``abar' = 1`` after the last step). `transport` is this map from the
  initial noise, ``noise_dim = chunk_dim``.
- DDPM ancestral sampling on all ``T`` steps: ``A = 1/sqrt(alpha_t)``,
  ``B = -beta_t / sqrt(alpha_t (1 - abar_t))``, ``s = sqrt(beta~_t)`` (zero at the last
  step). Following docs/theory.md, T6 (stochastic samplers), `transport` takes *all* the noise,
  initial and injected: ``noise_dim = T * chunk_dim``.

Certificate: `certified_lipschitz` certifies the unrolled sampler as one graph
(`numerics.sampler_lipschitz_upper`), which sees part of the cancellation described next.
The per-step product (``method="product"``): with ``l`` the Lipschitz constant of
``eps_theta`` in ``x`` (every ``t, o``), a step maps ``(x, z)`` with constant
``L' = sqrt((|A| + |B| l)^2 L^2 + s^2)`` (Cauchy-Schwarz over the disjoint noise blocks;
``L' = (|A| + |B| l) L`` for DDIM). The first DDIM/DDPM steps of the capped cosine
schedule have large ``A`` and ``|B|`` that nearly cancel on the ideal ``eps``; this product
bound cannot see the cancellation and is loose
there (valid, not tight). The same amplification (``1/sqrt(abar_t)``, ~2000 at
``t = T - 1``) multiplies the network's epsilon error, which is why DDIM starts at
``t = (S - 1) k`` (``abar ~ 0.02`` for ``S = 10``) rather than at ``T - 1``; DDPM and
DDIM with ``S = T`` visit ``T - 1`` and are noisier for it.

``clip_sample = c`` (DDIM only) clips the predicted clean chunk
``x0 = (x - sqrt(1 - abar) eps) / sqrt(abar)`` to ``[-c, c]`` before the step
``x' = sqrt(abar') x0 + sqrt(1 - abar') eps``, as Diffusion Policy and diffusers do
(``clip_sample=True``): it bounds the ``1/sqrt(abar)`` amplification at ``t = T - 1``, so
DDIM with ``S = T`` (the paper's DDIM-100) stays on the data. Clipping is 1-Lipschitz, so a
step keeps the certificate ``sqrt(abar'/abar) (1 + sqrt(1 - abar) l) + sqrt(1 - abar') l``
(the two ``eps`` terms no longer combine into one ``B``).
"""

from __future__ import annotations

import math

import torch

from theory import _args
from validation.policies.base import TransportPolicy, sampler_certificate
from validation.policies.networks import mlp, time_embedding

SAMPLERS = ("ddim", "ddpm")


def cosine_betas(n_train_steps: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """``squaredcos_cap_v2``: ``beta_i = min(1 - f((i+1)/T) / f(i/T), max_beta)``,
    ``f(u) = cos^2((u + s) / (1 + s) * pi / 2)`` (the diffusers convention), float64."""
    def f(u: float) -> float:
        return math.cos((u + s) / (1 + s) * math.pi / 2) ** 2

    T = n_train_steps
    return torch.tensor([min(1 - f((i + 1) / T) / f(i / T), max_beta) for i in range(T)],
                        dtype=torch.float64)


class DiffusionPolicy(TransportPolicy):
    """DDPM-trained epsilon-prediction policy.

    Args:
        obs_dim, chunk_dim: sizes.
        n_train_steps: ``T`` diffusion steps (100 as in Diffusion Policy).
        sampler: "ddim" (deterministic, ``n_sampling_steps`` steps) or "ddpm" (``T`` steps).
        n_sampling_steps: ``S`` DDIM steps in ``[1, T]`` at ``t = (S-1) k, .., k, 0``,
            ``k = T // S`` (the "leading" spacing of diffusers); ignored by DDPM.
        hidden, activation, time_dim: the epsilon MLP on ``cat([x, emb(t/T), o])``.
        spectral_norm, lipschitz_scale: as in `FlowPolicy` (on the epsilon network).
    """

    kind = "diffusion"

    def __init__(self, obs_dim: int, chunk_dim: int, n_train_steps: int = 100,
                 sampler: str = "ddim", n_sampling_steps: int = 10,
                 hidden: tuple[int, ...] = (256, 256), activation: str = "silu",
                 time_dim: int = 16, spectral_norm: bool = False,
                 lipschitz_scale: float | None = None, clip_sample: float | None = None):
        super().__init__(obs_dim, chunk_dim)
        if clip_sample is not None:
            if sampler != "ddim":
                raise ValueError("clip_sample is implemented for sampler='ddim' only, "
                                 f"got sampler={sampler!r}")
            clip_sample = float(_args.positive(clip_sample, "clip_sample"))
        self.clip_sample = clip_sample
        self.n_train_steps = _args.integer_at_least(n_train_steps, "n_train_steps", 2)
        if sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
        self.sampler = sampler
        # DDPM visits every training step; only DDIM skips steps.
        self.n_sampling_steps = (_args.integer_at_least(n_sampling_steps, "n_sampling_steps", 1,
                                                        self.n_train_steps)
                                 if sampler == "ddim" else self.n_train_steps)
        self.time_dim = _args.integer_at_least(time_dim, "time_dim", 2)
        self.noise_dim = self.chunk_dim * (1 if sampler == "ddim" else self.n_train_steps)
        self.eps_net = mlp(self.chunk_dim + self.time_dim + self.obs_dim, self.chunk_dim,
                           hidden, activation, spectral_norm=spectral_norm,
                           output_scale=lipschitz_scale)
        betas = cosine_betas(self.n_train_steps)
        self.register_buffer("betas", betas.float())
        self.register_buffer("alphas_cumprod", torch.cumprod(1 - betas, 0).float())
        self._alpha_bars64 = torch.cumprod(1 - betas, 0).tolist()  # certificates: float64
        self._coefficients = self._step_coefficients(betas)
        # abar along the sampling path (1 after the last step) and its (abar_t, abar_t')
        # pairs: the DDIM certificate and the clipped steps read them.
        self._alpha_bar_path = [self._alpha_bars64[t] for t, *_ in self._coefficients] + [1.0]
        self._ddim_alpha_bars = list(zip(self._alpha_bar_path[:-1], self._alpha_bar_path[1:],
                                         strict=True))
        self.eval()

    def epsilon(self, x: torch.Tensor, t: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        """``eps_theta(x, t, o)`` with integer-valued steps ``t`` (``[...]``)."""
        emb = time_embedding(t.to(x.dtype) / self.n_train_steps, self.time_dim)
        return self.eps_net(torch.cat([x, emb, obs], -1))

    def loss(self, obs, actions, generator):
        eps = torch.randn(actions.shape, generator=generator, device=actions.device)
        t = torch.randint(0, self.n_train_steps, (actions.shape[0],), generator=generator,
                          device=actions.device)
        ab = self.alphas_cumprod[t][:, None]
        xt = ab.sqrt() * actions + (1 - ab).sqrt() * eps
        return ((self.epsilon(xt, t, obs) - eps) ** 2).sum(-1).mean()

    def _step_coefficients(self, betas: torch.Tensor) -> list[tuple[int, float, float, float]]:
        """``[(t, A, B, s)]`` in sampling order (float64 arithmetic)."""
        abar = torch.cumprod(1 - betas, 0)
        out = []
        if self.sampler == "ddim":
            stride = self.n_train_steps // self.n_sampling_steps
            ts = [stride * i for i in range(self.n_sampling_steps - 1, -1, -1)]
            for i, t in enumerate(ts):
                a, a_prev = float(abar[t]), (float(abar[ts[i + 1]]) if i + 1 < len(ts) else 1.0)
                out.append((t, math.sqrt(a_prev / a),
                            math.sqrt(1 - a_prev) - math.sqrt(a_prev * (1 - a) / a), 0.0))
        else:
            for t in range(self.n_train_steps - 1, -1, -1):
                b, a = float(betas[t]), float(abar[t])
                a_prev = float(abar[t - 1]) if t > 0 else 1.0
                out.append((t, 1 / math.sqrt(1 - b), -b / math.sqrt((1 - b) * (1 - a)),
                            math.sqrt(b * (1 - a_prev) / (1 - a)) if t > 0 else 0.0))
        return out

    def _push(self, obs: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """The DDIM map of the initial noise, or the DDPM map of all noise blocks
        ``[x_T, z_{T-1}, .., z_1]`` (each ``chunk_dim`` wide), see the module docstring."""
        o = obs[:, None, :].expand(-1, noise.shape[1], -1)
        blocks = noise.split(self.chunk_dim, dim=-1)
        x = blocks[0]
        for j, (t, A, B, s) in enumerate(self._coefficients):
            tt = torch.full(x.shape[:-1], t, device=x.device)
            if self.clip_sample is not None:
                x = self._clipped_ddim_step(x, self.epsilon(x, tt, o), j)
                continue
            x = A * x + B * self.epsilon(x, tt, o)
            if s > 0:
                x = x + s * blocks[j + 1]
        return x

    def _clipped_ddim_step(self, x: torch.Tensor, eps: torch.Tensor, j: int) -> torch.Tensor:
        a, a_prev = self._ddim_alpha_bars[j]
        x0 = ((x - math.sqrt(1 - a) * eps) / math.sqrt(a)).clamp(-self.clip_sample,
                                                                 self.clip_sample)
        return math.sqrt(a_prev) * x0 + math.sqrt(1 - a_prev) * eps

    def certified_lipschitz(self, method: str = "joint", obs=None, **options):
        """Upper bound on ``Lip(noise -> a)`` for every observation (T6, docs/theory.md).

        ``method="joint"`` (default): `numerics.sampler_lipschitz_upper` of the epsilon
        network through the unrolled DDIM (with the clip of the predicted clean chunk as a
        slope-``[0, 1]`` stage when ``clip_sample``) or DDPM sampler (all the noise jointly);
        ``options`` go to it (default cap ``max_seconds=60``). ``"product"`` or a network
        certifier of `numerics.UPPER_METHODS`: the per-step product of the module docstring
        with ``l`` that certifier's constant of the epsilon network in its ``x`` block.
        ``obs`` is accepted for the per-observation interface; the bound does not depend on
        it. Raises ``TypeError`` if the sampler no longer runs ``eps_net`` (e.g. a replaced
        ``epsilon``): that certificate would be of a stale network.
        ``details["epsilon_lipschitz"]`` is the network's certified constant.
        """
        from numerics import unroll_sampler

        unrolled = unroll_sampler(self.sampler, alpha_bars=self._alpha_bar_path,
                                  timesteps=[float(t) for t, *_ in self._coefficients],
                                  clip_sample=self.clip_sample)
        return sampler_certificate(
            self, self.eps_net, unrolled, self.chunk_dim,
            lambda t, o: torch.cat([time_embedding(torch.full(
                (o.shape[0],), float(t) / self.n_train_steps, device=o.device),
                self.time_dim), o], -1),
            method, obs, options, "epsilon_lipschitz")

"""Conditional VAE in the ACT style (Zhao et al., RSS 2023), MLP backbone.

Encoder ``q(z | o, a) = N(mu(a, o), diag exp(logvar(a, o)))``, prior ``p(z | o) = N(0, I)``,
decoder ``a = D(z, o)``. Training loss per chunk (docs/theory.md, Part L)

    rec(a, D(z, o)) + beta * KL(q(. | o, a) || N(0, I)),   z ~ q(. | o, a) (reparametrised),

with ``rec`` the L1 (``|.|_1``) or squared (``|.|_2^2``) error and

- ``reduction="sum"``: ``rec`` summed over the ``D = H * action_dim`` chunk elements
  (the per-chunk likelihood convention of docs/theory.md, L4: squared loss = Gaussian
  likelihood with ``sigma^2 = 1/2``, so ``beta* = Delta^2 / 2``);
- ``reduction="mean"``: ``rec`` averaged over the chunk elements, KL summed over latent
  dimensions -- ACT's convention (``kl_weight = 10``). Multiplying the loss by ``D``
  shows it equals the "sum" convention with ``beta_eff = beta * D``
  (`theory.act_effective_kl_weight(beta, H, action_dim)`; 14,000 on ALOHA).
`CVAEPolicy.effective_beta` returns the KL weight in the "sum" convention.

Deployment: ``deploy="prior"`` samples ``z ~ N(0, I)`` (a transport map ``z -> D(z, o)``,
docs/theory.md, L6), ``deploy="mean"`` decodes ``z = 0`` as ACT does (one chunk per observation).
"""

from __future__ import annotations

import torch

from theory import _args
from validation.policies.base import TransportPolicy, sampler_certificate
from validation.policies.networks import mlp

LOSSES = ("l1", "l2")
REDUCTIONS = ("sum", "mean")
DEPLOYS = ("prior", "mean")


class CVAEPolicy(TransportPolicy):
    """ACT-style CVAE; ``noise_dim = latent_dim``, ``transport(o, z) = decode(o, z)``.

    Args:
        obs_dim, chunk_dim: sizes.
        latent_dim: ``d_z >= 1``. beta: KL weight ``>= 0`` in the chosen ``reduction``.
        loss: "l1" or "l2"; reduction: "sum" (per chunk) or "mean" (ACT).
        deploy: "prior" or "mean" (``z = 0``).
        hidden, activation: encoder and decoder MLPs.
    """

    kind = "cvae"

    def __init__(self, obs_dim: int, chunk_dim: int, latent_dim: int = 4, beta: float = 1.0,
                 loss: str = "l2", reduction: str = "sum", deploy: str = "prior",
                 hidden: tuple[int, ...] = (256, 256), activation: str = "silu"):
        super().__init__(obs_dim, chunk_dim)
        self.latent_dim = _args.integer_at_least(latent_dim, "latent_dim", 1)
        self.noise_dim = self.latent_dim
        self.beta = _args.nonnegative(beta, "beta")
        for name, value, valid in (("loss", loss, LOSSES), ("reduction", reduction, REDUCTIONS),
                                   ("deploy", deploy, DEPLOYS)):
            if value not in valid:
                raise ValueError(f"{name} must be one of {valid}, got {value!r}")
        self.loss_kind, self.reduction, self.deploy = loss, reduction, deploy
        self.encoder = mlp(self.chunk_dim + self.obs_dim, 2 * self.latent_dim, hidden, activation)
        self.decoder = mlp(self.latent_dim + self.obs_dim, self.chunk_dim, hidden, activation)
        self.eval()

    @property
    def effective_beta(self) -> float:
        """The KL weight in the per-chunk "sum" convention (``beta * chunk_dim`` for "mean")."""
        return self.beta * (self.chunk_dim if self.reduction == "mean" else 1)

    def encode(self, obs, actions) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu, logvar)``, each ``[N, latent_dim]``, of ``q(z | o, a)``."""
        obs, actions = self._as_obs(obs), self._as_batch(actions, self.chunk_dim, "actions")
        mu, logvar = self.encoder(torch.cat([actions, obs], -1)).chunk(2, dim=-1)
        return mu, logvar

    def decode(self, obs, z: torch.Tensor) -> torch.Tensor:
        """``[N, chunk_dim]`` decoder output ``D(z, o)``; obs ``[N, obs_dim]``, z ``[N, d_z]``."""
        return self.decoder(torch.cat([z, self._as_obs(obs)], -1))

    def loss(self, obs, actions, generator):
        mu, logvar = self.encode(obs, actions)
        z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=generator,
                                                       device=mu.device)
        err = self.decoder(torch.cat([z, obs], -1)) - actions
        rec = err.abs() if self.loss_kind == "l1" else err ** 2
        rec = rec.sum(-1) if self.reduction == "sum" else rec.mean(-1)
        kl = 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum(-1)
        return (rec + self.beta * kl).mean()

    def _push(self, obs: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        o = obs[:, None, :].expand(-1, noise.shape[1], -1)
        return self.decoder(torch.cat([noise, o], -1))

    @torch.no_grad()
    def sample(self, obs, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        if self.deploy == "prior":
            return super().sample(obs, n, generator)
        obs = self._as_obs(obs)
        n = _args.integer_at_least(n, "n", 1)
        return self._push(obs, torch.zeros(obs.shape[0], n, self.noise_dim,
                                               device=self.device))

    def certified_lipschitz(self, method: str = "joint", obs=None, **options):
        """Upper bound on ``Lip(z -> D(z, o))`` for every ``o`` (docs/theory.md L6): the decoder in
        its ``z`` block, by `numerics.sampler_lipschitz_upper` with ``sampler="decoder"``
        (``"joint"``: its LipSDP-type certificate; ``"product"`` or a network certifier of
        `numerics.UPPER_METHODS`: that certifier's constant). ``obs`` is accepted for the
        per-observation interface; the bound does not depend on it. Meaningful for
        ``deploy="prior"``; at ``deploy="mean"`` the policy is deterministic."""
        from numerics import unroll_sampler

        return sampler_certificate(self, self.decoder, unroll_sampler("decoder"),
                                   self.latent_dim, lambda t, o: o, method, obs, options,
                                   "decoder_lipschitz")

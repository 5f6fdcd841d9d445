"""The networks every policy is built from: certifiable MLPs and a time embedding.

Every network the noise passes through is a ``torch.nn.Sequential`` of ``Linear``
layers and slope-restricted activations, fed ``torch.cat([varying, conditioning], -1)``
with the varying block (noise, latent or state) first. Conditioning (observation,
time embedding) then enters the first layer additively, like a bias, so one certificate
``numerics.lipschitz_upper(net, input_slice=slice(0, d))`` holds for every observation
and time (docs/numerics-lipschitz.md: biases do not enter LipSDP).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from theory import _args

# name -> activation module. All are slope-restricted (slopes in numerics.lipschitz.network).
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU, "tanh": nn.Tanh, "silu": nn.SiLU, "gelu": nn.GELU, "mish": nn.Mish,
}


def mlp(in_dim: int, out_dim: int, hidden: tuple[int, ...] = (256, 256),
        activation: str = "silu", spectral_norm: bool = False,
        output_scale: float | None = None) -> nn.Sequential:
    """A ``Sequential(Linear, act, ..., Linear[, Linear(scale I)])``.

    Args:
        in_dim, out_dim: input and output sizes.
        hidden: hidden widths (may be empty: an affine map).
        activation: a key of `ACTIVATIONS`.
        spectral_norm: wrap every trainable ``Linear`` in
            ``torch.nn.utils.parametrizations.spectral_norm`` (each layer's norm ~ 1,
            estimated by power iteration; certificates recompute exact norms).
        output_scale: if given, append a frozen ``Linear`` equal to ``output_scale * I``:
            with ``spectral_norm`` and a 1-Lipschitz activation the network is then
            ``output_scale``-Lipschitz, an explicit, certifiable Lipschitz scale that
            stays a plain ``Linear`` for the certifiers.
    """
    in_dim = _args.integer_at_least(in_dim, "in_dim", 1)
    out_dim = _args.integer_at_least(out_dim, "out_dim", 1)
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    widths = [in_dim, *(_args.integer_at_least(h, "hidden", 1) for h in hidden), out_dim]
    act = ACTIVATIONS[activation]
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        lin = nn.Linear(a, b)
        layers.append(nn.utils.parametrizations.spectral_norm(lin) if spectral_norm else lin)
        if i < len(widths) - 2:
            layers.append(act())
    if output_scale is not None:
        scale = nn.Linear(out_dim, out_dim, bias=False)
        with torch.no_grad():
            scale.weight.copy_(_args.positive(output_scale, "output_scale") * torch.eye(out_dim))
        scale.weight.requires_grad_(False)
        layers.append(scale)
    return nn.Sequential(*layers)


def converge_spectral_norms(module: nn.Module, iterations: int = 200) -> None:
    """Run ``iterations`` extra power iterations in every spectral-norm parametrisation.

    During training each forward pass does one power iteration against a moving weight,
    so the stored estimate lags and underestimates ``sigma`` (measured: exact norms
    1.02-1.08 after a few hundred steps). Converging it after training makes each layer's
    exact norm ~1, so ``output_scale`` is honoured; certificates still use exact norms.
    """
    layers = [m for m in module.modules()
              if nn.utils.parametrize.is_parametrized(m, "weight")]
    if not layers:
        return
    was_training = module.training
    module.train()  # the parametrisation iterates only in training mode
    with torch.no_grad():
        for m in layers:
            for _ in range(iterations):
                _ = m.weight
    module.train(was_training)


def time_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding ``[..., dim]`` of times ``t`` in ``[0, 1]`` (``[...]``).

    Frequencies ``2^0 .. 2^(dim/2 - 1)`` times ``pi``: enough resolution on ``[0, 1]``
    for 100-step diffusion schedules without the 10^4 periods of transformer encodings.
    """
    half = dim // 2
    freqs = math.pi * 2.0 ** torch.arange(half, device=t.device, dtype=t.dtype)
    ang = t[..., None] * freqs
    return torch.cat([torch.sin(ang), torch.cos(ang)], dim=-1)

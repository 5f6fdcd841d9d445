r"""Certified one-sided Lipschitz constant (logarithmic norm) of a one-hidden-layer field.

For a velocity ``v(x) = W_1 phi(W_0 x + b_0) + b_1`` (``W_0: n x d``, ``W_1: d x n``) with
``phi`` slope-restricted to ``[alpha, beta]``, the one-sided constant
``mu = sup_{x != y} <x - y, v(x) - v(y)> / |x - y|^2 = sup_x lambda_max(sym J_v(x))``
satisfies, for every diagonal ``T > 0``,

.. math::
    \mu \le \lambda_{\max}\Big(-2\alpha\beta\, W_0^\top T W_0 + K (2T)^{-1} K^\top\Big),
    \qquad K = \tfrac12 W_1 + (\alpha+\beta) W_0^\top T,

because the quadratic form in ``(dx, dphi)``
``-mu |dx|^2 + dx^T W_1 dphi + [sector constraint >= 0]`` is ``<= 0`` exactly when that
Schur complement holds (same argument as LipSDP, with the bilinear term
``dx^T W_1 dphi`` in place of ``|W_1 dphi|^2``). ``T`` is optimised by L-BFGS on
``log T`` (every ``T > 0`` is feasible, so there is no boundary), and the final value is
recomputed in float64. Flow maps then satisfy ``Lip <= exp(int mu dt)`` and an Euler
step ``sqrt(1 + 2 h mu + h^2 l^2)`` (T6; `numerics.flow.step_lipschitz_bound`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from numerics.lipschitz.network import network_from_sequential
from theory import _args

_EPS64 = torch.finfo(torch.float64).eps


@dataclass(frozen=True)
class LogNormBound:
    """A certified upper bound on a one-sided Lipschitz constant (may be negative)."""

    value: float
    method: str
    seconds: float
    details: dict[str, Any] = field(default_factory=dict)


def _one_sided_matrix(w0, w1, a, b, t):
    k = w1 / 2 + (a + b) * (w0.T * t)
    m = (k / (2 * t)) @ k.T
    if a * b != 0:
        m = m - 2 * a * b * (w0.T * t) @ w0
    return (m + m.T) / 2


def one_sided_lipschitz_upper(
    model: nn.Module,
    input_slice: slice | list[int] | torch.Tensor | None = None,
    *,
    max_iter: int = 50,
) -> LogNormBound:
    r"""Certified ``mu >= sup_x lambda_max(sym J_v(x))`` for ``v = Linear, activation, Linear``.

    Args:
        model: ``nn.Sequential(nn.Linear(d_in, n), activation, nn.Linear(n, d))``; the
            varying inputs (``input_slice``, e.g. the state ``x`` of ``(x, t)``) must
            number ``d``, the output width.
        input_slice: the columns of ``W_0`` that are the state ``x``.

    Returns:
        `LogNormBound` (``details["multipliers"]``: the certifying ``T``).

    Raises:
        ValueError: not one hidden layer, or state and output widths differ.

    Examples:
        >>> v = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 2))
        >>> w = torch.randn(4, 2, generator=torch.Generator().manual_seed(0))
        >>> with torch.no_grad():  # v(x) = -W^T relu(W x): a monotone (mu = 0) field
        ...     _ = v[0].weight.copy_(w)
        ...     _ = v[2].weight.copy_(-w.T)
        >>> abs(one_sided_lipschitz_upper(v).value) < 1e-9
        True
    """
    max_iter = _args.integer_at_least(max_iter, "max_iter", 1, 10_000)
    began = time.perf_counter()
    net = network_from_sequential(model, input_slice)
    if net.depth != 1:
        raise ValueError(f"one_sided_lipschitz_upper takes one hidden layer, got {net.depth}")
    w0, w1 = net.weights
    if w1.shape[0] != w0.shape[1]:
        raise ValueError(f"a vector field needs as many outputs as state inputs: outputs "
                         f"{w1.shape[0]}, state inputs {w0.shape[1]} (check input_slice)")
    a, b = net.slopes[0]
    theta = torch.zeros(w0.shape[0], dtype=torch.float64, requires_grad=True)
    with torch.no_grad():
        scale = float(torch.linalg.matrix_norm(w1, 2) / torch.linalg.matrix_norm(w0, 2).clamp_min(
            1e-300))
        theta.fill_(torch.log(torch.tensor(max(scale, 1e-12) / max(a + b, 1e-12))))
    spread = float(torch.linalg.matrix_norm(w0, 2) * torch.linalg.matrix_norm(w1, 2))
    for rel in (1e-1, 1e-2, 1e-3):
        temperature = rel * max(spread, 1e-12)
        optimizer = torch.optim.LBFGS([theta], max_iter=max_iter, history_size=20,
                                      line_search_fn="strong_wolfe", tolerance_grad=1e-12,
                                      tolerance_change=1e-15)

        def closure(temperature=temperature):
            theta.grad = None
            eig = torch.linalg.eigvalsh(_one_sided_matrix(w0, w1, a, b, torch.exp(theta)))
            loss = temperature * torch.logsumexp(eig / temperature, dim=0)
            loss.backward()
            return loss

        optimizer.step(closure)
    t = torch.exp(theta.detach())
    eig = torch.linalg.eigvalsh(_one_sided_matrix(w0, w1, a, b, t))
    value = float(eig[-1]) + eig.shape[0] * _EPS64 * float(eig.abs().max())
    return LogNormBound(value, "one-sided-sdp", time.perf_counter() - began,
                        {"multipliers": t})

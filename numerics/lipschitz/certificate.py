r"""The LipSDP-Neuron certificate, checked by block-tridiagonal Schur complements.

For ``f = W_l phi(W_{l-1} ... phi(W_0 x))`` with activations slope-restricted to
``[alpha_k, beta_k]`` and diagonal multipliers ``T_k >= 0`` (Fazlyab et al., LipSDP,
NeurIPS 2019), the quadratic form in ``z = (dx_0, dx_1, .., dx_l)``

.. math::
    M(\rho, T) = \begin{pmatrix} -\rho I + P & B^\top \\ B & C(T) \end{pmatrix},\quad
    P = -2\alpha_1\beta_1 W_0^\top T_1 W_0,\quad B = ((\alpha_1+\beta_1) T_1 W_0, 0, .., 0)

with ``C(T)`` block-tridiagonal (``C_kk = -2T_k - 2 alpha_{k+1} beta_{k+1} W_k^T T_{k+1} W_k``,
``C_ll = -2 T_l + W_l^T W_l``, ``C_{k+1,k} = (alpha_{k+1}+beta_{k+1}) T_{k+1} W_k``) is
``|W_l dx_l|^2 - rho |dx_0|^2`` plus nonnegative slope constraints, so ``M <= 0``
gives ``Lip(f) <= sqrt(rho)``. If ``-C(T) > 0``, ``M <= 0`` iff

.. math::  \rho \ge \lambda_{\max}\big(P + B^\top (-C(T))^{-1} B\big),

hence for *every* diagonal ``T >= 0`` with ``-C(T) > 0``:
``Lip(f) <= sqrt(lambda_max(P + B^T (-C)^{-1} B))``. That is the certificate: it is a
bound whatever produced ``T`` (an SDP solver, L-BFGS, a closed form), so no solver
objective is ever trusted (measured: SCS reported values below the optimum).

``-C > 0`` is checked by the block LDL recursion from the output layer back,
``S_l = 2T_l - W_l^T W_l``,
``S_k = 2T_k + 2 a b W_k^T T_{k+1} W_k - (a+b)^2 W_k^T T_{k+1} S_{k+1}^{-1} T_{k+1} W_k``
(``a, b`` the slopes of layer ``k+1``): ``-C > 0`` iff every ``S_k > 0``, and
``((-C)^{-1})_{11} = S_1^{-1}``. Cost ``O(l n^3)``, memory ``O(n^2)``: the full
``(sum n_k)``-square LMI is never formed.
"""

from __future__ import annotations

import torch

from numerics import _inputs
from numerics.lipschitz.network import SlopeNetwork, as_network

_EPS64 = torch.finfo(torch.float64).eps


class NotCertified(ValueError):
    """The multipliers do not make ``-C(T)`` positive definite: no bound from them."""


def schur_rho(
    net: SlopeNetwork, multipliers: list[torch.Tensor] | tuple[torch.Tensor, ...]
) -> tuple[torch.Tensor | None, list[torch.Tensor]]:
    """The matrix ``P + B^T (-C)^{-1} B`` (n_0 x n_0) for diagonal multipliers, or ``None``
    when some pivot ``S_k`` is not positive definite (Cholesky fails).

    Differentiable in the multipliers (torch autograd); works on any device/dtype.
    Returns the matrix and the list of pivots ``S_1..S_l``.
    """
    w = net.weights
    depth = net.depth
    t = multipliers
    s = 2 * torch.diag(t[depth - 1]) - w[depth].T @ w[depth]
    pivots = [s]
    for k in range(depth - 1, -1, -1):
        a, b = net.slopes[k]  # layer k+1 in 1-based numbering: t[k] is T_{k+1}
        chol, info = torch.linalg.cholesky_ex(s)
        if int(info) != 0:
            return None, pivots
        tw = t[k][:, None] * w[k]
        g = torch.linalg.solve_triangular(chol, tw, upper=False)
        s = -(a + b) ** 2 * (g.T @ g)
        if a * b != 0:
            s = s + 2 * a * b * (w[k].T @ tw)
        if k > 0:
            s = s + 2 * torch.diag(t[k - 1])
            pivots.insert(0, s)
    # the last pass (k = 0) has no T_0 term: it left s = -(P + B^T S_1^{-1} B)
    return -s, pivots


def certify_multipliers(
    net: SlopeNetwork, multipliers: list[torch.Tensor] | tuple[torch.Tensor, ...]
) -> tuple[float, dict]:
    """A certified Lipschitz bound from diagonal multipliers, or `NotCertified`.

    Everything is recomputed in float64 on the CPU-or-given device; each pivot
    ``S_k`` must have smallest eigenvalue above ``n eps ||S_k||`` (so rounding cannot
    flip its sign), and ``lambda_max`` is inflated by ``n eps ||.||`` for the same
    reason.

    Returns:
        ``(L, details)`` with ``details["min_pivot_eigenvalue"]`` (the smallest
        eigenvalue over all pivots: the margin of ``-C(T) > 0``) and ``details["rho"]``.

    Raises:
        ValueError: a non-finite weight; multipliers of the wrong shape. NotCertified
        (a ValueError): negative or non-finite multipliers, or ``-C(T)`` not safely > 0.

    Examples:
        >>> eye = torch.eye(2, dtype=torch.float64)
        >>> net = SlopeNetwork((eye, 3 * eye), ((0.0, 1.0),))  # f = 3 relu(x)
        >>> round(certify_multipliers(net, [torch.full((2,), 9.0)])[0], 6)
        3.0
    """
    net = as_network(net).to(dtype=torch.float64)
    if net.depth == 0:
        sigma = float(torch.linalg.matrix_norm(net.weights[0], 2))
        return sigma, {"rho": sigma**2, "min_pivot_eigenvalue": float("inf")}
    if not isinstance(multipliers, (list, tuple)) or len(multipliers) != net.depth:
        raise TypeError(f"multipliers must be a list of {net.depth} tensors (one per hidden "
                        f"layer), got {_inputs.describe_sequence(multipliers)}")
    mults = [_inputs.real_tensor(m, f"multipliers[{k}]", finite=False).to(
        net.weights[0].device).detach() for k, m in enumerate(multipliers)]
    for k, m in enumerate(mults):
        if m.shape != (net.weights[k].shape[0],):
            raise ValueError(f"multipliers[{k}] must have shape ({net.weights[k].shape[0]},), "
                             f"got {tuple(m.shape)}")
        if not bool(torch.all(m >= 0)) or not bool(torch.all(torch.isfinite(m))):
            raise NotCertified(f"multipliers[{k}] must be finite and >= 0")
    target, pivots = schur_rho(net, mults)
    if target is None:
        raise NotCertified("a Schur pivot of -C(T) is not positive definite (Cholesky failed)")
    margin = float("inf")
    for s in pivots:
        ev = torch.linalg.eigvalsh(s)
        tol = s.shape[0] * _EPS64 * float(ev.abs().max())
        if float(ev[0]) <= tol:
            raise NotCertified(f"-C(T) is not safely positive definite: pivot eigenvalue "
                               f"{float(ev[0]):.3e} <= rounding tolerance {tol:.3e}")
        margin = min(margin, float(ev[0]))
    ev = torch.linalg.eigvalsh((target + target.T) / 2)
    rho = float(ev[-1]) + target.shape[0] * _EPS64 * float(ev.abs().max())
    return max(rho, 0.0) ** 0.5, {"rho": rho, "min_pivot_eigenvalue": margin}


def scalar_feasible_multipliers(net: SlopeNetwork) -> list[torch.Tensor]:
    """Multipliers ``T_k = t_k I`` with ``-C(T) > 0`` for any slopes (a start point).

    Backward: ``t_l = ||W_l||^2`` makes ``S_l = 2 t_l I - W_l^T W_l >= t_l I``; then
    ``t_k = lambda_max(A_k)`` for ``S_k = 2 t_k I - A_k`` makes ``S_k >= t_k I``.
    Used where ECLipsE-Fast does not apply (``alpha < 0``) or does not certify.

    Examples:
        >>> eye = torch.eye(2, dtype=torch.float64)
        >>> scalar_feasible_multipliers(SlopeNetwork((eye, 3 * eye), ((0.0, 1.0),)))
        [tensor([9., 9.], dtype=torch.float64)]
    """
    w = as_network(net).weights
    depth = net.depth
    tiny = torch.finfo(torch.float64).tiny ** 0.5
    t = [None] * depth
    t[depth - 1] = max(float(torch.linalg.matrix_norm(w[depth], 2)) ** 2, tiny)
    s = 2 * t[depth - 1] * torch.eye(w[depth].shape[1], dtype=w[0].dtype) - w[depth].T @ w[depth]
    for k in range(depth - 1, 0, -1):
        a, b = net.slopes[k]
        g = torch.linalg.solve_triangular(torch.linalg.cholesky(s), t[k] * w[k], upper=False)
        pressure = (a + b) ** 2 * (g.T @ g) - 2 * a * b * t[k] * (w[k].T @ w[k])
        t[k - 1] = max(float(torch.linalg.eigvalsh(pressure)[-1]), tiny)
        s = 2 * t[k - 1] * torch.eye(w[k].shape[1], dtype=w[0].dtype) - pressure
    return [torch.full((w[k].shape[0],), t[k], dtype=w[0].dtype) for k in range(depth)]

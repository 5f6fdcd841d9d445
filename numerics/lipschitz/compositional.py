r"""Closed-form compositional upper bounds: product of spectral norms, ECLipsE-Fast."""

from __future__ import annotations

import torch

from numerics.lipschitz.network import SlopeNetwork, as_network


def spectral_product(net: SlopeNetwork) -> float:
    r"""``Lip(f) <= prod_k ||W_k||_2 * prod_k max(|alpha_k|, |beta_k|)``.

    Each activation is ``max(|alpha|, |beta|)``-Lipschitz and operator norms are
    submultiplicative (Szegedy et al. 2014; AutoLip, Scaman & Virmaux 2018).

    Examples:
        >>> eye = torch.eye(2, dtype=torch.float64)
        >>> spectral_product(SlopeNetwork((2 * eye, 3 * eye), ((0.0, 1.0),)))
        6.0
    """
    net = as_network(net)
    value = 1.0
    for w in net.weights:
        value *= float(torch.linalg.matrix_norm(w, 2))
    for a, b in net.slopes:
        value *= max(abs(a), abs(b))
    return value


def eclipse_fast(net: SlopeNetwork) -> tuple[float, list[torch.Tensor]]:
    r"""ECLipsE-Fast (Xu & Sivaranjani, NeurIPS 2024): a closed-form LipSDP-Neuron point.

    For slopes in ``[0, beta_k]`` and ``m_k = beta_k / 2``: ``X_0 = I``,

    .. math::
        l_k = \frac{1}{2 m_k^2 \lambda_{\max}(W_{k-1} X_{k-1}^{-1} W_{k-1}^\top)},\qquad
        X_k = l_k I - l_k^2 m_k^2 W_{k-1} X_{k-1}^{-1} W_{k-1}^\top,

    ``L = sqrt(lambda_max(W_l^T W_l X_l^{-1}))``. This is the forward block elimination
    of the LipSDP-Neuron matrix at ``T_k = L^2 l_k I / 2``, so those multipliers are
    feasible; they are returned so that the caller certifies them (and gets the exact
    Schur bound for them, never above ``L``).

    Activations with ``alpha_k > 0`` (LeakyReLU) are also slope-restricted in
    ``[0, beta_k]``, which is what is used; ``alpha_k < 0`` (SiLU, GELU, Mish) is
    outside the published method and raises ``ValueError``.

    Returns:
        ``(L, multipliers)`` with ``multipliers[k]`` of shape ``(n_{k+1},)``.

    Examples:
        >>> eye = torch.eye(2, dtype=torch.float64)
        >>> round(eclipse_fast(SlopeNetwork((2 * eye, 3 * eye), ((0.0, 1.0),)))[0], 6)
        6.0
    """
    net = as_network(net)
    if any(a < 0 for a, _ in net.slopes):
        raise ValueError(
            "eclipse-fast needs activation slopes alpha >= 0 (ReLU, LeakyReLU, tanh, "
            "sigmoid, ...); for SiLU/GELU/Mish use method='fast-certified' or 'lipsdp-neuron'"
        )
    w = net.weights
    x_chol = None  # Cholesky factor of X_{k-1}; X_0 = I
    scales = []
    for k, (_, beta) in enumerate(net.slopes):
        m2 = (beta / 2) ** 2
        wx = w[k] if x_chol is None else torch.linalg.solve_triangular(
            x_chol, w[k].T, upper=False).T  # W X^{-1/2}-type factor: (W L^{-T})
        gram = wx @ wx.T  # W_{k-1} X_{k-1}^{-1} W_{k-1}^T
        lam = float(torch.linalg.eigvalsh(gram)[-1])
        if lam <= 0:  # a zero layer: f is constant
            return 0.0, [torch.zeros(x.shape[0], dtype=x.dtype) for x in w[:-1]]
        lk = 1.0 / (2 * m2 * lam)
        # X_k = l_k I - l_k^2 m_k^2 G = l_k (I - G / (2 lambda)): l_k^2 alone overflows or
        # underflows for weights far from unit scale
        x = lk * (torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)
                  - gram / (2 * lam))
        x_chol = torch.linalg.cholesky(x)
        scales.append(lk)
    wl = torch.linalg.solve_triangular(x_chol, w[-1].T, upper=False).T
    rho = float(torch.linalg.eigvalsh(wl.T @ wl)[-1]) if wl.shape[0] >= wl.shape[1] \
        else float(torch.linalg.eigvalsh(wl @ wl.T)[-1])
    mults = [torch.full((w[k].shape[0],), rho * lk / 2, dtype=w[k].dtype, device=w[k].device)
             for k, lk in enumerate(scales)]
    return rho**0.5, mults

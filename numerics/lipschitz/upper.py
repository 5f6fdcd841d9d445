"""`lipschitz_upper`: certified upper bounds for ``nn.Sequential`` MLPs, one entry point."""

from __future__ import annotations

import time
from typing import Literal

import torch
from torch import nn

from numerics.lipschitz.certificate import (
    NotCertified,
    certify_multipliers,
    scalar_feasible_multipliers,
)
from numerics.lipschitz.compositional import eclipse_fast, spectral_product
from numerics.lipschitz.estimate import LipschitzEstimate
from numerics.lipschitz.fast import fast_certified
from numerics.lipschitz.lipsdp import lipsdp
from numerics.lipschitz.network import (
    SlopeNetwork,
    as_network,
    check_device,
    network_from_sequential,
)

UpperMethod = Literal["fast-certified", "eclipse-fast", "spectral-product", "lipsdp-neuron",
                      "lipsdp-layer"]
UPPER_METHODS: tuple[str, ...] = ("fast-certified", "eclipse-fast", "spectral-product",
                                  "lipsdp-neuron", "lipsdp-layer")
# Keyword options each method takes (None: any solver option, checked by the solver).
_OPTIONS: dict[str, set[str] | None] = {
    "fast-certified": {"smoothing", "max_iter", "max_seconds", "tolerance", "dtype"},
    "lipsdp": None,
    "none": set(),
}


def _start(net: SlopeNetwork) -> list[torch.Tensor]:
    """A strictly feasible multiplier set: ECLipsE-Fast's where it applies and certifies."""
    if all(a == 0 for a, _ in net.slopes):
        mults = eclipse_fast(net)[1]
        try:
            certify_multipliers(net, mults)
            return mults
        except NotCertified:
            pass
    return scalar_feasible_multipliers(net)


def lipschitz_upper(
    model: nn.Module | SlopeNetwork,
    method: UpperMethod = "fast-certified",
    input_slice: slice | list[int] | torch.Tensor | None = None,
    *,
    solver: str = "SCS",
    device: str | torch.device = "cpu",
    **options,
) -> LipschitzEstimate:
    r"""A certified upper bound on the Lipschitz constant (Euclidean norms) of an MLP.

    .. math:: |f(x) - f(y)|_2 \le L\,|x - y|_2 \quad \text{for all } x, y
              \text{ differing only in the columns of ``input_slice``}.

    Methods, loosest to tightest (all sound; the LipSDP-type ones are checked in
    float64 through the Schur complement of the LipSDP-Neuron matrix, never through a
    solver's reported objective):

    - ``"spectral-product"``: ``prod ||W_k|| prod max(|alpha_k|, |beta_k|)``.
    - ``"eclipse-fast"``: ECLipsE-Fast (Xu & Sivaranjani 2024), closed form, then its
      multipliers certified (needs slopes ``alpha >= 0``).
    - ``"lipsdp-layer"`` / ``"lipsdp-neuron"``: LipSDP (Fazlyab et al. 2019) via cvxpy
      (``solver="SCS"`` default, ``"CLARABEL"`` for small nets).
    - ``"fast-certified"`` (default): LipSDP-Neuron's value by L-BFGS on the smoothed
      Schur objective (`numerics.lipschitz.fast`), warm-started from ECLipsE-Fast;
      runs on ``device`` (``"cuda"``) too.

    Assumptions: ``f = W_l phi_l(... phi_1(W_0 x + b_0) ...) + b_l`` with elementwise
    activations slope-restricted to ``[alpha_k, beta_k]`` (table in
    `numerics.lipschitz.network`); inputs outside ``input_slice`` (observation, time)
    enter additively through ``W_0``, so one bound holds for all their values.

    Args:
        model: ``nn.Sequential`` of ``nn.Linear`` and supported activations (or a
            `SlopeNetwork`).
        method: one of `UPPER_METHODS`.
        input_slice: the varying input columns (e.g. ``slice(0, d_noise)``); ``None`` = all.
        solver: cvxpy solver for the LipSDP methods.
        device: torch device for ``"fast-certified"``.
        **options: passed to the method (``max_iter``, ``smoothing`` for fast-certified;
            solver options such as ``eps`` for LipSDP).

    Returns:
        `LipschitzEstimate` with ``kind="upper"``; ``details`` holds the certificate's
        ``min_pivot_eigenvalue`` (margin of ``-C(T) > 0``) for LipSDP-type methods.

    Raises:
        TypeError: ``model`` is not an MLP of supported layers; an option the method does
            not take.
        ValueError: unknown ``method``, bad ``input_slice``, a non-finite weight, a bad
            option value (``max_iter``, ``tolerance``, ``device`` without CUDA, ``solver``,
            ``form``), or a method that does not apply (eclipse-fast with negative slopes),
            gave up at its time limit or could not be certified.

    Examples:
        >>> torch.manual_seed(0)
        <torch._C.Generator object at ...>
        >>> model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))
        >>> est = lipschitz_upper(model)
        >>> est.kind, est.value <= lipschitz_upper(model, "spectral-product").value
        ('upper', True)
    """
    if not isinstance(method, str) or method not in UPPER_METHODS:
        raise ValueError(f"method must be one of {UPPER_METHODS}, got {method!r}")
    allowed = _OPTIONS["fast-certified" if method == "fast-certified" else (
        "lipsdp" if method.startswith("lipsdp") else "none")]
    unknown = sorted(set(options) - allowed) if allowed is not None else []
    if unknown:
        raise TypeError(f"unknown option(s) {unknown} for method {method!r}; it takes "
                        f"{sorted(allowed) or 'none'}")
    check_device(device)
    began = time.perf_counter()
    if isinstance(model, SlopeNetwork):
        net = as_network(model, "model")
        if input_slice is not None:
            net = SlopeNetwork((net.weights[0][:, input_slice], *net.weights[1:]), net.slopes)
    else:
        net = network_from_sequential(model, input_slice)
    net = net.reduced_input()
    details: dict = {"depth": net.depth, "widths": [w.shape[1] for w in net.weights]}
    if net.depth == 0:
        value = float(torch.linalg.matrix_norm(net.weights[0], 2))
        return LipschitzEstimate(value, "upper", method, time.perf_counter() - began,
                                 {**details, "linear": True})
    try:
        if method == "spectral-product":
            value = spectral_product(net)
        elif method == "eclipse-fast":
            closed, mults = eclipse_fast(net)
            value, cert = certify_multipliers(net, mults)
            details.update(cert, closed_form=closed)
        elif method == "fast-certified":
            value, cert = fast_certified(net, _start(net), device=device, **options)
            details.update(cert)
        else:
            start = _start(net)
            value, cert = lipsdp(net, method.removeprefix("lipsdp-"), solver, start, **options)
            details.update(cert)
    except NotCertified as exc:
        raise ValueError(f"{method}: no certified bound ({exc})") from exc
    return LipschitzEstimate(value, "upper", method, time.perf_counter() - began, details)

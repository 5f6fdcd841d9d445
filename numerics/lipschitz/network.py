"""A feed-forward network as the bounds see it: weight matrices and slope intervals.

`SlopeNetwork` holds ``f(x) = W_l phi_l(W_{l-1} ... phi_1(W_0 x + b_0) ... ) + b_l``
with every activation ``phi_k`` acting elementwise and slope-restricted to
``[alpha_k, beta_k]``: ``alpha_k <= (phi(u) - phi(v)) / (u - v) <= beta_k``. Biases do
not enter any Lipschitz bound, so they are dropped (an observation or time input that
enters additively through the first layer is a bias for the noise: see ``input_slice``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from numerics import _inputs

# Slope intervals, rounded outward from a fine grid of the derivative
# (min/max of phi' over [-20, 20] at spacing 1e-5; the extrema lie near 0).
_FIXED_SLOPES: dict[type, tuple[float, float]] = {
    nn.ReLU: (0.0, 1.0),
    nn.ReLU6: (0.0, 1.0),
    nn.Tanh: (0.0, 1.0),
    nn.Hardtanh: (0.0, 1.0),
    nn.Sigmoid: (0.0, 0.25),
    nn.Softplus: (0.0, 1.0),
    nn.SiLU: (-0.09984, 1.09984),
    nn.Mish: (-0.11253, 1.08850),
    nn.Identity: (1.0, 1.0),
}
_GELU_SLOPES = {"none": (-0.12891, 1.12891), "tanh": (-0.12900, 1.12900)}


def activation_slopes(layer: nn.Module) -> tuple[float, float]:
    """The slope interval ``[alpha, beta]`` of an elementwise activation module.

    Raises:
        TypeError: for a module that is not a supported activation.
        ValueError: a LeakyReLU ``negative_slope`` or ELU ``alpha`` that is not finite.

    Examples:
        >>> activation_slopes(nn.ReLU()), activation_slopes(nn.LeakyReLU(0.1))
        ((0.0, 1.0), (0.1, 1.0))
    """
    if isinstance(layer, nn.LeakyReLU):
        a = _inputs.real_scalar(layer.negative_slope, "LeakyReLU negative_slope")
        return (min(a, 1.0), max(a, 1.0))
    if isinstance(layer, nn.ELU):
        a = _inputs.real_scalar(layer.alpha, "ELU alpha")
        return (0.0, max(1.0, a)) if a > 0 else (a, 1.0)
    if isinstance(layer, nn.GELU):
        return _GELU_SLOPES[layer.approximate]
    if type(layer) in _FIXED_SLOPES:
        return _FIXED_SLOPES[type(layer)]
    raise TypeError(
        f"unsupported layer {type(layer).__name__}: the Lipschitz bounds take nn.Sequential "
        "MLPs of nn.Linear and slope-restricted activations (ReLU, LeakyReLU, ReLU6, ELU, "
        "Tanh, Hardtanh, Sigmoid, Softplus, SiLU, GELU, Mish, Identity, Dropout)"
    )


@dataclass(frozen=True)
class SlopeNetwork:
    """Weights ``W_0..W_l`` (float64) and the slopes of the ``l`` hidden activations.

    Attributes:
        weights: ``W_k`` of shape ``(n_{k+1}, n_k)``; ``n_0`` the input width (after
            ``input_slice``), ``n_{l+1}`` the output width.
        slopes: ``((alpha_1, beta_1), ..., (alpha_l, beta_l))``.

    Raises:
        TypeError: weights that are not 2-d real torch tensors, slopes that are not pairs of
            real numbers. ValueError: a non-finite weight or slope, ``alpha > beta``, widths
            that do not chain, or not ``len(weights) - 1`` slope pairs (each named).
    """

    weights: tuple[torch.Tensor, ...]
    slopes: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        # Checked once here, so that every bound taking a SlopeNetwork gets a consistent,
        # finite network (a NaN weight or a slope interval with alpha > beta has no bound).
        weights, slopes = _checked_layers(self.weights, self.slopes)
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "slopes", slopes)

    @property
    def depth(self) -> int:
        """Number of hidden (activation) layers ``l``."""
        return len(self.slopes)

    def to(self, device: str | torch.device | None = None,
           dtype: torch.dtype | None = None) -> SlopeNetwork:
        """The same network with its weights on ``device`` and in ``dtype``."""
        return SlopeNetwork(tuple(w.to(device=device, dtype=dtype) for w in self.weights),
                            self.slopes)

    def reduced_input(self) -> SlopeNetwork:
        """Replace ``W_0 = U S V^T`` (thin SVD) by ``U S``: every bound here depends on
        ``W_0`` only through ``W_0^T (.) W_0``, whose nonzero spectrum ``V`` does not
        change, so wide inputs cost nothing (measured: 834 -> 100 for MNIST)."""
        w0 = self.weights[0]
        if w0.shape[1] <= w0.shape[0]:
            return self
        u, s, _ = torch.linalg.svd(w0, full_matrices=False)
        return SlopeNetwork((u * s, *self.weights[1:]), self.slopes)


def check_device(device) -> torch.device:
    """``device`` as a `torch.device`, or ``ValueError`` (bad name, CUDA absent)."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device must be a torch device such as 'cpu' or 'cuda', got "
                         f"{device!r}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} but CUDA is not available; use device='cpu'")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    return dev


def _checked_layers(weights, slopes) -> tuple[tuple[torch.Tensor, ...],
                                              tuple[tuple[float, float], ...]]:
    if not isinstance(weights, (tuple, list)) or not weights:
        raise TypeError(f"weights must be a non-empty tuple of 2-d torch tensors W_0..W_l, "
                        f"got {type(weights).__name__}")
    if not isinstance(slopes, (tuple, list)):
        raise TypeError(f"slopes must be a tuple of (alpha, beta) pairs, got "
                        f"{type(slopes).__name__}")
    if len(weights) != len(slopes) + 1:
        raise ValueError(f"slopes must hold one (alpha, beta) pair per hidden layer: "
                         f"{len(weights)} weights need {len(weights) - 1} slopes, got "
                         f"{len(slopes)}")
    checked = []
    for k, w in enumerate(weights):
        w = _inputs.real_tensor(w, f"weights[{k}] (the network's weight {k})", ndim=2,
                                dtype=None, shape="(n_out, n_in)", tensor_only=True)
        if checked and w.shape[1] != checked[-1].shape[0]:
            raise ValueError(f"weights[{k}] has shape {tuple(w.shape)} but must take the "
                             f"{checked[-1].shape[0]} outputs of weights[{k - 1}]: shape "
                             f"({w.shape[0]}, {checked[-1].shape[0]})")
        checked.append(w)
    pairs = []
    for k, pair in enumerate(slopes):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"slopes[{k}] must be an (alpha, beta) pair, got {pair!r}")
        a = _inputs.real_scalar(pair[0], f"slopes[{k}] alpha")
        b = _inputs.real_scalar(pair[1], f"slopes[{k}] beta")
        if not a <= b:
            raise ValueError(f"slopes[{k}] must have alpha <= beta, got ({a!r}, {b!r})")
        pairs.append((a, b))
    return tuple(checked), tuple(pairs)


def as_network(net, name: str = "net") -> SlopeNetwork:
    """``net`` if it is a valid `SlopeNetwork`, else ``TypeError``/``ValueError`` naming
    ``name``. Checked again at each use: the weight tensors can be changed in place after
    construction."""
    if not isinstance(net, SlopeNetwork):
        raise TypeError(f"{name} must be a SlopeNetwork (from network_from_sequential), got "
                        f"{type(net).__name__}")
    try:
        _checked_layers(net.weights, net.slopes)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{name} is not a valid network: {exc}") from None
    return net


def _flatten(model: nn.Module) -> list[nn.Module]:
    if isinstance(model, nn.Sequential):
        return [leaf for child in model for leaf in _flatten(child)]
    return [model]


def _select_columns(w: torch.Tensor, input_slice: slice | list[int] | torch.Tensor | None):
    if input_slice is None:
        return w
    try:
        cols = w[:, input_slice]
    except (IndexError, TypeError) as exc:
        raise ValueError(
            f"input_slice must select columns of the first weight (shape {tuple(w.shape)}): "
            f"a slice, a list of indices or an index tensor, got {input_slice!r}"
        ) from exc
    if cols.ndim != 2 or cols.shape[1] == 0:
        raise ValueError(
            f"input_slice selects no input column of {tuple(w.shape)}: {input_slice!r}")
    return cols


def network_from_sequential(
    model: nn.Module, input_slice: slice | list[int] | torch.Tensor | None = None
) -> SlopeNetwork:
    """Read a ``nn.Sequential`` MLP into a `SlopeNetwork`.

    Linear layers with no activation between them are multiplied together (exact);
    a final activation gets an identity output layer; ``nn.Dropout`` and
    ``nn.Identity`` between linears are skipped (dropout in eval mode is the identity).

    Args:
        model: ``nn.Sequential`` of ``nn.Linear`` and activations (nested allowed).
        input_slice: the input columns that vary (e.g. the noise block of a
            ``(noise, observation, time)`` input); only those columns of ``W_0`` count.

    Raises:
        TypeError: not a Sequential, or an unsupported layer (named in the message).
        ValueError: the network starts with an activation, stacks two activations,
            ``input_slice`` selects nothing, or a weight is not finite.

    Examples:
        >>> net = network_from_sequential(nn.Sequential(nn.Linear(3, 4), nn.ReLU(),
        ...                                             nn.Linear(4, 2)), slice(0, 2))
        >>> [tuple(w.shape) for w in net.weights], net.slopes
        ([(4, 2), (2, 4)], ((0.0, 1.0),))
    """
    if not isinstance(model, nn.Sequential):
        raise TypeError(
            f"model must be a torch.nn.Sequential MLP for certified upper bounds, got "
            f"{type(model).__name__}; for any callable use lipschitz_lower"
        )
    weights: list[torch.Tensor] = []
    slopes: list[tuple[float, float]] = []
    pending: torch.Tensor | None = None  # product of consecutive linears
    for layer in _flatten(model):
        if isinstance(layer, nn.Linear):
            w = layer.weight.detach().to(torch.float64)
            pending = w if pending is None else w @ pending
        elif isinstance(layer, nn.Dropout) or type(layer) is nn.Identity:
            continue
        else:
            slope = activation_slopes(layer)
            if pending is None:
                raise ValueError(
                    f"activation {type(layer).__name__} must follow an nn.Linear: the bounds "
                    "take Linear -> activation -> ... -> Linear networks"
                )
            weights.append(pending)
            slopes.append(slope)
            pending = None
    if not weights and pending is None:
        raise ValueError("model has no nn.Linear layer")
    if pending is None:  # ends with an activation: f = I phi(...)
        pending = torch.eye(weights[-1].shape[0], dtype=torch.float64)
    weights.append(pending)
    weights[0] = _select_columns(weights[0], input_slice)
    return SlopeNetwork(tuple(w.cpu() for w in weights), tuple(slopes))

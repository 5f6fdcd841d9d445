"""`lipschitz_lower`: empirical lower bounds for any batched torch map.

Both methods return a constant *attained* by points they found, so the true Lipschitz
constant (or, with ``region``, the supremum of the Jacobian norm near the region: T4's
local form) is at least the value:

- ``"gradient-ascent"``: ``max_x ||J_f(x)||_2`` by multi-start ascent. At each point the
  top singular value is found by power iteration on ``J^T J`` with `torch.func.jvp` /
  `torch.func.vjp` (never a full Jacobian, so large outputs such as action chunks cost
  two passes per iteration), then ``x`` moves along the gradient of ``|J(x) u|`` (the
  singular value's gradient at a simple top singular value).
- ``"difference-quotient"``: ``max |f(x) - f(y)| / |x - y|`` over pairs: each start
  with random directions at several radii, and random pairs of starts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

import torch
from torch import nn

from numerics import _inputs
from numerics.lipschitz.estimate import LipschitzEstimate
from theory._args import integer_at_least, positive

LowerMethod = Literal["gradient-ascent", "difference-quotient"]


def _flat(model: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda x: model(x).reshape(x.shape[0], -1)


def _infer_dim(model) -> int:
    if isinstance(model, nn.Module):
        for layer in model.modules():
            if isinstance(layer, nn.Linear):
                return layer.in_features
    raise ValueError("inputs is None and the input width cannot be read from the model: "
                     "pass inputs (a batch of points, shape (n, d)) or input_dim")


def _callable_dtype(model, d: int) -> torch.dtype:
    """The dtype of the default starts for a plain callable: torch's default dtype, or float64
    if the callable refuses that (a closure over a float64 network)."""
    for dtype in dict.fromkeys((torch.get_default_dtype(), torch.float64)):
        try:
            with torch.no_grad():
                model(torch.zeros(1, d, dtype=dtype))
        except RuntimeError:
            continue
        return dtype
    raise TypeError(f"model fails on inputs of shape (1, {d}) in float32 and float64: pass "
                    "inputs (starting points of the dtype and shape it takes)")


def _mask(d: int, input_slice, device) -> torch.Tensor:
    mask = torch.zeros(d, dtype=torch.bool, device=device)
    if input_slice is None:
        mask[:] = True
        return mask
    try:
        mask[input_slice] = True
    except (IndexError, TypeError) as exc:
        raise ValueError(f"input_slice must select input columns (width {d}), got "
                         f"{input_slice!r}") from exc
    if not bool(mask.any()):
        raise ValueError(f"input_slice selects no input column (width {d}): {input_slice!r}")
    return mask


def _describe_tensor(x) -> str:
    if isinstance(x, torch.Tensor):
        return f"a {x.dtype} tensor of shape {tuple(x.shape)}"
    return type(x).__name__


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm(dim=1, keepdim=True).clamp_min(torch.finfo(v.dtype).tiny)


# Below this many Jacobian entries per sample the full Jacobian (one batched reverse pass,
# torch.func.vmap of jacrev) and an exact SVD are cheaper than power iteration, whose 2
# passes per iteration dominate for small maps run through many Python-level steps.
FULL_JACOBIAN_ENTRIES = 4096
MAX_POWER = 10_000
MAX_STEPS = 100_000
MAX_STARTS = 1 << 16


def jacobian_norm(f, x: torch.Tensor, mask: torch.Tensor, n_power: int,
                  generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample ``||J_f(x_i)||`` restricted to the ``mask`` columns.

    Small Jacobians (``out * d <= FULL_JACOBIAN_ENTRIES``) are formed and their top singular
    value computed exactly; larger ones by power iteration on ``J^T J`` with
    `torch.func.jvp`/`vjp` (``n_power`` iterations, never a full Jacobian).

    Returns ``(sigma, u)``: ``sigma[i] = |J(x_i) u_i| <= ||J(x_i)||`` (equal for the exact
    path, a converging lower estimate otherwise) and the right singular vectors ``u``.

    Examples:
        >>> f = lambda x: x @ torch.tensor([[3.0, 0.0], [0.0, 1.0]])
        >>> s, _ = jacobian_norm(f, torch.ones(1, 2), torch.ones(2, dtype=torch.bool), 5,
        ...                      torch.Generator().manual_seed(0))
        >>> round(float(s[0]), 4)
        3.0
    """
    _inputs.callable_arg(f, "f", "torch map (n, d) -> (n, ...)")
    x = _inputs.real_tensor(x, "x", ndim=2, dtype=None, shape="(n, d)", tensor_only=True)
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        raise TypeError(f"mask must be a bool tensor of shape ({x.shape[1]},) (the input "
                        f"columns that vary), got {_describe_tensor(mask)}")
    if mask.shape != (x.shape[1],):
        raise ValueError(f"mask must have shape ({x.shape[1]},) (one entry per input column), "
                         f"got {tuple(mask.shape)}")
    n_power = integer_at_least(n_power, "n_power", 1, MAX_POWER)
    _inputs.instance(generator, "generator", torch.Generator, "a torch.Generator")
    return _jacobian_norm(f, x, mask, n_power, generator)


def _jacobian_norm(f, x: torch.Tensor, mask: torch.Tensor, n_power: int,
                   generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """`jacobian_norm` on checked arguments (the ascent's trial points may leave the finite
    range; their NaN norms are rejected by the caller)."""
    f = _flat(f)
    with torch.no_grad():
        out_dim = f(x[:1]).shape[1]
    if out_dim * x.shape[1] <= FULL_JACOBIAN_ENTRIES:
        def single(z):
            return f(z[None])[0]
        try:
            jac = torch.func.vmap(torch.func.jacrev(single))(x) * mask
        except RuntimeError:  # not vmap-compatible (data-dependent control flow): power path
            jac = None
        if jac is not None:
            _, sv, vh = torch.linalg.svd(jac, full_matrices=False)
            return sv[:, 0], vh[:, 0, :]
    u = _unit(torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device) * mask)
    _, vjp_fn = torch.func.vjp(f, x)
    for _ in range(n_power):
        ju = torch.func.jvp(f, (x,), (u,))[1]
        u = _unit(vjp_fn(ju)[0] * mask)
    ju = torch.func.jvp(f, (x,), (u,))[1]
    return ju.norm(dim=1), u


def _inside(region, x: torch.Tensor) -> torch.Tensor:
    return torch.ones(x.shape[0], dtype=torch.bool, device=x.device) if region is None \
        else region(x).reshape(-1).to(torch.bool)


def _gradient_ascent(f, x, mask, region, n_steps, step_size, n_power, gen):
    moving = not isinstance(region, torch.Tensor)
    member = None if isinstance(region, torch.Tensor) else region
    with torch.no_grad():
        best, u = _jacobian_norm(f, x, mask, n_power, gen)
    best = torch.where(_inside(member, x), best, torch.zeros_like(best))
    best_x = x.clone()
    if not moving:
        return best, best_x, 0

    def singular_value(z, direction):
        return torch.func.jvp(_flat(f), (z,), (direction,))[1].norm(dim=1).sum()

    steps = 0
    for _ in range(n_steps):
        grad = torch.func.grad(singular_value)(x, u) * mask
        if not bool(torch.any(grad.norm(dim=1) > 0)):
            break  # piecewise-linear map inside one linear region: nothing to climb
        scale = step_size * x[:, mask].norm(dim=1, keepdim=True).clamp_min(1.0)
        trial = (x + scale * _unit(grad)).detach()
        with torch.no_grad():
            sigma, u_trial = _jacobian_norm(f, trial, mask, n_power, gen)
        ok = _inside(member, trial) & torch.isfinite(sigma)
        x = torch.where(ok[:, None], trial, x)
        u = torch.where(ok[:, None], u_trial, u)
        better = ok & (sigma > best)
        best = torch.where(better, sigma, best)
        best_x = torch.where(better[:, None], trial, best_x)
        steps += 1
    return best, best_x, steps


def _quotient(fx, fy, x, y):
    # Rounding in f's output must not inflate a lower bound: shrink each output gap by
    # 8 eps (|f(x)| + |f(y)|) (a few ulps per component) and use the gap between the
    # stored inputs, not the nominal radius.
    eps = torch.finfo(fx.dtype).eps
    num = ((fy - fx).abs() - 8 * eps * (fx.abs() + fy.abs())).clamp_min(0).double().norm(dim=1)
    gap = (y.double() - x.double()).norm(dim=1)
    return torch.where(gap > 0, num / gap.clamp_min(1e-300), torch.zeros_like(gap))


def _difference_quotient(f, x, mask, radii, gen):
    f = _flat(f)
    with torch.no_grad():
        fx = f(x)
        quotients = []
        for r in radii:
            y = x + r * _unit(torch.randn(x.shape, generator=gen, dtype=x.dtype,
                                          device=x.device) * mask)
            quotients.append(_quotient(fx, f(y), x, y))
        if x.shape[0] > 1:
            perm = torch.randperm(x.shape[0], generator=gen, device="cpu").to(x.device)
            y = torch.where(mask, x[perm], x)
            quotients.append(_quotient(fx, f(y), x, y))
    return torch.stack(quotients).amax(dim=0)


def lipschitz_lower(
    model: Callable[[torch.Tensor], torch.Tensor],
    inputs: torch.Tensor | None = None,
    *,
    method: LowerMethod = "gradient-ascent",
    n_starts: int = 32,
    region: Callable[[torch.Tensor], torch.Tensor] | torch.Tensor | None = None,
    input_slice: slice | list[int] | torch.Tensor | None = None,
    seed: int = 0,
    input_dim: int | None = None,
    n_steps: int = 50,
    step_size: float = 0.05,
    n_power: int = 20,
    radii: tuple[float, ...] = (0.1, 1.0),
) -> LipschitzEstimate:
    r"""An empirical lower bound on the Lipschitz constant of a batched map.

    .. math:: \mathrm{Lip}(f) \ge \sup_x \|J_f(x)\|_2 \ge \text{value},\qquad
              \mathrm{Lip}(f) \ge |f(x) - f(y)| / |x - y|.

    Args:
        model: any callable mapping a batch ``(n, d)`` to ``(n, ...)`` (outputs are
            flattened per sample), sample-wise independent (no batch statistics).
        inputs: starting points / sample points, shape ``(n, d)``; by default
            ``n_starts`` standard-normal points (the Gaussian base of T2-T6).
        method: ``"gradient-ascent"`` or ``"difference-quotient"``.
        n_starts: how many default starting points (ignored when ``inputs`` is given).
        region: restrict to a region (T4's local form): a tensor of points (evaluate only
            there, no moves), or a membership function ``x -> bool (n,)`` (ascent moves
            that leave it are rejected; starts outside it count as 0).
        input_slice: the varying input columns (noise); the others stay fixed.
        seed: seed of the random directions and default starts (reported in details).
        input_dim: input width when ``inputs`` is None and the model has no ``nn.Linear``.
        n_steps, step_size: ascent steps; a step moves ``step_size * max(1, |x|)``.
        n_power: power iterations per Jacobian norm.
        radii: difference-quotient radii. Output gaps are shrunk by a few ulps so that
            rounding cannot lift the quotient above the true constant (up to the model's
            own evaluation error).

    Limits: ``n_starts <= 65536``, ``n_steps <= 100000``, ``n_power <= 10000``.

    Returns:
        `LipschitzEstimate` with ``kind="lower"``; ``details["argmax"]`` is the best point.

    Raises:
        ValueError: NaN/inf inputs, bad sizes or options (named). TypeError: not callable.

    Reference: the "local Lipschitz" estimates of Scaman & Virmaux (2018), T4 (docs).

    Examples:
        >>> lin = torch.nn.Linear(2, 2, bias=False)
        >>> _ = lin.weight.data.copy_(torch.tensor([[2.0, 0.0], [0.0, 0.5]]))
        >>> round(lipschitz_lower(lin, n_starts=4).value, 4)
        2.0
    """
    if not isinstance(method, str) or method not in ("gradient-ascent", "difference-quotient"):
        raise ValueError(f"method must be 'gradient-ascent' or 'difference-quotient', "
                         f"got {method!r}")
    if not callable(model):
        raise TypeError(f"model must be a callable torch map, got {type(model).__name__}")
    n_starts = integer_at_least(n_starts, "n_starts", 1, MAX_STARTS)
    n_steps = integer_at_least(n_steps, "n_steps", 0, MAX_STEPS)
    n_power = integer_at_least(n_power, "n_power", 1, MAX_POWER)
    step_size = positive(step_size, "step_size")
    seed = _inputs.seed(seed)
    if not isinstance(radii, (tuple, list)) or not radii:
        raise TypeError(f"radii must be a non-empty tuple of positive numbers, got {radii!r}")
    for r in radii:
        positive(r, "radii")
    began = time.perf_counter()
    gen = torch.Generator().manual_seed(_inputs.torch_seed(seed))
    if isinstance(region, torch.Tensor):
        inputs = region
    elif region is not None and not callable(region):
        raise TypeError(f"region must be None, a tensor of points or a membership function, "
                        f"got {type(region).__name__}")
    if inputs is None:
        d = (integer_at_least(input_dim, "input_dim", 1, 1 << 24) if input_dim is not None
             else _infer_dim(model))
        dtype = next((p.dtype for p in model.parameters()), torch.get_default_dtype()) \
            if isinstance(model, nn.Module) else _callable_dtype(model, d)
        inputs = torch.randn(n_starts, d, generator=gen, dtype=dtype)
    x = _inputs.real_tensor(inputs, "inputs", ndim=2, dtype=None, shape="(n, d)",
                            tensor_only=True).detach()
    if x.shape[0] == 0:
        raise ValueError("inputs must hold at least one point (shape (n, d) with n >= 1)")
    mask = _mask(x.shape[1], input_slice, x.device)
    if method == "gradient-ascent":
        values, x, steps = _gradient_ascent(model, x, mask, region, n_steps, step_size,
                                            n_power, gen)
        extra = {"ascent_steps": steps, "n_power": n_power}
    else:
        if callable(region) and not isinstance(region, torch.Tensor):
            x = x[_inside(region, x)]
            if x.shape[0] == 0:
                raise ValueError("no input lies in region")
        values = _difference_quotient(model, x, mask, radii, gen)
        extra = {"radii": tuple(radii)}
    values = torch.nan_to_num(values.detach(), nan=0.0)
    i = int(torch.argmax(values))
    return LipschitzEstimate(float(values[i]), "lower", method, time.perf_counter() - began,
                             {"seed": int(seed), "n_points": int(x.shape[0]),
                              "argmax": x[i].detach().cpu(), **extra})

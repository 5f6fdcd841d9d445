r"""Flow maps of samplers, their Lipschitz constants, and T6's product certificates.

A deterministic sampler maps base noise ``x_0 ~ N(0, I)`` to an action by integrating
``dx/dt = v(x, t)`` on ``[t0, t1]`` (flow matching, probability-flow ODE) or by DDIM
updates of a noise-prediction model. Its Lipschitz constant in ``x_0`` is the ``L`` of
Part T. This module gives

- `integrate_flow`: Euler, Heun, RK4 and DDIM in torch (differentiable, batched);
- `flow_lipschitz_lower`: a lower bound on the flow map's constant (multi-start
  Jacobian power iteration through the whole solver, `numerics.lipschitz`);
- `flow_lipschitz_upper`: the certified product of per-step bounds (T6);
- `ideal_velocity`, `ideal_velocity_jacobian`: the closed-form flow-matching velocity for
  a point-mass mixture target, a ground truth for tests.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Literal

import torch

from numerics import _inputs
from numerics.lipschitz import LipschitzEstimate, lipschitz_lower
from theory import _args
from theory._args import integer_at_least

FlowMethod = Literal["euler", "heun", "rk4", "ddim"]
FLOW_METHODS = ("euler", "heun", "rk4", "ddim")
Velocity = Callable[[torch.Tensor, float], torch.Tensor]
MAX_STEPS = 10_000  # steps of one sampler (a Python loop per step)
_STAGES = {"euler": 1, "heun": 2, "rk4": 3, "ddim": 1}


def _grid(n_steps: int, t0: float, t1: float) -> list[float]:
    return [t0 + (t1 - t0) * j / n_steps for j in range(n_steps + 1)]


def _check_method(method: str) -> None:
    if not isinstance(method, str) or method not in FLOW_METHODS:
        raise ValueError(f"method must be one of {FLOW_METHODS}, got {method!r}")


def _forward_interval(t0, t1) -> tuple[float, float]:
    """``t0 < t1``, both finite: a certified bound is for the map the sampler computes, which
    integrates forward (``t1 < t0`` would make every ``h`` negative and the per-step factors
    ``1 + h l`` smaller than 1 for an expanding map)."""
    t0 = float(_args.finite(t0, "t0"))
    t1 = float(_args.finite(t1, "t1"))
    if not t1 > t0:
        raise ValueError(f"t1 must be greater than t0 (forward integration), got t0={t0!r}, "
                         f"t1={t1!r}")
    return t0, t1


def _alpha_bars(alpha_bars, n_steps: int) -> torch.Tensor:
    if alpha_bars is None:
        raise ValueError("method='ddim' needs alpha_bars: the cumulative alpha at the "
                         f"{n_steps + 1} grid points, from noisy to clean")
    ab = _schedule(alpha_bars)
    if ab.shape[0] != n_steps + 1:
        raise ValueError(f"alpha_bars must have n_steps + 1 = {n_steps + 1} entries, "
                         f"got {ab.shape[0]}")
    if not bool(torch.all((ab > 0) & (ab <= 1))):
        raise ValueError(f"alpha_bars must lie in (0, 1], got {ab.tolist()}")
    return ab


def _schedule(alpha_bars) -> torch.Tensor:
    """``alpha_bars`` as a finite float64 vector (the checks of its values follow)."""
    ab = _inputs.real_tensor(alpha_bars, "alpha_bars")
    if ab.ndim > 1:
        raise ValueError(f"alpha_bars must be a vector (n_steps + 1,), got shape "
                         f"{tuple(ab.shape)}")
    return ab.reshape(-1)


def ddim_coefficients(alpha_bars) -> tuple[torch.Tensor, torch.Tensor]:
    r"""DDIM's deterministic update ``x_{j+1} = a_j x_j + b_j eps(x_j, t_j)`` (Song et al.
    2021, eta = 0): with ``abar`` the cumulative alphas along the sampling path,

    .. math:: a_j = \sqrt{\bar a_{j+1} / \bar a_j},\qquad
              b_j = \sqrt{1 - \bar a_{j+1}} - \sqrt{\bar a_{j+1} (1 - \bar a_j) / \bar a_j}.

    Args:
        alpha_bars: shape ``(n_steps + 1,)``, values in ``(0, 1]``.

    Returns:
        ``(a, b)``, float64 tensors of shape ``(n_steps,)``.

    Examples:
        >>> a, b = ddim_coefficients([0.25, 1.0])
        >>> float(a[0]), round(float(b[0]), 4)
        (2.0, -1.7321)
    """
    ab = _schedule(alpha_bars)
    if ab.shape[0] < 2 or not bool(torch.all((ab > 0) & (ab <= 1))):
        raise ValueError(f"alpha_bars must hold >= 2 values in (0, 1], got {ab.tolist()}")
    now, nxt = ab[:-1], ab[1:]
    return torch.sqrt(nxt / now), torch.sqrt(1 - nxt) - torch.sqrt(nxt * (1 - now) / now)


def integrate_flow(
    velocity: Velocity,
    x0: torch.Tensor,
    n_steps: int,
    method: FlowMethod = "euler",
    *,
    t0: float = 0.0,
    t1: float = 1.0,
    alpha_bars=None,
    return_path: bool = False,
) -> torch.Tensor | list[torch.Tensor]:
    r"""Integrate ``dx/dt = v(x, t)`` from ``x(t0) = x0`` on the uniform grid
    ``t_j = t0 + j h``, ``h = (t1 - t0) / n_steps``.

    - Euler: ``x + h v(x, t)``.
    - Heun: ``x + h/2 (k_1 + k_2)``, ``k_1 = v(x, t)``, ``k_2 = v(x + h k_1, t + h)``.
    - RK4: the classical four-stage method.
    - DDIM: ``velocity`` is a noise-prediction model ``eps(x, t)`` and the update is
      ``x_{j+1} = a_j x_j + b_j eps(x_j, t_j)`` (`ddim_coefficients`); the grid times
      are passed to the model (map them to its own timestep labels inside it).

    Args:
        velocity: ``v(x, t)`` with ``x`` of shape ``(n, d)`` and ``t`` a float.
        x0: shape ``(n, d)`` (or ``(..., n, d)``: leading batch dimensions pass through).
        n_steps: number of steps (``>= 1``).
        method: "euler", "heun", "rk4" or "ddim".
        alpha_bars: for DDIM, shape ``(n_steps + 1,)``, noisy to clean.
        return_path: return the list ``[x_0, .., x_n]`` instead of ``x_n``.

    Returns:
        ``x(t1)`` of shape ``(n, d)`` (differentiable in ``x0``), or the path.

    Examples:
        >>> integrate_flow(lambda x, t: x, torch.ones(1, 1), 2).item()  # (1 + 1/2)^2
        2.25
    """
    _check_method(method)
    n_steps = integer_at_least(n_steps, "n_steps", 1, MAX_STEPS)
    _inputs.callable_arg(velocity, "velocity", "v(x, t)")
    x0 = _inputs.real_tensor(x0, "x0", dtype=None, shape="(n, d)", tensor_only=True)
    if x0.ndim < 2:
        raise ValueError(f"x0 must have shape (n, d) (leading batch dimensions allowed), got "
                         f"shape {tuple(x0.shape)}")
    return_path = _inputs.flag(return_path, "return_path")
    t0 = float(_args.finite(t0, "t0"))
    t1 = float(_args.finite(t1, "t1"))
    times = _grid(n_steps, float(t0), float(t1))
    h = (float(t1) - float(t0)) / n_steps
    if method == "ddim":
        a, b = ddim_coefficients(_alpha_bars(alpha_bars, n_steps))
    x, path = x0, [x0]
    for j, t in enumerate(times[:-1]):
        if method == "euler":
            x = x + h * velocity(x, t)
        elif method == "heun":
            k1 = velocity(x, t)
            x = x + h / 2 * (k1 + velocity(x + h * k1, t + h))
        elif method == "rk4":
            k1 = velocity(x, t)
            k2 = velocity(x + h / 2 * k1, t + h / 2)
            k3 = velocity(x + h / 2 * k2, t + h / 2)
            k4 = velocity(x + h * k3, t + h)
            x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        else:
            x = float(a[j]) * x + float(b[j]) * velocity(x, t)
        path.append(x)
    return path if return_path else x


def step_lipschitz_bound(method: FlowMethod, h: float, stage_lipschitz, *,
                         one_sided: float | None = None, a: float = 1.0, b: float = 0.0
                         ) -> float:
    r"""Certified Lipschitz bound of one solver step from bounds on its velocity stages.

    With ``l(s) >= Lip(v(., s))`` (and, for DDIM, ``l >= Lip(eps(., t_j))``) and a step
    ``h >= 0``:

    - Euler: ``1 + h l(t)``; with a one-sided bound ``mu >= sup_x lambda_max(sym J_v)``:
      ``sqrt(max(0, 1 + 2 h mu + h^2 l^2))`` (``|(I + hJ)u|^2 = |u|^2 + 2h u^T J u + h^2|Ju|^2``,
      and the mean-value Jacobian of a segment keeps both bounds).
    - Heun: ``1 + h/2 (l_1 + l_2 (1 + h l_1))``, ``l_1 = l(t)``, ``l_2 = l(t + h)``.
    - RK4: ``1 + h/6 (L_1 + 2 L_2 + 2 L_3 + L_4)`` with ``L_1 = l(t)``,
      ``L_2 = l(t+h/2)(1 + h L_1/2)``, ``L_3 = l(t+h/2)(1 + h L_2/2)``, ``L_4 = l(t+h)(1 + h L_3)``.
    - DDIM: ``|a_j| + |b_j| l(t_j)`` (``h`` unused).

    Args:
        method: "euler", "heun", "rk4" or "ddim".
        h: the step, finite and ``>= 0`` (a negative step integrates backwards, for which
            these factors are not bounds).
        stage_lipschitz: Euler/DDIM ``(l(t),)``; Heun ``(l(t), l(t+h))``;
            RK4 ``(l(t), l(t+h/2), l(t+h))``; each finite and ``>= 0``.
        one_sided: Euler only: ``mu``, finite and ``>= -l(t)`` (every field has
            ``sup lambda_max(sym J) >= -Lip``, so a smaller value is not a valid bound).
        a, b: DDIM's coefficients (finite).

    Returns:
        The step's certified Lipschitz bound (a float ``>= 0``).

    Examples:
        >>> step_lipschitz_bound("euler", 0.1, (2.0,))
        1.2
        >>> round(step_lipschitz_bound("euler", 0.1, (2.0,), one_sided=-1.0), 4)
        0.9165
    """
    _check_method(method)
    h = float(_args.nonnegative(h, "h"))
    try:
        ls = [float(v) for v in stage_lipschitz]
    except TypeError as exc:
        raise TypeError(f"stage_lipschitz must be a sequence of numbers, got "
                        f"{type(stage_lipschitz).__name__}") from exc
    if len(ls) < _STAGES[method]:
        raise ValueError(f"stage_lipschitz must hold {_STAGES[method]} bound(s) for "
                         f"{method!r}, got {len(ls)}")
    if any(not (v >= 0 and math.isfinite(v)) for v in ls):
        raise ValueError(f"stage Lipschitz bounds must be finite and >= 0, got {ls}")
    if one_sided is not None:
        if method != "euler":
            raise ValueError("one_sided is certified here only for method='euler'")
        mu = float(_args.finite(one_sided, "one_sided"))
        if mu < -ls[0]:
            raise ValueError(f"one_sided must be >= -l(t) = {-ls[0]!r} (sup lambda_max(sym J) "
                             f">= -||J||), got {mu!r}")
        return math.sqrt(max(0.0, 1 + 2 * h * mu + h * h * ls[0] ** 2))
    if method == "euler":
        return 1 + h * ls[0]
    if method == "heun":
        return 1 + h / 2 * (ls[0] + ls[1] * (1 + h * ls[0]))
    if method == "rk4":
        k1 = ls[0]
        k2 = ls[1] * (1 + h * k1 / 2)
        k3 = ls[1] * (1 + h * k2 / 2)
        k4 = ls[2] * (1 + h * k3)
        return 1 + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    a = float(_args.finite(a, "a"))
    b = float(_args.finite(b, "b"))
    return abs(a) + abs(b) * ls[0]


def flow_lipschitz_upper(
    lipschitz_at: Callable[[float], float],
    n_steps: int,
    method: FlowMethod = "euler",
    *,
    t0: float = 0.0,
    t1: float = 1.0,
    alpha_bars=None,
    one_sided_at: Callable[[float], float] | None = None,
) -> LipschitzEstimate:
    r"""T6: certified bound on the sampler's flow map, ``Lip(x_0 -> x_n) <= prod_j c_j``,
    with ``c_j`` the per-step bound of `step_lipschitz_bound` (Euler:
    ``prod_j (1 + h l(t_j))``; DDIM: ``prod_j (|a_j| + |b_j| l(t_j))``).

    The composition of Lipschitz maps is Lipschitz with the product constant, so the
    result is certified whenever the ``lipschitz_at`` values are (e.g. from
    ``lipschitz_upper(velocity_mlp, input_slice=slice(0, d))``, which for a velocity
    whose time enters additively is the same at every ``t``).

    Args:
        lipschitz_at: ``t -> `` an upper bound on ``Lip(v(., t))`` (or of ``eps(., t)``).
        n_steps, method, t0, t1, alpha_bars: as in `integrate_flow`.
        one_sided_at: optional ``t -> `` an upper bound on the one-sided constant
            ``sup_x lambda_max(sym J_v(x, t))`` (log-norm); sharpens Euler steps.

    Returns:
        `LipschitzEstimate` (``kind="upper"``); ``details["step_bounds"]`` per step.

    Raises:
        ValueError: ``t1 <= t0``, non-finite times, ``n_steps`` outside ``[1, 10000]``, or
        a ``lipschitz_at`` / ``one_sided_at`` value that is not a valid bound (NaN,
        negative, ``mu < -l``), named in the message.

    Examples:
        >>> round(flow_lipschitz_upper(lambda t: 1.0, 2).value, 12)  # (1 + 1/2)^2
        2.25
    """
    _check_method(method)
    n_steps = integer_at_least(n_steps, "n_steps", 1, MAX_STEPS)
    if one_sided_at is not None and method != "euler":
        raise ValueError("one_sided_at is certified here only for method='euler'")
    if not callable(lipschitz_at):
        raise TypeError(f"lipschitz_at must be a callable t -> bound, got "
                        f"{type(lipschitz_at).__name__}")
    if one_sided_at is not None and not callable(one_sided_at):
        raise TypeError(f"one_sided_at must be a callable t -> bound, got "
                        f"{type(one_sided_at).__name__}")
    began = time.perf_counter()
    t0, t1 = _forward_interval(t0, t1)
    times = _grid(n_steps, t0, t1)
    h = (t1 - t0) / n_steps
    if method == "ddim":
        a, b = ddim_coefficients(_alpha_bars(alpha_bars, n_steps))
    factors = []
    for j, t in enumerate(times[:-1]):
        if method in ("euler", "ddim"):
            stages = (lipschitz_at(t),)
        elif method == "heun":
            stages = (lipschitz_at(t), lipschitz_at(t + h))
        else:
            stages = (lipschitz_at(t), lipschitz_at(t + h / 2), lipschitz_at(t + h))
        kwargs = {"a": float(a[j]), "b": float(b[j])} if method == "ddim" else {}
        mu = one_sided_at(t) if one_sided_at is not None else None
        try:
            factors.append(step_lipschitz_bound(method, h, stages, one_sided=mu, **kwargs))
        except (TypeError, ValueError) as exc:
            what = "one_sided_at" if "one_sided" in str(exc) else "lipschitz_at"
            raise type(exc)(f"{what}({t!r}) gave an invalid bound: {exc}") from None
    # each factor and the product carry a few roundings: round the bound up past them
    value = math.prod(factors) * (1 + 16 * (len(factors) + 1) * 2.0**-52)
    return LipschitzEstimate(value, "upper", f"flow-product-{method}",
                             time.perf_counter() - began,
                             {"step_bounds": factors, "one_sided": one_sided_at is not None})


def flow_lipschitz_lower(velocity: Velocity, x0: torch.Tensor, n_steps: int,
                         method: FlowMethod = "euler", *, t0: float = 0.0, t1: float = 1.0,
                         alpha_bars=None, **lower_options) -> LipschitzEstimate:
    """Lower bound on the flow map's Lipschitz constant: `lipschitz_lower` applied to
    ``x_0 -> integrate_flow(velocity, x_0, ...)`` from the starts ``x0`` (shape
    ``(n, d)``), i.e. the largest Jacobian norm of the whole sampler found by
    jvp/vjp power iteration and multi-start ascent (``lower_options``: ``method=``
    "gradient-ascent" | "difference-quotient", ``n_steps`` of ascent is ``ascent_steps``,
    ``seed``, ``region``, ...). ``x0`` must be finite (``ValueError`` otherwise).

    Examples:
        >>> est = flow_lipschitz_lower(lambda x, t: x, torch.ones(2, 1), 2, ascent_steps=0)
        >>> round(est.value, 6)
        2.25
    """
    ascent = lower_options.pop("ascent_steps", 10)
    _check_method(method)
    n_steps = integer_at_least(n_steps, "n_steps", 1, MAX_STEPS)
    if not isinstance(x0, torch.Tensor):
        raise TypeError(f"x0 must be a torch.Tensor of shape (n, d), got {type(x0).__name__}")
    if not bool(torch.all(torch.isfinite(x0))):
        raise ValueError("x0 must be finite (found NaN or inf)")

    def flow_map(x):
        return integrate_flow(velocity, x, n_steps, method, t0=t0, t1=t1, alpha_bars=alpha_bars)

    est = lipschitz_lower(flow_map, x0, n_steps=ascent, **lower_options)
    return LipschitzEstimate(est.value, "lower", f"flow-{method}-{est.method}", est.seconds,
                             est.details)


def _posterior(x: torch.Tensor, t: float, centers: torch.Tensor, weights: torch.Tensor):
    # x_t = t x_1 + (1 - t) x_0: p(k | x_t) ∝ w_k N(x_t; t c_k, (1 - t)^2 I)
    # explicit differences, not torch.cdist: cdist's derivative under torch.func.jacrev
    # was measured wrong (torch 2.13), and the lower bounds differentiate through this
    sq = ((x[:, None, :] - t * centers[None]) ** 2).sum(-1)
    return torch.softmax(torch.log(weights) - sq / (2 * (1 - t) ** 2), dim=1)


def _mixture(x, t, centers, weights):
    x = _inputs.real_tensor(x, "x", ndim=2, dtype=None, shape="(n, d)")
    t = _inputs.real_scalar(t, "t", _args.probability)
    if not t < 1:
        raise ValueError(f"t must lie in [0, 1) (the velocity blows up at t = 1), got {t!r}")
    centers = _inputs.real_tensor(centers, "centers", dtype=x.dtype).to(x.device)
    weights = _inputs.real_tensor(weights, "weights", dtype=x.dtype).to(x.device)
    if centers.ndim != 2 or centers.shape[1] != x.shape[1] or centers.shape[0] == 0:
        raise ValueError(f"centers must have shape (K, {x.shape[1]}) with K >= 1, got "
                         f"{tuple(centers.shape)}")
    if weights.shape != (centers.shape[0],) or not bool(torch.all(weights > 0)):
        raise ValueError(f"weights must be {centers.shape[0]} positive numbers")
    return x, t, centers, weights / weights.sum()


def ideal_velocity(x: torch.Tensor, t: float, centers, weights) -> torch.Tensor:
    r"""Flow-matching velocity for the target ``sum_k w_k delta_{c_k}`` and the linear path
    ``x_t = t x_1 + (1 - t) x_0``, ``x_0 ~ N(0, I)`` (Lipman et al. 2023; docs/theory.md T8):

    .. math:: v(x, t) = \frac{E[x_1 | x_t = x] - x}{1 - t},\quad
              p(k | x) \propto w_k\, \mathcal N(x;\, t c_k,\, (1-t)^2 I).

    Args:
        x: ``(n, d)``; t in ``[0, 1)``; centers ``(K, d)``; weights ``(K,)`` positive.

    Examples:
        >>> c = torch.tensor([[1.0], [-1.0]])
        >>> ideal_velocity(torch.zeros(1, 1), 0.5, c, torch.tensor([0.5, 0.5])).item()
        0.0
    """
    x, t, centers, weights = _mixture(x, t, centers, weights)
    return (_posterior(x, t, centers, weights) @ centers - x) / (1 - t)


def ideal_velocity_jacobian(x: torch.Tensor, t: float, centers, weights) -> torch.Tensor:
    r"""Closed-form Jacobian of `ideal_velocity`:

    .. math:: \nabla_x v(x, t) = \frac{1}{1-t}\Big(\frac{t\,\mathrm{Cov}[x_1 | x_t = x]}
              {(1-t)^2} - I\Big),

    since ``grad_x log p(k|x) = t (c_k - E[x_1|x]) / (1 - t)^2``. Shape ``(n, d, d)``.
    It is unbounded as ``t -> 1`` near the boundary between two modes' basins.

    Examples:
        >>> c = torch.tensor([[1.0], [-1.0]])
        >>> ideal_velocity_jacobian(torch.zeros(1, 1), 0.5, c, torch.tensor([0.5, 0.5])).item()
        2.0
    """
    x, t, centers, weights = _mixture(x, t, centers, weights)
    p = _posterior(x, t, centers, weights)
    mean = p @ centers
    second = torch.einsum("nk,ki,kj->nij", p, centers, centers)
    cov = second - mean[:, :, None] * mean[:, None, :]
    eye = torch.eye(x.shape[1], dtype=x.dtype, device=x.device)
    return (t * cov / (1 - t) ** 2 - eye) / (1 - t)


__all__ = [
    "FLOW_METHODS", "integrate_flow", "ddim_coefficients", "step_lipschitz_bound",
    "flow_lipschitz_upper", "flow_lipschitz_lower", "ideal_velocity",
    "ideal_velocity_jacobian",
]

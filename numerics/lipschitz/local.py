r"""Certified Lipschitz constants of a sampler on a ball: interval Jacobians, branch and bound.

The local forms of Part T (``theory.max_mode_mass_local`` and its relatives, docs/theory.md)
need ``L_B``, the Lipschitz constant of the noise-to-sample map ``S`` on a convex set ``B``
of Gaussian mass ``1 - p``, not on all of ``R^d``. A global certificate
(`sampler_lipschitz_upper`) gives every neuron of every step its worst slope at once; on
trained flows it is 10^3-10^6 times the constant a search finds. Here ``B`` is the ball
``|eps| <= R`` and ``L_B`` is bounded by covering ``B`` with boxes:

.. math::
    L_B \le \max_{C} \sup_{\epsilon \in C} \|J_S(\epsilon)\|_2 ,

valid because ``B`` is convex (the segment between two points of ``B`` stays in ``B``,
and ``|S(x) - S(y)| \le \int_0^1 \|J_S(x + s(y - x))\| ds\,|x - y|``; for piecewise-linear
activations the Clarke Jacobian is enclosed as well).

**One box** ``C = c \pm r`` (ours; a mean-value form of interval arithmetic, Moore, Kearfott
& Cloud, *Introduction to Interval Analysis*, SIAM 2009, ch. 6). Through the unrolled
sampler (`unroll_sampler`: every stage is ``z = sum_r a_r y_r``, then ``y = f(z)`` or a clip)
each block carries its value at the centre, a box enclosing its values on ``C`` and an
interval matrix ``[J] = J_m \pm J_r`` enclosing its Jacobian in ``eps`` on ``C``:

- an affine map ``u = W y + b``: ``[J_u] = W J_m \pm |W| J_r``; the box of ``u`` is the
  intersection of the plain interval image ``W [y] + b`` and the mean-value form
  ``u(c) \pm (|W J_m| + |W| J_r) r``;
- an activation ``y = \phi(u)``: the derivative range ``[s] = \phi'([u])`` (the extremes of
  ``\phi'`` on the box: its end points, the zeros of ``\phi''`` and the kinks inside), then
  ``[J_y] = [s] \odot [J_u]`` and ``y \in \phi(u(c)) + [s]\,([u] - u(c))`` (intersected with
  ``[\phi(u_lo), \phi(u_hi)]`` for monotone ``\phi``);
- the box's bound: ``\sup_C \|J\| \le \min(\|J_m\| + \|J_r\|, \|\,|J_m| + J_r\|)`` (every ``J``
  with ``|J - J_m| \le J_r`` entrywise has these norms at most, since the spectral norm of a
  nonnegative matrix is monotone in its entries).

**Branch and bound.** A grid of boxes covers ``[-R, R]^d``; boxes that miss the ball are
dropped; the boxes with the largest bounds are bisected along their longest side (a child
keeps the smaller of its own and its parent's bound) until the largest bound is within
``tolerance`` of the largest exact Jacobian norm at a box centre inside ``B`` (a lower bound
on ``L_B``), or a cap (boxes, seconds) is reached. At every moment the largest bound over
the leaves is certified, so the caps only cost tightness. The cost grows like
``(R L / (tolerance \cdot \text{curvature scale}))^d``: this is for low-dimensional noise
(``d <= 4``; a chunk of one or two planar actions), not for long chunks.

**Arithmetic.** Everything is float64 without directed rounding; every box and every
Jacobian radius is widened by a relative ``2^-40`` at each operation (far above the
``~n u = 10^-14`` accumulated by these inner products) and the returned bound by a relative
``1e-9``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from scipy import optimize, stats
from torch import nn

from numerics import _inputs
from numerics.lipschitz.estimate import LipschitzEstimate
from numerics.lipschitz.fast import _one_cpu_thread
from numerics.lipschitz.network import _flatten
from numerics.lipschitz.sampler import MAX_STEPS, UnrolledSampler, _as_unrolled, _sampler_network
from theory import _args
from theory.gaussian import outside_ball_mass

MAX_DIM = 8  # state widths beyond this would need astronomically many boxes
MAX_CELLS = 10_000_000
_WIDEN = 2.0**-40  # relative widening of every enclosure per operation (see the docstring)
_MARGIN = 1e-9  # relative margin of the returned bound
_F64 = torch.float64

# Smooth activations: phi' is evaluated by autograd; its extremes inside an interval are at
# the zeros of phi'' (found once per activation on [-40, 40], where all of them lie for
# these functions: outside it phi' is monotone and within 1e-15 of its limit).
_SMOOTH = (nn.Tanh, nn.Sigmoid, nn.SiLU, nn.GELU, nn.Mish, nn.Softplus)
_MONOTONE = (nn.ReLU, nn.LeakyReLU, nn.ReLU6, nn.Hardtanh, nn.Tanh, nn.Sigmoid, nn.Softplus,
             nn.ELU)
SUPPORTED = ("Linear", "ReLU", "LeakyReLU", "ReLU6", "Hardtanh", "ELU", "Tanh", "Sigmoid",
             "Softplus", "SiLU", "GELU", "Mish", "Identity", "Dropout")


# ------------------------------------------------------------------------------------------
# Activations: values, derivatives and derivative ranges on intervals


def _derivative(act: nn.Module, u: torch.Tensor) -> torch.Tensor:
    """``phi'(u)`` elementwise (one-sided values at kinks are handled by `_kinks`)."""
    if isinstance(act, nn.LeakyReLU):
        return torch.where(u > 0, torch.ones_like(u),
                           torch.full_like(u, float(act.negative_slope)))
    if isinstance(act, (nn.ReLU, nn.ReLU6, nn.Hardtanh)):
        lo, hi = _linear_pieces(act)
        return ((u > lo) & (u < hi)).to(u.dtype)
    if isinstance(act, nn.ELU):
        return torch.where(u > 0, torch.ones_like(u), act.alpha * torch.exp(u))
    with torch.enable_grad():
        x = u.detach().clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(act(x).sum(), x)
    return grad.detach()


def _linear_pieces(act: nn.Module) -> tuple[float, float]:
    """The interval where a piecewise-linear activation has slope 1."""
    if isinstance(act, nn.ReLU):
        return 0.0, math.inf
    if isinstance(act, nn.ReLU6):
        return 0.0, 6.0
    return float(act.min_val), float(act.max_val)


def _kinks(act: nn.Module) -> list[tuple[float, tuple[float, ...]]]:
    """Points where ``phi'`` jumps or has a local extreme, with the values it takes there."""
    if isinstance(act, (nn.ReLU, nn.ReLU6, nn.Hardtanh)):
        lo, hi = _linear_pieces(act)
        return [(p, (0.0, 1.0)) for p in (lo, hi) if math.isfinite(p)]
    if isinstance(act, nn.LeakyReLU):
        return [(0.0, (float(act.negative_slope), 1.0))]
    if isinstance(act, nn.ELU):
        return [(0.0, (float(act.alpha), 1.0))]
    if isinstance(act, nn.Softplus) and math.isfinite(act.threshold):
        # torch switches to the identity above beta x = threshold: phi' jumps there
        p = float(act.threshold) / float(act.beta)
        return [(p, (float(torch.sigmoid(torch.tensor(act.threshold, dtype=_F64))), 1.0))]
    key = (type(act).__name__, getattr(act, "approximate", None), getattr(act, "beta", None))
    return [(c, (v,)) for c, v in _smooth_extremes(key, act)]


_EXTREMES: dict[tuple, tuple[tuple[float, float], ...]] = {}


def _smooth_extremes(key: tuple, act: nn.Module) -> tuple[tuple[float, float], ...]:
    """Zeros of ``phi''`` on ``[-40, 40]`` (sign changes on a grid of spacing 1e-3, then
    SciPy's ``brentq``) and ``phi'`` there."""
    if key in _EXTREMES:
        return _EXTREMES[key]

    def second(x: np.ndarray) -> np.ndarray:
        with torch.enable_grad():
            t = torch.as_tensor(np.atleast_1d(x), dtype=_F64).requires_grad_(True)
            (g,) = torch.autograd.grad(act(t).sum(), t, create_graph=True)
            (h,) = torch.autograd.grad(g.sum(), t)
        return h.detach().numpy()

    grid = np.linspace(-40.0, 40.0, 80_001)
    values = second(grid)
    out = []
    for i in np.flatnonzero(np.sign(values[:-1]) * np.sign(values[1:]) < 0):
        root = optimize.brentq(lambda x: float(second(np.array([x]))[0]), grid[i], grid[i + 1],
                               xtol=1e-14)
        d = float(_derivative(act, torch.tensor([root], dtype=_F64))[0])
        out.append((float(root), d))
    _EXTREMES[key] = tuple(out)
    return _EXTREMES[key]


def _slope_range(act: nn.Module, lo: torch.Tensor, hi: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """``[min, max]`` of ``phi'`` on ``[lo, hi]`` elementwise (widened outward)."""
    d_lo, d_hi = _derivative(act, lo), _derivative(act, hi)
    s_min, s_max = torch.minimum(d_lo, d_hi), torch.maximum(d_lo, d_hi)
    for point, values in _kinks(act):
        inside = (lo <= point) & (hi >= point)
        for v in values:
            s_min = torch.where(inside, torch.clamp(s_min, max=v), s_min)
            s_max = torch.where(inside, torch.clamp(s_max, min=v), s_max)
    pad = _WIDEN * (s_min.abs() + s_max.abs()) + 1e-15
    return s_min - pad, s_max + pad


def _clip_module(c: float) -> nn.Module:
    return nn.Hardtanh(-c, c)


# ------------------------------------------------------------------------------------------
# Interval-Jacobian propagation of a batch of boxes


class _Block:
    """A block's value at the box centres, its box on each box, and its Jacobian: the
    centre Jacobian ``jp`` (exact), the interval ``jm +- jr``. Shapes ``(B, w)`` and
    ``(B, w, d)``."""

    __slots__ = ("pc", "lo", "hi", "jp", "jm", "jr")

    def __init__(self, pc, lo, hi, jp, jm, jr):
        self.pc, self.lo, self.hi, self.jp, self.jm, self.jr = pc, lo, hi, jp, jm, jr


def _widen(x: torch.Tensor) -> torch.Tensor:
    return x * (1 + _WIDEN) + 1e-300


def _mean_value_box(pc, jm, jr, r, lo, hi):
    """Intersect ``[lo, hi]`` with ``pc +- (|jm| + jr) r``."""
    rad = _widen(((jm.abs() + jr) @ r[..., None])[..., 0])
    rad = rad + _WIDEN * pc.abs()
    return torch.maximum(lo, pc - rad), torch.minimum(hi, pc + rad)


def _combine(blocks: list[_Block], coeffs, r: torch.Tensor) -> _Block:
    terms = [(c, y) for c, y in zip(coeffs, blocks, strict=False) if c != 0]
    pc = sum(c * y.pc for c, y in terms)
    jp = sum(c * y.jp for c, y in terms)
    jm = sum(c * y.jm for c, y in terms)
    jr = _widen(sum(abs(c) * y.jr for c, y in terms) + _WIDEN * jm.abs())
    mid = sum(c * (y.lo + y.hi) / 2 for c, y in terms)
    rad = _widen(sum(abs(c) * (y.hi - y.lo) / 2 for c, y in terms) + _WIDEN * mid.abs())
    lo, hi = _mean_value_box(pc, jm, jr, r, mid - rad, mid + rad)
    return _Block(pc, lo, hi, jp, jm, jr)


def _matmul(w: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
    """``w @ j`` for a batch ``j`` of shape ``(B, w_in, d)``: einsum folds the batch into one
    matrix product, where ``@`` broadcasts ``w`` over the batch (5x slower at d = 2)."""
    return torch.einsum("oi,bid->bod", w, j)


def _affine(y: _Block, w: torch.Tensor, b: torch.Tensor, r: torch.Tensor) -> _Block:
    wa = w.abs()
    pc = y.pc @ w.T + b
    d = y.jp.shape[-1]
    jp, jm = _matmul(w, torch.cat([y.jp, y.jm], -1)).split(d, -1)
    jr = _widen(_matmul(wa, y.jr + _WIDEN * y.jm.abs()))
    mid = (y.lo + y.hi) / 2 @ w.T + b
    rad = _widen((y.hi - y.lo) / 2 @ wa.T + _WIDEN * ((y.lo + y.hi).abs() / 2 @ wa.T + b.abs()))
    lo, hi = _mean_value_box(pc, jm, jr, r, mid - rad, mid + rad)
    return _Block(pc, lo, hi, jp, jm, jr)


def _activation(u: _Block, act: nn.Module) -> _Block:
    s_lo, s_hi = _slope_range(act, u.lo, u.hi)
    sm, sr = (s_lo + s_hi) / 2, (s_hi - s_lo) / 2
    pc = act(u.pc)
    jp = _derivative(act, u.pc)[..., None] * u.jp
    jm = sm[..., None] * u.jm
    jr = _widen(sm.abs()[..., None] * u.jr + sr[..., None] * (u.jm.abs() + u.jr))
    dl, dh = u.lo - u.pc, u.hi - u.pc  # dl <= 0 <= dh
    products = torch.stack([s_lo * dl, s_lo * dh, s_hi * dl, s_hi * dh])
    pad = _WIDEN * (pc.abs() + products.abs().amax(0)) + 1e-300
    lo, hi = pc + products.amin(0) - pad, pc + products.amax(0) + pad
    if isinstance(act, _MONOTONE):
        lo = torch.maximum(lo, act(u.lo) - _WIDEN * act(u.lo).abs() - 1e-300)
        hi = torch.minimum(hi, act(u.hi) + _WIDEN * act(u.hi).abs() + 1e-300)
    return _Block(pc, lo, hi, jp, jm, jr)


def _layers(seq: nn.Sequential) -> list[tuple[str, Any]]:
    """``[("affine", (W, b)), ("act", module), ...]`` in float64, consecutive linears merged."""
    out: list[tuple[str, Any]] = []
    for layer in _flatten(seq):
        if isinstance(layer, nn.Linear):
            w = layer.weight.detach().to("cpu", _F64)
            b = (layer.bias.detach().to("cpu", _F64) if layer.bias is not None
                 else torch.zeros(w.shape[0], dtype=_F64))
            if out and out[-1][0] == "affine":
                w0, b0 = out[-1][1]
                out[-1] = ("affine", (w @ w0, w @ b0 + b))
            else:
                out.append(("affine", (w, b)))
        elif isinstance(layer, nn.Dropout) or type(layer) is nn.Identity:
            continue
        elif isinstance(layer, (*_SMOOTH, *_MONOTONE)):
            out.append(("act", layer.to(_F64)))
        else:
            raise TypeError(f"unsupported layer {type(layer).__name__}: the local certificate "
                            f"takes nn.Sequential MLPs of {', '.join(SUPPORTED)}")
    return out


class _Evaluator:
    """The unrolled sampler applied to batches of boxes."""

    def __init__(self, unrolled: UnrolledSampler, seq: nn.Sequential, state_dim: int,
                 condition):
        self.unrolled, self.d = unrolled, state_dim
        self.layers = _layers(seq)
        if self.layers[0][0] != "affine":
            raise ValueError("the network must start with an nn.Linear")
        w0, b0 = self.layers[0][1]
        self.w_state = w0[:, :state_dim]
        self.clip = None if unrolled.clip_range is None else _clip_module(unrolled.clip_range)
        self.biases: dict[float, torch.Tensor] = {}
        for step in unrolled.steps:
            for stage in step.stages:
                if stage.clip or stage.time in self.biases:
                    continue
                bias = b0.clone()
                if condition is not None:
                    c = condition(stage.time) if callable(condition) else condition
                    c = torch.as_tensor(c).detach().to("cpu", _F64).reshape(-1)
                    if c.numel() != w0.shape[1] - state_dim:
                        raise ValueError(
                            f"condition(t) must return one row of width {w0.shape[1] - state_dim}"
                            f" (the local certificate holds for one observation), got "
                            f"{c.numel()} values")
                    bias = bias + w0[:, state_dim:] @ c
                self.biases[stage.time] = bias

    def _network(self, z: _Block, bias: torch.Tensor, r: torch.Tensor) -> _Block:
        """``net([z, c(t)])`` on the boxes. Inside the network the Jacobians are taken in the
        network's own input ``z`` (its box: ``z.pc +- delta``), and composed with ``z``'s
        Jacobian in the noise only at the output: carrying the chain's radius through
        ``|W|`` at every layer of every step compounds ``|W_2||W_1|`` (10^14 over 8 steps
        on a trained flow), while composing ``d x d`` interval matrices does not."""
        n, dz = z.pc.shape
        delta = torch.maximum(z.hi - z.pc, z.pc - z.lo)
        eye = torch.eye(dz, dtype=_F64).expand(n, dz, dz)
        y = _Block(z.pc, z.lo, z.hi, eye, eye, torch.zeros_like(eye))
        y = _affine(y, self.w_state, bias, delta)
        # the first pre-activation also through the chain's mean-value form in the noise
        w = self.w_state
        chain_m, chain_r = _matmul(w, z.jm), _matmul(w.abs(), z.jr)
        y.lo, y.hi = _mean_value_box(y.pc, chain_m, chain_r, r, y.lo, y.hi)
        for kind, layer in self.layers[1:]:
            y = _affine(y, *layer, delta) if kind == "affine" else _activation(y, layer)
        jm = y.jm @ z.jm
        jr = _widen(y.jm.abs() @ z.jr + y.jr @ (z.jm.abs() + z.jr) + _WIDEN * jm.abs())
        jp = y.jp @ z.jp
        lo, hi = _mean_value_box(y.pc, jm, jr, r, y.lo, y.hi)
        return _Block(y.pc, lo, hi, jp, jm, jr)

    def __call__(self, centres: torch.Tensor, half: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``(upper, centre_norm)`` per box: the bound on ``sup_C ||J||`` and the exact
        ``||J(c)||``."""
        n, d = centres.shape
        eye = torch.eye(d, dtype=_F64).expand(n, d, d)
        x = _Block(centres, centres - half, centres + half, eye, eye, torch.zeros(n, d, d,
                                                                               dtype=_F64))
        for step in self.unrolled.steps:
            ys = [x]
            for stage in step.stages:
                z = _combine(ys, stage.inputs, half)
                if stage.clip:
                    ys.append(_activation(z, self.clip))
                else:
                    ys.append(self._network(z, self.biases[stage.time], half))
            x = _combine(ys, step.output, half)
        plain = torch.linalg.matrix_norm(x.jm, 2) + torch.linalg.matrix_norm(x.jr, 2)
        monotone = torch.linalg.matrix_norm(x.jm.abs() + x.jr, 2)
        upper = torch.minimum(plain, monotone) * (1 + 1e-12)
        upper = torch.where(torch.isfinite(upper), upper, torch.full_like(upper, math.inf))
        return upper, torch.linalg.matrix_norm(x.jp, 2)


# ------------------------------------------------------------------------------------------
# Branch and bound


def _radius(radius, outside_mass, d: int) -> float:
    if (radius is None) == (outside_mass is None):
        raise ValueError("give exactly one of radius= (of the ball |eps| <= R) and "
                         "outside_mass= (its Gaussian outside mass p, in (0, 1))")
    if radius is not None:
        return float(_inputs.real_scalar(radius, "radius", _args.positive))
    p = float(_inputs.real_scalar(outside_mass, "outside_mass", _args.probability))
    if not 0 < p < 1:
        raise ValueError(f"outside_mass must lie in (0, 1), got {p}")
    return float(math.sqrt(stats.chi2.isf(p, d)))


def _grid(radius: float, d: int, cells: int) -> tuple[torch.Tensor, torch.Tensor]:
    per = max(1, int(math.floor(cells ** (1.0 / d))))
    edges = torch.linspace(-radius, radius, per + 1, dtype=_F64)
    mids = (edges[:-1] + edges[1:]) / 2
    centres = torch.cartesian_prod(*([mids] * d)).reshape(-1, d)
    half = torch.full_like(centres, radius / per)
    return centres, half


def _meets_ball(centres: torch.Tensor, half: torch.Tensor, radius: float) -> torch.Tensor:
    gap = torch.clamp(centres.abs() - half, min=0.0)
    return (gap * gap).sum(1) <= radius * radius


def sampler_lipschitz_local(
    net: nn.Module,
    sampler: str | UnrolledSampler = "euler",
    n_steps: int | None = None,
    *,
    state_dim: int,
    condition: Callable[[float], torch.Tensor] | torch.Tensor | None = None,
    radius: float | None = None,
    outside_mass: float | None = None,
    tolerance: float = 0.05,
    max_cells: int = 400_000,
    max_seconds: float | None = 120.0,
    initial_cells: int = 4096,
    batch: int = 2048,
    **schedule,
) -> LipschitzEstimate:
    r"""Certified upper bound on ``L_B``, the sampler's Lipschitz constant on a ball ``B``.

    .. math:: |S(\epsilon) - S(\epsilon')| \le L_B\, |\epsilon - \epsilon'|
              \quad\text{for } |\epsilon|, |\epsilon'| \le R ,

    for one conditioning (one observation): ``S`` runs the sampler with
    ``f(z) = net([z, condition(t)])`` as `sampler_map` does. With
    ``p = theory.outside_ball_mass(R, d)`` (returned in ``details["outside_mass"]``) the
    local forms ``theory.max_mode_mass_local(L_B, Delta, p)``,
    ``theory.min_bridge_mass_local(L_B, Delta, p)``, ... apply. The method (module
    docstring): mean-value interval Jacobians on boxes covering ``B``, bisected where the
    bound is largest.

    Assumptions: ``net`` is an ``nn.Sequential`` of `SUPPORTED` layers (or a Module
    wrapping one and computing exactly it), input ``[state, condition(t)]``; ``condition``
    returns one row (the observation is fixed); the sampler has no injected noise (not
    ``"ddpm"``); ``state_dim <= MAX_DIM`` (the number of boxes grows exponentially with it).

    Args:
        net, sampler, n_steps, state_dim, condition, **schedule: as `sampler_lipschitz_upper`.
        radius: ``R`` of the ball ``|eps| <= R``; or
        outside_mass: ``p`` in ``(0, 1)``, and ``R`` is the radius with
            ``gamma_d(|eps| > R) = p`` (the chi-squared quantile). Give exactly one.
        tolerance: stop when the bound is within ``(1 + tolerance)`` of the largest exact
            Jacobian norm found at a box centre in ``B``.
        max_cells: cap on the boxes evaluated (``<= MAX_CELLS``); max_seconds: time cap
            (``None``: none). At a cap the certified bound so far is returned.
        initial_cells: boxes of the starting grid (about; ``<= max_cells``).
        batch: boxes bisected per round (memory ``~ batch x width x state_dim`` floats).

    Returns:
        `LipschitzEstimate` (kind ``"upper"``, method ``"sampler-local"``); ``details``:
        ``radius``, ``outside_mass``, ``lower`` (the largest ``||J(c)||`` at a box centre in
        ``B``: a lower bound on ``L_B``, so ``[lower, value]`` brackets it), ``lower_point``,
        ``cells`` (evaluated), ``leaves``, ``converged`` (tolerance met), ``stopped``
        (``"tolerance" | "max_cells" | "max_seconds"``).

    Raises:
        TypeError: unsupported layers. ValueError: bad sizes, schedule or arguments (named).

    Examples:
        >>> torch.manual_seed(0)
        <torch._C.Generator object at ...>
        >>> v = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 2))
        >>> est = sampler_lipschitz_local(v, "euler", 4, state_dim=2, radius=3.0,
        ...                               condition=lambda t: torch.tensor([t]))
        >>> est.details["lower"] <= est.value <= 1.06 * est.details["lower"]
        True
    """
    began = time.perf_counter()
    unrolled = _as_unrolled(sampler, n_steps, schedule)
    if unrolled.n_noise_blocks > 0:
        raise ValueError("the local certificate takes samplers without injected noise "
                         "('ddpm' adds noise at every step); use sampler_lipschitz_upper")
    if len(unrolled.steps) > MAX_STEPS:  # an UnrolledSampler or timesteps built by hand
        raise ValueError(f"at most {MAX_STEPS} steps, got {len(unrolled.steps)}")
    state_dim = _args.integer_at_least(state_dim, "state_dim", 1, MAX_DIM)
    tolerance = float(_inputs.real_scalar(tolerance, "tolerance", _args.positive))
    max_cells = _args.integer_at_least(max_cells, "max_cells", 1, MAX_CELLS)
    initial_cells = _args.integer_at_least(initial_cells, "initial_cells", 1, max_cells)
    batch = _args.integer_at_least(batch, "batch", 1, 1_000_000)
    if max_seconds is not None:
        max_seconds = float(_inputs.real_scalar(max_seconds, "max_seconds", _args.nonnegative))
    r = _radius(radius, outside_mass, state_dim)
    if not (condition is None or callable(condition) or isinstance(condition, torch.Tensor)):
        raise TypeError("condition must be a callable t -> tensor, a tensor or None")
    seq, _ = _sampler_network(net, unrolled, state_dim, condition)
    with _one_cpu_thread(torch.device("cpu")), torch.no_grad():
        evaluate = _Evaluator(unrolled, seq, state_dim, condition)
        centres, half = _grid(r, state_dim, initial_cells)
        keep = _meets_ball(centres, half, r)
        centres, half = centres[keep], half[keep]
        bounds, lower, where = _evaluate(evaluate, centres, half, r, batch)
        cells = centres.shape[0]
        stopped = "tolerance"
        while True:
            top = float(bounds.max())
            best = float(lower.max())
            if top <= (1 + tolerance) * best:
                break
            if cells >= max_cells:
                stopped = "max_cells"
                break
            if max_seconds is not None and time.perf_counter() - began > max_seconds:
                stopped = "max_seconds"
                break
            k = min(batch, centres.shape[0], max(1, (max_cells - cells) // 2))
            order = torch.topk(bounds, k).indices
            rest = torch.ones(centres.shape[0], dtype=torch.bool)
            rest[order] = False
            kids_c, kids_h, parents = _bisect(centres[order], half[order], bounds[order])
            inside = _meets_ball(kids_c, kids_h, r)
            kids_c, kids_h, parents = kids_c[inside], kids_h[inside], parents[inside]
            kid_bounds, kid_lower, kid_where = _evaluate(evaluate, kids_c, kids_h, r, batch)
            cells += kids_c.shape[0]
            kid_bounds = torch.minimum(kid_bounds, parents)
            centres = torch.cat([centres[rest], kids_c])
            half = torch.cat([half[rest], kids_h])
            bounds = torch.cat([bounds[rest], kid_bounds])
            if kid_lower.numel() and float(kid_lower.max()) > best:
                lower, where = kid_lower, kid_where
        value = float(bounds.max()) * (1 + _MARGIN)
    details = {"radius": r, "outside_mass": float(outside_ball_mass(r, state_dim)),
               "dim": state_dim, "lower": float(lower.max()),
               "lower_point": [float(v) for v in where], "cells": int(cells),
               "leaves": int(centres.shape[0]), "converged": stopped == "tolerance",
               "stopped": stopped, "tolerance": tolerance, "sampler": unrolled.name,
               "n_steps": len(unrolled.steps)}
    return LipschitzEstimate(value, "upper", "sampler-local", time.perf_counter() - began,
                             details)


def _evaluate(evaluate: _Evaluator, centres, half, radius: float, batch: int):
    """Bounds of every box, and the best centre Jacobian norm among centres inside ``B``."""
    bounds, lows, points = [], [], []
    for i in range(0, centres.shape[0], batch):
        c, h = centres[i:i + batch], half[i:i + batch]
        upper, at_centre = evaluate(c, h)
        bounds.append(upper)
        inside = (c * c).sum(1) <= radius * radius
        at_centre = torch.where(inside, at_centre, torch.zeros_like(at_centre))
        j = int(at_centre.argmax())
        lows.append(at_centre[j])
        points.append(c[j])
    if not bounds:
        empty = torch.zeros(0, dtype=_F64)
        return empty, empty, torch.zeros(centres.shape[1], dtype=_F64)
    lows_t = torch.stack(lows)
    j = int(lows_t.argmax())
    return torch.cat(bounds), lows_t[j:j + 1], points[j]


def _bisect(centres, half, bounds):
    """Split each box in two along its longest side; the children inherit the bound."""
    axis = half.argmax(1)
    rows = torch.arange(centres.shape[0])
    h = half.clone()
    h[rows, axis] = h[rows, axis] / 2
    shift = torch.zeros_like(centres)
    shift[rows, axis] = h[rows, axis]
    return (torch.cat([centres - shift, centres + shift]), torch.cat([h, h]),
            torch.cat([bounds, bounds]))


__all__ = ["sampler_lipschitz_local", "SUPPORTED", "MAX_DIM"]

r"""A whole-map lower bound that looks where multimodal maps are steep: mode transitions.

A push-forward ``T`` of a Gaussian that covers separated modes must cross the gap between
them somewhere, and there it is steep (docs/theory.md T4, local form: the supremum of ``||J_T||``
over the bridge preimage). `transition_lipschitz_lower` searches for that place:

1. **Pairs.** Draw base points ``x_i ~ N(0, I)``, push them, and rank pairs by
   ``|T(x_i) - T(x_j)| / |x_i - x_j|`` (or keep pairs whose labels differ, e.g. landing in
   different modes): each quotient is already a lower bound, and the best pairs straddle a
   transition.
2. **Segments.** Evaluate ``T`` densely on each segment ``[x_i, x_j]``, take the steepest
   sub-interval (largest consecutive difference quotient) and zoom into it a few times:
   the quotient converges to the directional derivative at the transition.
3. **Ascent.** From the steepest points, and from Gaussian starts at several radii (the
   constant is a supremum over all of ``R^d``, and trained maps are often steeper away from
   the bulk), power iteration on ``J^T J`` and ascent on ``||J||`` (`lipschitz_lower`),
   followed by a derivative-free random search (piecewise-linear maps have zero gradient
   of ``||J||``).

Every number reported is attained: a difference quotient of two evaluated points (output
gaps shrunk by a few ulps against rounding) or ``|J(x) u|`` with ``|u| = 1`` at an
evaluated point, so ``value <= Lip(T)`` up to the map's own floating-point error.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from numerics import _inputs
from numerics.lipschitz.estimate import LipschitzEstimate
from numerics.lipschitz.lower import _jacobian_norm, _quotient, _unit, lipschitz_lower
from theory import _args

MAX_SAMPLES = 1 << 16
MAX_DIM = 1 << 20


def _check_finite(x: torch.Tensor, name: str) -> None:
    if not bool(torch.all(torch.isfinite(x))):
        raise ValueError(f"{name} must be finite (found NaN or inf)")


def _top_pairs(x, y, n_pairs, labels, gen):
    """Indices ``(i, j)`` of the pairs with the largest difference quotients (distinct
    anchors ``i``); with labels, only pairs whose labels differ."""
    gaps = torch.cdist(y.double(), y.double())
    dist = torch.cdist(x.double(), x.double())
    quot = torch.where(dist > 0, gaps / dist.clamp_min(1e-300), torch.zeros_like(gaps))
    if labels is not None:
        quot = torch.where(labels[:, None] != labels[None, :], quot, torch.full_like(quot, -1.0))
    best_j = quot.argmax(dim=1)
    best = quot.gather(1, best_j[:, None])[:, 0]
    order = torch.argsort(best, descending=True)
    order = order[best[order] >= 0][:n_pairs]
    return order, best_j[order]


def _zoom(f, a, b, points, rounds):
    """Steepest sub-interval of each segment ``[a_k, b_k]``, zoomed ``rounds`` times.

    Returns ``(quotient, midpoint)`` per segment: the largest consecutive difference
    quotient seen and the middle of its interval. A segment stops zooming once its spacing
    falls below ``sqrt(eps) (1 + |x|)`` of the dtype: a sampler's forward error is many
    ulps of its output (8 Euler steps of a float32 flow gave a zoomed "quotient" of 22.8
    where the float64 map's Jacobian norm is at most 10.13), and at that spacing it stays
    far below the quotient."""
    n, d = a.shape
    frac = torch.linspace(0, 1, points, dtype=a.dtype, device=a.device)
    best = torch.zeros(n, dtype=torch.float64, device=a.device)
    best_mid = (a + b) / 2
    floor = torch.finfo(a.dtype).eps ** 0.5
    with torch.no_grad():
        for _ in range(rounds + 1):
            spacing = (b - a).double().norm(dim=1) / (points - 1)
            scale = 1 + torch.maximum(a.double().norm(dim=1), b.double().norm(dim=1))
            usable = spacing >= floor * scale
            if not bool(torch.any(usable)):
                break
            pts = a[:, None, :] + frac[None, :, None] * (b - a)[:, None, :]   # [n, P, d]
            out = f(pts.reshape(-1, d)).reshape(n, points, -1)
            q = _quotient(out[:, :-1].reshape(-1, out.shape[-1]),
                          out[:, 1:].reshape(-1, out.shape[-1]),
                          pts[:, :-1].reshape(-1, d), pts[:, 1:].reshape(-1, d)).reshape(n, -1)
            k = q.argmax(dim=1)
            top = q.gather(1, k[:, None])[:, 0]
            lo = pts[torch.arange(n), k]
            hi = pts[torch.arange(n), k + 1]
            better = (top > best) & usable
            best = torch.where(better, top, best)
            best_mid = torch.where(better[:, None], (lo + hi) / 2, best_mid)
            a, b = lo, hi
    return best, best_mid


def _random_search(f, x, sigma, n_power, rounds, width, gen):
    """Population search on ``||J(x)||``: each point tries ``width`` perturbations per round
    at a scale that grows after a success and shrinks otherwise, keeping the best. Works
    where the gradient of ``||J||`` vanishes (piecewise-linear maps)."""
    k, d = x.shape
    mask = torch.ones(d, dtype=torch.bool, device=x.device)
    scale = 0.3 * x.norm(dim=1).clamp_min(1.0)
    for _ in range(rounds):
        trial = (x[:, None, :] + scale[:, None, None] * _unit(torch.randn(
            k * width, d, generator=gen, dtype=x.dtype, device=x.device)).reshape(k, width, d))
        with torch.no_grad():
            s, _ = _jacobian_norm(f, trial.reshape(-1, d), mask, n_power, gen)
        s = torch.nan_to_num(s, nan=0.0).reshape(k, width)
        best, arg = s.max(dim=1)
        better = best > sigma
        pick = torch.arange(k) * width + arg
        x = torch.where(better[:, None], trial.reshape(-1, d)[pick], x)
        sigma = torch.where(better, best, sigma)
        scale = torch.where(better, scale * 1.5, scale * 0.7)
    return sigma, x


def transition_lipschitz_lower(
    f: Callable[[torch.Tensor], torch.Tensor],
    dim: int | None = None,
    *,
    inputs: torch.Tensor | None = None,
    labels: Callable[[torch.Tensor], torch.Tensor] | None = None,
    n_samples: int = 256,
    n_pairs: int = 16,
    segment_points: int = 33,
    zoom_rounds: int = 3,
    n_starts: int = 16,
    radii: tuple[float, ...] = (1.0, 3.0, 10.0),
    ascent_steps: int = 30,
    search_rounds: int = 40,
    n_power: int = 20,
    seed: int = 0,
    dtype: torch.dtype | None = None,
) -> LipschitzEstimate:
    r"""Lower bound on ``Lip(f)`` that hunts for sharp transitions between modes.

    .. math:: \mathrm{Lip}(f) \ge \max\Big(\max_{\text{pairs}}
              \frac{|f(x) - f(y)|}{|x - y|},\ \max_{\text{points}} |J_f(x)\, u|\Big),
              \quad |u| = 1,

    over the pairs and points the search evaluates (module docstring: pairs ranked by
    their quotient, dense zoomed segments between them, then Jacobian ascent and random
    search from the steepest points and from Gaussian starts at ``radii``).

    Args:
        f: batched map ``(n, dim) -> (n, ...)`` (outputs flattened per sample), sample-wise
            independent and differentiable almost everywhere (torch.func-compatible).
        dim: input width (the noise dimension); or give ``inputs``.
        inputs: base points to start from, shape ``(n, dim)``; default ``n_samples`` draws
            of ``N(0, I)``.
        labels: optional ``outputs (n, k) -> (n,)`` integer labels (e.g. the mode each
            sample lands in); pairs then join differently labelled samples.
        n_samples: base points (``<= 65536``); n_pairs: segments searched.
        segment_points, zoom_rounds: points per segment (``>= 3``) and zoom passes.
        n_starts, radii: Gaussian starts ``radius * N(0, I)`` per radius for the ascent.
        ascent_steps, search_rounds, n_power: Jacobian ascent steps, random-search rounds,
            power iterations per Jacobian norm.
        seed: seeds every random draw (reported in details).
        dtype: dtype of the base points (default: torch's default dtype).

    Returns:
        `LipschitzEstimate` (kind ``"lower"``, method ``"transition-search"``); details:
        ``pair_quotient``, ``segment_quotient``, ``jacobian`` (the best of each phase),
        ``argmax`` (the best point), ``seed``.

    Reference: docs/theory.md T4 (local form); Scaman & Virmaux (2018) for the ascent.

    Examples:
        >>> f = lambda x: torch.tanh(20 * x[:, :1])  # a sharp two-mode switch in x_0
        >>> est = transition_lipschitz_lower(f, 2, seed=0)
        >>> round(est.value, 1)  # the exact constant is 20
        20.0
    """
    if not callable(f):
        raise TypeError(f"f must be a callable torch map, got {type(f).__name__}")
    n_samples = _args.integer_at_least(n_samples, "n_samples", 2, MAX_SAMPLES)
    n_pairs = _args.integer_at_least(n_pairs, "n_pairs", 1, MAX_SAMPLES)
    segment_points = _args.integer_at_least(segment_points, "segment_points", 3, 4096)
    zoom_rounds = _args.integer_at_least(zoom_rounds, "zoom_rounds", 0, 50)
    n_starts = _args.integer_at_least(n_starts, "n_starts", 0, MAX_SAMPLES)
    ascent_steps = _args.integer_at_least(ascent_steps, "ascent_steps", 0, 100_000)
    search_rounds = _args.integer_at_least(search_rounds, "search_rounds", 0, 100_000)
    n_power = _args.integer_at_least(n_power, "n_power", 1, 10_000)
    seed = _inputs.seed(seed)
    if not isinstance(radii, (tuple, list)):
        raise TypeError(f"radii must be a tuple of positive numbers, got {type(radii).__name__}")
    radii = tuple(float(_args.positive(r, "radii")) for r in radii)
    if labels is not None and not callable(labels):
        raise TypeError("labels must be a callable outputs -> integer labels")
    began = time.perf_counter()
    gen = torch.Generator().manual_seed(_inputs.torch_seed(seed))
    if inputs is None:
        if dim is None:
            raise ValueError("pass dim (the input width) or inputs")
        dim = _args.integer_at_least(dim, "dim", 1, MAX_DIM)
        x = torch.randn(n_samples, dim, generator=gen,
                        dtype=dtype or torch.get_default_dtype())
    else:
        if not isinstance(inputs, torch.Tensor) or inputs.ndim != 2 or inputs.shape[0] < 2:
            raise ValueError(f"inputs must be a tensor of shape (n, d) with n >= 2, got "
                             f"{getattr(inputs, 'shape', type(inputs).__name__)}")
        x = inputs.detach()
        _check_finite(x, "inputs")
        dim = x.shape[1]
    with torch.no_grad():
        y = f(x).reshape(x.shape[0], -1)
    _check_finite(y, "f(inputs)")
    lab = None
    if labels is not None:
        lab = torch.as_tensor(labels(y)).reshape(-1)
        if lab.shape[0] != x.shape[0]:
            raise ValueError(f"labels must return one label per sample ({x.shape[0]}), got "
                             f"{lab.shape[0]}")
    i, j = _top_pairs(x, y, n_pairs, lab, gen)
    pair_q = float(_quotient(y[i], y[j], x[i], x[j]).max()) if len(i) else 0.0
    seg_q, mids = (_zoom(f, x[i], x[j], segment_points, zoom_rounds) if len(i)
                   else (torch.zeros(0, dtype=torch.float64), x[:0]))
    starts = [mids] + [r * torch.randn(n_starts, dim, generator=gen, dtype=x.dtype)
                       for r in radii if n_starts]
    starts = torch.cat(starts)
    ascent = lipschitz_lower(f, starts, n_steps=ascent_steps, n_power=n_power, seed=seed)
    best_x = ascent.details["argmax"][None].to(x.dtype)
    jac = ascent.value
    if search_rounds:
        mask = torch.ones(dim, dtype=torch.bool)
        cand = torch.cat([starts, best_x])
        with torch.no_grad():
            sig, _ = _jacobian_norm(f, cand, mask, n_power, gen)
        sig = torch.nan_to_num(sig, nan=0.0)
        top = torch.argsort(sig, descending=True)[:max(1, min(8, len(sig)))]
        s, xs = _random_search(f, cand[top], sig[top], n_power, search_rounds, 8, gen)
        k = int(torch.argmax(s))
        if float(s[k]) > jac:
            jac, best_x = float(s[k]), xs[k:k + 1]
    seg_best = float(seg_q.max()) if len(seg_q) else 0.0
    value = max(pair_q, seg_best, jac)
    if value == seg_best and len(seg_q):
        argmax = mids[int(seg_q.argmax())]
    elif value == pair_q and len(i):
        argmax = x[i[0]]
    else:
        argmax = best_x[0]
    return LipschitzEstimate(value, "lower", "transition-search", time.perf_counter() - began,
                             {"pair_quotient": pair_q, "segment_quotient": seg_best,
                              "jacobian": jac, "argmax": argmax.detach().cpu(), "seed": seed,
                              "n_pairs": int(len(i))})


__all__ = ["transition_lipschitz_lower"]

"""Optimal transport between sample sets, on POT: Wasserstein distances, the empirical
transport map and its Lipschitz ratio, and the check of T5's lower bound.

Conventions (measured on POT 0.9.7, docs/numerics.md):

- ``ot.dist`` defaults to the *squared* Euclidean cost; ``W_p`` uses
  ``ot.dist(x, y, metric="euclidean") ** p`` (``"sqeuclidean"`` at ``p = 2``, which is
  the same cost without a square root).
- ``ot.emd2``'s default ``numItermax=1e5`` stops early from ``n ~ 5000`` and returns a
  value up to 5% too high; we pass ``1e7`` and raise if POT still reports a warning.
- Sliced ``SW_p <= W_p`` (each projection is 1-Lipschitz): it can confirm a lower bound
  ``W_p >= B`` but never refute it. Entropic (Sinkhorn) costs are ``>= W_p^p`` (the
  entropic plan is a coupling) and were biased upward by 23-41% here at moderate ``reg``.
- Sample ``W_1`` in high dimension is dominated by sampling noise, so
  `check_wasserstein_bound` calibrates against the distance between two halves of the
  demonstrations.
- Units: ``W_p`` is homogeneous of degree 1 in the samples, so every distance is computed
  on the samples divided by a power of two near their largest entry (exact) and scaled
  back: costs neither overflow (samples near 1e300, ``p`` up to 1000) nor underflow
  (samples near 1e-300), and POT's solvers see costs in ``[0, (2 sqrt D)^p]``. Costs are
  ``scipy``'s ``cdist`` (``torch.cdist`` without the matrix-product shortcut): ``ot.dist``
  expands ``|x|^2 + |y|^2 - 2 x.y``, which leaves ~1e-8 residues at coincident points.

NumPy in -> Python float out; torch in -> 0-d torch tensor out (POT's backend keeps the
tensors; ``ot.emd2`` is differentiable in the samples).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import ot
from scipy import stats
from scipy.spatial.distance import cdist

from numerics import _inputs
from numerics.modes import BoundCheck, as_numpy, check_interval_bound
from theory import _args

__all__ = [
    "wasserstein", "empirical_transport_map", "lipschitz_ratio", "check_wasserstein_bound",
    "AtomDistance", "w1_to_atoms",
]

Method = Literal["auto", "exact", "sliced", "sinkhorn", "1d"]
_METHODS = ("auto", "exact", "sliced", "sinkhorn", "1d")
NUM_ITER_MAX = 10_000_000
# Size limits (documented in each function): a dense n x m cost matrix and plan per side
# (8e8 bytes at 10^4), and the sliced projections (memory n_projections x (n + m)).
MAX_DENSE = 10_000
MAX_PROJECTIONS = 100_000
MAX_ORDER = 1000.0
_SINKHORN_ITERATIONS = 10_000
_SINKHORN_BLOCK = 20            # iterations between two checks of the time limit


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def _samples(x: Any, name: str, like_torch: bool):
    """``[n]`` or ``[n, D]`` samples -> ``[n, D]`` (torch tensor if ``like_torch``)."""
    if like_torch:
        import torch

        if not _is_torch(x):
            t = torch.as_tensor(as_numpy(x, name))
        elif x.dtype == torch.bool or x.is_complex():
            raise TypeError(f"{name} must hold real numbers, got a tensor of dtype {x.dtype}")
        else:
            t = x
        if t.ndim == 1:
            t = t[:, None]
        if t.ndim != 2 or t.shape[0] < 1 or t.shape[1] < 1:
            raise ValueError(f"{name} must have shape [n] or [n, D] with n, D >= 1, "
                             f"got {tuple(t.shape)}")
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} must be finite, got a non-finite entry")
        return t if t.is_floating_point() else t.double()
    a = as_numpy(x, name)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"{name} must have shape [n] or [n, D] with n, D >= 1, got {a.shape}")
    return a


def _scale(*samples) -> float:
    """A power of two near the largest |entry| (1 if all are 0): the unit of the costs."""
    top = max(float(abs(v).max()) for v in samples)
    return math.ldexp(1.0, math.frexp(top)[1]) if top > 0 else 1.0


def _order(p: Any) -> float:
    v = _args.finite(p, "p")
    if np.ndim(v) != 0 or _args.is_symbolic(v):
        raise TypeError(f"p must be a real number, got {type(p).__name__}")
    if not 1 <= float(v) <= MAX_ORDER:
        raise ValueError(f"p must be >= 1 and <= {MAX_ORDER:g}, got {float(v)!r}")
    return float(v)


def _weights(w: Any, n: int, name: str, like):
    """Optional sample weights -> a probability vector in the backend of ``like``."""
    nx = ot.backend.get_backend(like)
    if w is None:
        return nx.full((n,), 1.0 / n, type_as=like)
    a = as_numpy(w, name)
    if a.shape != (n,):
        raise ValueError(f"{name} must have shape [{n}], got {a.shape}")
    if np.any(a < 0) or not np.any(a > 0):
        raise ValueError(f"{name} must be non-negative with a positive sum")
    a = a / a.max()      # first, so that the sum cannot overflow
    return nx.from_numpy(a / a.sum(), type_as=like)


def _cost(x, y, p: float):
    """``|x_i - y_j|^p`` by direct differences (samples in units where they are O(1))."""
    if _is_torch(x):
        import torch

        d = torch.cdist(x, y, compute_mode="donot_use_mm_for_euclid_dist")
    else:
        d = cdist(x, y)
    return d if p == 1 else (d * d if p == 2 else d ** p)


def _emd_cost(a, b, M):
    """``min_P <P, M>`` by exact EMD, raising if the network simplex did not converge."""
    value, log = ot.emd2(a, b, M, numItermax=NUM_ITER_MAX, log=True)
    if log["warning"] is not None:
        raise RuntimeError(f"exact EMD did not converge ({log['warning']}); "
                           "use method='sliced' or fewer samples")
    return value


def _sinkhorn_cost(a, b, C, reg: float, max_seconds: float):
    """``<P_reg, C>`` of the entropic plan (log-domain Sinkhorn), in blocks of iterations
    warm-started from the previous potentials (the same iterates as one long run), so that
    ``max_seconds`` bounds the time: each iteration costs O(n m), and small ``reg`` may need
    all 10^4 of them."""
    deadline = time.perf_counter() + max_seconds
    warm, err = None, math.inf
    for _ in range(_SINKHORN_ITERATIONS // _SINKHORN_BLOCK):
        plan, log = ot.bregman.sinkhorn_log(a, b, C, reg, numItermax=_SINKHORN_BLOCK,
                                            stopThr=1e-9, log=True, warn=False, warmstart=warm)
        err = float(log["err"][-1]) if log["err"] else 0.0
        if err <= 1e-9 or time.perf_counter() > deadline:
            break
        warm = (log["log_u"], log["log_v"])
    if err > 1e-6:
        raise ValueError(f"Sinkhorn did not converge (marginal error {err:.2g} after the "
                         f"iteration or time limit, max_seconds={max_seconds:g}); raise reg, "
                         "or use method='exact' or 'sliced'")
    return (plan * C).sum()


def wasserstein(x: Any, y: Any, p: float = 1, method: Method = "auto", *,
                x_weights: Any = None, y_weights: Any = None, n_projections: int = 200,
                reg: float | None = None, seed: int = 0, max_exact: int = 10_000,
                max_seconds: float = 60.0):
    r"""Wasserstein distance ``W_p`` between two (weighted) sample sets.

    .. math:: W_p(\mu, \nu) = \Big(\min_{P \in \Pi(a, b)} \sum_{ij} P_{ij}
              |x_i - y_j|^p\Big)^{1/p},

    Euclidean norm on ``R^D``, ``a``/``b`` the sample weights (uniform by default).

    Methods:
        - ``"exact"``: network simplex (``ot.emd2``, ``numItermax=1e7``, warning checked);
          exact for the empirical measures. Up to ``max_exact`` points per side
          (time ~ n^2.5: 0.13 s at 1000, 4 s at 5000 points on this CPU).
        - ``"1d"``: exact closed form for ``D = 1`` (sorted samples / quantile functions:
          ``scipy.stats.wasserstein_distance`` at ``p = 1``, ``ot.wasserstein_1d``).
        - ``"sliced"``: ``SW_p = (E_theta W_p^p(theta^T x, theta^T y))^{1/p}`` over
          ``n_projections`` random directions (``ot.sliced_wasserstein_distance``):
          a **lower** bound on ``W_p``, equal to it in 1-D.
        - ``"sinkhorn"``: ``(<P_reg, C>)^{1/p}`` for the entropic plan ``P_reg``
          (log-domain Sinkhorn, at most 10^4 iterations and ``max_seconds``): an
          **upper** bound on ``W_p`` (up to the marginal tolerance 1e-6); ``reg``
          defaults to ``0.01 * mean cost``. Up to ``10^4`` points per side.
        - ``"auto"``: ``"1d"`` if ``D = 1``; ``"exact"`` up to ``max_exact`` points per
          side; else ``"sliced"`` (a lower bound -- see above).

    Args:
        x: ``[n]`` or ``[n, D]`` samples (NumPy or torch), finite.
        y: ``[m]`` or ``[m, D]`` samples, same ``D``.
        p: order in ``[1, 1000]``.
        method: see above.
        x_weights, y_weights: optional ``[n]``/``[m]`` non-negative weights (normalised).
        n_projections, seed: for ``"sliced"`` (``1 <= n_projections <= 10^5``).
        reg: entropic regularisation for ``"sinkhorn"`` (absolute, in the units of the
            cost ``|x - y|^p``, > 0).
        max_exact: the largest sample size ``"auto"``/``"exact"`` solve exactly, in
            ``[1, 10^4]``.
        max_seconds: time limit of ``"sinkhorn"`` (> 0).

    Returns:
        ``W_p`` (Python float; a 0-d tensor if ``x`` or ``y`` is a torch tensor). Accurate
        over the whole float64 range of the samples (module docstring, "Units"); for large
        ``p`` the costs of pairs closer than ``10^(-300/p)`` times the largest entry
        round to 0.

    Raises:
        ValueError: shapes, non-finite samples, options out of range (named), a size above
            a limit, Sinkhorn not converged within its iteration or time limit.
        TypeError: non-real samples or options (str, bytes, complex, bool).

    Reference: Peyre & Cuturi, *Computational Optimal Transport*, 2019 (Ch. 2-3, 9);
    Flamary et al., POT, JMLR 2021.

    Examples:
        >>> wasserstein([0.0, 1.0], [2.0, 3.0])
        2.0
        >>> wasserstein([[1e200]], [[-1e200]], 2, "exact")
        2e+200
    """
    if not isinstance(method, str) or method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    p = _order(p)
    # every option is checked whatever the method, so that a typo never passes silently
    max_exact = _args.integer_at_least(max_exact, "max_exact", 1, MAX_DENSE)
    n_projections = _args.integer_at_least(n_projections, "n_projections", 1, MAX_PROJECTIONS)
    seed = _inputs.seed(seed)
    if reg is not None:
        reg = float(_args.positive(reg, "reg"))
    max_seconds = float(_args.positive(max_seconds, "max_seconds"))
    torch_out = _is_torch(x) or _is_torch(y)
    xs, ys = _samples(x, "x", torch_out), _samples(y, "y", torch_out)
    if xs.shape[1] != ys.shape[1]:
        raise ValueError(f"x and y must have the same dimension D, got {xs.shape[1]} "
                         f"and {ys.shape[1]}")
    if torch_out and xs.dtype != ys.dtype:
        import torch

        dtype = torch.promote_types(xs.dtype, ys.dtype)
        xs, ys = xs.to(dtype), ys.to(dtype)
    n, m, dim = xs.shape[0], ys.shape[0], xs.shape[1]
    a = _weights(x_weights, n, "x_weights", xs)
    b = _weights(y_weights, m, "y_weights", xs)
    if method == "auto":
        method = "1d" if dim == 1 else ("exact" if max(n, m) <= max_exact else "sliced")
    if method == "1d" and dim != 1:
        raise ValueError(f"method='1d' needs D = 1, got D = {dim}")
    if method == "exact" and max(n, m) > max_exact:
        raise ValueError(f"method='exact' is limited to max_exact={max_exact} points per "
                         f"side, got {max(n, m)}; use method='sliced' or raise max_exact")
    if method == "sinkhorn" and max(n, m) > MAX_DENSE:
        raise ValueError(f"method='sinkhorn' is limited to {MAX_DENSE} points per side (a "
                         f"dense cost matrix), got {max(n, m)}; use method='sliced'")
    s = _scale(xs, ys)
    xs, ys = xs / s, ys / s
    if method == "1d":
        if p == 1 and not torch_out:
            value = float(stats.wasserstein_distance(xs[:, 0], ys[:, 0], a, b))
        else:
            value = ot.wasserstein_1d(xs[:, 0], ys[:, 0], a, b, p=p) ** (1 / p)
    elif method == "exact":
        value = _emd_cost(a, b, _cost(xs, ys, p)) ** (1 / p)
    elif method == "sliced":
        value = ot.sliced_wasserstein_distance(xs, ys, a, b, n_projections=n_projections,
                                               p=p, seed=seed)
    else:
        C = _cost(xs, ys, p)
        if float(C.max()) == 0:   # all points coincide; a zero default reg would divide by 0
            return C.sum() if torch_out else 0.0
        # reg is in the units of the cost: s^p there
        unit_reg = 0.01 * float(C.mean()) if reg is None else math.exp(
            math.log(reg) - p * math.log(s))
        if not 0 < unit_reg < math.inf:
            raise ValueError(f"reg={reg!r} is out of range for samples of size {s:.3g} at "
                             f"p={p:g} (reg / size^p under- or overflows)")
        value = _sinkhorn_cost(a, b, C, unit_reg, max_seconds) ** (1 / p)
    with np.errstate(over="ignore"):
        value = value * s
    return value if torch_out else float(value)


def empirical_transport_map(base: Any, actions: Any, p: float = 2) -> np.ndarray:
    r"""The empirical optimal transport map from base samples to action samples.

    The optimal coupling ``P`` of the uniform empirical measures for the cost
    ``|x - y|^p`` (quadratic by default: Brenier's map for absolutely continuous base
    measures), read as a map by barycentric projection

    .. math:: T(x_i) = \frac{1}{a_i} \sum_j P_{ij} y_j .

    With ``n = m`` an optimal vertex of the assignment polytope is a permutation
    (Birkhoff), so ``T(x_i) = y_{\sigma(i)}`` is an actual matching of the samples.

    Args:
        base: ``[n, D]`` base samples (e.g. the noise fed to a sampler, shaped like a
            chunk as in Diffusion Policy).
        actions: ``[m, D]`` action samples (the cost ``|x - y|`` needs one space).
            At most ``10^4`` points per side (a dense plan).
        p: cost exponent in ``[1, 1000]``.

    Returns:
        ``[n, D]`` images ``T(x_i)`` (float64 NumPy).

    Raises:
        ValueError: shapes, sizes, non-finite samples, ``p`` out of range.
        TypeError: non-real input.

    Examples:
        >>> empirical_transport_map([[0.0], [1.0]], [[5.0], [3.0]]).tolist()
        [[3.0], [5.0]]
    """
    p = _order(p)
    x, y = _samples(base, "base", False), _samples(actions, "actions", False)
    if x.shape[1] != y.shape[1]:
        # Between spaces of different dimension there is no common Euclidean cost.
        raise ValueError(f"base and actions must have the same dimension, got {x.shape[1]} "
                         f"and {y.shape[1]}")
    n, m = x.shape[0], y.shape[0]
    if max(n, m) > MAX_DENSE:
        raise ValueError(f"base and actions are limited to {MAX_DENSE} points each (a dense "
                         f"plan), got {n} and {m}")
    s = _scale(x, y)    # the optimal plan does not change with the units
    plan, log = ot.emd(np.full(n, 1 / n), np.full(m, 1 / m), _cost(x / s, y / s, p),
                       numItermax=NUM_ITER_MAX, log=True)
    if log["warning"] is not None:
        raise RuntimeError(f"exact EMD did not converge ({log['warning']}); pass fewer samples")
    # rows of n * plan sum to 1: a convex combination of actions cannot overflow
    return (plan * n) @ y


def lipschitz_ratio(inputs: Any, outputs: Any, chunk: int = 1024) -> float:
    r"""Largest difference quotient of a map known on samples.

    .. math:: \max_{i \ne j,\ x_i \ne x_j} \frac{|T(x_i) - T(x_j)|}{|x_i - x_j|}

    This is the smallest ``L`` for which an L-Lipschitz map through the given pairs
    exists (Kirszbraun's extension), i.e. how sharp a map the data demand (T8). Pairs
    with ``x_i = x_j`` are skipped. Cost ``O(n^2 D)`` in blocks of ``chunk`` rows.

    Numerics: a pair whose distance lies outside ``[1e-150, 1e150]`` (where ``cdist``'s
    squares lose precision, underflow or overflow) is measured again as ``m |d / m|``,
    ``m`` its largest coordinate difference; the quotient is formed from mantissas and
    exponents, so ``1e300 / 1e-300`` is ``inf`` only because the true value exceeds
    float64, never by an intermediate overflow.

    Args:
        inputs: ``[n, d]`` points ``x_i``, ``n >= 2``.
        outputs: ``[n, D]`` their images ``T(x_i)``.
        chunk: rows per block, ``>= 1``.

    Returns:
        The largest quotient (0 when all inputs coincide).

    Examples:
        >>> lipschitz_ratio([[0.0], [1.0], [3.0]], [[0.0], [2.0], [3.0]])
        2.0
    """
    x, y = _samples(inputs, "inputs", False), _samples(outputs, "outputs", False)
    if x.shape[0] != y.shape[0] or x.shape[0] < 2:
        raise ValueError(f"inputs and outputs must hold the same number n >= 2 of points, "
                         f"got {x.shape[0]} and {y.shape[0]}")
    chunk = _args.integer_at_least(chunk, "chunk", 1)
    # halve entries near the float64 limit so that differences cannot overflow (exact)
    sx, sy = (4.0 if float(np.abs(v).max()) > 2.0**1020 else 1.0 for v in (x, y))
    x, y = x / sx, y / sy
    best_key, best = -math.inf, (0.0, 0)
    for start in range(0, x.shape[0], chunk):
        # cdist takes differences directly; ot.dist's |x|^2 + |y|^2 - 2 x.y expansion leaves
        # ~1e-8 residues at coincident points, which would dominate the quotient.
        dx = _distances(x[start:start + chunk], x)
        dy = _distances(y[start:start + chunk], y)
        ok = (dx > 0) & (dy > 0)
        if not ok.any():
            continue
        # dy / dx = (my / mx) 2^(ey - ex), compared by its log2: no overflow in between
        my, ey = np.frexp(dy[ok])
        mx, ex = np.frexp(dx[ok])
        ratio, exponent = my / mx, ey - ex
        key = exponent + np.log2(ratio)
        i = int(np.argmax(key))
        if key[i] > best_key:
            best_key, best = float(key[i]), (float(ratio[i]), int(exponent[i]))
    if best_key == -math.inf:
        return 0.0
    ratio, exponent = best
    exponent += math.frexp(sy)[1] - math.frexp(sx)[1]
    try:
        return math.ldexp(ratio, exponent)
    except OverflowError:   # the true quotient exceeds float64
        return math.inf


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances of the rows of ``a`` and ``b``: ``cdist``, and for the pairs whose
    largest coordinate difference is outside ``[1e-150, 1e150]`` (where squares underflow or
    overflow) ``m |d / m|`` with ``m`` that difference."""
    d = cdist(a, b)
    top = cdist(a, b, "chebyshev")
    for i, j in zip(*np.nonzero((top > 0) & ((top < 1e-150) | (top > 1e150))), strict=True):
        diff = a[i] - b[j]
        d[i, j] = top[i, j] * np.linalg.norm(diff / top[i, j])
    return d


def check_wasserstein_bound(policy_samples: Any, demo_samples: Any, L: float,
                            separation: float, weights: Any = (0.5, 0.5), p: float = 1, *,
                            confidence: float = 0.95, n_bootstrap: int = 100,
                            max_samples: int = 1000, seed: int = 0) -> BoundCheck:
    r"""Check T5, ``W_p(\mu, \pi^*) >= B(L, \Delta, w, p)``, against samples.

    T5 (docs/theory.md): a policy ``mu = T#gamma`` with ``T`` L-Lipschitz whose demonstrator
    ``pi*`` has modes ``Delta`` apart with weights ``w`` satisfies
    ``W_p(mu, pi*) >= B = theory.wasserstein_lower_bound(L, Delta, w, p)``.

    Calibration (docs/numerics.md): with ``h = min(n_policy, n_demo // 2, max_samples)``
    the estimate is ``W_p`` between ``h`` policy samples and one half ``A`` of the
    demonstrations, the noise floor is ``W_p(A, A')`` between the two halves (the same
    ``n``, the same sampling noise, true distance 0). The interval is the bootstrap
    percentile interval (``n_bootstrap`` resamples of both sides), widened to contain the
    estimate (resampling duplicates points, which shifts ``W_p``). Verdict: FAIL iff the
    interval lies below ``B`` (an empirical ``W_p`` is biased *upward*,
    ``E W_p(mu_n, nu_n) >= W_p(mu, nu)`` by convexity, so a low value is real evidence);
    INCONCLUSIVE when it did not fail and the floor is ``>= B`` (the estimate could
    exceed the bound by noise alone); else PASS. Power: ``detectable`` is the floor, the
    estimate a policy equal to the demonstrator gives; the check is ``failable`` iff
    ``B`` exceeds it.

    Args:
        policy_samples: ``[n, D]`` policy actions at one observation.
        demo_samples: ``[N, D]`` demonstrations at that observation, ``N >= 4``.
        L: the policy's Lipschitz constant (> 0); separation: ``Delta > 0``.
        weights: mode weights ``w`` (``K = 2`` as in T5).
        p: order in ``[1, 1000]``; confidence: bootstrap level; seed: subsampling and
            bootstrap.
        n_bootstrap: resamples, in ``[10, 10^4]``; max_samples: ``h`` at most, in
            ``[2, 5000]``. The work, ``n_bootstrap + 2`` exact transport problems of size
            ``h``, is limited to ``(n_bootstrap + 2) h^2 <= 2^30`` (about 100 s here).

    Returns:
        `BoundCheck` with proposition "T5", relation ">=", ``n = h``.

    Raises:
        ValueError: shapes, too few samples, options out of range or beyond the work limit
            (pass fewer ``max_samples`` or ``n_bootstrap``), invalid ``L``, ``separation``,
            ``weights`` or ``p`` (as in `theory.wasserstein_lower_bound`).
    """
    import theory  # lazily: numerics needs theory only for this check

    confidence = _inputs.real_scalar(confidence, "confidence", _args.open_probability)
    n_bootstrap = _args.integer_at_least(n_bootstrap, "n_bootstrap", 10, 10_000)
    max_samples = _args.integer_at_least(max_samples, "max_samples", 2, 5_000)
    seed = _inputs.seed(seed)
    p = _order(p)
    x = _samples(policy_samples, "policy_samples", False)
    d = _samples(demo_samples, "demo_samples", False)
    if x.shape[1] != d.shape[1]:
        raise ValueError(f"policy_samples and demo_samples must have the same dimension, "
                         f"got {x.shape[1]} and {d.shape[1]}")
    if d.shape[0] < 4 or x.shape[0] < 2:
        raise ValueError("need at least 2 policy samples and 4 demonstrations, got "
                         f"{x.shape[0]} and {d.shape[0]}")
    bound = float(theory.wasserstein_lower_bound(L, separation, weights=weights, p=p))
    start = time.perf_counter()
    h = min(x.shape[0], d.shape[0] // 2, max_samples)
    if (n_bootstrap + 2) * h * h > 2**30:
        raise ValueError(f"n_bootstrap={n_bootstrap} resamples of h={h} samples exceed the work "
                         "limit (n_bootstrap + 2) h^2 <= 2^30; pass fewer max_samples or "
                         "n_bootstrap")
    rng = np.random.default_rng(seed)
    perm = rng.permutation(d.shape[0])
    half, other = d[perm[:h]], d[perm[h:2 * h]]
    pol = x[rng.choice(x.shape[0], size=h, replace=False)]
    estimate = wasserstein(pol, half, p, "exact")
    floor = wasserstein(half, other, p, "exact")
    boot = np.array([wasserstein(pol[rng.integers(0, h, h)], half[rng.integers(0, h, h)], p,
                                 "exact") for _ in range(n_bootstrap)])
    alpha = 1 - confidence
    lo, hi = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    note = (f"W{p:g} of {h} policy samples to {h} demonstrations; split-half noise floor "
            f"{floor:.4g}; {n_bootstrap} bootstrap resamples (percentile), seed {seed}; "
            f"{time.perf_counter() - start:.2f} s")
    if floor >= bound:
        note = f"noise floor {floor:.4g} >= bound {bound:.4g}: {note}"
    return check_interval_bound(estimate, (min(lo, estimate), max(hi, estimate)), bound, ">=",
                                proposition="T5", quantity=f"W{p:g}(policy, demonstrations)",
                                n=h, confidence=confidence, note=note,
                                inconclusive=floor >= bound, detectable=floor)


# --------------------------------------------------------------------------- W1 to atoms


@dataclass(frozen=True)
class AtomDistance:
    r"""``W_1(\mu, \nu)`` from samples of ``\mu`` to a known discrete
    ``\nu = \sum_k w_k \delta_{c_k}``, with what its confidence interval needs.

    Attributes:
        estimate: the plug-in ``W_1(\mu_n, \nu)`` on all samples (exact, POT).
        dual_mean, dual_sd: mean and sample sd over the evaluation half of
            ``\phi(X) = \min_k (|X - c_k| - g_k)``, ``g`` the atom potentials fitted on the
            other half; ``dual_mean + <w, g>`` estimates a lower bound of ``W_1``.
        dual_offset: ``<w, g>``.
        cost_mean, cost_sd: mean and sd of ``|X - c_{k(X)}|`` with ``k(X)`` the fitted
            Laguerre cell of ``X``.
        cell_counts: evaluation samples per cell. weights: ``w``.
        max_separation: ``max_{ij} |c_i - c_j|``.
        n_fit, n_eval: samples of the two halves.
    """

    estimate: float
    dual_mean: float
    dual_sd: float
    dual_offset: float
    cost_mean: float
    cost_sd: float
    cell_counts: tuple[int, ...]
    weights: tuple[float, ...]
    max_separation: float
    n_fit: int
    n_eval: int

    def _tv_upper(self, counts, alpha: float) -> float:
        from numerics.modes import clopper_pearson

        K = len(self.weights)
        ci = clopper_pearson(np.asarray(counts), self.n_eval, 1 - alpha / K)
        w = np.asarray(self.weights)
        return float(0.5 * np.sum(np.maximum(np.abs(ci[:, 0] - w), np.abs(ci[:, 1] - w))))

    def interval(self, confidence: float) -> tuple[float, float]:
        r"""``(low, high)`` containing ``W_1(\mu, \nu)`` with probability ``>= confidence``
        (asymptotically: Student-t intervals of two means, exact binomial intervals of the
        cell masses; Bonferroni over the pieces).

        Low: weak duality, ``W_1 \ge \langle w, g\rangle + E\phi(X)`` for any ``g``. High:
        ``W_1(\mu, \nu) \le E|X - c_{k(X)}| + W_1(\nu', \nu)``, ``\nu'`` the image of
        ``\mu`` under the cell map, and ``W_1(\nu', \nu) \le \max_{ij}|c_i - c_j|
        \, TV(q, w)``, ``q`` the cell masses.
        """
        confidence = _inputs.real_scalar(confidence, "confidence", _args.open_probability)
        alpha = 1 - confidence
        n = self.n_eval
        t_low = stats.t.ppf(1 - alpha / 2, n - 1) if n > 1 else math.inf
        t_high = stats.t.ppf(1 - alpha / 4, n - 1) if n > 1 else math.inf
        low = self.dual_offset + self.dual_mean - t_low * self.dual_sd / math.sqrt(n)
        high = (self.cost_mean + t_high * self.cost_sd / math.sqrt(n)
                + self.max_separation * self._tv_upper(self.cell_counts, alpha / 4))
        # Both ends estimate the same number when the samples sit on the atoms (zero
        # spread): rounding may then cross them by an ulp.
        low, high = max(0.0, float(low)), float(high)
        return min(low, high), max(low, high)

    def detectable(self, confidence: float) -> float:
        """The smallest upper end any outcome of this size could give: every sample on
        its atom (zero cost) in the proportions ``w``."""
        confidence = _inputs.real_scalar(confidence, "confidence", _args.open_probability)
        counts = np.floor(np.asarray(self.weights) * self.n_eval).astype(int)
        counts[np.argmax(self.weights)] += self.n_eval - counts.sum()
        return float(self.max_separation * self._tv_upper(counts, (1 - confidence) / 4))


def w1_to_atoms(samples: Any, atoms: Any, weights: Any, *, seed: int = 0,
                max_samples: int = 200_000) -> AtomDistance:
    r"""``W_1`` from samples of ``\mu`` to ``\nu = \sum_k w_k \delta_{c_k}``, with a
    confidence interval (`AtomDistance.interval`): the statistic T5 needs at ``n = 10^4``
    and more, where sample-to-sample exact EMD (``O(n^3)``) is out of reach.

    Semi-discrete duality: ``W_1(\mu, \nu) = \max_g \langle w, g \rangle +
    E_\mu \min_k (|X - c_k| - g_k)`` (Kantorovich; the inner minimum is the c-transform).
    The samples are split in halves; the atom potentials ``g`` are POT's exact dual on
    the first half (``ot.emd`` with an ``n x K`` cost), and the second half gives unbiased
    estimates of the dual objective at ``g`` (a lower bound on ``W_1``) and of the cost of
    the fitted Laguerre cells (an upper bound, plus the cells' mass mismatch).

    Args:
        samples: ``[n, D]`` samples of ``mu`` (``n >= 4``).
        atoms: ``[K, D]`` atom positions ``c_k``; weights: ``[K]`` positive, summing to 1
            (``[1.0]`` for one atom).
        seed: seed of the random split.
        max_samples: at most this many samples, in ``[4, 10^7]`` (a size cap: memory
            ``n K``, with ``n K <= 2^27`` as well).

    Returns:
        `AtomDistance`; its lengths are exact to rounding over the whole float64 range (the
        problem is solved in units of a power of two near the largest entry, scaled back).

    Raises:
        ValueError: shapes, sizes, non-finite entries, weights that are not positive or do
            not sum to 1.
        TypeError: non-real input.

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> x = np.concatenate([rng.normal(-1, 0.1, (5000, 1)), rng.normal(1, 0.1, (5000, 1))])
        >>> d = w1_to_atoms(x, [[-1.0], [1.0]], [0.5, 0.5])
        >>> round(d.estimate, 2), [round(v, 2) for v in d.interval(0.95)]
        (0.08, [0.06, 0.14])
    """
    x = _samples(samples, "samples", False)
    c = as_numpy(atoms, "atoms")
    if c.ndim != 2 or c.shape[1] != x.shape[1] or c.shape[0] < 1:
        raise ValueError(f"atoms must have shape [K, {x.shape[1]}], got {c.shape}")
    if c.shape[0] > 1:
        w = _args.weight_vector(weights, "weights")
    else:
        w = _args.real_array(weights, "weights")
        if w.shape != (1,) or abs(float(w[0]) - 1.0) > 1e-9:
            raise ValueError(f"weights must be [1.0] for a single atom, got {w.tolist()}")
        w = np.ones(1)
    if w.shape != (c.shape[0],):
        raise ValueError(f"weights must have {c.shape[0]} entries, got {w.shape}")
    max_samples = _args.integer_at_least(max_samples, "max_samples", 4, 10_000_000)
    seed = _inputs.seed(seed)
    if not 4 <= x.shape[0] <= max_samples:
        raise ValueError(f"samples must hold between 4 and max_samples={max_samples} points, "
                         f"got {x.shape[0]}")
    if x.shape[0] * c.shape[0] > 2**27:
        raise ValueError(f"samples x atoms = {x.shape[0]} x {c.shape[0]} exceeds the limit "
                         "n K <= 2^27; pass fewer samples")
    # W1 and every statistic below are homogeneous of degree 1 in the positions: solve in
    # units of a power of two near the largest entry (exact) and scale the lengths back
    s = _scale(x, c)
    x, c = x / s, c / s
    rng = np.random.default_rng(seed)
    perm = rng.permutation(x.shape[0])
    fit, ev = x[perm[: x.shape[0] // 2]], x[perm[x.shape[0] // 2:]]
    cost_all = cdist(x, c)
    estimate = float(_emd_cost(np.full(x.shape[0], 1 / x.shape[0]), w, cost_all))
    _, log = ot.emd(np.full(fit.shape[0], 1 / fit.shape[0]), w, cdist(fit, c),
                    numItermax=NUM_ITER_MAX, log=True)
    if log["warning"] is not None:
        raise RuntimeError(f"exact EMD did not converge ({log['warning']}); pass fewer samples")
    g = np.asarray(log["v"], dtype=float)
    g = g - g.mean()                     # the dual is invariant to a common shift
    reduced = cdist(ev, c) - g[None, :]
    cell = reduced.argmin(axis=1)
    phi = reduced[np.arange(ev.shape[0]), cell]
    cost = phi + g[cell]
    sep = float(cdist(c, c).max()) if c.shape[0] > 1 else 0.0
    n = ev.shape[0]
    with np.errstate(over="ignore"):
        return AtomDistance(
            estimate=estimate * s, dual_mean=float(phi.mean()) * s,
            dual_sd=float(phi.std(ddof=1)) * s, dual_offset=float(w @ g) * s,
            cost_mean=float(cost.mean()) * s, cost_sd=float(cost.std(ddof=1)) * s,
            cell_counts=tuple(int(v) for v in np.bincount(cell, minlength=c.shape[0])),
            weights=tuple(float(v) for v in w), max_separation=sep * s, n_fit=fit.shape[0],
            n_eval=n)

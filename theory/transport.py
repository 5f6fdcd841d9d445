r"""Part T: action-space generative policies ``a = T(eps)``, ``eps ~ N(0, I_d)``.

A policy that samples action chunks by pushing Gaussian noise through an
L-Lipschitz map ``T`` (one-step generators, the flow map of a flow-matching or
probability-flow sampler, a DDIM sampler, a decoder at a sampled latent) cannot put
much mass on each of several modes ``Delta`` apart unless ``L`` is large, and what it
fails to put on the modes it puts on bridges between them or far from the
demonstrations. Propositions T1..T8 of docs/theory.md (Part T), each a consequence
of Gaussian isoperimetry (`theory.gaussian`):

- T1 `preimage_separation`: the mode preimages are ``Delta/L`` apart;
- T2 `max_mode_mass`, `log_max_mode_mass`, `mode_mass_frontier`, `min_lipschitz`;
- T3 `max_weighted_coverage` (upper side), `achievable_mode_mass` (constructive side);
- T4 `min_bridge_mass`, `min_lipschitz_for_bridge`;
- T5 `wasserstein_lower_bound`;
- T6 `flow_lipschitz_bound`, `min_integrated_lipschitz`, `gaussian_equivalent_lipschitz`;
- T7 `chunk_separation`;
- T8 `exact_fit_min_lipschitz`, `isoperimetric_min_lipschitz`.

Conventions: every function takes floats and NumPy arrays (broadcast; scalar in ->
Python float out) and, where the bound has a closed form, SymPy expressions (returns
the expression). Invalid input raises ``ValueError``/``TypeError`` naming the argument
and its range; no function returns NaN, a negative probability or one above 1.
SymPy is imported only on the symbolic path and by ``PROPOSITIONS[i].statement()``.
"""

from __future__ import annotations

import functools
import itertools
import math
import warnings
from typing import Any

import numpy as np
from scipy import integrate, optimize, special
from scipy.optimize import elementwise

from theory import _args
from theory.gaussian import normal_cdf_expr, normal_pdf_expr, normal_quantile_expr
from theory.registry import Proposition

__all__ = [
    "preimage_separation",
    "max_mode_mass", "log_max_mode_mass", "mode_mass_frontier", "min_lipschitz",
    "max_weighted_coverage", "achievable_mode_mass",
    "min_bridge_mass", "min_lipschitz_for_bridge",
    "wasserstein_lower_bound",
    "flow_lipschitz_bound", "min_integrated_lipschitz", "gaussian_equivalent_lipschitz",
    "chunk_separation",
    "exact_fit_min_lipschitz", "isoperimetric_min_lipschitz",
]

_SQRT1_2 = math.sqrt(0.5)
_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2 * math.pi)


def _phi_cdf(x: float) -> float:
    # Scalar Phi through math.erfc: ~0.1 us against ~1 us for a ufunc call on a float,
    # and erfc keeps full relative accuracy in the lower tail down to underflow.
    return 0.5 * math.erfc(-x * _SQRT1_2)


@functools.lru_cache(maxsize=64)
def _quantile_of_share(n_modes: int) -> float:
    """``Phi^{-1}(1/K)`` (exactly 0 at ``K = 2``)."""
    return float(special.ndtri(1.0 / n_modes))


def _n_modes(n_modes: Any, high: int | None = None) -> int:
    if type(n_modes) is int and n_modes >= 2 and (high is None or n_modes <= high):
        return n_modes
    return _args.integer_at_least(n_modes, "n_modes", 2, high)


def _nonnegative(x: Any, name: str) -> float | np.ndarray:
    # A float64 array is checked with two reductions (NaN propagates through min/max, so
    # it fails the comparisons): 4 elementwise passes in _args would cost ~15% of ndtr.
    if type(x) is np.ndarray and x.dtype == np.float64 and x.size:
        if not (x.min() >= 0 and x.max() < math.inf):
            bad = x[~(np.isfinite(x) & (x >= 0))].flat[0]
            raise ValueError(f"{name} must be non-negative and finite, got {bad!r}")
        return x
    return _args.nonnegative(x, name)


def _lipschitz_and_separation(L: Any, separation: Any):
    return _args.positive_or_inf(L, "L"), _nonnegative(separation, "separation")


def _sym_ratio(separation: Any, L: Any) -> Any:
    return separation / L


# ----------------------------------------------------------------------------- T1


def preimage_separation(L: Any, separation: Any) -> Any:
    r"""T1: the preimages of modes ``Delta`` apart are at least ``Delta / L`` apart.

    Statement: if ``T`` is L-Lipschitz and ``dist(M_i, M_j) = \Delta_{ij}`` then
    ``A_k = T^{-1}(M_k)`` satisfy ``dist(A_i, A_j) \ge \Delta_{ij} / L`` (for
    ``x \in A_i, y \in A_j``: ``\Delta_{ij} \le |T(x) - T(y)| \le L |x - y|``).

    Args:
        L: Lipschitz constant, ``0 < L <= inf``; separation: ``Delta >= 0`` (broadcast).

    Returns:
        ``Delta / L``, broadcast shape.

    Reference: docs/theory.md, T1.
    """
    if _args.is_symbolic(L, separation):
        return _sym_ratio(separation, L)
    L, sep = _lipschitz_and_separation(L, separation)
    return _args.scalar_out(sep / L)


# ----------------------------------------------------------------------------- T2


def max_mode_mass(L: Any, separation: Any, n_modes: Any = 2) -> Any:
    r"""T2/T3: the largest mass every one of ``K`` modes can get from an L-Lipschitz map.

    Statement: if ``\mu = T_\# \gamma_d`` with ``T`` L-Lipschitz and the modes
    ``M_1..M_K`` are pairwise at least ``\Delta`` apart, then

    .. math::  \min_k \mu(M_k) \le \Phi\big(\Phi^{-1}(1/K) - \Delta / (2L)\big).

    Tight at ``K = 2`` (``\Phi(-\Delta/(2L))``, attained in every dimension by
    ``T(x) = c + u\,\mathrm{clip}(L \langle e, x\rangle, -\Delta/2, \Delta/2)``); for
    ``K \ge 3`` an upper bound (see `achievable_mode_mass` for the other side).
    Proof: the ``\Delta/(2L)``-enlargements of the preimages ``A_k`` are disjoint (T1),
    so ``\sum_k \Phi(\Phi^{-1}(m_k) + \Delta/(2L)) \le 1`` by Gaussian isoperimetry.

    Args:
        L: Lipschitz constant of ``T`` in the noise, ``0 < L <= inf`` (``inf`` gives
            ``1/K``); array broadcasts with ``separation``.
        separation: ``Delta >= 0``, finite.
        n_modes: ``K >= 2`` (int).

    Returns:
        the bound in ``[0, 1/K]``, broadcast shape; exact to double precision (relative)
        down to the underflow at ``Delta/L ~ 75``; beyond, use `log_max_mode_mass`.

    Reference: docs/theory.md, T2 and T3 (Borell 1975; Sudakov-Tsirelson 1974).
    """
    if _args.is_symbolic(L, separation, n_modes):
        import sympy

        share = sympy.Integer(1) / n_modes
        return normal_cdf_expr(normal_quantile_expr(share) - separation / (2 * L))
    K = _n_modes(n_modes)
    L, sep = _lipschitz_and_separation(L, separation)
    if type(L) is float and type(sep) is float:
        return _phi_cdf(_quantile_of_share(K) - sep / (2 * L))
    x = np.multiply(sep, -0.5 / L)
    if K != 2:
        x += _quantile_of_share(K)
    return _args.scalar_out(special.ndtr(x, out=x) if isinstance(x, np.ndarray)
                            else special.ndtr(x))


def log_max_mode_mass(L: Any, separation: Any, n_modes: Any = 2) -> Any:
    r"""``\log`` of `max_mode_mass`, via ``scipy.special.log_ndtr``: finite in the tails.

    ``\log \Phi(\Phi^{-1}(1/K) - \Delta/(2L))``; at ``\Delta/L = 80`` the plain bound
    underflows (``~1e-350``) while this is ``-804.6``.

    Args / Returns / Reference: as `max_mode_mass` (values in ``[-inf, log(1/K)]``).
    """
    if _args.is_symbolic(L, separation, n_modes):
        import sympy

        return sympy.log(max_mode_mass(L, separation, n_modes))
    K = _n_modes(n_modes)
    L, sep = _lipschitz_and_separation(L, separation)
    x = np.multiply(sep, -0.5 / L)
    if K != 2:
        x += _quantile_of_share(K)
    return _args.scalar_out(special.log_ndtr(x, out=x) if isinstance(x, np.ndarray)
                            else float(special.log_ndtr(x)))


def mode_mass_frontier(m1: Any, L: Any, separation: Any) -> Any:
    r"""T2 frontier: the largest ``m_2`` compatible with ``m_1`` on two modes.

    Statement: ``\Phi^{-1}(m_1) + \Phi^{-1}(m_2) \le -\Delta/L``, i.e.

    .. math::  m_2 \le \Phi\big(-\Phi^{-1}(m_1) - \Delta/L\big),

    attained (every ``m_1``, every dimension) by a clip map with shifted thresholds.
    Proof: the ``\Delta/L``-enlargement of ``A_1`` misses ``A_2`` (T1).

    Args:
        m1: mass of mode 1 in ``[0, 1]``; L: ``0 < L <= inf``; separation: ``Delta >= 0``
            (all broadcast).

    Returns:
        the largest ``m_2`` in ``[0, 1]`` (``m_1 = 0 -> 1``, ``m_1 = 1 -> 0``).

    Reference: docs/theory.md, T2.
    """
    if _args.is_symbolic(m1, L, separation):
        return normal_cdf_expr(-normal_quantile_expr(m1) - separation / L)
    m1 = _args.probability(m1, "m1")
    L, sep = _lipschitz_and_separation(L, separation)
    return _args.scalar_out(special.ndtr(-special.ndtri(m1) - sep / L))


def min_lipschitz(mass: Any, separation: Any, n_modes: Any = 2) -> Any:
    r"""T2/T3 inverted: the smallest ``L`` that lets every one of ``K`` modes get ``mass``.

    Statement: ``\min_k m_k \ge m`` with modes ``\Delta`` apart needs

    .. math::  L \ge \frac{\Delta}{2\,(\Phi^{-1}(1/K) - \Phi^{-1}(m))},

    the inverse of `max_mode_mass` in ``L`` (tight at ``K = 2``:
    ``\Delta / (2\Phi^{-1}(1 - m))``). ``m = 0 -> 0``; ``m = 1/K -> inf`` (for
    ``\Delta > 0``); ``\Delta = 0 -> 0``.

    Args:
        mass: target mass per mode, ``0 <= m <= 1/K``; separation: ``Delta >= 0``
            (broadcast); n_modes: ``K >= 2``.

    Returns:
        the minimal Lipschitz constant in ``[0, inf]``, broadcast shape.

    Reference: docs/theory.md, T2/T3.
    """
    if _args.is_symbolic(mass, separation, n_modes):
        import sympy

        share = sympy.Integer(1) / n_modes
        return separation / (2 * (normal_quantile_expr(share) - normal_quantile_expr(mass)))
    K = _n_modes(n_modes)
    mass = _args.probability(mass, "mass")
    sep = _args.nonnegative(separation, "separation")
    if np.any(np.asarray(mass) > 1.0 / K):
        raise ValueError(f"mass must be in [0, 1/n_modes] = [0, {1.0 / K:.6g}] "
                         f"(no map gives every mode more), got {np.max(mass)!r}")
    gap = _quantile_of_share(K) - special.ndtri(mass)
    with np.errstate(divide="ignore", invalid="ignore"):
        L = np.where(np.asarray(sep) == 0, 0.0, np.divide(sep, 2 * gap))
    return _args.scalar_out(L)


# ----------------------------------------------------------------------------- T3


def _separation_matrix(separation: Any, K: int) -> np.ndarray:
    a = np.asarray(separation, dtype=float)
    if a.shape != (K, K):
        raise ValueError(f"separation must be a scalar or a {K} x {K} matrix "
                         f"(K = len(weights)), got shape {a.shape}")
    off = ~np.eye(K, dtype=bool)
    if not (np.all(np.isfinite(a[off])) and np.all(a[off] >= 0)):
        raise ValueError("separation must have non-negative finite off-diagonal entries, "
                         f"got {a[off].tolist()}")
    if not np.allclose(a, a.T, rtol=1e-12, atol=0):
        raise ValueError("separation must be a symmetric matrix (Delta_ij = Delta_ji)")
    return np.where(off, a, 0.0)


def _coverage_log_root(log_w: np.ndarray, r: np.ndarray) -> float:
    """``log t*`` with ``sum_k Phi(Phi^{-1}(t w_k) + r_k) = 1`` (increasing in ``t``)."""

    def excess(x: float) -> float:
        return float(np.sum(special.ndtr(special.ndtri_exp(x + log_w) + r))) - 1.0

    hi = -float(np.max(log_w))
    lo = -float(np.max(r)) ** 2 - 60.0   # every term below 1e-13 there (see docstring)
    if excess(lo) >= 0:
        return lo
    return optimize.brentq(excess, lo, hi, xtol=1e-14, rtol=1e-14)


def _optimised_coverage(log_w: np.ndarray, S: np.ndarray) -> float:
    """``min_r log t*(r)`` over ``{r >= 0, r_i + r_j <= S_ij}``; always a feasible ``r``."""
    K = log_w.size
    pairs = np.array(list(itertools.combinations(range(K), 2)))
    caps = S[pairs[:, 0], pairs[:, 1]]
    masked = np.where(np.eye(K, dtype=bool), np.inf, S)
    reach = masked.min(axis=1)
    starts = [reach / 2] + [np.where(np.arange(K) == k, reach[k], 0.0) for k in range(K)]
    best_r = min(starts, key=lambda r: _coverage_log_root(log_w, r))
    A = np.zeros((len(pairs), K))
    A[np.arange(len(pairs)), pairs[:, 0]] = 1
    A[np.arange(len(pairs)), pairs[:, 1]] = 1
    res = optimize.minimize(
        lambda r: _coverage_log_root(log_w, r), best_r, method="SLSQP",
        bounds=[(0, None)] * K,
        constraints=[{"type": "ineq", "fun": lambda r: caps - A @ r, "jac": lambda r: -A}],
        options={"maxiter": 200, "ftol": 1e-12})
    # Soundness does not depend on the optimiser: project its answer back into the
    # feasible set (clip, then scale down), and keep whichever feasible r is better.
    r = np.clip(res.x, 0, None)
    load = A @ r
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.min(np.where(load > 0, caps / load, np.inf), initial=1.0)
    r = r * min(1.0, scale)
    return min(_coverage_log_root(log_w, r), _coverage_log_root(log_w, best_r))


def max_weighted_coverage(L: Any, separation: Any, weights: Any) -> Any:
    r"""T3: the largest ``t`` with ``m_k \ge t\,w_k`` for all ``k`` is at most ``t^*``.

    Statement: for any ``r_k \ge 0`` with ``r_i + r_j \le \Delta_{ij}/L`` the
    ``r_k``-enlargements of the preimages ``A_k`` are disjoint (T1), so by Gaussian
    isoperimetry ``\sum_k \Phi(\Phi^{-1}(m_k) + r_k) \le 1``. If ``m_k \ge t w_k`` for
    all ``k`` then ``t \le t^*(r)``, the root of

    .. math::  \sum_k \Phi\big(\Phi^{-1}(t\,w_k) + r_k\big) = 1

    (increasing in ``t``). We return ``\min_r t^*(r)`` over the feasible ``r``. Every
    feasible ``r`` gives a valid bound, so soundness never depends on the optimiser:
    the optimiser's answer is projected back into the feasible set and compared with
    the feasible starting points, and only a feasible ``r`` is ever evaluated.

    ``K = 2``: all splits ``r_1 + r_2 = \Delta/L`` give the same, tight value (the T2
    frontier), the root of ``\Phi^{-1}(t w_1) + \Phi^{-1}(t w_2) = -\Delta/L``;
    computed vectorised (``scipy.optimize.elementwise.find_root`` in ``log t``).
    ``K \ge 3``: ``r`` optimised by SLSQP from the symmetric ``r_k = \min_j
    \Delta_{kj}/(2L)`` (THEORY.md's T3, kept as the starting point) and the vertices
    ``r = e_k \min_j \Delta_{kj}/L``; scalar ``L`` only. With equal weights, ``t^*/K``
    is a bound on ``\min_k m_k`` at most `max_mode_mass` (the symmetric ``r``).

    Args:
        L: ``0 < L <= inf``; an array only when ``K = 2`` with scalar separation.
        separation: ``Delta >= 0`` (scalar: all pairs; broadcasts with ``L`` at
            ``K = 2``) or a symmetric ``K x K`` matrix ``Delta_ij`` (diagonal ignored).
        weights: ``[K]`` positive, summing to 1.

    Returns:
        ``t^*`` in ``[0, 1 / max_k w_k]`` (``t^* = 1`` at ``Delta = 0``); underflows to
        0 beyond ``Delta/L ~ 75`` (the coverage is then below ``1e-308``).

    Reference: docs/theory.md, T3 (optimised ``r`` is our extension).
    """
    if _args.is_symbolic(L, separation):
        raise TypeError("max_weighted_coverage is the root of an equation, not a closed "
                        "form: use PROPOSITIONS['T3'].statement() for the symbolic form")
    w = _args.weight_vector(weights, "weights")
    K = w.size
    L = _args.positive_or_inf(L, "L")
    log_w = np.log(w)
    if np.ndim(separation) == 2:
        if np.ndim(L) != 0:
            raise ValueError("L must be a scalar when separation is a matrix")
        S = _separation_matrix(separation, K) / L
        return float(np.exp(_optimised_coverage(log_w, S)))
    sep = _args.nonnegative(separation, "separation")
    if K == 2:
        s = np.asarray(sep / L, dtype=float)

        def gap(x, s):
            return special.ndtri_exp(x + log_w[0]) + special.ndtri_exp(x + log_w[1]) + s

        # gap(lo) < 0: at y <= -(s^2 + 60), ndtri_exp(y) < -sqrt(2 s^2 + 100) < -s/2.
        lo = -(s * s) - 60.0
        hi = np.full_like(s, -float(np.max(log_w)))
        root = elementwise.find_root(gap, (lo, hi), args=(s,),
                                     tolerances={"xatol": 0.0, "xrtol": 4e-16})
        return _args.scalar_out(np.where(s == 0, 1.0, np.exp(root.x)))
    if np.ndim(sep) != 0 or np.ndim(L) != 0:
        raise ValueError(f"L and separation must be scalars when len(weights) = {K} >= 3")
    S = sep / L * (1 - np.eye(K))
    return float(np.exp(_optimised_coverage(log_w, S)))


def achievable_mode_mass(L: Any, separation: Any, n_modes: Any) -> Any:
    r"""T3 constructive side: a mass per mode that an L-Lipschitz map does achieve.

    Construction (dimension ``d \ge K - 1``): the regular simplex partition of
    ``R^{K-1}`` into ``K`` congruent cones, each shrunk by ``\epsilon = \Delta/(2L)``
    from its facets; the shrunk cells are ``\Delta/L`` apart, so the map sending cell
    ``k`` to the point mode ``c_k`` (``|c_i - c_j| = \Delta``) is L-Lipschitz on their
    union and extends to all of ``R^d`` (Kirszbraun). Each cell has Gaussian mass

    .. math::  P(G_k - G_j \ge \sqrt 2\,\epsilon\ \forall j \ne k)
               = \int \varphi(g)\,\Phi(g - \sqrt 2\,\epsilon)^{K-1}\,dg

    (``G`` standard normal in ``R^K``, projected onto the sum-zero hyperplane). So the
    best min-mass lies in ``[achievable_mode_mass, max_mode_mass]``; equal at ``K = 2``.
    ``K = 3``, ``\Delta/L = 1, 2, 4``: 0.163 / 0.063 / 0.0041 (upper 0.176/0.076/0.0075).

    Args:
        L: ``0 < L <= inf``; separation: ``Delta >= 0`` (broadcast); n_modes:
            ``2 <= K <= 8``.

    Returns:
        the per-mode mass of the construction, in ``(0, 1/K]``, broadcast shape.
        Computed in log space by ``scipy.integrate.tanhsinh`` (relative error ~1e-12).

    Reference: docs/theory.md, T3 (the construction is our extension).
    """
    if _args.is_symbolic(L, separation, n_modes):
        import sympy

        g = sympy.Symbol("g", real=True)
        c = sympy.sqrt(2) * separation / (2 * L)
        integrand = normal_pdf_expr(g) * normal_cdf_expr(g - c) ** (n_modes - 1)
        return sympy.Integral(integrand, (g, -sympy.oo, sympy.oo))
    K = _n_modes(n_modes, 8)
    L, sep = _lipschitz_and_separation(L, separation)
    c = np.asarray(sep / L * _SQRT1_2, dtype=float)

    def log_integrand(g, c):
        return -0.5 * g * g - 0.5 * math.log(2 * math.pi) + (K - 1) * special.log_ndtr(g - c)

    res = integrate.tanhsinh(log_integrand, -np.inf, np.inf, args=(c,), log=True)
    return _args.scalar_out(np.minimum(np.exp(res.integral.real), 1.0 / K))


# ----------------------------------------------------------------------------- T4


def _ndtr_difference(upper: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """``Phi(upper) - Phi(lower)`` for ``upper >= lower``, from the tail it lies in."""
    right = lower >= 0
    return np.where(right, special.ndtr(-lower) - special.ndtr(-upper),
                    special.ndtr(upper) - special.ndtr(lower))


def min_bridge_mass(L: Any, separation: Any, m1: Any = None) -> Any:
    r"""T4: mass an L-Lipschitz map must put off two modes ``Delta`` apart.

    Statement: the bridge mass ``b = 1 - m_1 - m_2`` satisfies, by the T2 frontier,

    .. math::  b \ge 1 - m_1 - \Phi(-\Phi^{-1}(m_1) - \Delta/L)
                 = \Phi(-\Phi^{-1}(m_1)) - \Phi(-\Phi^{-1}(m_1) - \Delta/L),

    and with balanced coverage ``m_1 = m_2`` (``m1=None``)
    ``b \ge 2\Phi(\Delta/(2L)) - 1 = \operatorname{erf}(\Delta/(2\sqrt 2 L))``.
    Both tight (clip maps). Local form: ``L`` may be the supremum of ``\|DT\|`` over
    the preimage of the bridge (docs/theory.md, T4).

    Args:
        L: ``0 < L <= inf``; separation: ``Delta >= 0``; m1: mode-1 mass in ``[0, 1]``
            or None for balanced coverage (all broadcast).

    Returns:
        the minimal bridge mass in ``[0, 1]``, broadcast shape.

    Reference: docs/theory.md, T4 (Tanielian et al. 2020 for the GAN analogue).
    """
    if _args.is_symbolic(L, separation, m1):
        import sympy

        if m1 is None:
            return sympy.erf(separation / (2 * sympy.sqrt(2) * L))
        return 1 - m1 - normal_cdf_expr(-normal_quantile_expr(m1) - separation / L)
    L, sep = _lipschitz_and_separation(L, separation)
    if m1 is None:
        if type(L) is float and type(sep) is float:
            return math.erf(sep / (2 * _SQRT2 * L))
        return _args.scalar_out(special.erf(sep * (1.0 / (2 * _SQRT2)) / L))
    m1 = _args.probability(m1, "m1")
    a = -special.ndtri(m1)
    b = _ndtr_difference(a, a - sep / L)
    return _args.scalar_out(np.clip(b, 0.0, 1.0))


def min_lipschitz_for_bridge(bridge_mass: Any, separation: Any) -> Any:
    r"""T4 inverted: bridge mass at most ``b`` with balanced coverage needs

    .. math::  L \ge \frac{\Delta}{2\,\Phi^{-1}((1+b)/2)}
                 = \frac{\Delta}{2\sqrt 2\,\operatorname{erf}^{-1}(b)}
                 \to \infty \text{ as } b \to 0.

    Args:
        bridge_mass: ``b`` in ``[0, 1]``; separation: ``Delta >= 0`` (broadcast).

    Returns:
        the minimal ``L`` in ``[0, inf]`` (``b = 0, Delta > 0 -> inf``; ``Delta = 0 -> 0``);
        the inverse of ``min_bridge_mass(L, Delta)`` in ``L``.

    Reference: docs/theory.md, T4.
    """
    if _args.is_symbolic(bridge_mass, separation):
        import sympy

        return separation / (2 * sympy.sqrt(2) * sympy.erfinv(bridge_mass))
    b = _args.probability(bridge_mass, "bridge_mass")
    sep = _args.nonnegative(separation, "separation")
    # erfinv(b) rather than ndtri((1 + b)/2): 1 + b loses tiny b to rounding.
    with np.errstate(divide="ignore", invalid="ignore"):
        L = np.where(np.asarray(sep) == 0, 0.0,
                     np.divide(sep, 2 * _SQRT2 * special.erfinv(b)))
    return _args.scalar_out(L)


# ----------------------------------------------------------------------------- T5


def _pair_deficit(w_i, w_j, s):
    """``min_n (w_i - n_i)_+ + (w_j - n_j)_+`` over the T2-feasible ``(n_i, n_j)`` at ``s``."""
    f_i = special.ndtr(-special.ndtri(w_i) - s)
    f_j = special.ndtr(-special.ndtri(w_j) - s)
    return np.maximum(np.minimum(w_j - f_i, w_i - f_j), 0.0)


@functools.lru_cache(maxsize=16)
def _maximal_matchings(K: int) -> tuple[tuple[tuple[int, int], ...], ...]:
    if K < 2:
        return ((),)
    out = []
    rest = tuple(range(1, K))
    for j in rest:
        for sub in _maximal_matchings(K - 2):
            others = [k for k in rest if k != j]
            out.append(((0, j), *((others[a], others[b]) for a, b in sub)))
    if K % 2:
        for sub in _maximal_matchings(K - 1):
            out.append(tuple((a + 1, b + 1) for a, b in sub))
    return tuple(out)


@functools.lru_cache(maxsize=16)
def _subset_masks(K: int) -> np.ndarray:
    return ((np.arange(2 ** K)[:, None] >> np.arange(K)) & 1).astype(bool)


def _enlargement_deficit(w: np.ndarray, r: np.ndarray) -> float:
    """``min sum_k (w_k - n_k)_+`` s.t. ``sum_k Phi(Phi^{-1}(n_k) + r_k) <= 1`` (T3, fixed r).

    With ``u_k = Phi(Phi^{-1}(n_k) + r_k)`` the problem is to maximise
    ``sum_k h_k(u_k)``, ``h_k(u) = Phi(Phi^{-1}(u) - r_k)``, over ``sum u <= 1``,
    ``0 <= u_k <= c_k = Phi(Phi^{-1}(w_k) + r_k)``; each ``h_k`` is convex (its inverse,
    the enlargement function, is concave), so the maximum sits at a vertex: a subset at
    its caps and at most one coordinate filling the rest of the budget. Enumerated.
    """
    cap = special.ndtr(special.ndtri(w) + r)
    if cap.sum() <= 1:
        return 0.0
    masks = _subset_masks(w.size)
    used = masks @ cap
    ok = used <= 1
    masks, used = masks[ok], used[ok]
    fill = np.minimum(cap[None, :], (1 - used)[:, None])
    extra = np.where(masks, 0.0, special.ndtr(special.ndtri(fill) - r[None, :]))
    best = float(np.max(masks @ w + extra.max(axis=1)))
    return max(1.0 - best, 0.0)


def _deficit_many(w: np.ndarray, S: np.ndarray, rho: float, L: float) -> float:
    """Valid lower bound on ``D(rho)`` for ``K >= 3``: the larger of two relaxations.

    (a) T3 with the symmetric ``r_k = min_j s_kj / 2`` (exact for that constraint,
    `_enlargement_deficit`; up to ``K = 12``); (b) the best sum over disjoint pairs of
    the exact two-mode deficit. Each keeps only necessary conditions on the masses, so
    each minimum is at most the true ``D(rho)``.
    """
    s = np.maximum(S - 2 * rho, 0.0) / L
    K = w.size
    pair = np.zeros((K, K))
    for i, j in itertools.combinations(range(K), 2):
        pair[i, j] = _pair_deficit(w[i], w[j], s[i, j]) if s[i, j] > 0 else 0.0
    matched = max(sum(pair[i, j] for i, j in m) for m in _maximal_matchings(K))
    if K > 12:
        return matched
    r = np.where(np.eye(K, dtype=bool), np.inf, s).min(axis=1) / 2
    return max(matched, _enlargement_deficit(w, r))


def wasserstein_lower_bound(L: Any, separation: Any, weights: Any = (0.5, 0.5),
                            p: Any = 1) -> Any:
    r"""T5: every L-Lipschitz push-forward of ``\gamma_d`` is ``W_p``-far from ``\pi^*``.

    Statement: for every coupling of ``X \sim \mu`` and ``Y \sim \pi^*``,
    ``P(|X - Y| > \rho) \ge \sum_k (w_k - \mu(M_k^\rho))_+`` and the ``M_k^\rho`` are
    ``\Delta - 2\rho`` apart, so

    .. math::  W_p(\mu, \pi^*)^p \ge \int_0^{\Delta/2} p\,\rho^{p-1} D(\rho)\,d\rho,

    ``D(\rho)`` the least ``\sum_k (w_k - n_k)_+`` over the masses ``n`` allowed at
    separation ``s = (\Delta - 2\rho)/L``. ``K = 2`` (exact minimum, concavity along the
    frontier puts it at an end): ``D(\rho) = \Phi(-\alpha) - \Phi(-\alpha - s)``,
    ``\alpha = |\Phi^{-1}(w_1)|``; for ``p = 1`` in closed form,

    .. math::  W_1 \ge \tfrac{\Delta}{2}\Phi(-\alpha)
               - \tfrac{L}{2}\big(G(-\alpha) - G(-\alpha - \Delta/L)\big),
               \quad G(x) = x\Phi(x) + \varphi(x).

    ``K \ge 3`` (our relaxation, valid but not tight): ``D(\rho)`` is bounded below by
    the larger of (a) its exact minimum under the T3 constraint with the symmetric
    ``r_k = \min_j s_{kj}/2`` (a convex maximisation solved at the vertices, ``K <= 12``)
    and (b) the best sum over disjoint pairs of the exact two-mode deficit at
    separation ``\Delta_{ij} - 2\rho``; integrated by ``scipy.integrate.quad``.
    ``K = 2``, equal weights, ``\Delta = 2``: ``L = 0.5, 1, 2`` give 0.400/0.305/0.184.

    Args:
        L: ``0 < L <= inf``; separation: ``Delta >= 0`` (broadcast with ``L`` at
            ``K = 2``; scalar or ``K x K`` matrix with scalar ``L`` at ``K >= 3``).
        weights: ``[K]`` demonstrator mode weights, positive, summing to 1.
        p: order, ``1 <= p < inf``.

    Returns:
        the lower bound on ``W_p(\mu, \pi^*)``, ``>= 0``, broadcast shape.

    Reference: docs/theory.md, T5.
    """
    if _args.is_symbolic(L, separation, p):
        return _wasserstein_expr(L, separation, weights, p)
    w = _args.weight_vector(weights, "weights")
    if isinstance(p, (bool, np.bool_)) or not isinstance(p, (int, float, np.integer,
                                                               np.floating)):
        raise TypeError(f"p must be a real number, got {type(p).__name__}")
    if not 1 <= p < math.inf:   # NaN fails too
        raise ValueError(f"p must be a real number with 1 <= p < inf, got {p!r}")
    p = float(p)
    L = _args.positive_or_inf(L, "L")
    if w.size >= 3:
        if np.ndim(L) != 0:
            raise ValueError(f"L must be a scalar when len(weights) = {w.size} >= 3")
        if np.ndim(separation) == 2:
            S = _separation_matrix(separation, w.size)
        else:
            sep = _args.nonnegative(separation, "separation")
            if np.ndim(sep) != 0:
                raise ValueError("separation must be a scalar or K x K matrix when "
                                 f"len(weights) = {w.size} >= 3")
            S = sep * (1 - np.eye(w.size))
        if L == math.inf or not np.any(S > 0):
            return 0.0
        points = sorted({float(v) / 2 for v in S[S > 0]})
        # The integrand is an optimum over the feasible masses (kinks where the optimal
        # face changes): quad may not reach its tolerance. Subtracting its error estimate
        # keeps the result a lower bound instead of warning about it.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", integrate.IntegrationWarning)
            value, abserr = integrate.quad(
                lambda rho: p * rho ** (p - 1) * _deficit_many(w, S, rho, L), 0.0,
                points[-1], points=points[:-1] or None, limit=400, epsabs=1e-10,
                epsrel=1e-8)
        return max(value - abserr, 0.0) ** (1.0 / p)
    sep = _args.nonnegative(separation, "separation")
    alpha = abs(float(special.ndtri(w[0])))
    tail = special.ndtr(-alpha)
    if p == 1:
        S = sep / L

        def G(x):
            return x * special.ndtr(x) + _INV_SQRT_2PI * np.exp(-0.5 * x * x)

        with np.errstate(invalid="ignore"):
            # L = inf: the integral of D vanishes; L * (G - G) would be inf * 0.
            value = np.where(np.asarray(S) == 0, 0.0,
                             sep / 2 * tail - L / 2 * (G(-alpha) - G(-alpha - S)))
        return _args.scalar_out(np.maximum(value, 0.0))
    half = np.asarray(sep / 2, dtype=float)
    Lb = np.asarray(L, dtype=float)

    def integrand(u, half, Lb):
        # rho = u * Delta/2 maps [0, 1] onto [0, Delta/2].
        rho = u * half
        return half * p * rho ** (p - 1) * (tail - special.ndtr(-alpha - (2 * half - 2 * rho) / Lb))

    res = integrate.tanhsinh(integrand, 0.0, 1.0, args=(half, Lb), rtol=1e-12)
    value = np.where(half == 0, 0.0, np.maximum(res.integral, 0.0))
    return _args.scalar_out(value ** (1.0 / p))


def _wasserstein_expr(L, separation, weights, p):
    import sympy

    rho = sympy.Symbol("rho", nonnegative=True)
    w1 = sympy.nsimplify(weights[0]) if not _args.is_symbolic(weights[0]) else weights[0]
    alpha = sympy.Abs(normal_quantile_expr(w1))
    s = (separation - 2 * rho) / L
    deficit = normal_cdf_expr(-alpha) - normal_cdf_expr(-alpha - s)
    return sympy.Integral(p * rho ** (p - 1) * deficit, (rho, 0, separation / 2)) ** (
        sympy.Integer(1) / p)


# ----------------------------------------------------------------------------- T6


def flow_lipschitz_bound(step_lipschitz: Any, step_sizes: Any, form: str = "euler") -> Any:
    r"""T6: Lipschitz constant of a flow or sampler map from its per-step constants.

    Statement, for ``dx/dt = v(x, t)`` on ``[0, 1]`` discretised by steps ``h_j``:

    - ``form="euler"``: explicit Euler ``x \mapsto x + h_j v(x, t_j)`` with ``v(., t_j)``
      ``l_j``-Lipschitz: ``L \le \prod_j (1 + h_j l_j)``.
    - ``form="gronwall"``: the exact flow, ``l_j \ge`` the Lipschitz constant of
      ``v(., t)`` for every ``t`` in step ``j``: ``L \le \exp(\sum_j h_j l_j)``.
    - ``form="one_sided"``: as gronwall with the one-sided constants
      ``\mu_j \ge \sup_x \lambda_{max}(\mathrm{sym}\,\nabla v)`` (may be negative):
      ``L \le \exp(\sum_j h_j \mu_j)``; never above the gronwall form.

    Args:
        step_lipschitz: ``[..., n_steps]`` per-step constants ``l_j`` (``>= 0``; any real
            for "one_sided").
        step_sizes: ``[n_steps]`` (or broadcastable) positive step sizes ``h_j``.
        form: "euler", "gronwall" or "one_sided".

    Returns:
        the bound, shape ``[...]`` (float for 1-D input). Computed as ``exp`` of a sum of
        logs (``log1p`` for Euler), so thousands of steps neither overflow nor lose digits
        until the bound itself exceeds ``1.8e308`` (then ``inf``).

    Reference: docs/theory.md, T6 (Gronwall; Soderlind 2006 for the log-norm).
    """
    if form not in ("euler", "gronwall", "one_sided"):
        raise ValueError(f"form must be 'euler', 'gronwall' or 'one_sided', got {form!r}")
    if _args.is_symbolic(step_lipschitz, step_sizes):
        raise TypeError("flow_lipschitz_bound takes numbers or arrays; for the symbolic "
                        "statement use PROPOSITIONS['T6'].statement()")
    h = _args.positive(step_sizes, "step_sizes")
    if form == "one_sided":
        lip = np.asarray(step_lipschitz, dtype=float)
        if not np.all(np.isfinite(lip)):
            raise ValueError("step_lipschitz must be finite real numbers for form='one_sided'")
    else:
        lip = _args.nonnegative(step_lipschitz, "step_lipschitz")
    lip, h = np.asarray(lip, dtype=float), np.asarray(h, dtype=float)
    if lip.ndim == 0 and h.ndim == 0:
        raise ValueError("step_lipschitz or step_sizes must be an array over the steps")
    log_factor = np.log1p(h * lip) if form == "euler" else h * lip
    with np.errstate(over="ignore"):
        return _args.scalar_out(np.exp(np.sum(log_factor, axis=-1)))


def min_integrated_lipschitz(mass: Any, separation: Any, n_modes: Any = 2) -> Any:
    r"""T6 corollary: the least integrated rate ``\int_0^1 l(t)\,dt`` for mass ``m`` per mode.

    Statement: the flow map has ``L \le \exp(\int l)`` (Gronwall), and ``K`` modes
    ``\Delta`` apart with mass ``\ge m`` each need ``L \ge`` `min_lipschitz`, so

    .. math::  \int_0^1 l(t)\,dt \ge \log \frac{\Delta}{2(\Phi^{-1}(1/K) - \Phi^{-1}(m))}
               \quad (K = 2:\ \log \frac{\Delta}{2\Phi^{-1}(1 - m)}).

    The same holds for the one-sided rate ``\int \mu(t) dt`` and, with
    ``\sum_j \log(1 + h_j l_j)`` in place of the integral, for Euler samplers.

    Args:
        mass: ``0 <= m <= 1/K``; separation: ``Delta >= 0`` (broadcast); n_modes: ``K``.

    Returns:
        the minimal integrated rate in ``[-inf, inf]`` (``-inf``: no constraint).

    Reference: docs/theory.md, T6.
    """
    if _args.is_symbolic(mass, separation, n_modes):
        import sympy

        return sympy.log(min_lipschitz(mass, separation, n_modes))
    L = min_lipschitz(mass, separation, n_modes)
    with np.errstate(divide="ignore"):
        return _args.scalar_out(np.log(L))


def gaussian_equivalent_lipschitz(L: Any, base_std: Any = 1.0,
                                  base_convexity: Any = None) -> Any:
    r"""T6, other bases: the constant to use in T2-T5 when the noise is not ``N(0, I)``.

    Statement: noise ``N(0, s^2 I)`` is ``x \mapsto s x`` of ``\gamma_d``, so T2-T5 hold
    with ``s L``. Noise with density ``e^{-V}``, ``\nabla^2 V \ge \kappa I`` is the image
    of ``\gamma_d`` under a ``1/\sqrt\kappa``-Lipschitz map (Caffarelli 2000), so T2-T5
    hold with ``L / \sqrt\kappa``; give ``base_convexity = kappa`` for that case.

    Args:
        L: the map's Lipschitz constant in its own noise, ``0 < L <= inf``.
        base_std: ``s > 0`` (Gaussian base ``N(0, s^2 I)``), ignored when
            ``base_convexity`` is given.
        base_convexity: ``kappa > 0`` or None.

    Returns:
        the Gaussian-equivalent Lipschitz constant, broadcast shape.

    Reference: docs/theory.md, T6 (Caffarelli 2000; Bakry-Ledoux 1996).
    """
    if _args.is_symbolic(L, base_std, base_convexity):
        import sympy

        return L / sympy.sqrt(base_convexity) if base_convexity is not None else base_std * L
    L = _args.positive_or_inf(L, "L")
    if base_convexity is not None:
        kappa = _args.positive(base_convexity, "base_convexity")
        return _args.scalar_out(L / np.sqrt(kappa))
    return _args.scalar_out(_args.positive(base_std, "base_std") * L)


# ----------------------------------------------------------------------------- T7


def chunk_separation(per_step_offsets: Any) -> Any:
    r"""T7: separation in chunk space of two trajectory modes.

    Statement: two trajectories differing by ``\delta_t`` at step ``t`` of an
    ``H``-step chunk (Euclidean norm on the flattened chunk) are

    .. math::  \Delta_H = \Big(\sum_{t=1}^H |\delta_t|^2\Big)^{1/2}

    apart; constant ``|\delta_t| = \delta`` gives ``\delta\sqrt H``, so at fixed ``L``
    the two-mode limit `max_mode_mass` falls as ``\Phi(-\delta\sqrt H / (2L))``.

    Args:
        per_step_offsets: ``[H]`` per-step distances ``|\delta_t|`` (or scalar-action
            offsets, any sign), or ``[H, action_dim]`` per-step offset vectors; all
            entries count (the Frobenius norm of the chunk difference). A list of SymPy
            symbols gives the expression.

    Returns:
        ``\Delta_H >= 0`` (float).

    Reference: docs/theory.md, T7.
    """
    if isinstance(per_step_offsets, (list, tuple)) and _args.is_symbolic(*per_step_offsets):
        import sympy

        return sympy.sqrt(sum(d ** 2 for d in per_step_offsets))
    if _args.is_symbolic(per_step_offsets):
        raise TypeError("per_step_offsets must be a list of SymPy expressions for the "
                        "symbolic form, got a single expression")
    if isinstance(per_step_offsets, (bool, np.bool_)):
        raise TypeError("per_step_offsets must be an array of real numbers, got a bool")
    try:
        a = np.asarray(per_step_offsets, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError("per_step_offsets must be an [H] or [H, action_dim] array of real "
                        f"numbers, got {type(per_step_offsets).__name__}") from exc
    if a.ndim not in (1, 2) or a.size == 0:
        raise ValueError("per_step_offsets must be a non-empty [H] or [H, action_dim] array, "
                         f"got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError("per_step_offsets must be finite")
    return float(np.linalg.norm(a.ravel()))


# ----------------------------------------------------------------------------- T8


def isoperimetric_min_lipschitz(mass: Any, boundary_measure: Any) -> Any:
    r"""T8: a target with a thin boundary needs a steep map.

    Statement: if ``\mu = T_\#\gamma_d`` with ``T`` L-Lipschitz then for every Borel
    ``B``, ``\mu^+(\partial B) \ge I(\mu(B)) / L`` (``I`` the Gaussian isoperimetric
    profile, ``\mu^+`` the outer Minkowski content): the preimage of the
    ``\epsilon``-enlargement of ``B`` contains the ``\epsilon/L``-enlargement of
    ``T^{-1}(B)``. So fitting ``\mu`` exactly needs

    .. math::  L \ge \sup_B \frac{\varphi(\Phi^{-1}(\mu(B)))}{\mu^+(\partial B)}.

    Args:
        mass: ``\mu(B)`` in ``[0, 1]``; boundary_measure: ``\mu^+(\partial B) > 0``
            (broadcast).

    Returns:
        the lower bound on ``L`` for that ``B``, ``>= 0``.

    Reference: docs/theory.md, T8 (Bobkov 1997; Milman & Neeman 2022 for several sets).
    """
    if _args.is_symbolic(mass, boundary_measure):
        return normal_pdf_expr(normal_quantile_expr(mass)) / boundary_measure
    m = _args.probability(mass, "mass")
    per = _args.positive(boundary_measure, "boundary_measure")
    x = special.ndtri(m)
    return _args.scalar_out(_INV_SQRT_2PI * np.exp(-0.5 * x * x) / per)


def exact_fit_min_lipschitz(mean: Any, std: Any) -> Any:
    r"""T8 example: fitting ``\tfrac12 N(-m, s^2) + \tfrac12 N(m, s^2)`` exactly needs

    .. math::  L \ge s\,\exp\big(m^2 / (2 s^2)\big)

    in any dimension of the noise (`isoperimetric_min_lipschitz` with ``B = (-inf, 0]``:
    ``\mu(B) = 1/2``, ``\mu^+ = \varphi(m/s)/s``). The 1-D monotone map
    ``F^{-1}\circ\Phi`` attains it: its slope ``\varphi(x)/p(T(x))`` peaks at ``x = 0``
    (verified numerically for ``m/s`` in ``[0, 4]``, docs/theory.md), so the bound is
    the exact minimal Lipschitz constant. 77.6 at ``m = 1, s = 0.3``.

    Args:
        mean: ``m >= 0``; std: ``s > 0`` (broadcast).

    Returns:
        ``s e^{m^2/(2s^2)}`` (``inf`` when it overflows, beyond ``m/s ~ 37.6``).

    Reference: docs/theory.md, T8 (Salmona et al. 2022 for the qualitative statement).
    """
    if _args.is_symbolic(mean, std):
        import sympy

        return std * sympy.exp(mean ** 2 / (2 * std ** 2))
    m = _args.nonnegative(mean, "mean")
    s = _args.positive(std, "std")
    with np.errstate(over="ignore"):
        return _args.scalar_out(s * np.exp(np.square(m / s) / 2))


# ----------------------------------------------------------------------------- registry


def _symbols(names: str, **kw):
    import sympy

    return sympy.symbols(names, **kw)


def _t1():
    import sympy

    L, D, d = _symbols("L Delta_ij d_ij", positive=True)
    return sympy.GreaterThan(d, D / L)


def _t2():
    import sympy

    L, D = _symbols("L Delta", positive=True)
    m1, m2 = _symbols("m_1 m_2", positive=True)
    return sympy.LessThan(normal_quantile_expr(m1) + normal_quantile_expr(m2), -D / L)


def _t3():
    import sympy

    K = sympy.Symbol("K", integer=True, positive=True)
    k = sympy.Symbol("k", integer=True, positive=True)
    m, r = sympy.IndexedBase("m"), sympy.IndexedBase("r")
    return sympy.LessThan(
        sympy.Sum(normal_cdf_expr(normal_quantile_expr(m[k]) + r[k]), (k, 1, K)), 1)


def _t4():
    import sympy

    L, D, b = _symbols("L Delta b", positive=True)
    return sympy.GreaterThan(b, sympy.erf(D / (2 * sympy.sqrt(2) * L)))


def _t5():
    import sympy

    L, D, p, W = _symbols("L Delta p W_p", positive=True)
    w1 = sympy.Symbol("w_1", positive=True)
    return sympy.GreaterThan(W, wasserstein_lower_bound(L, D, (w1, 1 - w1), p))


def _t6():
    import sympy

    t = sympy.Symbol("t", real=True)
    Lf = sympy.Symbol("L_flow", positive=True)
    ell = sympy.Function("l")
    return sympy.LessThan(Lf, sympy.exp(sympy.Integral(ell(t), (t, 0, 1))))


def _t7():
    import sympy

    H = sympy.Symbol("H", integer=True, positive=True)
    t = sympy.Symbol("t", integer=True, positive=True)
    delta = sympy.IndexedBase("delta")
    DH = sympy.Symbol("Delta_H", positive=True)
    return sympy.Eq(DH, sympy.sqrt(sympy.Sum(delta[t] ** 2, (t, 1, H))))


def _t8():
    import sympy

    L, mu, per = _symbols("L mu_B mu^+_B", positive=True)
    return sympy.GreaterThan(L, normal_pdf_expr(normal_quantile_expr(mu)) / per)


_PART_T = "docs/theory.md, Part T"

PROPOSITIONS: tuple[Proposition, ...] = (
    Proposition(
        "T1", "separation pulls back", _t1,
        "T: R^d -> R^D is L-Lipschitz; modes M_i, M_j closed with dist(M_i, M_j) = Delta_ij; "
        "A_k = T^{-1}(M_k).",
        preimage_separation, "", f"{_PART_T}, T1 (elementary)."),
    Proposition(
        "T2", "two-mode limit (tight)", _t2,
        "a = T(eps), eps ~ N(0, I_d), T L-Lipschitz, two modes Delta apart with masses m_1, m_2; "
        "any dimension d.",
        max_mode_mass,
        "log-space tail form (log_max_mode_mass); frontier attained for every m_1 by a "
        "shifted clip map (mode_mass_frontier); inverse in L (min_lipschitz).",
        f"{_PART_T}, T2; Borell 1975, Sudakov-Tsirelson 1974.",
        (log_max_mode_mass, mode_mass_frontier, min_lipschitz)),
    Proposition(
        "T3", "K modes: upper bound and construction", _t3,
        "as T2 with K modes pairwise Delta_ij apart; r_k >= 0 with r_i + r_j <= Delta_ij / L.",
        max_weighted_coverage,
        "r optimised over the feasible polytope (THEORY.md's symmetric r is the start); the "
        "simplicial construction with its closed-form mass (achievable_mode_mass), K <= 8.",
        f"{_PART_T}, T3; Milman-Neeman 2022 (multi-bubble) for the open gap.",
        (max_mode_mass, achievable_mode_mass)),
    Proposition(
        "T4", "bridge or sharpness", _t4,
        "as T2, two modes; b = 1 - m_1 - m_2; balanced coverage m_1 = m_2 for the erf form.",
        min_bridge_mass,
        "exact form for every m_1; inverse in L (min_lipschitz_for_bridge); local form "
        "with the Jacobian over the bridge preimage.",
        f"{_PART_T}, T4; Tanielian et al. 2020.",
        (min_lipschitz_for_bridge,)),
    Proposition(
        "T5", "distance to the demonstrations", _t5,
        "as T2; demonstrator pi* supported on modes with weights w_k; W_p, p >= 1.",
        wasserstein_lower_bound,
        "closed form of the K = 2 deficit and of the p = 1 integral; K >= 3 by a matching "
        "relaxation.",
        f"{_PART_T}, T5; Salmona et al. 2022, Issenhuth et al. 2023."),
    Proposition(
        "T6", "flow and diffusion samplers", _t6,
        "dx/dt = v(x, t) on [0, 1], v(., t) l(t)-Lipschitz (or one-sided constant mu(t)); "
        "Euler steps h_j.",
        flow_lipschitz_bound,
        "one-sided (log-norm) form; minimal integrated rate (min_integrated_lipschitz); "
        "non-standard bases (gaussian_equivalent_lipschitz).",
        f"{_PART_T}, T6; Gronwall; Caffarelli 2000.",
        (min_integrated_lipschitz, gaussian_equivalent_lipschitz)),
    Proposition(
        "T7", "action chunks", _t7,
        "Euclidean norm on the flattened H-step chunk; per-step offsets delta_t.",
        chunk_separation, "", f"{_PART_T}, T7."),
    Proposition(
        "T8", "exact fit needs a steep map", _t8,
        "mu = T#gamma_d with T L-Lipschitz; B Borel with outer boundary measure mu^+(dB) > 0.",
        isoperimetric_min_lipschitz,
        "sharpness of s exp(m^2 / (2 s^2)) for the symmetric two-Gaussian mixture "
        "(exact_fit_min_lipschitz), checked against the monotone map.",
        f"{_PART_T}, T8; Bobkov 1997; Salmona et al. 2022.",
        (exact_fit_min_lipschitz,)),
)

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
- T8 `exact_fit_min_lipschitz`, `isoperimetric_min_lipschitz`;
- local forms (our extension; ``T`` Lipschitz only on a convex set ``B`` of Gaussian mass
  ``1 - p``): `max_mode_mass_local`, `max_weighted_coverage_local`, `min_bridge_mass_local`,
  `wasserstein_lower_bound_local`.

Conventions: every function takes floats and NumPy arrays (broadcast; scalar in ->
Python float out) and, where the bound has a closed form, SymPy expressions (returns
the expression). Invalid input raises ``ValueError``/``TypeError`` naming the argument
and its range (`theory._args`); no function returns NaN, a negative probability or one
above 1. SymPy is imported only on the symbolic path and by
``PROPOSITIONS[i].statement()``.
"""

from __future__ import annotations

import functools
import itertools
import math
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
    "max_mode_mass_local", "max_weighted_coverage_local", "min_bridge_mass_local",
    "wasserstein_lower_bound_local",
]

_SQRT1_2 = math.sqrt(0.5)
_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2 * math.pi)
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
_MAX_K = _args.MAX_MODES_CLOSED_FORM
# Sizes past which the cost of an exact enumeration explodes (documented per function).
_MAX_K_COVERAGE = 32         # SLSQP over r in R^K with K(K-1)/2 constraints
_MAX_K_COVERAGE_LOCAL = 6    # vertex enumeration: K 2^K candidate allocations per root step
_MAX_K_WASSERSTEIN = 32      # pairwise deficits per quadrature node
_MAX_K_MATCHINGS = 8         # exact best matching (105 matchings at K = 8); greedy above
_MAX_K_VERTICES = 8          # 2^K vertices of the symmetric-r relaxation (exact up to here)


def _phi_cdf(x: float) -> float:
    # Scalar Phi through math.erfc: ~0.1 us against ~1 us for a ufunc call on a float,
    # and erfc keeps full relative accuracy in the lower tail down to underflow.
    return 0.5 * math.erfc(-x * _SQRT1_2)


@functools.lru_cache(maxsize=64)
def _quantile_of_share(n_modes: int) -> float:
    """``Phi^{-1}(1/K)`` (exactly 0 at ``K = 2``)."""
    return float(special.ndtri(1.0 / n_modes))


def _n_modes(n_modes: Any, high: int = _MAX_K) -> Any:
    if type(n_modes) is int and 2 <= n_modes <= high:
        return n_modes
    return _args.symbolic_integer(n_modes, "n_modes", 2, high)


def _nonnegative(x: Any, name: str) -> Any:
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


def _symbolic(**values: Any) -> bool:
    """True when the call takes the SymPy path (and then no argument may be an array)."""
    if _args.is_symbolic(*values.values()):
        _args.no_arrays_with_symbols(**values)
        return True
    return False


def _ratio(separation: Any, L: Any) -> Any:
    """``Delta / L`` (``0`` for ``L = inf``; ``inf`` only when it overflows)."""
    with np.errstate(over="ignore"):
        return np.divide(separation, L)


def _named_broadcast(**values: Any) -> None:
    _args.broadcast(**values)


def _closed_form(expr, numeric, **values: Any) -> Any:
    """A bound with a closed form at the validated ``values`` (keywords: the public names).

    ``expr(*values)`` on the SymPy path, numbers made SymPy numbers first; otherwise
    ``numeric(*values)`` as a float or array, a broadcast error naming the arguments.
    """
    if _symbolic(**values):
        return expr(*_args.sympify(*values.values()))
    try:
        return _args.scalar_out(numeric(*values.values()))
    except ValueError:
        _named_broadcast(**values)
        raise


def _mass_separation_modes(mass: Any, separation: Any, n_modes: Any) -> tuple:
    """The validated ``(mass, separation, K)`` of `min_lipschitz` and its log form."""
    K = _n_modes(n_modes)
    return _args.probability(mass, "mass"), _args.nonnegative(separation, "separation"), K


def _root_from_above(res) -> np.ndarray:
    """The root of an increasing function from ``elementwise.find_root``, from its upper side.

    ``x`` where ``f(x) >= 0`` (it stops early on an exact zero, with a wide bracket),
    otherwise the upper end of the final bracket: rounding never moves a bound below the
    root this way.
    """
    return np.where(res.f_x >= 0, res.x, res.bracket[1])


# ----------------------------------------------------------------------------- T1


def preimage_separation(L: Any, separation: Any) -> Any:
    r"""T1: the preimages of modes ``Delta`` apart are at least ``Delta / L`` apart.

    If ``T`` is ``L``-Lipschitz and ``dist(M_i, M_j) = \Delta_{ij}`` then the preimages
    ``A_k = T^{-1}(M_k)`` satisfy ``dist(A_i, A_j) \ge \Delta_{ij} / L``.

    Parameters
    ----------
    L : float or array_like
        Lipschitz constant of ``T``, ``0 < L <= inf``.
    separation : float or array_like
        ``Delta >= 0``, finite; broadcasts with ``L``.

    Returns
    -------
    float or ndarray
        ``Delta / L`` in ``[0, inf]``, broadcast shape (``inf`` only where it overflows).

    Raises
    ------
    ValueError
        ``L <= 0``, ``separation < 0``, NaN, or shapes that do not broadcast.
    TypeError
        Non-real input (str, bytes, complex, bool).

    Notes
    -----
    For ``x \in A_i``, ``y \in A_j``: ``\Delta_{ij} \le |T(x) - T(y)| \le L |x - y|``.

    References
    ----------
    docs/theory.md, Part T, T1.

    Examples
    --------
    >>> import theory
    >>> theory.preimage_separation(2.0, 3.0)
    1.5
    """
    L, sep = _lipschitz_and_separation(L, separation)
    return _closed_form(lambda L, sep: sep / L, lambda L, sep: _ratio(sep, L),
                        L=L, separation=sep)


# ----------------------------------------------------------------------------- T2


def max_mode_mass(L: Any, separation: Any, n_modes: Any = 2) -> Any:
    r"""T2/T3: the largest mass every one of ``K`` modes can get from an L-Lipschitz map.

    If ``\mu = T_\# \gamma_d`` with ``T`` L-Lipschitz and the modes ``M_1..M_K`` are
    pairwise at least ``\Delta`` apart, then

    .. math::  \min_k \mu(M_k) \le \Phi\big(\Phi^{-1}(1/K) - \Delta / (2L)\big),

    in every dimension ``d``. Tight at ``K = 2`` (``\Phi(-\Delta/(2L))``); for ``K \ge 3``
    an upper bound (`achievable_mode_mass` gives the other side).

    Parameters
    ----------
    L : float or array_like
        Lipschitz constant of ``T`` in the noise, ``0 < L <= inf`` (``inf`` gives ``1/K``).
    separation : float or array_like
        ``Delta >= 0``, finite; broadcasts with ``L``.
    n_modes : int, optional
        ``K``, ``2 <= K <= 2**53`` (default 2).

    Returns
    -------
    float or ndarray
        The bound in ``[0, 1/K]``, broadcast shape. Exact to double precision (relative)
        down to the underflow at ``Delta/L ~ 75``; beyond, use `log_max_mode_mass`.

    Raises
    ------
    ValueError
        Out-of-range or NaN arguments, ``n_modes`` not an integer in ``[2, 2**53]``,
        shapes that do not broadcast.
    TypeError
        Non-real input, or a SymPy expression mixed with an array.

    Notes
    -----
    The ``\Delta/(2L)``-enlargements of the preimages ``A_k`` are disjoint (T1), so
    ``\sum_k \Phi(\Phi^{-1}(m_k) + \Delta/(2L)) \le 1`` by Gaussian isoperimetry; at
    ``m_k = m`` for all ``k`` this is the bound. Equality at ``K = 2`` for
    ``T(x) = c + u\,\mathrm{clip}(L \langle e, x\rangle, -\Delta/2, \Delta/2)``. SymPy
    arguments give the expression (for ``sympy.latex``).

    References
    ----------
    docs/theory.md, T2 and T3; Borell 1975; Sudakov & Tsirelson 1974.

    Examples
    --------
    >>> import theory
    >>> round(theory.max_mode_mass(1.0, 2.0), 6)        # Phi(-1)
    0.158655
    >>> theory.max_mode_mass(1.0, [1.0, 2.0, 4.0], 3).round(4)
    array([0.176 , 0.0763, 0.0075])
    """
    if (type(L) is float and type(separation) is float and type(n_modes) is int
            and 0.0 < L and 0.0 <= separation < math.inf and 2 <= n_modes <= _MAX_K):
        # the scalar fast path: the checks inlined (each checker call costs ~0.5 us)
        return _phi_cdf(_quantile_of_share(n_modes) - separation / (2 * L))
    K = _n_modes(n_modes)
    L, sep = _lipschitz_and_separation(L, separation)
    if type(L) is float and type(sep) is float and type(K) is int:
        return _phi_cdf(_quantile_of_share(K) - sep / (2 * L))
    if _symbolic(L=L, separation=sep, n_modes=K):
        L, sep, K = _args.sympify(L, sep, K)
        import sympy

        return normal_cdf_expr(normal_quantile_expr(sympy.Integer(1) / K) - sep / (2 * L))
    x = _t2_argument(L, sep, K)
    return _args.scalar_out(special.ndtr(x, out=x) if isinstance(x, np.ndarray)
                            else special.ndtr(x))


def _t2_argument(L: Any, sep: Any, K: int) -> Any:
    """``Phi^{-1}(1/K) - Delta/(2L)`` on arrays (validated ``L``, ``sep``), broadcasting
    errors naming the arguments."""
    try:
        # sep / (-2 L), not sep * (-0.5 / L): the latter is 0 * inf = NaN at L = 5e-324.
        with np.errstate(over="ignore"):
            x = np.divide(sep, -2.0 * L)
    except ValueError:
        _named_broadcast(L=L, separation=sep)
        raise
    if K != 2:
        x += _quantile_of_share(K)
    return x


def log_max_mode_mass(L: Any, separation: Any, n_modes: Any = 2) -> Any:
    r"""``\log`` of `max_mode_mass`, via ``scipy.special.log_ndtr``: finite in the tails.

    .. math::  \log \Phi\big(\Phi^{-1}(1/K) - \Delta/(2L)\big).

    Parameters
    ----------
    L, separation, n_modes
        As `max_mode_mass`.

    Returns
    -------
    float or ndarray
        Values in ``[-inf, log(1/K)]`` (``-inf`` only where ``Delta/L = inf``); at
        ``Delta/L = 80`` the plain bound underflows (``~1e-350``) while this is ``-804.6``.

    Raises
    ------
    ValueError, TypeError
        Those of `max_mode_mass` (the same arguments, checked the same way).

    Notes
    -----
    Exact to double precision (relative) for every finite ``Delta/L``: ``log_ndtr`` uses
    its asymptotic expansion in the tail.

    References
    ----------
    docs/theory.md, T2 (the bound whose logarithm this is).

    Examples
    --------
    >>> import theory
    >>> round(theory.log_max_mode_mass(1.0, 80.0), 4)
    -804.6084
    """
    K = _n_modes(n_modes)
    L, sep = _lipschitz_and_separation(L, separation)
    if type(L) is float and type(sep) is float and type(K) is int:
        return float(special.log_ndtr(_quantile_of_share(K) - sep / (2 * L)))
    if _symbolic(L=L, separation=sep, n_modes=K):
        L, sep, K = _args.sympify(L, sep, K)
        import sympy

        return sympy.log(max_mode_mass(L, sep, K), evaluate=False)
    x = _t2_argument(L, sep, K)
    return _args.scalar_out(special.log_ndtr(x, out=x) if isinstance(x, np.ndarray)
                            else float(special.log_ndtr(x)))


def mode_mass_frontier(m1: Any, L: Any, separation: Any) -> Any:
    r"""T2 frontier: the largest ``m_2`` compatible with ``m_1`` on two modes.

    .. math::  \Phi^{-1}(m_1) + \Phi^{-1}(m_2) \le -\Delta/L
               \iff m_2 \le \Phi\big(-\Phi^{-1}(m_1) - \Delta/L\big),

    attained for every ``m_1`` and in every dimension by a clip map with a shifted threshold.

    Parameters
    ----------
    m1 : float or array_like
        Mass of mode 1, in ``[0, 1]``.
    L : float or array_like
        ``0 < L <= inf``.
    separation : float or array_like
        ``Delta >= 0``, finite. All three broadcast.

    Returns
    -------
    float or ndarray
        The largest ``m_2`` in ``[0, 1]`` (``m_1 = 0 -> 1``, ``m_1 = 1 -> 0``).

    Raises
    ------
    ValueError, TypeError
        ``m1`` outside ``[0, 1]``, ``L <= 0``, negative or NaN ``separation``, non-real
        input, shapes that do not broadcast.

    Notes
    -----
    The ``\Delta/L``-enlargement of ``A_1`` misses ``A_2`` (T1), so
    ``\Phi(\Phi^{-1}(m_1) + \Delta/L) \le 1 - m_2``.

    References
    ----------
    docs/theory.md, T2 (the frontier and the clip maps that attain it).

    Examples
    --------
    >>> import theory
    >>> round(theory.mode_mass_frontier(0.5, 1.0, 1.0), 4)     # Phi(-1)
    0.1587
    """
    m1 = _args.probability(m1, "m1")
    L, sep = _lipschitz_and_separation(L, separation)
    if type(m1) is float and type(L) is float and type(sep) is float and m1 > 0:
        return _phi_cdf(-float(special.ndtri(m1)) - sep / L)
    if _symbolic(m1=m1, L=L, separation=sep):
        m1, L, sep = _args.sympify(m1, L, sep)
        return normal_cdf_expr(-normal_quantile_expr(m1) - sep / L)
    try:
        s = _ratio(sep, L)
        with np.errstate(invalid="ignore"):
            m2 = special.ndtr(-special.ndtri(m1) - s)
        # m1 = 0: A_1 is empty and every m2 is allowed (inf - inf at Delta/L = inf).
        m2 = np.where(np.asarray(m1) == 0, 1.0, m2)
    except ValueError:
        _named_broadcast(m1=m1, L=L, separation=sep)
        raise
    return _args.scalar_out(m2)


def min_lipschitz(mass: Any, separation: Any, n_modes: Any = 2) -> Any:
    r"""T2/T3 inverted: the smallest ``L`` that lets every one of ``K`` modes get ``mass``.

    .. math::  \min_k m_k \ge m \implies
               L \ge \frac{\Delta}{2\,(\Phi^{-1}(1/K) - \Phi^{-1}(m))},

    the inverse of `max_mode_mass` in ``L`` (tight at ``K = 2``:
    ``\Delta / (2\Phi^{-1}(1 - m))``).

    Parameters
    ----------
    mass : float or array_like
        Target mass per mode, ``0 <= m <= 1/K``.
    separation : float or array_like
        ``Delta >= 0``, finite; broadcasts with ``mass``.
    n_modes : int, optional
        ``K``, ``2 <= K <= 2**53``.

    Returns
    -------
    float or ndarray
        The minimal Lipschitz constant in ``[0, inf]``: ``m = 0 -> 0``, ``m = 1/K -> inf``
        (for ``Delta > 0``), ``Delta = 0 -> 0``.

    Raises
    ------
    ValueError
        ``mass`` outside ``[0, 1/K]`` (no map gives every mode more), other range errors.
    TypeError
        Non-real input.

    References
    ----------
    docs/theory.md, T2/T3.

    Examples
    --------
    >>> import theory
    >>> round(theory.min_lipschitz(0.1, 2.0), 4)        # 1 / Phi^{-1}(0.9)
    0.7803
    """
    mass, sep, K = _mass_separation_modes(mass, separation, n_modes)
    if _symbolic(mass=mass, separation=sep, n_modes=K):
        mass, sep, K = _args.sympify(mass, sep, K)
        import sympy

        share = sympy.Integer(1) / K
        if sep == 0:      # no separation, no constraint (0/0 at mass = 1/K otherwise)
            return sympy.Integer(0)
        return sep / (2 * (normal_quantile_expr(share) - normal_quantile_expr(mass)))
    if np.any(np.asarray(mass) > 1.0 / K):
        raise ValueError(f"mass must be in [0, 1/n_modes] = [0, {1.0 / K:.6g}] "
                         f"(no map gives every mode more), got {np.max(mass)!r}")
    try:
        gap = _quantile_of_share(K) - special.ndtri(mass)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            L = np.where(np.asarray(sep) == 0, 0.0, np.divide(sep, 2 * gap))
    except ValueError:
        _named_broadcast(mass=mass, separation=sep)
        raise
    return _args.scalar_out(L)


# ----------------------------------------------------------------------------- T3


def _separation_matrix(separation: Any, K: int) -> np.ndarray:
    a = _args.real_array(separation, "separation")
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
    """``log t*`` with ``sum_k Phi(Phi^{-1}(t w_k) + r_k) = 1`` (increasing in ``t``).

    ``-inf`` when ``t*`` is below ``e^{-800}`` (it then underflows anyway): any two modes
    ``i != j`` give ``min(t w_i, t w_j) <= Phi(-(r_i + r_j)/2)``.
    """
    K = log_w.size
    r_max = float(np.max(r))
    if special.log_ndtr(-r_max / 2) - float(np.min(log_w)) < -800.0:
        return -math.inf

    def excess(x: float) -> float:
        return float(np.sum(special.ndtr(special.ndtri_exp(x + log_w) + r))) - 1.0

    # Each term <= Phi(Phi^{-1}(e^lo) + r_max) = 1/(2K) at lo: the excess is negative.
    lo = float(special.log_ndtr(_quantile_of_share(2 * K) - r_max))
    hi = -float(np.max(log_w))
    if excess(lo) >= 0:
        return lo
    x, info = optimize.brentq(excess, lo, hi, xtol=1e-14, rtol=1e-14, full_output=True)
    return x + 4e-14 * (1 + abs(x))   # the upper side of Brent's bracket: still a bound


def _optimised_coverage(log_w: np.ndarray, S: np.ndarray, root=_coverage_log_root) -> float:
    """``min_r root(log_w, r)`` over ``{r >= 0, r_i + r_j <= S_ij}``; always a feasible ``r``."""
    K = log_w.size
    pairs = np.array(list(itertools.combinations(range(K), 2)))
    caps = S[pairs[:, 0], pairs[:, 1]]
    masked = np.where(np.eye(K, dtype=bool), np.inf, S)
    reach = masked.min(axis=1)
    starts = [reach / 2] + [np.where(np.arange(K) == k, reach[k], 0.0) for k in range(K)]
    values = [root(log_w, r) for r in starts]
    best = int(np.argmin(values))
    if values[best] == -math.inf:
        return -math.inf
    A = np.zeros((len(pairs), K))
    A[np.arange(len(pairs)), pairs[:, 0]] = 1
    A[np.arange(len(pairs)), pairs[:, 1]] = 1
    if not np.all(np.isfinite(caps)):     # Delta/L overflowed: the starts are all we trust
        return values[best]
    res = optimize.minimize(
        lambda r: root(log_w, r), starts[best], method="SLSQP",
        bounds=[(0, None)] * K,
        constraints=[{"type": "ineq", "fun": lambda r: caps - A @ r, "jac": lambda r: -A}],
        options={"maxiter": 200, "ftol": 1e-12})
    if not np.all(np.isfinite(res.x)):
        return values[best]
    # Soundness does not depend on the optimiser: project its answer back into the
    # feasible set (clip, then scale down), and keep whichever feasible r is better.
    r = np.clip(res.x, 0, None)
    load = A @ r
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.min(np.where(load > 0, caps / load, np.inf), initial=1.0)
    r = r * min(1.0, scale)
    refined = root(log_w, r)
    return min(refined, values[best]) if math.isfinite(refined) or refined < 0 else values[best]


def _two_mode_coverage(s: np.ndarray, log_w: np.ndarray) -> np.ndarray:
    """``t*`` at ``K = 2``: root of ``Phi^{-1}(t w_1) + Phi^{-1}(t w_2) = -s`` (vectorised)."""
    s = np.asarray(s, dtype=float)
    out = np.where(s == 0, 1.0, 0.0)
    # min(t w_1, t w_2) <= Phi(-s/2): below e^-800 the coverage underflows to 0.
    live = (s > 0) & (special.log_ndtr(-s / 2) - np.min(log_w) >= -800.0)
    if np.any(live):
        sl = s[live]

        def gap(x, s):
            return special.ndtri_exp(x + log_w[0]) + special.ndtri_exp(x + log_w[1]) + s

        # gap(lo) <= 2 Phi^{-1}(e^lo) + s = -2 < 0; gap(hi) = +inf (t w_max = 1).
        lo = special.log_ndtr(-sl / 2 - 1)
        hi = np.full_like(sl, -float(np.max(log_w)))
        res = elementwise.find_root(gap, (lo, hi), args=(sl,),
                                    tolerances={"xatol": 0.0, "xrtol": 4e-16})
        out[live] = np.exp(_root_from_above(res))   # gap >= 0 there: still a bound
    return out


def max_weighted_coverage(L: Any, separation: Any, weights: Any) -> Any:
    r"""T3: the largest ``t`` with ``m_k \ge t\,w_k`` for all ``k`` is at most ``t^*``.

    For any ``r_k \ge 0`` with ``r_i + r_j \le \Delta_{ij}/L`` the ``r_k``-enlargements of
    the preimages ``A_k`` are disjoint (T1), so by Gaussian isoperimetry
    ``\sum_k \Phi(\Phi^{-1}(m_k) + r_k) \le 1``. If ``m_k \ge t w_k`` for all ``k`` then
    ``t \le t^*(r)``, the root of

    .. math::  \sum_k \Phi\big(\Phi^{-1}(t\,w_k) + r_k\big) = 1

    (increasing in ``t``). Returned: ``\min_r t^*(r)`` over the feasible ``r``.

    Parameters
    ----------
    L : float or array_like
        ``0 < L <= inf``; an array only when ``K = 2`` with scalar-or-array separation.
    separation : float, array_like or (K, K) array_like
        ``Delta >= 0`` for all pairs (broadcasts with ``L`` at ``K = 2``), or a symmetric
        ``K x K`` matrix ``Delta_ij`` (diagonal ignored; scalar ``L``).
    weights : (K,) array_like
        Positive weights summing to 1, ``2 <= K <= 32``.

    Returns
    -------
    float or ndarray
        ``t^*`` in ``[0, 1 / max_k w_k]`` (``t^* = 1`` at ``Delta = 0``); 0 where it is below
        ``1e-308`` (it underflows).

    Raises
    ------
    ValueError
        Bad weights, a non-symmetric or mis-shaped matrix, array ``L`` with ``K >= 3``.
    TypeError
        Non-real or SymPy input (``t^*`` is a root, not a closed form).

    Notes
    -----
    Every feasible ``r`` gives a valid bound, so soundness never depends on the optimiser:
    its answer is projected back into the feasible set and compared with the feasible
    starting points (the symmetric ``r_k = \min_j \Delta_{kj}/(2L)`` and the vertices
    ``r = e_k \min_j \Delta_{kj}/L``). ``K = 2``: all splits ``r_1 + r_2 = \Delta/L`` give
    the same, tight value (the T2 frontier), computed vectorised
    (``scipy.optimize.elementwise.find_root`` in ``log t``; the root is taken from its
    upper side). ``K >= 3``: SLSQP over ``r``. With equal weights, ``t^*/K`` is a
    bound on ``\min_k m_k`` at most `max_mode_mass`.

    References
    ----------
    docs/theory.md, T3 (the optimised ``r`` is our extension).

    Examples
    --------
    >>> import theory
    >>> round(theory.max_weighted_coverage(1.0, 2.0, [0.5, 0.5]) / 2, 4)   # = max_mode_mass
    0.1587
    """
    if _args.is_symbolic(L, separation):
        raise TypeError("max_weighted_coverage is the root of an equation, not a closed "
                        "form: use PROPOSITIONS['T3'].statement() for the symbolic form")
    w = _args.weight_vector(weights, "weights", max_size=_MAX_K_COVERAGE)
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
        try:
            s = np.asarray(_ratio(sep, L), dtype=float)
        except ValueError:
            _named_broadcast(L=L, separation=sep)
            raise
        return _args.scalar_out(_two_mode_coverage(s, log_w))
    if np.ndim(sep) != 0 or np.ndim(L) != 0:
        raise ValueError(f"L and separation must be scalars when len(weights) = {K} >= 3")
    with np.errstate(over="ignore", invalid="ignore"):
        S = np.where(np.eye(K, dtype=bool), 0.0, sep / L)
    return float(np.exp(_optimised_coverage(log_w, S)))


def achievable_mode_mass(L: Any, separation: Any, n_modes: Any) -> Any:
    r"""T3 constructive side: a mass per mode that an L-Lipschitz map does achieve.

    Construction (dimension ``d \ge K - 1``): the regular simplex partition of
    ``R^{K-1}`` into ``K`` congruent cones, each shrunk by ``\epsilon = \Delta/(2L)`` from
    its facets; the shrunk cells are ``\Delta/L`` apart, so the map sending cell ``k`` to
    the point mode ``c_k`` (``|c_i - c_j| = \Delta``) is L-Lipschitz on their union and
    extends to all of ``R^d`` (Kirszbraun). Each cell has Gaussian mass

    .. math::  P(G_k - G_j \ge \sqrt 2\,\epsilon\ \forall j \ne k)
               = \int \varphi(g)\,\Phi(g - \sqrt 2\,\epsilon)^{K-1}\,dg .

    Parameters
    ----------
    L : float or array_like
        ``0 < L <= inf``.
    separation : float or array_like
        ``Delta >= 0``, finite; broadcasts with ``L``.
    n_modes : int
        ``K``, ``2 <= K <= 8``.

    Returns
    -------
    float or ndarray
        The per-mode mass of the construction, in ``[0, 1/K]`` (0 where it underflows,
        ``Delta/L > 113``), broadcast shape.

    Raises
    ------
    ValueError, TypeError
        ``L <= 0``, negative or NaN ``separation``, ``n_modes`` not an integer in
        ``[2, 8]``, non-real input.

    Notes
    -----
    So the best min-mass lies in ``[achievable_mode_mass, max_mode_mass]``; equal at
    ``K = 2``. ``K = 3``, ``Delta/L = 1, 2, 4``: 0.163 / 0.063 / 0.0041 (upper 0.176 /
    0.076 / 0.0075). Computed in log space by ``scipy.integrate.tanhsinh`` (relative error
    ~1e-12). SymPy input gives the defining ``Integral``.

    References
    ----------
    docs/theory.md, T3 (the construction is our extension); Issenhuth et al. 2023.

    Examples
    --------
    >>> import theory
    >>> round(theory.achievable_mode_mass(1.0, 2.0, 3), 4)
    0.0625
    """
    K = _n_modes(n_modes, 8)
    L, sep = _lipschitz_and_separation(L, separation)
    if _symbolic(L=L, separation=sep, n_modes=K):
        L, sep, K = _args.sympify(L, sep, K)
        import sympy

        g = sympy.Symbol("g", real=True)
        c = sympy.sqrt(2) * sep / (2 * L)
        integrand = normal_pdf_expr(g) * normal_cdf_expr(g - c) ** (K - 1)
        return sympy.Integral(integrand, (g, -sympy.oo, sympy.oo))
    try:
        c = np.asarray(_ratio(sep, L) * _SQRT1_2, dtype=float)
    except ValueError:
        _named_broadcast(L=L, separation=sep)
        raise
    out = np.zeros_like(c)
    # Beyond c = 80 the mass is below max_mode_mass ~ Phi(-56) ~ 1e-690: 0 in float64.
    live = c <= 80.0

    def log_integrand(g, c):
        return -0.5 * g * g - _LOG_SQRT_2PI + (K - 1) * special.log_ndtr(g - c)

    if np.any(live):
        res = integrate.tanhsinh(log_integrand, -np.inf, np.inf, args=(c[live],), log=True)
        out[live] = np.minimum(np.exp(res.integral.real), 1.0 / K)
    return _args.scalar_out(out)


# ----------------------------------------------------------------------------- T4


def _ndtr_difference(upper: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """``Phi(upper) - Phi(lower)`` for ``upper >= lower``, from the tail it lies in."""
    right = lower >= 0
    return np.where(right, special.ndtr(-lower) - special.ndtr(-upper),
                    special.ndtr(upper) - special.ndtr(lower))


def _bridge_given(n1: np.ndarray, s: np.ndarray) -> np.ndarray:
    """``1 - n_1 - Phi(-Phi^{-1}(n_1) - s)`` (the T4 bound given ``n_1``), 0 at ``n_1 = 0, 1``."""
    with np.errstate(invalid="ignore"):
        a = -special.ndtri(n1)
        b = _ndtr_difference(a, a - s)
    return np.where((np.asarray(n1) > 0) & (np.asarray(n1) < 1), np.clip(b, 0.0, 1.0), 0.0)


def min_bridge_mass(L: Any, separation: Any, m1: Any = None) -> Any:
    r"""T4: mass an L-Lipschitz map must put off two modes ``Delta`` apart.

    The bridge mass ``b = 1 - m_1 - m_2`` satisfies, by the T2 frontier,

    .. math::  b \ge 1 - m_1 - \Phi(-\Phi^{-1}(m_1) - \Delta/L)
                 = \Phi(-\Phi^{-1}(m_1)) - \Phi(-\Phi^{-1}(m_1) - \Delta/L),

    and with balanced coverage ``m_1 = m_2`` (``m1=None``)
    ``b \ge 2\Phi(\Delta/(2L)) - 1 = \operatorname{erf}(\Delta/(2\sqrt 2 L))``.
    Both tight (clip maps).

    Parameters
    ----------
    L : float or array_like
        ``0 < L <= inf``.
    separation : float or array_like
        ``Delta >= 0``, finite.
    m1 : float, array_like or None, optional
        Mode-1 mass in ``[0, 1]``, or None for balanced coverage. All broadcast.

    Returns
    -------
    float or ndarray
        The minimal bridge mass in ``[0, 1]``, broadcast shape.

    Raises
    ------
    ValueError, TypeError
        ``L <= 0``, ``separation < 0``, ``m1`` outside ``[0, 1]``, NaN, non-real input,
        shapes that do not broadcast.

    Notes
    -----
    Local form: ``L`` may be the supremum of ``\|DT\|`` over the preimage of the bridge
    (docs/theory.md, T4); for a map Lipschitz only on a convex set see
    `min_bridge_mass_local`. Differences of ``Phi`` are taken in the tail they lie in, so
    small bridges keep their relative accuracy.

    References
    ----------
    docs/theory.md, T4; Tanielian et al. 2020 (the GAN analogue).

    Examples
    --------
    >>> import theory
    >>> round(theory.min_bridge_mass(1.0, 2.0), 4)     # erf(1/sqrt(2))
    0.6827
    """
    L, sep = _lipschitz_and_separation(L, separation)
    if m1 is None and type(L) is float and type(sep) is float:
        return math.erf(sep / (2 * _SQRT2 * L))
    if m1 is not None:
        m1 = _args.probability(m1, "m1")
    if _symbolic(L=L, separation=sep, m1=m1):
        L, sep, m1 = _args.sympify(L, sep, m1)
        import sympy

        if m1 is None:
            return sympy.erf(sep / (2 * sympy.sqrt(2) * L))
        return 1 - m1 - normal_cdf_expr(-normal_quantile_expr(m1) - sep / L)
    if m1 is None:
        try:
            with np.errstate(over="ignore"):
                return _args.scalar_out(special.erf(np.divide(sep, (2 * _SQRT2) * L)))
        except ValueError:
            _named_broadcast(L=L, separation=sep)
            raise
    try:
        return _args.scalar_out(_bridge_given(m1, _ratio(sep, L)))
    except ValueError:
        _named_broadcast(L=L, separation=sep, m1=m1)
        raise


def min_lipschitz_for_bridge(bridge_mass: Any, separation: Any) -> Any:
    r"""T4 inverted: bridge mass at most ``b`` with balanced coverage needs

    .. math::  L \ge \frac{\Delta}{2\,\Phi^{-1}((1+b)/2)}
                 = \frac{\Delta}{2\sqrt 2\,\operatorname{erf}^{-1}(b)}
                 \to \infty \text{ as } b \to 0.

    Parameters
    ----------
    bridge_mass : float or array_like
        ``b`` in ``[0, 1]``.
    separation : float or array_like
        ``Delta >= 0``, finite; broadcasts with ``bridge_mass``.

    Returns
    -------
    float or ndarray
        The minimal ``L`` in ``[0, inf]`` (``b = 0, Delta > 0 -> inf``; ``Delta = 0 -> 0``);
        the inverse of ``min_bridge_mass(L, Delta)`` in ``L``.

    Raises
    ------
    ValueError, TypeError
        ``bridge_mass`` outside ``[0, 1]``, negative or NaN ``separation``, non-real input.

    Notes
    -----
    Computed with ``erfinv(b)`` rather than ``ndtri((1 + b)/2)``: ``1 + b`` loses tiny ``b``.

    References
    ----------
    docs/theory.md, T4 (balanced coverage).

    Examples
    --------
    >>> import theory
    >>> L = theory.min_lipschitz_for_bridge(0.05, 2.0)
    >>> round(L, 3), round(theory.min_bridge_mass(L, 2.0), 12)     # the inverse in L
    (15.947, 0.05)
    """
    b = _args.probability(bridge_mass, "bridge_mass")
    sep = _args.nonnegative(separation, "separation")
    return _closed_form(_bridge_lipschitz_expr, _bridge_lipschitz, bridge_mass=b, separation=sep)


def _bridge_lipschitz_expr(b: Any, sep: Any) -> Any:
    import sympy

    return sep / (2 * sympy.sqrt(2) * sympy.erfinv(b))


def _bridge_lipschitz(b: Any, sep: Any) -> Any:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.where(np.asarray(sep) == 0, 0.0, np.divide(sep, 2 * _SQRT2 * special.erfinv(b)))


# ----------------------------------------------------------------------------- T5


def _pair_deficit(v_i, v_j, s):
    """``min_n (v_i - n_i)_+ + (v_j - n_j)_+`` over the T2-feasible ``(n_i, n_j)`` at ``s``.

    Valid for any ``v`` in ``[0, 1]`` (not only ``v_i + v_j = 1``): the objective is
    monotone where one term vanishes and concave where both are positive, so the minimum
    sits at ``n_i = v_i`` or ``n_j = v_j`` (docs/theory.md, T5).
    """
    with np.errstate(invalid="ignore"):
        f_i = special.ndtr(-special.ndtri(v_i) - s)
        f_j = special.ndtr(-special.ndtri(v_j) - s)
    return np.where(s > 0, np.maximum(np.minimum(v_j - f_i, v_i - f_j), 0.0), 0.0)


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
def _matching_matrix(K: int) -> np.ndarray:
    """Rows: the maximal matchings of ``K`` modes as 0/1 vectors over ``triu_indices(K, 1)``."""
    index = {pair: i for i, pair in enumerate(zip(*np.triu_indices(K, 1), strict=True))}
    matchings = _maximal_matchings(K)
    M = np.zeros((len(matchings), K * (K - 1) // 2))
    for row, m in enumerate(matchings):
        for pair in m:
            M[row, index[tuple(sorted(pair))]] = 1.0
    return M


def _greedy_matching(pair: np.ndarray, i: np.ndarray, j: np.ndarray, K: int) -> np.ndarray:
    """A 0/1 vector over the pairs: a greedy matching (largest deficit first).

    Any matching gives a valid lower bound; it is chosen once (at ``rho = 0``) and kept
    for every ``rho``, so the bound stays monotone in ``rho``.
    """
    used = np.zeros(K, dtype=bool)
    chosen = np.zeros(pair.size)
    for idx in np.argsort(-pair):
        if not (used[i[idx]] or used[j[idx]]):
            used[i[idx]] = used[j[idx]] = True
            chosen[idx] = 1.0
    return chosen


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
    ``w`` may be any vector in ``[0, 1]^K`` (the local form uses ``w / (1 - p)``).
    """
    return float(_enlargement_deficit_rows(w, np.asarray(r, dtype=float)[None, :])[0])


def _caps(w: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``c = Phi(Phi^{-1}(w) + r)`` and ``1 - c`` (from the other tail: caps near 1 keep
    their distance to 1, which is what the budget arithmetic below needs)."""
    x = special.ndtri(w)[None, :] + r
    return special.ndtr(x), special.ndtr(-x)


def _enlargement_deficit_rows(w: np.ndarray, r: np.ndarray) -> np.ndarray:
    """`_enlargement_deficit` for each row of ``r`` (``[n, K]``) at once.

    The value at a cap is ``w_k`` exactly (``h_k(c_k) = w_k``), and the budget left by a set
    ``F`` at its caps is ``1 - sum_F c = (1 - |F|) + sum_F (1 - c)``: exact where it matters
    (one cap near 1 leaves ``1 - c``, not a rounded 0).
    """
    cap, cocap = _caps(w, r)                                          # [n, K]
    masks = _subset_masks(w.size)                                     # [M, K]
    slack = (1.0 - masks.sum(axis=1))[None, :] + cocap @ masks.T      # [n, M]
    ok = slack >= 0
    room = np.maximum(slack, 0.0)[:, :, None]                         # [n, M, 1]
    with np.errstate(invalid="ignore"):
        partial = special.ndtr(special.ndtri(np.minimum(room, 1.0)) - r[:, None, :])
    extra = np.where(masks[None], 0.0,
                     np.where(room >= cap[:, None, :], w[None, None, :], partial))
    value = np.where(ok, (masks @ w)[None, :] + extra.max(axis=2), -np.inf)
    out = np.maximum(float(w.sum()) - value.max(axis=1), 0.0)
    return np.where(cocap.sum(axis=1) >= w.size - 1, 0.0, out)     # sum of caps <= 1


def _enlargement_deficit_lp(w: np.ndarray, r: np.ndarray) -> float:
    """A lower bound on `_enlargement_deficit` in ``O(K log K)`` (for ``K`` beyond exact).

    Each ``h_k`` is convex with ``h_k(0) = 0``, so it lies below its chord:
    ``h_k(u) <= (w_k / c_k) u`` on ``[0, c_k]``. Maximising the chords over
    ``{sum u <= 1, 0 <= u_k <= c_k}`` is a fractional knapsack, solved greedily by ratio;
    its value bounds the true maximum from above, so the deficit from below.
    """
    return float(_enlargement_deficit_lp_rows(w, np.asarray(r, dtype=float)[None, :])[0])


def _enlargement_deficit_lp_rows(w: np.ndarray, r: np.ndarray) -> np.ndarray:
    """`_enlargement_deficit_lp` for each row of ``r`` at once (budgets as in the exact one)."""
    cap, cocap = _caps(w, r)
    ratio = w[None, :] / cap
    order = np.argsort(-ratio, axis=1)
    c = np.take_along_axis(cap, order, axis=1)
    cc = np.take_along_axis(cocap, order, axis=1)
    n_before = np.arange(w.size)[None, :]
    budget = (1.0 - n_before) + np.concatenate(
        [np.zeros((c.shape[0], 1)), np.cumsum(cc, axis=1)[:, :-1]], axis=1)
    taken = np.minimum(c, np.maximum(budget, 0.0))
    w_sorted = np.take_along_axis(np.broadcast_to(w, r.shape), order, axis=1)
    best = np.sum(np.where(taken >= c, w_sorted,
                           np.take_along_axis(ratio, order, axis=1) * taken), axis=1)
    out = np.maximum(float(w.sum()) - best, 0.0)
    return np.where(cocap.sum(axis=1) >= w.size - 1, 0.0, out)


def _deficit_grid(w: np.ndarray, S: np.ndarray, rho: np.ndarray, L: float,
                  matching: np.ndarray | None = None) -> np.ndarray:
    """Valid lower bounds on ``min_n sum_k (w_k - n_k)_+`` at separations ``(S - 2 rho)/L``,
    one per ``rho`` of a grid.

    The larger of two relaxations, each keeping only necessary conditions on the masses:
    (a) T3 with the symmetric ``r_k = min_j s_kj / 2`` (exact for that constraint,
    `_enlargement_deficit`, for ``K <= 8``; its chord relaxation beyond); (b) a sum over
    disjoint pairs of the exact two-mode deficit (the best of all maximal matchings for
    ``K <= 8``, the given ``matching`` above). ``w`` in ``[0, 1]^K``. Each part is
    non-increasing in ``rho`` (separations shrink), hence so is the bound.
    """
    K = w.size
    with np.errstate(over="ignore"):
        s = np.maximum(S[None, :, :] - 2 * rho[:, None, None], 0.0) / L  # [n, K, K]
    i, j = np.triu_indices(K, 1)
    pair = _pair_deficit(w[i][None, :], w[j][None, :], s[:, i, j])         # [n, P]
    if K <= _MAX_K_MATCHINGS:
        matched = np.max(pair @ _matching_matrix(K).T, axis=1)
    else:
        if matching is None:
            matching = _greedy_matching(pair[0], i, j, K)
        matched = pair @ matching
    r = np.where(np.eye(K, dtype=bool)[None], np.inf, s).min(axis=2) / 2  # [n, K]
    vertex = (_enlargement_deficit_lp_rows(w, r) if K > _MAX_K_VERTICES
              else _enlargement_deficit_rows(w, r))
    return np.maximum(matched, vertex)


@functools.lru_cache(maxsize=32)
def _jacobi_rule(order: float) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Jacobi nodes on ``[0, 1]`` for the weight ``(1 - x)^order`` (32 nodes: ~1e-14
    relative on ``exp(-b x - g x^2)``, ``b < 40``, ``g <= 1/2``; more nodes lose accuracy in
    SciPy's weights)."""
    t, wt = special.roots_jacobi(32, order, 0.0)
    return (1 + t) / 2, wt / 2 ** (order + 1)


def _two_mode_wasserstein(sep: np.ndarray, L: np.ndarray, a: float, scale: float,
                          p: float) -> np.ndarray:
    r"""``(scale (Delta/2)^p \int_0^S (1 - v/S)^p phi(a + v) dv)^{1/p}``, ``S = Delta/L``.

    The two-mode ``W_p`` bound with deficit ``D(rho) = scale (Phi(-a) - Phi(-a - s))``,
    written (Fubini) as one integral with a positive integrand: no cancellation at small
    ``S``, where the textbook closed form loses every digit (1.1e-5 instead of 4.0e-13 at
    ``L = 1e12``). ``phi(a)`` is factored out so the integrand never underflows.
    """
    sep, L = np.broadcast_arrays(np.asarray(sep, dtype=float), np.asarray(L, dtype=float))
    S = np.asarray(_ratio(sep, L), dtype=float)
    out = np.zeros(S.shape)
    live = (S > 0) & (sep > 0)
    small = live & (S < 1.0)
    big = live & ~small
    phi_a = _INV_SQRT_2PI * math.exp(-0.5 * a * a)
    tail = float(special.ndtr(-a))
    if np.any(small):
        # int_0^S (1 - v/S)^p phi(a + v) dv = S phi(a) int_0^1 (1-x)^p e^{-S x (a + S x/2)} dx
        x, wq = _jacobi_rule(p)
        Ss = S[small][:, None]
        inner = np.exp(-Ss * x * (a + 0.5 * Ss * x)) @ wq
        out[small] = (scale * S[small] * phi_a * inner) ** (1.0 / p) * sep[small] / 2
    if np.any(big) and p == 1.0:
        def G(x):
            # x Phi(x) + phi(x), the antiderivative of Phi; 0 at -inf (not -inf * 0).
            with np.errstate(invalid="ignore", over="ignore"):
                g = x * special.ndtr(x) + _INV_SQRT_2PI * np.exp(-0.5 * x * x)
            return np.where(np.isneginf(x), 0.0, g)

        Sb, sb, Lb = S[big], sep[big], L[big]
        value = sb / 2 * tail - Lb / 2 * (G(-a) - G(-a - Sb))
        out[big] = np.maximum(scale * value, 0.0)
    elif np.any(big):
        Sb = S[big]
        top = np.minimum(Sb, 40.0)   # phi(a + v)/phi(a) < e^{-800} beyond v = 40

        def integrand(v, Sb):
            return (1 - v / Sb) ** p * np.exp(-v * (a + 0.5 * v))

        res = integrate.tanhsinh(integrand, 0.0, top, args=(Sb,), rtol=1e-13)
        inner = np.maximum(res.integral, 0.0) * phi_a
        out[big] = (scale * inner) ** (1.0 / p) * sep[big] / 2
    return out


_MAX_ORDER = 1000.0   # Gauss-Jacobi weights of SciPy stay accurate (3e-13) up to here


def _order(p: Any) -> Any:
    p = _args.at_least(p, "p", 1.0, math.inf)
    if not _args.is_symbolic(p) and np.ndim(p) == 0 and p > _MAX_ORDER:
        raise ValueError(f"p must be at most {_MAX_ORDER:g}, got {p!r}; for larger p use the "
                         f"p = {_MAX_ORDER:g} bound (W_p increases with p)")
    if np.ndim(p) != 0:
        raise ValueError(f"p must be a scalar, got shape {np.shape(p)}")
    return p


# The K >= 3 integral as a lower Riemann sum on a universal grid rho = 2^(j/128): the nodes
# below max(Delta)/2 for one separation matrix are a subset of those for any larger one, so
# the bound is exactly monotone in the separations as well as in L. 20 octaves below the top
# (the rest contributes at most 2^-20 of D(0) (Delta/2)^p); spacing 0.54%.
_RHO_PER_OCTAVE = 128
_RHO_OCTAVES = 20
_RHO_BLOCK = 512


def _many_mode_wasserstein(L: float, S: np.ndarray, w: np.ndarray, p: float,
                           outside: float = 0.0) -> float:
    """``K >= 3``: ``(int_0^{max Delta/2} p rho^{p-1} D(rho) d rho)^{1/p}``, from below.

    ``D`` (the relaxation) is non-increasing in ``rho``, so on any grid the sum of
    ``(rho_{i+1}^p - rho_i^p) D(rho_{i+1})`` is at most the integral: a certified lower bound
    at a fixed cost (2561 evaluations, vectorised), where adaptive quadrature took seconds
    on the kinks and was a bound only up to its error estimate. Relative error at most
    ``p (2^{1/128} - 1) = 0.54% p`` of ``D(0) (max Delta/2)^p``.
    """
    if L == math.inf or not np.any(S > 0):
        return 0.0
    v = w / (1.0 - outside)
    excess = float(np.sum(np.maximum(v - 1.0, 0.0)))
    v = np.minimum(v, 1.0)
    K = v.size
    matching = None
    if K > _MAX_K_MATCHINGS:
        i, j = np.triu_indices(K, 1)
        with np.errstate(over="ignore"):
            matching = _greedy_matching(_pair_deficit(v[i], v[j], S[i, j] / L), i, j, K)
    top = float(np.max(S)) / 2
    if top == 0:    # 5e-324 / 2: the bound is below Delta/2, itself 0 in float64
        return 0.0
    j_top = math.floor(_RHO_PER_OCTAVE * math.log2(top)) + 1       # first node at or above top
    j = np.arange(j_top - _RHO_OCTAVES * _RHO_PER_OCTAVE, j_top + 1)
    unit = np.exp2((j - j_top) / _RHO_PER_OCTAVE)                   # rho / 2^(j_top/128)
    scale = 2.0 ** (j_top / _RHO_PER_OCTAVE)
    rho = unit * scale
    # weights in units of scale^p (no overflow for Delta ~ 1e308): rho^p increments, the
    # first one the whole [0, rho_0]
    steps = np.diff(np.concatenate([[0.0], unit ** p]))
    total = 0.0
    for start in range(0, rho.size, _RHO_BLOCK):
        block = slice(start, start + _RHO_BLOCK)
        d = (1.0 - outside) * (_deficit_grid(v, S, rho[block], L, matching) + excess) - outside
        total += float(np.sum(steps[block] * np.maximum(d, 0.0)))
    return scale * total ** (1.0 / p)


def _many_mode_separation(separation: Any, K: int) -> np.ndarray:
    if np.ndim(separation) == 2:
        return _separation_matrix(separation, K)
    sep = _args.nonnegative(separation, "separation")
    if np.ndim(sep) != 0:
        raise ValueError("separation must be a scalar or K x K matrix when "
                         f"len(weights) = {K} >= 3")
    return sep * (1 - np.eye(K))


def wasserstein_lower_bound(L: Any, separation: Any, weights: Any = (0.5, 0.5),
                            p: Any = 1) -> Any:
    r"""T5: every L-Lipschitz push-forward of ``\gamma_d`` is ``W_p``-far from ``\pi^*``.

    For every coupling of ``X \sim \mu`` and ``Y \sim \pi^*``,
    ``P(|X - Y| > \rho) \ge \sum_k (w_k - \mu(M_k^\rho))_+`` and the ``M_k^\rho`` are
    ``\Delta - 2\rho`` apart, so

    .. math::  W_p(\mu, \pi^*)^p \ge \int_0^{\Delta/2} p\,\rho^{p-1} D(\rho)\,d\rho,

    ``D(\rho)`` the least ``\sum_k (w_k - n_k)_+`` over the masses ``n`` allowed at
    separation ``s = (\Delta - 2\rho)/L``. ``K = 2``:
    ``D(\rho) = \Phi(-\alpha) - \Phi(-\alpha - s)``, ``\alpha = |\Phi^{-1}(w_1)|``.

    Parameters
    ----------
    L : float or array_like
        ``0 < L <= inf``; an array only at ``K = 2``.
    separation : float, array_like or (K, K) array_like
        ``Delta >= 0`` (broadcasts with ``L`` at ``K = 2``), or a symmetric ``K x K``
        matrix with scalar ``L`` at ``K >= 3``.
    weights : (K,) array_like, optional
        Demonstrator mode weights, positive, summing to 1, ``2 <= K <= 32``.
    p : float, optional
        Order, ``1 <= p <= 1000``.

    Returns
    -------
    float or ndarray
        The lower bound on ``W_p(\mu, \pi^*)``, ``>= 0``, broadcast shape. ``K = 2``:
        relative error below ``1e-12`` over the whole domain (no cancellation; monotone in
        ``L`` and ``Delta``); ``K >= 3``: a valid lower bound from ``quad`` less its error
        estimate.

    Raises
    ------
    ValueError
        Bad weights or order, array ``L`` at ``K >= 3``, more than 32 weights.
    TypeError
        Non-real input.

    Notes
    -----
    ``K = 2``, by Fubini, ``W_p^p \ge (\Delta/2)^p \int_0^S (1 - v/S)^p \varphi(\alpha + v)
    dv`` (``S = \Delta/L``): evaluated by 32-node Gauss-Jacobi for ``S < 1`` and, for
    ``S \ge 1``, the closed form ``W_1 \ge \tfrac{\Delta}{2}\Phi(-\alpha) - \tfrac{L}{2}
    (G(-\alpha) - G(-\alpha - S))``, ``G(x) = x\Phi(x) + \varphi(x)`` (``p = 1``) or
    ``tanhsinh`` (``p > 1``). ``K \ge 3`` (our relaxation, valid but not tight):
    ``D(\rho)`` is bounded below by the larger of (a) its exact minimum under the T3
    constraint with the symmetric ``r_k = \min_j s_{kj}/2`` (exact for ``K <= 8``, a
    chord relaxation beyond) and (b) a sum over disjoint pairs of the exact two-mode
    deficit (best matching up to ``K = 8``, greedy beyond). ``K = 2``, equal weights,
    ``\Delta = 2``: ``L = 0.5, 1, 2`` give 0.400 / 0.305 / 0.184 (the clip map of T2 has
    ``W_1`` 0.6095 / 0.3687 / 0.1954).

    References
    ----------
    docs/theory.md, T5; Salmona et al. 2022; Issenhuth et al. 2023.

    Examples
    --------
    >>> import theory
    >>> theory.wasserstein_lower_bound([0.5, 1.0, 2.0], 2.0).round(3)
    array([0.4  , 0.305, 0.184])
    """
    p = _order(p)
    L = _args.positive_or_inf(L, "L")
    if _args.is_symbolic(L, separation, p):
        if not _args.is_symbolic(*np.ravel(np.asarray(weights, dtype=object))):
            _args.weight_vector(weights, "weights")
        sep = _args.nonnegative(separation, "separation")
        _args.no_arrays_with_symbols(L=L, separation=sep)
        return _wasserstein_expr(L, sep, weights, p, 0)
    w = _args.weight_vector(weights, "weights", max_size=_MAX_K_WASSERSTEIN)
    if w.size >= 3:
        if np.ndim(L) != 0:
            raise ValueError(f"L must be a scalar when len(weights) = {w.size} >= 3")
        return _many_mode_wasserstein(L, _many_mode_separation(separation, w.size), w, p)
    sep = _args.nonnegative(separation, "separation")
    alpha = -float(special.ndtri(min(w)))
    if p == 1.0 and type(L) is float and type(sep) is float and 1.0 <= sep / L < math.inf:
        # the closed form of _two_mode_wasserstein on scalars (no arrays: ~10x faster)
        S = sep / L

        def G(x):
            return x * special.ndtr(x) + _INV_SQRT_2PI * np.exp(-0.5 * x * x)

        return max(float(sep / 2 * special.ndtr(-alpha) - L / 2 * (G(-alpha) - G(-alpha - S))),
                   0.0)
    try:
        return _args.scalar_out(_two_mode_wasserstein(sep, L, alpha, 1.0, p))
    except ValueError:
        _named_broadcast(L=L, separation=sep)
        raise


def _wasserstein_expr(L, separation, weights, p, outside):
    import sympy

    rho = sympy.Symbol("rho", nonnegative=True)
    w1 = sympy.nsimplify(weights[0]) if not _args.is_symbolic(weights[0]) else weights[0]
    if outside == 0:
        alpha, scale = sympy.Abs(normal_quantile_expr(w1)), 1
    else:
        # the larger weight over 1 - p: its quantile is the local alpha
        w_max = sympy.Max(w1, 1 - w1)
        alpha, scale = normal_quantile_expr(w_max / (1 - outside)), 1 - outside
    s = (separation - 2 * rho) / L
    deficit = scale * (normal_cdf_expr(-alpha) - normal_cdf_expr(-alpha - s))
    return sympy.Integral(p * rho ** (p - 1) * deficit, (rho, 0, separation / 2)) ** (
        sympy.Integer(1) / p)


# ----------------------------------------------------------------------------- T6


def flow_lipschitz_bound(step_lipschitz: Any, step_sizes: Any, form: str = "euler") -> Any:
    r"""T6: Lipschitz constant of a flow or sampler map from its per-step constants.

    For ``dx/dt = v(x, t)`` on ``[0, 1]`` discretised by steps ``h_j``:

    - ``form="euler"``: explicit Euler ``x \mapsto x + h_j v(x, t_j)`` with ``v(., t_j)``
      ``l_j``-Lipschitz: ``L \le \prod_j (1 + h_j l_j)``;
    - ``form="gronwall"``: the exact flow, ``l_j \ge`` the Lipschitz constant of ``v(., t)``
      for every ``t`` in step ``j``: ``L \le \exp(\sum_j h_j l_j)``;
    - ``form="one_sided"``: as gronwall with the one-sided constants
      ``\mu_j \ge \sup_x \lambda_{max}(\mathrm{sym}\,\nabla v)`` (any sign):
      ``L \le \exp(\sum_j h_j \mu_j)``; never above the gronwall form.

    Parameters
    ----------
    step_lipschitz : (..., n_steps) array_like
        Per-step constants ``l_j >= 0`` (any finite real for "one_sided").
    step_sizes : (n_steps,) array_like
        Positive finite step sizes ``h_j`` (broadcast against ``step_lipschitz``).
    form : {"euler", "gronwall", "one_sided"}, optional

    Returns
    -------
    float or ndarray
        The bound, shape ``[...]`` (float for 1-D input); ``inf`` only when the bound itself
        exceeds ``1.8e308``.

    Raises
    ------
    ValueError
        Unknown ``form``, negative constants (euler/gronwall), non-positive steps, NaN,
        two scalars (no step axis), shapes that do not broadcast.
    TypeError
        Non-real input.

    Notes
    -----
    Computed as ``exp`` of a sum of logs (``log1p`` for Euler), so thousands of steps
    neither overflow nor lose digits.

    References
    ----------
    docs/theory.md, T6 (Gronwall; Soderlind 2006 for the logarithmic norm).

    Examples
    --------
    >>> import theory
    >>> round(theory.flow_lipschitz_bound([1.0, 1.0], [0.5, 0.5]), 4)       # 1.5^2
    2.25
    >>> round(theory.flow_lipschitz_bound([1.0, 1.0], [0.5, 0.5], "gronwall"), 4)
    2.7183
    """
    _args.choice(form, "form", ("euler", "gronwall", "one_sided"))
    if _args.is_symbolic(step_lipschitz, step_sizes):
        raise TypeError("flow_lipschitz_bound takes numbers or arrays; for the symbolic "
                        "statement use PROPOSITIONS['T6'].statement()")
    h = _args.positive(step_sizes, "step_sizes")
    if form == "one_sided":
        lip = _args.finite(step_lipschitz, "step_lipschitz")
    else:
        lip = _args.nonnegative(step_lipschitz, "step_lipschitz")
    lip, h = np.asarray(lip, dtype=float), np.asarray(h, dtype=float)
    if lip.ndim == 0 and h.ndim == 0:
        raise ValueError("step_lipschitz or step_sizes must be an array over the steps")
    for value, name in ((lip, "step_lipschitz"), (h, "step_sizes")):
        if value.size == 0:
            raise ValueError(f"{name} must hold at least one step, got an empty array")
    try:
        with np.errstate(over="ignore"):
            log_factor = np.log1p(h * lip) if form == "euler" else h * lip
    except ValueError:
        _named_broadcast(step_lipschitz=lip, step_sizes=h)
        raise
    with np.errstate(over="ignore"):
        return _args.scalar_out(np.exp(np.sum(log_factor, axis=-1)))


def min_integrated_lipschitz(mass: Any, separation: Any, n_modes: Any = 2) -> Any:
    r"""T6 corollary: the least integrated rate ``\int_0^1 l(t)\,dt`` for mass ``m`` per mode.

    The flow map has ``L \le \exp(\int l)`` (Gronwall), and ``K`` modes ``\Delta`` apart
    with mass ``\ge m`` each need ``L \ge`` `min_lipschitz`, so

    .. math::  \int_0^1 l(t)\,dt \ge \log \frac{\Delta}{2(\Phi^{-1}(1/K) - \Phi^{-1}(m))}
               \quad (K = 2:\ \log \frac{\Delta}{2\Phi^{-1}(1 - m)}).

    Parameters
    ----------
    mass : float or array_like
        ``0 <= m <= 1/K``.
    separation : float or array_like
        ``Delta >= 0``, finite.
    n_modes : int, optional
        ``K``, ``2 <= K <= 2**53``.

    Returns
    -------
    float or ndarray
        The minimal integrated rate in ``[-inf, inf]`` (``-inf``: no constraint), computed
        as ``log Delta - log(2 gap)`` so it stays finite where `min_lipschitz` overflows.

    Raises
    ------
    ValueError, TypeError
        Those of `min_lipschitz`, ``mass > 1/K`` included.

    Notes
    -----
    The same holds for the one-sided rate ``\int \mu(t) dt`` and, with
    ``\sum_j \log(1 + h_j l_j)`` in place of the integral, for Euler samplers.

    References
    ----------
    docs/theory.md, T6 with T2/T3 through `min_lipschitz`.

    Examples
    --------
    >>> import theory
    >>> round(theory.min_integrated_lipschitz(0.2, 3.0), 4)     # log min_lipschitz(0.2, 3.0)
    0.5779
    """
    mass, sep, K = _mass_separation_modes(mass, separation, n_modes)
    if _symbolic(mass=mass, separation=sep, n_modes=K):
        mass, sep, K = _args.sympify(mass, sep, K)
        import sympy

        if sep == 0:
            return -sympy.oo
        return sympy.log(min_lipschitz(mass, sep, K))
    min_lipschitz(mass, sep, K)    # the same validation, including mass <= 1/K
    try:
        gap = _quantile_of_share(K) - special.ndtri(mass)
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = np.log(sep) - np.log(2 * gap)
        rate = np.where(np.asarray(sep) == 0, -np.inf, rate)
    except ValueError:
        _named_broadcast(mass=mass, separation=sep)
        raise
    return _args.scalar_out(rate)


def gaussian_equivalent_lipschitz(L: Any, base_std: Any = 1.0,
                                  base_convexity: Any = None) -> Any:
    r"""T6, other bases: the constant to use in T2-T5 when the noise is not ``N(0, I)``.

    Noise ``N(0, s^2 I)`` is ``x \mapsto s x`` of ``\gamma_d``, so T2-T5 hold with ``s L``.
    Noise with density ``e^{-V}``, ``\nabla^2 V \ge \kappa I`` is the image of ``\gamma_d``
    under a ``1/\sqrt\kappa``-Lipschitz map (Caffarelli 2000), so T2-T5 hold with
    ``L / \sqrt\kappa``.

    Parameters
    ----------
    L : float or array_like
        The map's Lipschitz constant in its own noise, ``0 < L <= inf``.
    base_std : float or array_like, optional
        ``s > 0`` (Gaussian base ``N(0, s^2 I)``), ignored when ``base_convexity`` is given.
    base_convexity : float, array_like or None, optional
        ``kappa > 0``.

    Returns
    -------
    float or ndarray
        The Gaussian-equivalent Lipschitz constant, broadcast shape.

    Raises
    ------
    ValueError, TypeError
        ``L <= 0``, ``base_std`` or ``base_convexity`` not positive and finite, NaN,
        non-real input.

    References
    ----------
    docs/theory.md, T6 (Caffarelli 2000; Bakry & Ledoux 1996).

    Examples
    --------
    >>> import theory
    >>> theory.gaussian_equivalent_lipschitz(2.0, base_std=0.5)
    1.0
    >>> theory.gaussian_equivalent_lipschitz(2.0, base_convexity=4.0)
    1.0
    """
    L = _args.positive_or_inf(L, "L")
    s = _args.positive(base_std, "base_std")
    kappa = None if base_convexity is None else _args.positive(base_convexity, "base_convexity")
    _args.broadcast(L=L, base_std=s, base_convexity=kappa)   # also the argument not used
    if _symbolic(L=L, base_std=s, base_convexity=kappa):
        L, s, kappa = _args.sympify(L, s, kappa)
        import sympy

        return L / sympy.sqrt(kappa) if kappa is not None else s * L
    try:
        with np.errstate(over="ignore"):
            if kappa is not None:
                return _args.scalar_out(np.divide(L, np.sqrt(kappa)))
            return _args.scalar_out(np.multiply(s, L))
    except ValueError:
        _named_broadcast(L=L, base_std=s, base_convexity=kappa)
        raise


# ----------------------------------------------------------------------------- T7


def chunk_separation(per_step_offsets: Any) -> Any:
    r"""T7: separation in chunk space of two trajectory modes.

    Two trajectories differing by ``\delta_t`` at step ``t`` of an ``H``-step chunk
    (Euclidean norm on the flattened chunk) are

    .. math::  \Delta_H = \Big(\sum_{t=1}^H |\delta_t|^2\Big)^{1/2}

    apart; constant ``|\delta_t| = \delta`` gives ``\delta\sqrt H``, so at fixed ``L`` the
    two-mode limit `max_mode_mass` falls as ``\Phi(-\delta\sqrt H / (2L))``.

    Parameters
    ----------
    per_step_offsets : (H,) or (H, action_dim) array_like
        Per-step distances ``|\delta_t|`` (or scalar-action offsets, any sign), or per-step
        offset vectors; all entries count (the Frobenius norm). A list of SymPy
        expressions gives the expression.

    Returns
    -------
    float
        ``\Delta_H >= 0``; computed with a scaled norm, so entries near ``1e308`` do not
        overflow unless ``\Delta_H`` itself does.

    Raises
    ------
    ValueError
        Empty input, more than 2 dimensions, NaN or infinite entries.
    TypeError
        Non-real input.

    References
    ----------
    docs/theory.md, T7 (chunk-space separation).

    Examples
    --------
    >>> import theory
    >>> theory.chunk_separation([0.3] * 25)           # 0.3 * sqrt(25)
    1.5
    """
    if isinstance(per_step_offsets, (list, tuple)) and _args.is_symbolic(*per_step_offsets):
        import sympy

        return sympy.sqrt(sum(d ** 2 for d in per_step_offsets))
    if _args.is_symbolic(per_step_offsets):
        raise TypeError("per_step_offsets must be a list of SymPy expressions for the "
                        "symbolic form, got a single expression")
    a = _args.real_array(per_step_offsets, "per_step_offsets")
    if a.ndim not in (1, 2) or a.size == 0:
        raise ValueError("per_step_offsets must be a non-empty [H] or [H, action_dim] array, "
                         f"got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError("per_step_offsets must be finite")
    top = float(np.max(np.abs(a)))
    if top == 0:
        return 0.0
    with np.errstate(over="ignore"):
        return float(top * np.linalg.norm(a.ravel() / top))


# ----------------------------------------------------------------------------- T8


def isoperimetric_min_lipschitz(mass: Any, boundary_measure: Any) -> Any:
    r"""T8: a target with a thin boundary needs a steep map.

    If ``\mu = T_\#\gamma_d`` with ``T`` L-Lipschitz then for every Borel ``B``,
    ``\mu^+(\partial B) \ge I(\mu(B)) / L`` (``I`` the Gaussian isoperimetric profile,
    ``\mu^+`` the outer Minkowski content), so fitting ``\mu`` exactly needs

    .. math::  L \ge \sup_B \frac{\varphi(\Phi^{-1}(\mu(B)))}{\mu^+(\partial B)}.

    Parameters
    ----------
    mass : float or array_like
        ``\mu(B)`` in ``[0, 1]``.
    boundary_measure : float or array_like
        ``\mu^+(\partial B) > 0``, finite; broadcasts with ``mass``.

    Returns
    -------
    float or ndarray
        The lower bound on ``L`` for that ``B``, ``>= 0``.

    Raises
    ------
    ValueError, TypeError
        ``mass`` outside ``[0, 1]``, ``boundary_measure`` not positive and finite, non-real
        input.

    Notes
    -----
    The preimage of the ``\epsilon``-enlargement of ``B`` contains the
    ``\epsilon/L``-enlargement of ``T^{-1}(B)``; divide by ``\epsilon \to 0``.

    References
    ----------
    docs/theory.md, T8 (Bobkov 1997; Milman & Neeman 2022 for several sets).

    Examples
    --------
    >>> import math, theory
    >>> theory.isoperimetric_min_lipschitz(0.5, 1 / math.sqrt(2 * math.pi))    # a half-space
    1.0
    """
    m = _args.probability(mass, "mass")
    per = _args.positive(boundary_measure, "boundary_measure")
    return _closed_form(lambda m, per: normal_pdf_expr(normal_quantile_expr(m)) / per,
                        _profile_over_boundary, mass=m, boundary_measure=per)


def _profile_over_boundary(m: Any, per: Any) -> Any:
    x = special.ndtri(m)
    with np.errstate(over="ignore"):
        return _INV_SQRT_2PI * np.exp(-0.5 * x * x) / per


def exact_fit_min_lipschitz(mean: Any, std: Any) -> Any:
    r"""T8 example: fitting ``\tfrac12 N(-m, s^2) + \tfrac12 N(m, s^2)`` exactly needs

    .. math::  L \ge s\,\exp\big(m^2 / (2 s^2)\big)

    in any dimension of the noise.

    Parameters
    ----------
    mean : float or array_like
        ``m >= 0``, finite.
    std : float or array_like
        ``s > 0``, finite; broadcasts with ``mean``.

    Returns
    -------
    float or ndarray
        ``s e^{m^2/(2s^2)}``; ``inf`` only when the value itself exceeds ``1.8e308`` (the
        product is formed in log space past ``e^{700}``).

    Raises
    ------
    ValueError, TypeError
        ``mean < 0``, ``std <= 0``, either infinite or NaN, non-real input.

    Notes
    -----
    `isoperimetric_min_lipschitz` with ``B = (-inf, 0]``: ``\mu(B) = 1/2``,
    ``\mu^+ = \varphi(m/s)/s``. The 1-D monotone map ``F^{-1}\circ\Phi`` attains it: its
    slope peaks at ``x = 0`` (checked numerically for ``m/s`` in ``[0, 4]``), so the bound
    is the exact minimal Lipschitz constant there. 77.6 at ``m = 1, s = 0.3``.

    References
    ----------
    docs/theory.md, T8 (Salmona et al. 2022 for the qualitative statement).

    Examples
    --------
    >>> import theory
    >>> round(theory.exact_fit_min_lipschitz(1.0, 0.3), 1)      # 0.3 exp(1 / 0.18)
    77.6
    """
    m = _args.nonnegative(mean, "mean")
    s = _args.positive(std, "std")
    return _closed_form(_exact_fit_expr, _exact_fit, mean=m, std=s)


def _exact_fit_expr(m: Any, s: Any) -> Any:
    import sympy

    return s * sympy.exp(m ** 2 / (2 * s ** 2))


def _exact_fit(m: Any, s: Any) -> Any:
    with np.errstate(over="ignore"):
        e = np.square(np.divide(m, s)) / 2
        direct = s * np.exp(np.minimum(e, 700.0))
        return np.where(e <= 700.0, direct, np.exp(np.log(s) + e))


# ------------------------------------------------------------------ local forms (ours)


def _outside(outside_mass: Any) -> Any:
    return _args.probability(outside_mass, "outside_mass")


def _two_mode_local_root(s: np.ndarray, q: np.ndarray, one_minus_q: np.ndarray) -> np.ndarray:
    """``y`` with ``Phi(y) - Phi(-y - s) = q`` (``0 < q < 1``, ``s >= 0``; upper bracket end).

    ``Phi(y)`` is the conditional mass of the mode that gets no outside mass. Evaluated as
    ``Phi(y) - Phi(-y - s) - q`` for ``y <= 0`` and ``(1 - q) - Phi(-y) - Phi(-y - s)`` for
    ``y > 0`` (each form keeps its terms in the tails, where they are accurate).
    """
    def g(y, s, q, one_minus_q):
        with np.errstate(invalid="ignore"):
            low = special.ndtr(y) - special.ndtr(-y - s) - q
            high = one_minus_q - special.ndtr(-y) - special.ndtr(-y - s)
        return np.where(y <= 0, low, high)

    # g < 0 at Phi^{-1}(q) - 1 and at -s/2; g >= 0 at Phi^{-1}((1 + q)/2) (erf(y/sqrt2) = q).
    lo = np.maximum(-s / 2, special.ndtri(q) - 1.0)
    hi = -special.ndtri(one_minus_q / 2)
    res = elementwise.find_root(g, (lo, hi), args=(s, q, one_minus_q),
                                tolerances={"xatol": 0.0, "xrtol": 4e-16})
    return _root_from_above(res)


def _enlarge(n: np.ndarray, r: np.ndarray) -> np.ndarray:
    """``Phi(Phi^{-1}(n) + r)`` with ``n = 0 -> 0`` also at ``r = inf``."""
    with np.errstate(invalid="ignore"):
        v = special.ndtr(special.ndtri(n) + r)
    return np.where(n > 0, v, 0.0)


def _many_mode_local(s: np.ndarray, p: np.ndarray, K: int, norm: np.ndarray) -> np.ndarray:
    """Largest ``m`` with ``Psi(m) <= 1`` for ``K`` modes (equal separation, symmetric r).

    ``Psi(m) = (K - 1 - j) E(m / c) + E(((j + 1) m - p) / c)``, ``j = floor(p / m)``: the
    least ``sum_k E(n_k)`` over the ways to hand out the outside mass (the vertex with
    ``j`` modes served from outside, one partly, the rest not at all), ``E`` the
    enlargement by ``s/2``, ``c = norm`` (``1 - p``, or 1 for the unnormalised corollary).
    Solved in ``log m`` by bisection; the upper end is returned.
    """
    r = s / 2

    def excess(y, r, p, c):
        m = np.exp(y)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            j = np.minimum(np.floor(p / m), K)
        full = j >= K - 1
        jj = np.where(full, K - 1, j)
        partial = np.clip(((jj + 1) * m - p) / c, 0.0, 1.0)
        psi = (K - 1 - jj) * _enlarge(np.minimum(m / c, 1.0), r) + _enlarge(partial, r)
        return np.where(K * m <= p, 0.0, psi) - 1.0

    with np.errstate(divide="ignore"):     # p / K underflows only for subnormal p
        lo = np.maximum(np.log(p / K) - 1.0, -800.0)
    hi = np.full_like(lo, -math.log(K))
    # Bisection on "Psi <= 1" (all elements at once), not a root finder: Psi is flat (a count
    # of saturated enlargements) once s is large, and a root finder stops inside the flat part.
    feasible_hi = excess(hi, r, p, norm) <= 0
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        ok = excess(mid, r, p, norm) <= 0
        lo, hi = np.where(ok, mid, lo), np.where(ok, hi, mid)
    out = np.exp(np.where(feasible_hi, -math.log(K), hi))
    return out


def max_mode_mass_local(L: Any, separation: Any, outside_mass: Any, n_modes: Any = 2,
                        form: str = "exact") -> Any:
    r"""T2/T3, local form (ours): the min-mass bound when ``T`` is Lipschitz only on a set.

    If ``T`` is ``L_B``-Lipschitz on a convex set ``B`` with ``\gamma_d(B^c) = p`` (and
    arbitrary outside ``B``), modes pairwise ``\ge \Delta`` apart, ``s = \Delta/L_B``, then
    at ``K = 2``

    .. math::  \min(m_1, m_2) \le m_B, \qquad
               \Phi^{-1}\Big(\frac{m_B - p}{1 - p}\Big) + \Phi^{-1}\Big(\frac{m_B}{1 - p}\Big)
               = -s,

    and ``m_B \le \Phi(-s/2) + p`` (``form="additive"``). For ``K \ge 3`` (symmetric
    enlargements): ``m_B`` is the largest ``m`` with
    ``(K - 1 - j) E(m/(1-p)) + E(((j+1) m - p)/(1-p)) \le 1``, ``j = \lfloor p/m \rfloor``,
    ``E(n) = \Phi(\Phi^{-1}(n) + s/2)``.

    Parameters
    ----------
    L : float or array_like
        ``L_B``, the Lipschitz constant of ``T`` on ``B``, ``0 < L <= inf``.
    separation : float or array_like
        ``Delta >= 0``, finite.
    outside_mass : float or array_like
        ``p = gamma_d(B^c)`` in ``[0, 1]`` (for a ball, `theory.outside_ball_mass`).
        All three broadcast.
    n_modes : int, optional
        ``K``, ``2 <= K <= 2**53``.
    form : {"exact", "unnormalised", "additive"}, optional
        ``"exact"``: ``m_B``. ``"unnormalised"``: the weaker root of
        ``\Phi^{-1}(m - p) + \Phi^{-1}(m) = -s`` (the same count with ``1 - p`` replaced by
        1). ``"additive"``: ``\min(1/K, \Phi(\Phi^{-1}(1/K) - s/2) + p)``, closed form.

    Returns
    -------
    float or ndarray
        The bound in ``[0, 1/K]``, broadcast shape; ``p = 0`` gives `max_mode_mass` exactly,
        ``p >= (K-1)/K`` gives ``1/K`` (the bound is void). Relative error below ``1e-12``
        (a bracketing root finder's root is taken from its upper side, so rounding never
        makes it smaller than the root).

    Raises
    ------
    ValueError
        Out-of-range or NaN arguments, unknown ``form``.
    TypeError
        Non-real input; SymPy input except for ``form="additive"`` (the other forms are roots).

    Notes
    -----
    Caffarelli's contraction theorem makes ``Law(T(\epsilon) | \epsilon \in B)`` an
    ``L_B``-Lipschitz push-forward of ``\gamma_d``, so its masses ``n_k`` obey T2/T3;
    ``m_k = (1 - p) n_k + t_k`` with ``\sum_k t_k \le p``, and the least
    ``\sum_k E(n_k)`` over the splits ``t`` sits at a vertex (``E`` is concave). At
    ``K = 2`` the worst split puts all outside mass on one mode for every ``m < 1/2`` --
    also where ``n_k > 1/2`` and the concavity of ``\Phi^{-1}`` alone would not say so.
    Solved as ``\Phi(y) - \Phi(-y - s) = p/(1-p)``, ``m_B = (1 - p)\Phi(y)``. The
    correction is necessary: in ``d = 2`` a clip map inside the ball of radius 2
    (``p = e^{-2}``) with the outside mass sent onto the modes has min-mass 0.3177 at
    ``s = 1``, above ``\Phi(-1/2) = 0.3085`` and below ``m_B = 0.3382``.

    References
    ----------
    docs/theory.md, "Local forms"; Caffarelli 2000; Borell 1975.

    Examples
    --------
    >>> import math, theory
    >>> round(theory.max_mode_mass_local(1.0, 1.0, math.exp(-2)), 4)
    0.3382
    >>> round(theory.max_mode_mass_local(1.0, 1.0, math.exp(-2), form="additive"), 4)
    0.4439
    >>> theory.max_mode_mass_local(1.0, 1.0, 0.0) == theory.max_mode_mass(1.0, 1.0)
    True
    """
    _args.choice(form, "form", ("exact", "unnormalised", "additive"))
    K = _n_modes(n_modes)
    L, sep = _lipschitz_and_separation(L, separation)
    p = _outside(outside_mass)
    if _symbolic(L=L, separation=sep, outside_mass=p, n_modes=K):
        L, sep, p, K = _args.sympify(L, sep, p, K)
        if form != "additive":
            raise TypeError(f"max_mode_mass_local(form={form!r}) is the root of an equation, "
                            "not a closed form: pass form='additive' for the closed-form "
                            "corollary, or use PROPOSITIONS['T2-local'].statement()")
        import sympy

        return sympy.Min(sympy.Integer(1) / K, max_mode_mass(L, sep, K) + p)
    shape = _args.broadcast(L=L, separation=sep, outside_mass=p)
    s = np.broadcast_to(np.asarray(_ratio(sep, L), dtype=float), shape)
    pp = np.broadcast_to(np.asarray(p, dtype=float), shape)
    base = np.broadcast_to(np.asarray(max_mode_mass(L, sep, K), dtype=float), shape)
    if form == "additive":
        return _args.scalar_out(np.minimum(1.0 / K, base + pp))
    out = np.where(pp == 0, base, 1.0 / K)
    limit = (K - 1) / K if form == "exact" else 1.0
    live = (pp > 0) & (pp < limit) & (s > 0)
    if np.any(live):
        sl, pl = s[live], pp[live]
        if K == 2:
            if form == "exact":
                q, one_minus_q, scale = pl / (1 - pl), (1 - 2 * pl) / (1 - pl), 1 - pl
            else:
                q, one_minus_q, scale = pl, 1 - pl, np.ones_like(pl)
            y = _two_mode_local_root(sl, q, one_minus_q)
            out[live] = np.minimum(scale * special.ndtr(y), 0.5)
        else:
            norm = 1 - pl if form == "exact" else np.ones_like(pl)
            out[live] = _many_mode_local(sl, pl, K, norm)
    out = np.where((pp > 0) & (s == 0), 1.0 / K, out)
    return _args.scalar_out(np.asarray(out))


def _local_vertex_sum(t: float, w: np.ndarray, r: np.ndarray, p: float) -> float:
    """``min sum_k E_{r_k}((t w_k - o_k)/(1-p))`` over outside allocations ``o``.

    The allocations form the polytope ``{l_k <= o_k <= c_k, sum o <= p}`` with ``c = t w``,
    ``l = (c - (1 - p))_+`` (conditional masses stay at most 1); the objective is concave,
    so a vertex is optimal: each ``o_k`` at ``l_k`` or ``c_k``, at most one in between.
    """
    K = w.size
    c = t * w
    low = np.maximum(c - (1 - p), 0.0)
    masks = _subset_masks(K)
    base = np.where(masks, c, low)                       # [2^K, K]
    used = base.sum(axis=1)
    ok = used <= p * (1 + 1e-15)
    if not np.any(ok):
        return math.inf
    base, used = base[ok], used[ok]
    cand = [base]
    left = np.maximum(p - used, 0.0)[:, None]
    for k in range(K):
        o = base.copy()
        o[:, k] = np.minimum(c[k], base[:, k] + left[:, 0])
        cand.append(o)
    o = np.concatenate(cand)
    n = np.clip((c - o) / (1 - p), 0.0, 1.0)
    return float(np.min(np.sum(_enlarge(n, r[None, :]), axis=1)))


def _bisect_sup(feasible, lo: float, hi: float, steps: int = 80) -> float:
    """The sup of a down-closed set ``{x : feasible(x)}`` in ``[lo, hi]``, from above.

    Bisection on the predicate rather than a root finder on a function: the enlargement sums
    are flat (exactly 0 or 1 per mode) once ``r`` is large, and a root finder stops anywhere
    in a flat zero set, below its sup. ``lo`` must be feasible.
    """
    if feasible(hi):
        return hi
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        lo, hi = (mid, hi) if feasible(mid) else (lo, mid)
    return hi


def _local_coverage_log_root(log_w: np.ndarray, r: np.ndarray, p: float) -> float:
    """``log t*_B``: the largest ``log t`` with `_local_vertex_sum` ``<= 1`` (scalar)."""
    w = np.exp(log_w)
    lo, hi = math.log(p) - 1.0, -float(np.max(log_w))   # all served from outside at lo
    return _bisect_sup(lambda x: _local_vertex_sum(math.exp(x), w, r, p) <= 1.0, lo, hi)


def max_weighted_coverage_local(L: Any, separation: Any, weights: Any,
                                outside_mass: Any) -> Any:
    r"""T3, local form (ours): weighted coverage when ``T`` is Lipschitz only on a set.

    ``T`` ``L_B``-Lipschitz on a convex ``B`` with ``\gamma_d(B^c) = p``: if
    ``m_k \ge t\,w_k`` for all ``k`` then ``t \le t^*_B``, the largest ``t`` for which some
    split of the outside mass, ``m_k = (1 - p) n_k + o_k``, ``\sum_k o_k \le p``, leaves
    conditional masses with ``\sum_k \Phi(\Phi^{-1}(n_k) + r_k) \le 1`` for a feasible ``r``
    (``r_i + r_j \le \Delta_{ij}/L_B``); minimised over ``r`` as in `max_weighted_coverage`.

    Parameters
    ----------
    L : float or array_like
        ``L_B``, ``0 < L <= inf``; an array only at ``K = 2``.
    separation : float, array_like or (K, K) array_like
        As in `max_weighted_coverage`.
    weights : (K,) array_like
        Positive weights summing to 1, ``2 <= K <= 6`` (the split enumeration costs
        ``K 2^K`` per root step).
    outside_mass : float or array_like
        ``p`` in ``[0, 1]``; an array only at ``K = 2``.

    Returns
    -------
    float or ndarray
        ``t^*_B`` in ``[0, 1 / max_k w_k]``; ``p = 0`` gives `max_weighted_coverage`.

    Raises
    ------
    ValueError
        As `max_weighted_coverage`, and more than 6 weights.
    TypeError
        Non-real or SymPy input (a root, not a closed form).

    Notes
    -----
    For fixed ``r`` the least ``\sum_k E_{r_k}(n_k)`` over the splits is attained at a
    vertex of the split polytope (a concave objective); all ``K 2^K`` candidates are
    enumerated at each step of a bisection in ``log t`` (a root finder would stop inside the
    flat parts of the sum, below its sup). At ``K = 2`` with
    equal weights, ``t^*_B / 2`` equals `max_mode_mass_local`.

    References
    ----------
    docs/theory.md, "Local forms", T3-local.

    Examples
    --------
    >>> import theory
    >>> round(theory.max_weighted_coverage_local(1.0, 1.0, [0.5, 0.5], 0.1) / 2, 4)
    0.3297
    """
    if _args.is_symbolic(L, separation, outside_mass):
        raise TypeError("max_weighted_coverage_local is the root of an equation, not a "
                        "closed form: use PROPOSITIONS['T3-local'].statement()")
    w = _args.weight_vector(weights, "weights", max_size=_MAX_K_COVERAGE_LOCAL)
    K = w.size
    L = _args.positive_or_inf(L, "L")
    p = _outside(outside_mass)
    log_w = np.log(w)
    matrix = np.ndim(separation) == 2
    if K >= 3 or matrix:
        if np.ndim(L) != 0 or np.ndim(p) != 0:
            raise ValueError("L and outside_mass must be scalars when separation is a matrix "
                             f"or len(weights) = {K} >= 3")
        S = (_separation_matrix(separation, K) if matrix
             else _args.nonnegative(separation, "separation") * (1 - np.eye(K))) / L
        if p == 0:
            return float(np.exp(_optimised_coverage(log_w, S)))
        if p >= 1 or not np.any(S > 0):
            return float(1.0 / np.max(w)) if p >= 1 else 1.0
        value = _optimised_coverage(
            log_w, S, root=lambda lw, r: _local_coverage_log_root(lw, r, p))
        return float(np.exp(value))
    sep = _args.nonnegative(separation, "separation")
    shape = _args.broadcast(L=L, separation=sep, outside_mass=p)
    s = np.broadcast_to(np.asarray(_ratio(sep, L), dtype=float), shape).copy()
    pp = np.broadcast_to(np.asarray(p, dtype=float), shape)
    out = np.broadcast_to(_two_mode_coverage(s, log_w), shape).copy()
    live = (pp > 0) & (s > 0)
    for idx in np.ndindex(shape):
        if not live[idx]:
            continue
        sk, pk = float(s[idx]), float(pp[idx])
        out[idx] = (1.0 / float(np.max(w)) if pk >= 1 else
                    math.exp(_local_coverage_log_root(log_w, np.array([sk / 2, sk / 2]), pk)))
    return _args.scalar_out(out)


def min_bridge_mass_local(L: Any, separation: Any, outside_mass: Any, m1: Any = None) -> Any:
    r"""T4, local form (ours): the bridge mass when ``T`` is Lipschitz only on a set.

    ``T`` ``L_B``-Lipschitz on a convex ``B`` with ``\gamma_d(B^c) = p``, two modes
    ``\Delta`` apart, ``s = \Delta/L_B``, ``b = 1 - m_1 - m_2``. Given ``m_1`` with
    ``p < m_1 \le 1 - p``,

    .. math::  b \ge (1 - p)\,\min\Big(\beta\big(\tfrac{m_1 - p}{1 - p}\big),
               \beta\big(\tfrac{m_1}{1 - p}\big)\Big),
               \quad \beta(n) = \Phi(-\Phi^{-1}(n)) - \Phi(-\Phi^{-1}(n) - s)

    (0 otherwise); with balanced coverage ``m_1 = m_2`` (``m1=None``),
    ``b \ge 1 - 2 m_B = (1 - p)(\Phi(y + s) - \Phi(y))``, ``y`` and ``m_B`` as in
    `max_mode_mass_local`.

    Parameters
    ----------
    L : float or array_like
        ``L_B``, ``0 < L <= inf``.
    separation : float or array_like
        ``Delta >= 0``, finite.
    outside_mass : float or array_like
        ``p`` in ``[0, 1]``.
    m1 : float, array_like or None, optional
        Mode-1 mass in ``[0, 1]``, or None for balanced coverage. All broadcast.

    Returns
    -------
    float or ndarray
        The minimal bridge mass in ``[0, 1]``; ``p = 0`` gives `min_bridge_mass`.

    Raises
    ------
    ValueError, TypeError
        Out-of-range, NaN or non-real arguments; SymPy input with ``m1=None`` (a root).

    Notes
    -----
    The conditional law on ``B`` obeys T4; the outside mass ``t_1 + t_2 \le p`` raises the
    mode masses. Given ``m_1``, the largest ``m_2`` is a convex function of ``t_1`` (the T2
    frontier is convex), so the worst case puts ``t_1 = p`` or ``t_1 = 0``. The balanced
    form is written as the mass of ``[y, y + s]`` so that small bridges keep their relative
    accuracy.

    References
    ----------
    docs/theory.md, "Local forms"; Tanielian et al. 2020.

    Examples
    --------
    >>> import math, theory
    >>> round(theory.min_bridge_mass_local(1.0, 1.0, math.exp(-2)), 4)    # 1 - 2 m_B
    0.3236
    """
    L, sep = _lipschitz_and_separation(L, separation)
    p = _outside(outside_mass)
    if m1 is not None:
        m1 = _args.probability(m1, "m1")
    if _symbolic(L=L, separation=sep, outside_mass=p, m1=m1):
        L, sep, p, m1 = _args.sympify(L, sep, p, m1)
        if m1 is None:
            raise TypeError("min_bridge_mass_local(m1=None) is 1 - 2 m_B with m_B a root, not a "
                            "closed form: pass m1 for the closed form")
        import sympy

        if p.is_number and m1.is_number and not (p < m1 and m1 <= 1 - p):
            return sympy.Integer(0)   # a mode served from outside, or all of it: no bridge

        def beta(n):
            x = -normal_quantile_expr(n)
            return normal_cdf_expr(x) - normal_cdf_expr(x - sep / L)

        return (1 - p) * sympy.Min(beta((m1 - p) / (1 - p)), beta(m1 / (1 - p)))
    named = {"L": L, "separation": sep, "outside_mass": p}
    if m1 is not None:
        named["m1"] = m1
    shape = _args.broadcast(**named)
    s = np.broadcast_to(np.asarray(_ratio(sep, L), dtype=float), shape)
    pp = np.broadcast_to(np.asarray(p, dtype=float), shape)
    if m1 is not None:
        mm = np.broadcast_to(np.asarray(m1, dtype=float), shape)
        with np.errstate(divide="ignore", invalid="ignore"):
            ends = np.minimum(_bridge_given(np.clip((mm - pp) / (1 - pp), 0, 1), s),
                              _bridge_given(np.clip(mm / (1 - pp), 0, 1), s))
        live = (mm > pp) & (mm <= 1 - pp) & (pp < 1)
        return _args.scalar_out(np.where(live, np.clip((1 - pp) * ends, 0.0, 1.0), 0.0))
    out = np.broadcast_to(np.asarray(min_bridge_mass(L, sep), dtype=float), shape).copy()
    out = np.where(pp == 0, out, 0.0)
    live = (pp > 0) & (pp < 0.5) & (s > 0)
    if np.any(live):
        sl, pl = s[live], pp[live]
        y = _two_mode_local_root(sl, pl / (1 - pl), (1 - 2 * pl) / (1 - pl))
        out[live] = (1 - pl) * _ndtr_difference(y + sl, y)
    return _args.scalar_out(np.clip(out, 0.0, 1.0))


def wasserstein_lower_bound_local(L: Any, separation: Any, outside_mass: Any,
                                  weights: Any = (0.5, 0.5), p: Any = 1) -> Any:
    r"""T5, local form (ours): distance to the demonstrations when ``T`` is Lipschitz on a set.

    ``T`` ``L_B``-Lipschitz on a convex ``B`` with ``\gamma_d(B^c) = q``: the masses of the
    ``\rho``-neighbourhoods are ``\mu(M_k^\rho) = (1 - q) n_k + t_k``, ``\sum t_k \le q``, with
    ``n`` feasible for the conditional law at separation ``(\Delta - 2\rho)/L_B``, so the
    deficit becomes ``D_B(\rho) = ((1 - q) \min_n \sum_k (w_k/(1-q) - n_k)_+ - q)_+``. At
    ``K = 2`` in closed form:

    .. math::  D_B(\rho) = (1 - q)\big(\Phi(-a) - \Phi(-a - s)\big),
               \qquad a = \Phi^{-1}\Big(\frac{\max_k w_k}{1 - q}\Big)

    (0 when ``\max_k w_k \ge 1 - q``), and ``W_p^p \ge \int_0^{\Delta/2} p\rho^{p-1}
    D_B(\rho) d\rho``.

    Parameters
    ----------
    L, separation : float, array_like or (K, K) array_like
        ``L = L_B`` in ``(0, inf]``, an array only at ``K = 2``; ``separation`` as in
        `wasserstein_lower_bound`.
    outside_mass : float or array_like
        ``q = gamma_d(B^c)`` in ``[0, 1]``; an array only at ``K = 2``.
    weights : (K,) array_like, optional
        Demonstrator weights, ``2 <= K <= 32``.
    p : float, optional
        Order, ``1 <= p <= 1000``.

    Returns
    -------
    float or ndarray
        The lower bound on ``W_p``, ``>= 0``; ``q = 0`` gives `wasserstein_lower_bound`.
        Accuracy as there.

    Raises
    ------
    ValueError, TypeError
        Those of `wasserstein_lower_bound`, and ``outside_mass`` outside ``[0, 1]``.

    Notes
    -----
    Given the conditional masses, the outside mass lowers the deficit by at most ``q``
    (hand it to the modes that lack mass). At ``K = 2`` the weights over ``1 - q`` sum to
    more than 1; the minimum over the T2 frontier sits at an end, the one of the heavier
    mode for every ``s >= 0``. ``K >= 3``: the relaxations of `wasserstein_lower_bound`
    applied to ``w/(1 - q)`` (clipped at 1, the excess added back).

    References
    ----------
    docs/theory.md, "Local forms" (the T5 deficit less the outside mass).

    Examples
    --------
    >>> import theory
    >>> round(theory.wasserstein_lower_bound_local(1.0, 2.0, 0.1), 4)
    0.2528
    >>> theory.wasserstein_lower_bound_local(1.0, 2.0, 0.0) == theory.wasserstein_lower_bound(
    ...     1.0, 2.0)
    True
    """
    p = _order(p)
    L = _args.positive_or_inf(L, "L")
    q = _outside(outside_mass)
    if _args.is_symbolic(L, separation, q, p):
        if not _args.is_symbolic(*np.ravel(np.asarray(weights, dtype=object))):
            _args.weight_vector(weights, "weights")
        sep = _args.nonnegative(separation, "separation")
        _args.no_arrays_with_symbols(L=L, separation=sep, outside_mass=q)
        return _wasserstein_expr(L, sep, weights, p, q)
    w = _args.weight_vector(weights, "weights", max_size=_MAX_K_WASSERSTEIN)
    if w.size >= 3:
        if np.ndim(L) != 0 or np.ndim(q) != 0:
            raise ValueError("L and outside_mass must be scalars when "
                             f"len(weights) = {w.size} >= 3")
        S = _many_mode_separation(separation, w.size)
        if q >= 1:
            return 0.0
        return _many_mode_wasserstein(L, S, w, p, outside=q)
    sep = _args.nonnegative(separation, "separation")
    shape = _args.broadcast(L=L, separation=sep, outside_mass=q)
    qq = np.broadcast_to(np.asarray(q, dtype=float), shape)
    sep_b = np.broadcast_to(np.asarray(sep, dtype=float), shape)
    L_b = np.broadcast_to(np.asarray(L, dtype=float), shape)
    w_min = float(np.min(w))
    out = np.zeros(shape)
    for value in np.unique(qq):
        sel = qq == value
        if value >= w_min:
            continue
        # a = Phi^{-1}(w_max/(1-q)) = -Phi^{-1}((w_min - q)/(1-q)), accurate for tiny w_min - q
        a = -float(special.ndtri((w_min - value) / (1 - value)))
        out[sel] = _two_mode_wasserstein(sep_b[sel], L_b[sel], a, 1 - value, p)
    return _args.scalar_out(out)


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


def _t2_local():
    import sympy

    L, D, p, m = _symbols("L_B Delta p m", positive=True)
    return sympy.LessThan(normal_quantile_expr((m - p) / (1 - p))
                          + normal_quantile_expr(m / (1 - p)), -D / L)


def _t3_local():
    import sympy

    K = sympy.Symbol("K", integer=True, positive=True)
    k = sympy.Symbol("k", integer=True, positive=True)
    p = sympy.Symbol("p", positive=True)
    m, t, r = sympy.IndexedBase("m"), sympy.IndexedBase("t"), sympy.IndexedBase("r")
    term = normal_cdf_expr(normal_quantile_expr((m[k] - t[k]) / (1 - p)) + r[k])
    return sympy.LessThan(sympy.Sum(term, (k, 1, K)), 1)


def _t4_local():
    import sympy

    L, D, p, m1, b = _symbols("L_B Delta p m_1 b", positive=True)
    return sympy.GreaterThan(b, min_bridge_mass_local(L, D, p, m1))


def _t5_local():
    import sympy

    L, D, p, W, q = _symbols("L_B Delta p W_p q", positive=True)
    w1 = sympy.Symbol("w_1", positive=True)
    return sympy.GreaterThan(W, wasserstein_lower_bound_local(L, D, q, (w1, 1 - w1), p))


_PART_T = "docs/theory.md, Part T"
_LOCAL = "docs/theory.md, Part T, \"Local forms\""
_LOCAL_ASSUMPTIONS = ("T: R^d -> R^D is L_B-Lipschitz on a convex set B with gamma_d(B^c) = p "
                      "(arbitrary outside B); ")
_OURS = "ours (not in the paper): "

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
        "r optimised over the feasible polytope (the symmetric r of the paper's form is the "
        "start); the simplicial construction with its closed-form mass "
        "(achievable_mode_mass), K <= 8.",
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
        "closed form of the K = 2 deficit and a cancellation-free single integral for W_p; "
        "K >= 3 by a matching relaxation.",
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
    Proposition(
        "T2-local", "two-mode limit for a map Lipschitz on a convex set", _t2_local,
        _LOCAL_ASSUMPTIONS + "two modes Delta apart; m = min(m_1, m_2).",
        max_mode_mass_local,
        _OURS + "the whole statement (Caffarelli's contraction for the conditional law, the "
        "worst split of the outside mass at an extreme); corollaries form='unnormalised' "
        "and form='additive' (Phi(-Delta/(2 L_B)) + p); K >= 3 with symmetric enlargements.",
        f"{_LOCAL}; Caffarelli 2000; Borell 1975."),
    Proposition(
        "T3-local", "K modes for a map Lipschitz on a convex set", _t3_local,
        _LOCAL_ASSUMPTIONS + "K modes Delta_ij apart; m_k = (1-p) n_k + t_k, sum_k t_k <= p; "
        "r_k >= 0 with r_i + r_j <= Delta_ij / L_B.",
        max_weighted_coverage_local,
        _OURS + "the whole statement; the least enlargement sum over the splits of the "
        "outside mass by vertex enumeration; r optimised as in T3.",
        f"{_LOCAL}; Caffarelli 2000.",
        (max_mode_mass_local,)),
    Proposition(
        "T4-local", "bridge or sharpness for a map Lipschitz on a convex set", _t4_local,
        _LOCAL_ASSUMPTIONS + "two modes Delta apart; b = 1 - m_1 - m_2; p < m_1 <= 1 - p.",
        min_bridge_mass_local,
        _OURS + "the whole statement; balanced form 1 - 2 m_B as an interval mass.",
        f"{_LOCAL}; Tanielian et al. 2020."),
    Proposition(
        "T5-local", "distance to the demonstrations for a map Lipschitz on a convex set",
        _t5_local,
        _LOCAL_ASSUMPTIONS.replace("= p", "= q") + "weights w_k; W_p, p >= 1.",
        wasserstein_lower_bound_local,
        _OURS + "the whole statement; closed-form deficit at K = 2 (the heavier mode's end "
        "of the frontier), relaxations at K >= 3.",
        f"{_LOCAL}; Salmona et al. 2022."),
)

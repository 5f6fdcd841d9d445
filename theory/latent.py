r"""Part L: latent-variable policies (CVAE / ACT-style), propositions L1..L6.

A latent policy has a prior ``p(z|o)``, an encoder ``q(z|o,a)`` and a decoder
``a = D(o, z)`` plus output noise, trained on
``E_q[loss(a, D(o, z))] + beta KL(q(z|o,a) || p(z|o))``. The rate is
``R = E_{a ~ pi*} KL(q_a || p)``, the aggregate posterior ``qbar = E_a q_a``, and ``M``
is the mode index of ``a``. All information quantities are in nats.

Every public function takes floats or NumPy arrays (broadcast; scalar in -> float out)
and, where the result has a closed form, SymPy symbols (expression out). The functions
that invert a transcendental equation (`kl_tv_bound_exact`, `fano_min_error`,
`min_prior_coverage`, the exact forms of L3's consequences) have no closed form and
raise ``TypeError`` on SymPy input; their defining equations are in the docstrings and
in docs/theory.md (Part L).

Extensions beyond the paper (proved in docs/theory.md, Part L): the exact KL-to-TV curve
`kl_tv_bound_exact` (tight, and it needs only the rate, not a pointwise KL bound); the
exact identity behind mode averaging; the global proof of the L4 threshold; the local
(linear-VAE) threshold for any mode geometry (`collapse_threshold_local`) and unequal
weights; the output-noise form of L6.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import special

from theory import _args
from theory.registry import Proposition

__all__ = [
    "act_effective_kl_weight",
    "act_kl_weight",
    "binary_channel_mmse",
    "collapse_objective",
    "collapse_threshold",
    "collapse_threshold_local",
    "collapsed_directions",
    "decoder_max_mode_mass",
    "fano_min_error",
    "fano_min_rate",
    "kl_tv_bound",
    "kl_tv_bound_exact",
    "min_kl_for_tv",
    "min_prior_coverage",
    "mode_averaging_distance",
    "mode_recovery_accuracy",
    "prior_tv_bound",
    "rate_decomposition",
]

_LOG2 = math.log(2.0)
# Unequal two-mode weights: the local threshold w1 w2 Delta^2 / sigma^2 is the exact one
# while w1 w2 >= 1/5 (docs/theory.md, L4); beyond, the threshold jumps above it.
_EXACT_PRODUCT = 0.2
_MAX_GRAM = 4096   # collapse_threshold_local: the smaller of K and D, for the eigenproblem


def _sympy():
    import sympy

    return sympy


def _exact(x: Any) -> Any:
    """A Python/NumPy number as an exact SymPy number (so ``1.0`` prints as ``1``)."""
    if _args.is_symbolic(x):
        return x
    return _sympy().nsimplify(x, rational=True)


def _no_closed_form(name: str, equation: str) -> TypeError:
    return TypeError(
        f"{name} has no closed form (it is the root of {equation}); pass floats or arrays, "
        "or use the proposition's statement (theory.PROPOSITIONS) for the symbolic form"
    )


def _symbolic(**values: Any) -> bool:
    if _args.is_symbolic(*values.values()):
        _args.no_arrays_with_symbols(**values)
        return True
    return False


def _named(fn, **values):
    """``fn()``; a NumPy broadcast error becomes one that names the arguments."""
    try:
        return fn()
    except ValueError:
        _args.broadcast(**values)
        raise


def _root(f, lo, hi, args=()) -> np.ndarray:
    """Elementwise root of an increasing ``f`` on ``[lo, hi]`` (finite ends).

    An end where ``f`` already has the root's sign (rounding at a flat end, as Fano's
    function at ``(K-1)/K``) is returned as the root. Arrays go to SciPy's vectorised
    Chandrupatla solver; a single element to Brent's method, whose per-call overhead is
    about 40 times smaller. Both keep a bracket, so the answer stays in ``[lo, hi]``.
    """
    args = tuple(np.asarray(a, dtype=float) for a in args)
    lo, hi, *args = np.broadcast_arrays(np.asarray(lo, dtype=float),
                                        np.asarray(hi, dtype=float), *args)
    f_lo, f_hi = f(lo, *args), f(hi, *args)
    out = np.where(f_lo >= 0, lo, hi)
    inside = (f_lo < 0) & (f_hi > 0)
    if np.count_nonzero(inside) == 1:
        from scipy.optimize import brentq

        i = np.flatnonzero(inside)[0]
        scalars = tuple(float(a.flat[i]) for a in args)
        # full_output: Brent keeps a bracket, so even at its iteration cap the point
        # returned lies inside it. The cap is reached only where f is pure rounding
        # noise (min_prior_coverage with KL < ~1e-200 and m near 1); there every point
        # of the bracket gives the same c* to double precision.
        x, _ = brentq(lambda v: float(f(v, *scalars)), float(lo.flat[i]), float(hi.flat[i]),
                      xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=200,
                      full_output=True, disp=False)
        out.flat[i] = x
    elif np.any(inside):
        from scipy.optimize import elementwise

        res = elementwise.find_root(f, (lo[inside], hi[inside]),
                                    args=tuple(a[inside] for a in args),
                                    tolerances={"xatol": 0.0,
                                                "xrtol": 4 * np.finfo(float).eps})
        out[inside] = res.x
    return out


def _scaled_product(numerators: tuple, denominators: tuple) -> np.ndarray:
    """``prod(numerators) / prod(denominators)`` without overflow or underflow in between.

    Mantissas and binary exponents are multiplied separately (``np.frexp``), so the result
    is ``inf`` or ``0`` only when the value itself is out of range.
    """
    mant, expo = np.float64(1.0), np.int64(0)
    for x in numerators:
        m, e = np.frexp(np.asarray(x, dtype=float))
        mant, expo = mant * m, expo + e
    for x in denominators:
        m, e = np.frexp(np.asarray(x, dtype=float))
        mant, expo = mant / m, expo - e
    with np.errstate(over="ignore"):
        return np.ldexp(mant, np.clip(expo, -5000, 5000).astype(np.int32))


# ---------------------------------------------------------------------------------------
# L1: rate decomposition
# ---------------------------------------------------------------------------------------

def rate_decomposition(rate: Any, mutual_information: Any) -> Any:
    r"""L1: the marginal KL of the aggregate posterior, ``KL(qbar || p) = R - I_q(A; Z)``.

    For an encoder ``q(z|a)``, a prior ``p(z)`` and ``qbar = E_a q(.|a)``,

    .. math:: R = E_a KL(q(\cdot|a) \| p) = I_q(A; Z) + KL(\bar q \| p),

    hence ``I(M; Z) <= I(A; Z) <= R`` for any function ``M`` of ``A`` (data processing).

    Parameters
    ----------
    rate : float or array_like
        ``R >= 0`` (nats), finite.
    mutual_information : float or array_like
        ``I_q(A; Z)`` with ``0 <= I <= R``; broadcasts with ``rate``.

    Returns
    -------
    float or ndarray
        ``KL(qbar || p) = R - I`` (nats), broadcast shape.

    Raises
    ------
    ValueError
        ``rate < 0`` or ``mutual_information`` outside ``[0, rate]`` (by L1 that cannot
        happen for exact values; with estimates, clip them first); NaN; shapes.
    TypeError
        Non-real input.

    References
    ----------
    docs/theory.md, L1; Hoffman & Johnson 2016 ("ELBO surgery"); Alemi et al. 2018.

    Examples
    --------
    >>> import theory
    >>> theory.rate_decomposition(1.5, 0.5)
    1.0
    """
    r = _args.nonnegative(rate, "rate")
    i = _args.nonnegative(mutual_information, "mutual_information")
    if _symbolic(rate=r, mutual_information=i):
        r, i = _args.sympify(r, i)
        return r - i
    bad = _named(lambda: np.asarray(i) > np.asarray(r), rate=r, mutual_information=i)
    if np.any(bad):
        raise ValueError(
            "mutual_information must lie in [0, rate] (L1: I(A;Z) <= R), got "
            f"mutual_information={float(np.broadcast_to(i, bad.shape)[bad].flat[0])!r} > "
            f"rate={float(np.broadcast_to(r, bad.shape)[bad].flat[0])!r}"
        )
    return _args.scalar_out(np.subtract(r, i))


# ---------------------------------------------------------------------------------------
# L2: Fano
# ---------------------------------------------------------------------------------------

def _weights(weights: Any) -> tuple[Any, int, bool]:
    """(entropy H(w) in nats, K, symbolic?)."""
    if isinstance(weights, (str, bytes)):
        raise TypeError(f"weights must be a 1-D vector of real numbers, got {weights!r}")
    try:
        listed = list(np.ravel(np.asarray(weights, dtype=object)))
    except (TypeError, ValueError):
        listed = []
    if listed and _args.is_symbolic(*listed):
        sp = _sympy()
        if len(listed) < 2:
            raise ValueError(f"weights must hold at least 2 weights, got {len(listed)}")
        ws = [_args.probability(w, "weights") for w in listed]
        return -sum(w * sp.log(w) for w in ws), len(ws), True
    w = _args.weight_vector(weights, "weights")
    return float(-np.sum(special.xlogy(w, w))), w.size, False


def _fano_function(delta: np.ndarray, k: int) -> np.ndarray:
    """``phi(delta) = h(delta) + delta log(K - 1)``, increasing on ``[0, (K-1)/K]``."""
    return special.entr(delta) + special.entr(1.0 - delta) + delta * math.log(k - 1)


def fano_min_rate(weights: Any, error: Any) -> Any:
    r"""L2: the rate needed to read the mode from ``z`` with error at most ``delta``.

    If a rule ``\hat M(z)`` errs with probability ``P_e <= delta`` on ``K`` modes with
    weights ``w``, then

    .. math:: R \ge I(M; Z) \ge \Big[H(w) - h(\delta) - \delta \log(K-1)\Big]_+ ,
              \qquad \delta \le (K-1)/K,

    and the bound is 0 for ``delta >= (K-1)/K`` (``h`` the binary entropy, nats).

    Parameters
    ----------
    weights : (K,) array_like
        Mode weights, ``K >= 2``, positive, summing to 1 (or SymPy expressions).
    error : float or array_like
        ``delta`` in ``[0, 1]``, any shape.

    Returns
    -------
    float or ndarray
        The minimum rate (nats), shape of ``error``.

    Raises
    ------
    ValueError, TypeError
        Bad weights, ``error`` outside ``[0, 1]``, NaN, non-real input.

    Notes
    -----
    Fano's inequality (Cover & Thomas, Thm 2.10.1) with L1. Attained by the K-ary
    symmetric channel for uniform ``w`` (and, by the Hamming rate-distortion function,
    whenever ``delta <= (K-1) min_k w_k``).

    References
    ----------
    docs/theory.md, L2 (Fano's inequality with L1).

    Examples
    --------
    >>> import theory
    >>> round(theory.fano_min_rate([0.5, 0.5], 0.05), 4)
    0.4946
    """
    entropy, k, symbolic = _weights(weights)
    if symbolic or _args.is_symbolic(error):
        sp = _sympy()
        d = sp.sympify(_args.probability(error, "error"))
        phi = -d * sp.log(d) - (1 - d) * sp.log(1 - d) + d * sp.log(k - 1)
        return sp.Piecewise((sp.Max(0, entropy - phi), d <= sp.Rational(k - 1, k)), (0, True))
    d = _args.probability(error, "error")
    d = np.minimum(d, (k - 1) / k)
    return _args.scalar_out(np.maximum(0.0, entropy - _fano_function(d, k)))


def fano_min_error(weights: Any, rate: Any) -> Any:
    r"""L2 inverted: the smallest mode-reading error Fano allows at rate ``R``.

    The root ``delta`` in ``[0, (K-1)/K]`` of ``h(delta) + delta log(K-1) = H(w) - R``
    (0 when ``R >= H(w)``): every rule reading the mode from ``z`` has
    ``P_e >= fano_min_error(w, R)`` when ``I(M; Z) <= R``.

    Parameters
    ----------
    weights : (K,) array_like
        Mode weights, ``K >= 2``, positive, summing to 1.
    rate : float or array_like
        ``R >= 0`` (nats; ``inf`` allowed), any shape.

    Returns
    -------
    float or ndarray
        The error lower bound in ``[0, (K-1)/K]``, shape of ``rate``.

    Raises
    ------
    ValueError, TypeError
        Bad weights, negative or NaN rate, non-real or SymPy input.

    References
    ----------
    docs/theory.md, L2 (the inverse of `fano_min_rate`).

    Examples
    --------
    >>> import theory
    >>> round(theory.fano_min_error([1/3, 1/3, 1/3], 0.5), 4)
    0.1811
    """
    entropy, k, symbolic = _weights(weights)
    if symbolic or _args.is_symbolic(rate):
        raise _no_closed_form("fano_min_error", "h(delta) + delta log(K-1) = H(w) - R")
    r = np.asarray(_args.nonnegative_or_inf(rate, "rate"), dtype=float)
    target = entropy - r
    out = np.zeros_like(target)
    inside = target > 0
    if np.any(inside):
        out[inside] = _root(lambda d, t: _fano_function(d, k) - t,
                            np.zeros(int(inside.sum())), np.full(int(inside.sum()), (k - 1) / k),
                            args=(target[inside],))
    return _args.scalar_out(out)


# ---------------------------------------------------------------------------------------
# L3: KL to total variation, mode recovery, mode averaging
# ---------------------------------------------------------------------------------------

def _kl_tv_curve(t: np.ndarray) -> np.ndarray:
    """``f(t) = ((1+t) log(1+t) + (1-t) log(1-t)) / 2`` to full relative precision.

    For small ``t`` the textbook form cancels (``f ~ t^2/2`` from ``O(t)`` terms), so
    there we use ``t artanh(t) + log1p(-t^2)/2`` (a cancellation of a factor 2 only).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        small = t * np.arctanh(t) + 0.5 * np.log1p(-t * t)
        large = 0.5 * ((1 + t) * np.log1p(t) + special.xlog1py(1 - t, -t))
    return np.where(t < 0.5, small, large)


def kl_tv_bound(eps: Any) -> Any:
    r"""L3 (paper form): ``TV(q_a, q_{a'}) <= tau(eps)`` when both KLs to ``p`` are ``<= eps``.

    If ``KL(q_a || p) <= eps`` and ``KL(q_{a'} || p) <= eps`` then

    .. math:: TV(q_a, q_{a'}) \le \tau(\epsilon) =
              \min\Big(1,\; 2\min\big(\sqrt{\epsilon/2}, \sqrt{1 - e^{-\epsilon}}\big)\Big).

    Parameters
    ----------
    eps : float or array_like
        The KL budget ``>= 0`` (nats; ``inf`` allowed), any shape.

    Returns
    -------
    float or ndarray
        ``tau(eps)`` in ``[0, 1]``, shape of ``eps``.

    Raises
    ------
    ValueError, TypeError
        ``eps < 0``, NaN, non-real input.

    Notes
    -----
    Pinsker, Bretagnolle & Huber 1979 and the triangle inequality through ``p``; a corollary
    of the exact curve `kl_tv_bound_exact` (always larger or equal).

    References
    ----------
    docs/theory.md, L3 (the paper's form).

    Examples
    --------
    >>> import theory
    >>> round(theory.kl_tv_bound(0.1), 4)
    0.4472
    """
    e = _args.nonnegative_or_inf(eps, "eps")
    if _args.is_symbolic(e):
        sp = _sympy()
        return sp.Min(1, 2 * sp.Min(sp.sqrt(e / 2), sp.sqrt(1 - sp.exp(-e))))
    tau = 2.0 * np.minimum(np.sqrt(np.divide(e, 2.0)), np.sqrt(-np.expm1(np.negative(e))))
    return _args.scalar_out(np.minimum(1.0, tau))


def min_kl_for_tv(tv: Any) -> Any:
    r"""The exact KL budget two distributions need to be ``tv`` apart (inverse of L3).

    .. math:: f(t) = \tfrac12\big[(1+t)\log(1+t) + (1-t)\log(1-t)\big]
                   = \log 2 - h\big(\tfrac{1+t}{2}\big),

    the least value of ``(KL(P||R) + KL(Q||R)) / 2`` (hence of their maximum) over all
    ``P, Q, R`` with ``TV(P, Q) = t``; ``f(1) = log 2``.

    Parameters
    ----------
    tv : float or array_like
        ``t`` in ``[0, 1]``, any shape.

    Returns
    -------
    float or ndarray
        ``f(t)`` (nats), shape of ``tv``; full relative precision (a stable form for small
        ``t``).

    Raises
    ------
    ValueError, TypeError
        ``tv`` outside ``[0, 1]``, NaN, non-real input.

    Notes
    -----
    Attained by ``P, Q = Bernoulli((1 +- t)/2)``, ``R = Bernoulli(1/2)``.

    References
    ----------
    docs/theory.md, L3-exact (the curve ``f``).

    Examples
    --------
    >>> import theory
    >>> round(theory.min_kl_for_tv(1.0), 6)        # log 2
    0.693147
    """
    t = _args.probability(tv, "tv")
    if _args.is_symbolic(t):
        sp = _sympy()
        return ((1 + t) * sp.log(1 + t) + (1 - t) * sp.log(1 - t)) / 2
    return _args.scalar_out(_kl_tv_curve(np.asarray(t, dtype=float)))


def kl_tv_bound_exact(eps: Any) -> Any:
    r"""L3 (exact, our extension): the largest ``TV(q_a, q_{a'})`` a KL budget allows.

    If ``(KL(q_a || p) + KL(q_{a'} || p)) / 2 <= eps`` (in particular if both are
    ``<= eps``) then ``TV(q_a, q_{a'}) <= tau*(eps)``, the root ``t`` of
    ``min_kl_for_tv(t) = eps`` (``tau* = 1`` for ``eps >= log 2``).

    Parameters
    ----------
    eps : float or array_like
        As in `kl_tv_bound`: a budget ``>= 0`` in nats (``inf`` allowed), any shape.

    Returns
    -------
    float or ndarray
        ``tau*(eps)`` in ``[0, 1]``, shape of ``eps``; relative error below ``1e-12``
        (checked against 400-digit arithmetic for ``eps`` from ``1e-250`` to ``log 2``).

    Raises
    ------
    ValueError, TypeError
        Negative, NaN, non-real or SymPy input.

    Notes
    -----
    Tight: equality for ``q_a, q_{a'} = Bernoulli((1 +- tau*)/2)``, ``p = Bernoulli(1/2)``.
    Always ``tau* <= kl_tv_bound(eps)``; ``tau* = sqrt(2 eps) (1 - eps/6 + O(eps^2))``.

    References
    ----------
    docs/theory.md, L3-exact (the root of ``f(t) = eps``).

    Examples
    --------
    >>> import theory
    >>> round(theory.kl_tv_bound_exact(0.1), 4)
    0.4396
    """
    if _args.is_symbolic(eps):
        raise _no_closed_form("kl_tv_bound_exact", "((1+t)log(1+t) + (1-t)log(1-t))/2 = eps")
    e = np.asarray(_args.nonnegative_or_inf(eps, "eps"), dtype=float)
    out = np.where(e >= _LOG2, 1.0, 0.0)
    inside = (e > 0) & (e < _LOG2)
    if np.any(inside):
        ei = e[inside]
        # t^2/2 <= f(t) <= (t^2/2) / (1 - t^2) (from the series) brackets the root to a
        # relative width O(eps): tiny budgets converge in a few steps.
        out[inside] = _root(lambda t, target: _kl_tv_curve(t) - target,
                            np.sqrt(2 * ei / (1 + 2 * ei)), np.minimum(1.0, np.sqrt(2 * ei)),
                            args=(ei,))
    return _args.scalar_out(out)


def _tau(eps: Any, exact: bool, name: str) -> Any:
    if not isinstance(exact, (bool, np.bool_)):
        raise TypeError(f"exact must be a bool, got {type(exact).__name__}")
    if exact:
        if _args.is_symbolic(eps):
            raise _no_closed_form(name + "(..., exact=True)",
                                  "((1+t)log(1+t) + (1-t)log(1-t))/2 = eps; pass exact=False "
                                  "for the closed-form Pinsker/Bretagnolle-Huber corollary")
        return kl_tv_bound_exact(eps)
    return kl_tv_bound(eps)


def mode_recovery_accuracy(eps: Any, *, exact: bool = True) -> Any:
    r"""L3: best accuracy of reading one of two equal-weight modes from ``z``.

    With two equal-weight modes and rate ``R <= eps`` (in particular when
    ``KL(q_a || p) <= eps`` for every ``a``), every rule ``\hat M(z)`` has

    .. math:: P(\hat M = M) \le \tfrac12\big(1 + \tau(\epsilon)\big),

    ``tau = kl_tv_bound_exact`` (``exact=True``, tight) or the paper's `kl_tv_bound`
    (``exact=False``).

    Parameters
    ----------
    eps : float or array_like
        The KL budget (rate) ``>= 0``, nats, any shape.
    exact : bool, optional
        Use the exact curve (default) or the closed-form corollary.

    Returns
    -------
    float or ndarray
        The accuracy bound in ``[1/2, 1]``, shape of ``eps``.

    Raises
    ------
    ValueError, TypeError
        As `kl_tv_bound_exact` / `kl_tv_bound`.

    Notes
    -----
    The Bayes accuracy is ``(1 + TV(Q_1, Q_2))/2`` with ``Q_k = E[q_a | M = k]``, and
    ``(KL(Q_1||p) + KL(Q_2||p))/2 <= R`` by convexity.

    References
    ----------
    docs/theory.md, L3 (Le Cam 1973).

    Examples
    --------
    >>> import theory
    >>> round(theory.mode_recovery_accuracy(0.1), 4)
    0.7198
    """
    tau = _tau(eps, exact, "mode_recovery_accuracy")
    return (1 + tau) / 2 if _args.is_symbolic(tau) else _args.scalar_out((1.0 + tau) / 2.0)


def mode_averaging_distance(separation: Any, eps: Any, *, exact: bool = True) -> Any:
    r"""L3: a squared-loss decoder's mean distance from the modes (mode averaging).

    Two equal-weight point modes ``Delta`` apart, rate ``R <= eps``, decoder
    ``D(z) = E[A | z]`` (optimal for squared loss), ``z ~ qbar``:

    .. math:: E\,\mathrm{dist}\big(D(z), \{a_1, a_2\}\big)
              = \tfrac{\Delta}{2}\big(1 - TV(Q_1, Q_2)\big)
              \ge \tfrac{\Delta}{2}\big(1 - \tau(\epsilon)\big).

    Parameters
    ----------
    separation : float or array_like
        ``Delta > 0``, finite; broadcasts with ``eps``.
    eps : float or array_like
        The KL budget (rate) ``>= 0``, nats.
    exact : bool, optional
        Use `kl_tv_bound_exact` (default) or the paper's `kl_tv_bound`.

    Returns
    -------
    float or ndarray
        The lower bound on the mean distance, in ``[0, Delta/2]``, broadcast shape.

    Raises
    ------
    ValueError, TypeError
        ``separation`` not positive and finite, ``eps < 0``, NaN, non-real input; a SymPy
        ``eps`` with ``exact=True`` (no closed form).

    Notes
    -----
    The identity is exact (our extension); the bound is tight with ``exact=True``.

    References
    ----------
    docs/theory.md, L3 (the mode-averaging identity).

    Examples
    --------
    >>> import theory
    >>> round(theory.mode_averaging_distance(2.0, 0.1), 4)
    0.5604
    >>> round(theory.mode_averaging_distance(2.0, 0.1, exact=False), 4)     # the paper's tau
    0.5528
    """
    s = _args.positive(separation, "separation")
    e = _args.nonnegative_or_inf(eps, "eps")
    tau = _tau(e, exact, "mode_averaging_distance")
    if _args.is_symbolic(s, tau):
        _args.no_arrays_with_symbols(separation=s, eps=e)
        return s / 2 * (1 - tau)
    return _args.scalar_out(_named(lambda: np.multiply(s, 1.0 - np.asarray(tau)) / 2.0,
                                   separation=s, eps=e))


# ---------------------------------------------------------------------------------------
# L4: collapse threshold
# ---------------------------------------------------------------------------------------

def collapse_threshold(separation: Any, sigma: Any, weights: Any = None) -> Any:
    r"""L4: the KL weight at which a CVAE on two point modes collapses its latent.

    Two point modes ``Delta`` apart with weights ``w_1, w_2``, Gaussian decoder likelihood
    ``N(D(z), sigma^2 I)``, Gaussian encoder, ``N(0, I)`` prior, unconstrained decoder.
    The latent collapses (``u = 0`` optimal, ``I(M;Z) = 0``) iff

    .. math:: \beta \ge \beta^* = \frac{w_1 w_2\,\Delta^2}{\sigma^2}
              \qquad (\text{equal weights: } \Delta^2 / (4\sigma^2)),

    the linear-VAE condition "variance <= beta sigma^2" with the modes' variance
    ``w_1 w_2 Delta^2``.

    Parameters
    ----------
    separation : float or array_like
        ``Delta > 0``, finite.
    sigma : float or array_like
        Decoder noise std ``> 0``; broadcasts with ``separation``.
    weights : (2,) array_like or None, optional
        The two mode weights (default equal). Only ``w_1 w_2 >= 1/5``
        (``max w <= (1 + 5^{-1/2})/2 = 0.7236``) is accepted: there the value is the exact
        threshold; beyond, the threshold jumps above it (+4.4% at ``w_1 = 0.8``).

    Returns
    -------
    float or ndarray
        ``beta*``, broadcast shape (``inf`` only when it exceeds ``1.8e308``).

    Raises
    ------
    ValueError
        Out-of-range or NaN arguments; weights with ``w_1 w_2 < 1/5`` (the message says
        where to get the value: `collapse_threshold_local` for the instability threshold,
        ``numerics.collapse_threshold`` for the global one).
    TypeError
        Non-real input.

    Notes
    -----
    Below ``beta*`` collapse is never optimal (``u = 0`` is unstable,
    `collapse_threshold_local`); at or above it collapse is optimal, proved for equal
    weights (``sech^2 x >= e^{-x^2}``, docs/theory.md, L4), established numerically for
    ``w_1 w_2 >= 1/5`` (a direct minimisation over the encoder, tests/theory/test_latent.py).

    References
    ----------
    docs/theory.md, L4; Lucas et al. 2019; Dang et al., ICLR 2024.

    Examples
    --------
    >>> import numpy as np, theory
    >>> round(theory.collapse_threshold(2.0, np.sqrt(0.1)), 10)
    10.0
    >>> round(theory.collapse_threshold(2.0, 1.0, weights=[0.6, 0.4]), 10)   # 0.24 * 4
    0.96
    """
    d = _args.positive(separation, "separation")
    s = _args.positive(sigma, "sigma")
    if weights is None:
        product = 0.25
    else:
        w = _args.weight_vector(weights, "weights")
        if w.size != 2:
            raise ValueError("weights must hold exactly 2 weights here (two modes); for K "
                             "modes use collapse_threshold_local(centres, sigma, weights)")
        product = float(w[0] * w[1])
        if product < _EXACT_PRODUCT:
            raise ValueError(
                f"weights must have w_1 w_2 >= 1/5 (max weight <= 0.7236) for the closed form, "
                f"got w_1 w_2 = {product:.6g}: beyond, the threshold jumps above "
                "w_1 w_2 Delta^2 / sigma^2. Use theory.collapse_threshold_local for that "
                "(instability) value or numerics.collapse_threshold for the global one")
    if _symbolic(separation=d, sigma=s):
        d, s = _args.sympify(d, s)
        factor = _sympy().Rational(1, 4) if weights is None else _exact(product)
        return factor * d**2 / s**2
    def value():
        with np.errstate(over="ignore", divide="ignore", invalid="ignore", under="ignore"):
            num, den = np.square(d), np.square(s)
            direct = (num / (4.0 * den) if weights is None else product * num / den)
            # d^2 or s^2 out of range (0/0 at d = s = 1e-300, true 0.25): (d/s)^2 instead
            ratio = product * np.square(np.divide(d, s))
            ok = (num > 0) & (den > 0) & np.isfinite(num) & np.isfinite(den)
            return np.where(ok, direct, ratio)

    return _args.scalar_out(_named(value, separation=d, sigma=s))


def collapse_threshold_local(centres: Any, sigma: Any, weights: Any = None) -> float:
    r"""L4, any mode geometry (ours): below this KL weight the collapsed latent is unstable.

    ``K`` point modes ``c_k`` with weights ``w_k``, squared loss with decoder noise
    ``sigma`` (loss ``|a - D|^2 / (2 sigma^2)``), Gaussian encoder ``N(mu_k, s^2 I)`` per
    mode, ``N(0, I)`` prior, unconstrained decoder: ``u = 0`` (all ``mu_k = 0``) is a
    critical point whose Hessian in the means is ``\beta W - W C C^T W / \sigma^2``, so it is
    unstable (collapse is not optimal) for

    .. math:: \beta < \beta_{loc} = \lambda_{max}\big(\mathrm{Cov}_w(c)\big) / \sigma^2,
              \qquad \mathrm{Cov}_w(c) = \sum_k w_k (c_k - \bar c)(c_k - \bar c)^T,

    and a strict local minimum above. The global threshold is at least ``beta_loc``; it
    equals it for two modes with ``w_1 w_2 >= 1/5`` (`collapse_threshold`) and can be
    higher elsewhere (a jump; ``numerics.collapse_threshold`` computes it).

    Parameters
    ----------
    centres : (K,) or (K, D) array_like
        Mode centres (a 1-D array: scalar actions), ``K >= 2``, finite.
    sigma : float
        Decoder noise std ``> 0``.
    weights : (K,) array_like or None, optional
        Mode weights, positive, summing to 1 (default equal).

    Returns
    -------
    float
        ``beta_loc >= 0`` (``inf`` only when it exceeds ``1.8e308``).

    Raises
    ------
    ValueError
        Fewer than 2 centres, non-finite centres, weights of the wrong length, both ``K``
        and ``D`` above 4096 (the eigenproblem's size).
    TypeError
        Non-real or SymPy input.

    Notes
    -----
    Second-order expansion of the objective at ``mu = 0`` (docs/theory.md, L4, "any mode
    geometry"): the posterior ``pi_k(z) = w_k (1 + z mu_k / s^2) + O(mu^2)`` gives a
    reconstruction gain ``|\sum_k w_k mu_k (c_k - \bar c)|^2 / (2 sigma^2)`` against the KL
    cost ``beta \sum_k w_k mu_k^2 / 2``. Equidistant formulas do not apply to collinear
    modes: four collinear modes at -3, -1, 1, 3 with ``sigma = 1`` give 5.

    References
    ----------
    docs/theory.md, L4; Lucas et al. 2019 (linear VAE); Dang et al., ICLR 2024.

    Examples
    --------
    >>> import theory
    >>> round(theory.collapse_threshold_local([-3.0, -1.0, 1.0, 3.0], 1.0), 10)
    5.0
    >>> round(theory.collapse_threshold_local([[-1.0, 0.0], [1.0, 0.0]], 1.0), 10)  # Delta^2/4
    1.0
    """
    if _args.is_symbolic(centres, sigma):
        raise TypeError("collapse_threshold_local takes numbers (an eigenvalue); for two "
                        "modes, collapse_threshold gives the SymPy expression")
    c = _args.real_array(centres, "centres")
    if c.ndim == 1:
        c = c[:, None]
    if c.ndim != 2 or c.shape[0] < 2 or c.shape[1] < 1:
        raise ValueError(f"centres must have shape [K] or [K, D] with K >= 2, got {c.shape}")
    if not np.all(np.isfinite(c)):
        raise ValueError("centres must be finite")
    K, D = c.shape
    if min(K, D) > _MAX_GRAM:
        raise ValueError(f"centres must have K <= {_MAX_GRAM} or D <= {_MAX_GRAM} (the "
                         f"eigenproblem has size min(K, D)), got {c.shape}")
    s = _args.positive(sigma, "sigma")
    if np.ndim(s) != 0:
        raise ValueError("sigma must be a scalar")
    w = np.full(K, 1.0 / K) if weights is None else _args.weight_vector(weights, "weights")
    if w.size != K:
        raise ValueError(f"weights must have one weight per centre ({K}), got {w.size}")
    scale = float(np.max(np.abs(c)))
    if scale == 0:
        return 0.0
    x = c / scale
    x = (x - w @ x) * np.sqrt(w)[:, None]            # rows sqrt(w_k) (c_k - cbar) / scale
    gram = x @ x.T if K <= D else x.T @ x            # same non-zero spectrum
    lam = float(np.linalg.eigvalsh(gram)[-1])
    if lam <= 0:      # coincident centres: nothing to encode (and no 0 * inf below)
        return 0.0
    with np.errstate(over="ignore"):
        return float(lam * np.square(scale / s))


# Quadrature for g(u) = E sech^2(u^2 + u xi). For small u the integrand is a smooth
# function of xi: Gauss-Hermite (probabilists') is exact to ~1e-16 for u <= 0.5. For
# larger u, sech^2 becomes a narrow peak in xi that fixed Hermite nodes miss (relative
# error 1e-3 at u = 3 with 80 nodes), so we change variables to x = u^2 + u xi and use
# the trapezoidal rule on sech^2(x) N(x; u^2, u^2) over |x| <= 20 (sech^2(20) < 2e-17):
# both factors are analytic in a strip, so the rule converges geometrically (sampling
# error ~ exp(-pi^2 / h) from sech^2 and exp(-2 pi^2 u^2 / h^2) from the Gaussian; both
# below 1e-20 for h = 0.2, u > 0.5). Beyond u = 40, g < sqrt(pi/2) e^{-800}/40: 0.
_GH_NODES, _GH_WEIGHTS = np.polynomial.hermite_e.hermegauss(60)
_GH_WEIGHTS = _GH_WEIGHTS / math.sqrt(2.0 * math.pi)
_TRAP_STEP = 0.2
_TRAP_X = np.linspace(-20.0, 20.0, 201)
_TRAP_SECH2 = _TRAP_STEP / np.cosh(_TRAP_X) ** 2
_SMALL_U = 0.5
_HUGE_U = 40.0
_CHUNK = 4096  # elements per block: bounds the (elements x nodes) temporaries


def _mmse_block(u: np.ndarray) -> np.ndarray:
    out = np.zeros_like(u)
    small = u <= _SMALL_U
    if np.any(small):
        us = u[small][:, None]
        out[small] = np.sum(_GH_WEIGHTS / np.cosh(us * us + us * _GH_NODES) ** 2, axis=-1)
    middle = ~small & (u <= _HUGE_U)
    if np.any(middle):
        ul = u[middle][:, None]
        z = (_TRAP_X - ul * ul) / ul
        out[middle] = np.sum(_TRAP_SECH2 * np.exp(-0.5 * z * z), axis=-1) / (
            ul[:, 0] * math.sqrt(2.0 * math.pi))
    return out


def _mmse(u: np.ndarray) -> np.ndarray:
    flat = np.abs(u).ravel()
    out = np.concatenate([_mmse_block(flat[i:i + _CHUNK])
                          for i in range(0, flat.size, _CHUNK)] or [flat])
    return out.reshape(u.shape)


# log g(u) for large u, where g underflows: with x = u^2 + u xi,
# g(u) = e^{-u^2/2} / (u sqrt(2 pi)) * int sech^2(x) e^{x - x^2/(2 u^2)} dx, and the integral
# (pi at u = inf) is analytic and decays like e^{-|x|}: the trapezoidal rule on [-15, 45]
# (truncation below 1e-19 relative) converges geometrically.
_TAIL_STEP = 0.1
_TAIL_X = np.arange(-15.0, 45.0 + _TAIL_STEP / 2, _TAIL_STEP)
_TAIL_LOG_SECH2 = 2 * (math.log(2.0) - np.abs(_TAIL_X) - np.log1p(np.exp(-2 * np.abs(_TAIL_X))))


def _log_mmse(u: np.ndarray) -> np.ndarray:
    """``log g(u)``: from `_mmse` where ``g > 1e-300``, from the factored tail form beyond."""
    au = np.abs(np.atleast_1d(np.asarray(u, dtype=float)))
    g = _mmse(au)
    with np.errstate(divide="ignore"):
        out = np.log(g)
    far = g <= 1e-300
    if np.any(far):
        uf = au[far][:, None]
        terms = _TAIL_LOG_SECH2 + _TAIL_X - _TAIL_X**2 / (2 * uf * uf)
        top = terms.max(axis=1, keepdims=True)
        log_integral = top[:, 0] + np.log(np.sum(np.exp(terms - top), axis=1) * _TAIL_STEP)
        out[far] = -0.5 * uf[:, 0] ** 2 - np.log(uf[:, 0] * math.sqrt(2 * math.pi)) + log_integral
    return out.reshape(np.shape(u))


def binary_channel_mmse(u: Any) -> Any:
    r"""``g(u) = 1 - E tanh^2(u^2 + u xi) = E sech^2(u^2 + u xi)``, ``xi ~ N(0, 1)``.

    The minimum mean squared error of estimating a uniform sign ``M in {-1, +1}`` from
    ``Y = u M + xi`` (signal-to-noise ratio ``u^2``): ``E[M | Y] = tanh(u Y)``. In L4 it is
    the reconstruction error of the optimal decoder, in units of ``(Delta/2)^2``.

    Parameters
    ----------
    u : float or array_like
        The encoder's signal-to-noise amplitude (any finite real), any shape.

    Returns
    -------
    float or ndarray
        ``g(u)`` in ``[0, 1]``, shape of ``u``; SymPy in -> the defining integral.

    Raises
    ------
    ValueError, TypeError
        Infinite, NaN or non-real ``u``.

    Notes
    -----
    ``g(0) = 1``, ``g(u) = 1 - u^2 + u^4 + O(u^6)``, decreasing in ``|u|``,
    ``g(u) >= (1 + 2u^2)^{-1/2} exp(-u^4 / (1 + 2u^2))``, ``g(u) ~ sqrt(pi/2) e^{-u^2/2}/u``.
    Absolute error below 1e-15 against adaptive quadrature for ``|u| <= 12``
    (Gauss-Hermite with 60 nodes for ``|u| <= 0.5``, the trapezoidal rule after a change
    of variables above); 0 beyond ``|u| = 40`` (below ``1e-340``).

    References
    ----------
    docs/theory.md, L4; Guo, Shamai & Verdu 2005.

    Examples
    --------
    >>> import theory
    >>> round(theory.binary_channel_mmse(0.0), 12)
    1.0
    >>> round(theory.binary_channel_mmse(1.0), 4)
    0.4496
    """
    a = _args.finite(u, "u")
    if _args.is_symbolic(a):
        sp = _sympy()
        x = sp.Dummy("xi", real=True)
        return 1 - sp.Integral(sp.tanh(a**2 + a * x) ** 2 * sp.exp(-x**2 / 2)
                               / sp.sqrt(2 * sp.pi), (x, -sp.oo, sp.oo))
    return _args.scalar_out(_mmse(np.asarray(a, dtype=float)))


def _log1p_square(u: np.ndarray) -> np.ndarray:
    """``log(1 + u^2)`` without overflow (``2 log|u| + log1p(u^-2)`` for ``|u| > 1``)."""
    au = np.abs(u)
    with np.errstate(divide="ignore", over="ignore"):
        big = 2 * np.log(au) + np.log1p(1.0 / np.square(np.maximum(au, 1.0)))
        return np.where(au > 1, big, np.log1p(np.square(au)))


def collapse_objective(u: Any, beta: Any, separation: Any, sigma: Any) -> Any:
    r"""L4: the CVAE objective reduced to the encoder's signal-to-noise ratio ``u = m/s``.

    .. math:: J(u) = \frac{\Delta^2}{8\sigma^2} g(u) + \frac{\beta}{2}\log(1 + u^2),
              \qquad g(u) = 1 - E\tanh^2(u^2 + u\xi),

    the negative ELBO (up to a constant) of two equal-weight point modes ``+-Delta/2``
    with encoder ``N(+-m, s^2)``, prior ``N(0, 1)``, the optimal decoder
    ``D(z) = (Delta/2) tanh(m z / s^2)`` and the optimal ``s^2 = 1/(1 + u^2)`` for given
    ``u``. Its global minimiser is ``u = 0`` iff ``beta >= collapse_threshold``.

    Parameters
    ----------
    u : float or array_like
        Signal-to-noise amplitude (finite real).
    beta : float or array_like
        ``beta >= 0``, finite.
    separation : float or array_like
        ``Delta > 0``, finite.
    sigma : float or array_like
        ``sigma > 0``, finite. All four broadcast.

    Returns
    -------
    float or ndarray
        ``J(u) >= 0``, broadcast shape; finite wherever the value is (``log(1 + u^2)`` and
        ``(Delta/sigma)^2 g`` formed without intermediate overflow).

    Raises
    ------
    ValueError, TypeError
        ``u`` or ``beta`` infinite, ``beta < 0``, ``separation`` or ``sigma`` not positive
        and finite, NaN, non-real input.

    References
    ----------
    docs/theory.md, L4 (the proof of the threshold).

    Examples
    --------
    >>> import theory
    >>> round(theory.collapse_objective(0.0, 10.0, 2.0, 1.0), 12)   # Delta^2 / (8 sigma^2)
    0.5
    """
    uu = _args.finite(u, "u")
    b = _args.nonnegative(beta, "beta")
    d = _args.positive(separation, "separation")
    s = _args.positive(sigma, "sigma")
    if _symbolic(u=uu, beta=b, separation=d, sigma=s):
        uu, b, d, s = _args.sympify(uu, b, d, s)
        sp = _sympy()
        return (d**2 / (8 * s**2) * binary_channel_mmse(uu)
                + b / 2 * sp.log(1 + uu**2))

    def value():
        u_arr = np.asarray(uu, dtype=float)
        g = _mmse(u_arr)
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            coef = np.square(np.divide(d, s)) / 8.0
            direct = coef * g
            # Past Delta/sigma ~ 1e154 or where g underflows, the product in log space (log
            # of each factor is finite: no inf * 0).
            log_recon = (2 * (np.log(d) - np.log(s)) - math.log(8.0) + _log_mmse(u_arr))
            recon = np.where(np.isfinite(coef) & (g > 1e-300), direct, np.exp(log_recon))
            return recon + np.multiply(b, 0.5) * _log1p_square(u_arr)

    return _args.scalar_out(_named(value, u=uu, beta=b, separation=d, sigma=s))


def collapsed_directions(eigenvalues: Any, beta: Any, decoder_noise_var: Any) -> Any:
    r"""L4, linear conditional VAE: which latent directions collapse.

    With ``theta_i`` the eigenvalues of the residual covariance of the actions given the
    observation, a linear decoder with noise variance ``eta_dec^2`` and KL weight ``beta``,
    latent direction ``i`` collapses (its encoder and decoder weights are zero at every
    global optimum) iff

    .. math:: \theta_i \le \beta\,\eta_{dec}^2 .

    Parameters
    ----------
    eigenvalues : float or array_like
        ``theta_i >= 0``, any shape.
    beta : float or array_like
        ``beta > 0``.
    decoder_noise_var : float or array_like
        ``eta_dec^2 > 0``. All broadcast.

    Returns
    -------
    bool or ndarray of bool
        ``True`` = collapsed, broadcast shape; SymPy in -> the relational.

    Raises
    ------
    ValueError, TypeError
        Negative ``eigenvalues``, ``beta`` or ``decoder_noise_var`` not positive, infinite
        values, NaN, non-real input.

    References
    ----------
    docs/theory.md, L4; Lucas et al. 2019; Dang et al., ICLR 2024 (conditional case).

    Examples
    --------
    >>> import theory
    >>> theory.collapsed_directions([0.5, 2.0, 8.0], beta=1.0, decoder_noise_var=1.0)
    array([ True, False, False])
    """
    t = _args.nonnegative(eigenvalues, "eigenvalues")
    b = _args.positive(beta, "beta")
    v = _args.positive(decoder_noise_var, "decoder_noise_var")
    if _symbolic(eigenvalues=t, beta=b, decoder_noise_var=v):
        t, b, v = _args.sympify(t, b, v)
        return _sympy().Le(t, b * v)
    with np.errstate(over="ignore"):
        out = _named(lambda: np.less_equal(t, np.multiply(b, v)), eigenvalues=t, beta=b,
                     decoder_noise_var=v)
    return bool(out) if np.ndim(out) == 0 else out


# ---------------------------------------------------------------------------------------
# L5: prior coverage
# ---------------------------------------------------------------------------------------

def prior_tv_bound(marginal_kl: Any) -> Any:
    r"""L5: deployment with ``z ~ p`` instead of ``qbar`` changes any probability by at most

    .. math:: TV(p, \bar q) \le \min\Big(\sqrt{KL(\bar q\|p)/2},\;
              \sqrt{1 - e^{-KL(\bar q\|p)}}\Big), \qquad KL(\bar q \| p) = R - I(A; Z).

    Parameters
    ----------
    marginal_kl : float or array_like
        ``KL(qbar || p) >= 0`` (nats, ``inf`` allowed), any shape; see `rate_decomposition`.

    Returns
    -------
    float or ndarray
        The bound in ``[0, 1]``, shape of ``marginal_kl``.

    Raises
    ------
    ValueError, TypeError
        Negative, NaN or non-real input.

    Notes
    -----
    Pinsker, as in the paper; Bretagnolle-Huber added (it wins for ``KL > 1.6``).

    References
    ----------
    docs/theory.md, L5 (Pinsker and Bretagnolle-Huber).

    Examples
    --------
    >>> import theory
    >>> theory.prior_tv_bound(0.5)
    0.5
    """
    k = _args.nonnegative_or_inf(marginal_kl, "marginal_kl")
    if _args.is_symbolic(k):
        sp = _sympy()
        return sp.Min(sp.sqrt(k / 2), sp.sqrt(1 - sp.exp(-k)))
    return _args.scalar_out(np.minimum(np.sqrt(np.divide(k, 2.0)),
                                       np.sqrt(-np.expm1(np.negative(k)))))


def _kl_bin_log(t: np.ndarray, m: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``kl_bin(m || m e^{-t}) - target``, increasing in ``t >= 0``.

    Written as ``m t - (1-m) log1p(m (1 - e^{-t}) / (1-m))`` so that the error is
    ``O(eps * m t)`` rather than ``O(eps)``: small budgets keep ``c*`` accurate.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        rest = special.xlog1py(1.0 - m, -m * np.expm1(-t) / (1.0 - m))
    return m * t - np.where(m < 1.0, rest, 0.0) - target


# Past t = 1600, c = m e^{-t} is 0 in float64 for every m <= 1.
_MAX_LOG_RATIO = 1600.0


def min_prior_coverage(marginal_kl: Any, posterior_mass: Any) -> Any:
    r"""L5 (sharp): the least prior mass of a latent region the decoder was trained on.

    Data processing for KL through the indicator of ``C``: if ``qbar(C) >= m`` then

    .. math:: p(C) \ge c^* = \min\{c \in [0, m] : kl_{bin}(m \| c) \le KL(\bar q\|p)\},

    ``kl_bin(x||y) = x log(x/y) + (1-x) log((1-x)/(1-y))``; ``m = 1`` gives
    ``c* = exp(-KL)``.

    Parameters
    ----------
    marginal_kl : float or array_like
        ``KL(qbar || p) >= 0`` (nats, ``inf`` allowed), any shape.
    posterior_mass : float or array_like
        ``m = qbar(C)`` in ``[0, 1]`` (``1 - eta``); broadcasts with ``marginal_kl``.

    Returns
    -------
    float or ndarray
        ``c*`` in ``[0, m]``, broadcast shape (0 where it is below ``1e-308``); relative error
        below ``1e-12`` against 50-digit arithmetic (``KL`` from ``1e-8`` to ``300``). The
        scalar and array paths agree.

    Raises
    ------
    ValueError, TypeError
        Out-of-range, NaN, non-real or SymPy input.

    Notes
    -----
    Tight: attained by ``p`` and ``qbar`` that agree up to a factor inside ``C`` and inside
    its complement.

    References
    ----------
    docs/theory.md, L5 (the sharp region form).

    Examples
    --------
    >>> import theory
    >>> round(theory.min_prior_coverage(0.5, 0.95), 4)
    0.497
    """
    if _args.is_symbolic(marginal_kl, posterior_mass):
        raise _no_closed_form("min_prior_coverage", "kl_bin(posterior_mass || c) = marginal_kl")
    k = _args.nonnegative_or_inf(marginal_kl, "marginal_kl")
    m = _args.probability(posterior_mass, "posterior_mass")
    k, m = _named(lambda: np.broadcast_arrays(np.asarray(k, dtype=float),
                                              np.asarray(m, dtype=float)),
                  marginal_kl=k, posterior_mass=m)
    # kl_bin(1 || c) = -log c: closed form at m = 1.
    out = np.where(k == 0, m, np.where(m == 1.0, np.exp(-k), 0.0))
    inside = (k > 0) & np.isfinite(k) & (m > 0) & (m < 1)
    if np.any(inside):
        ki, mi = k[inside], m[inside]
        # Upper ends for t: kl_bin(m || m e^{-t}) >= m t - 1/e gives (KL + 1/e)/m + 1, and
        # Pinsker (kl_bin(m || c) >= 2 (m - c)^2) gives -log(1 - sqrt(KL/2)/m), which
        # keeps the bracket's relative width O(1) for small budgets. Both capped where c
        # underflows, so the bracket stays finite for any KL and m.
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            gap = np.sqrt(ki / 2) / mi
            pinsker = np.where(gap < 1, -np.log1p(-np.minimum(gap, 1.0)), np.inf)
            hi = np.minimum(np.minimum((ki + 1.0 / math.e) / mi + 1.0, pinsker),
                            _MAX_LOG_RATIO)
        t = _root(_kl_bin_log, np.zeros_like(ki), hi, args=(mi, ki))
        out[inside] = mi * np.exp(-t)
    return _args.scalar_out(out)


# ---------------------------------------------------------------------------------------
# ACT loss convention
# ---------------------------------------------------------------------------------------

def _chunk_sizes(chunk_length: Any, action_dim: Any, laplace_scale: Any):
    h = _args.positive(chunk_length, "chunk_length")
    d = _args.positive(action_dim, "action_dim")
    for value, name in ((h, "chunk_length"), (d, "action_dim")):
        if _args.is_symbolic(value):
            _args.symbolic_integer(value, name, 1)
        elif not np.all(np.equal(np.mod(value, 1.0), 0.0)):
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return h, d, _args.positive(laplace_scale, "laplace_scale")


def _act_weight(name: str, weight: Any, chunk_length: Any, action_dim: Any, laplace_scale: Any,
                *, effective: bool) -> Any:
    """``w H d / b`` (``effective``) or its inverse ``w b / (H d)``; ``w`` is ``weight``,
    checked under its public ``name``."""
    w = _args.nonnegative(weight, name)
    h, d, b = _chunk_sizes(chunk_length, action_dim, laplace_scale)
    values = {name: w, "chunk_length": h, "action_dim": d, "laplace_scale": b}
    if _symbolic(**values):
        w, h, d, b = map(_exact, (w, h, d, b))
        return w * h * d / b if effective else w * b / (h * d)
    up, down = ((w, h, d), (b,)) if effective else ((w, b), (h, d))
    return _args.scalar_out(_named(lambda: _scaled_product(up, down), **values))


def act_effective_kl_weight(kl_weight: Any, chunk_length: Any, action_dim: Any,
                            laplace_scale: Any = 1.0) -> Any:
    r"""ACT's ``kl_weight`` as the ``beta`` of a per-chunk Laplace likelihood.

    ACT (Zhao et al. 2023; LeRobot) minimises ``mean_{H d} |a - D(z)| + w KL`` with the L1
    error averaged over the ``H * action_dim`` chunk elements and the KL summed over
    latent dimensions. A Laplace likelihood with scale ``b`` per element has negative
    log-likelihood ``(H d / b) mean |a - D| + const``, so ACT's loss is proportional to the
    beta-ELBO with

    .. math:: \beta_{eff} = \frac{w\, H\, d}{b}

    (ALOHA: ``10 * 100 * 14 = 14,000``).

    Parameters
    ----------
    kl_weight : float or array_like
        ACT's ``w >= 0``, finite.
    chunk_length : int or array_like
        ``H``, a positive integer.
    action_dim : int or array_like
        ``d``, a positive integer.
    laplace_scale : float or array_like, optional
        ``b > 0``. All broadcast.

    Returns
    -------
    float or ndarray
        ``beta_eff``, broadcast shape; formed without intermediate overflow (``inf`` only
        when the value exceeds ``1.8e308``).

    Raises
    ------
    ValueError, TypeError
        Out-of-range, non-integer sizes, NaN or non-real arguments.

    References
    ----------
    docs/theory.md, L4 ("Loss conventions"); Zhao et al., RSS 2023.

    Examples
    --------
    >>> import theory
    >>> theory.act_effective_kl_weight(10, 100, 14)
    14000.0
    """
    return _act_weight("kl_weight", kl_weight, chunk_length, action_dim, laplace_scale,
                       effective=True)


def act_kl_weight(effective_kl_weight: Any, chunk_length: Any, action_dim: Any,
                  laplace_scale: Any = 1.0) -> Any:
    r"""Inverse of `act_effective_kl_weight`: ``w = beta_eff b / (H d)``.

    Parameters
    ----------
    effective_kl_weight : float or array_like
        ``beta_eff >= 0``, finite.
    chunk_length, action_dim : int or array_like
        Positive integers.
    laplace_scale : float or array_like, optional
        ``b > 0``. All broadcast.

    Returns
    -------
    float or ndarray
        ACT's ``kl_weight``, broadcast shape (no intermediate overflow).

    Raises
    ------
    ValueError, TypeError
        As `act_effective_kl_weight`.

    References
    ----------
    docs/theory.md, L4 ("Loss conventions").

    Examples
    --------
    >>> import theory
    >>> theory.act_kl_weight(14000, 100, 14)
    10.0
    >>> theory.act_kl_weight(theory.act_effective_kl_weight(0.3, 50, 7), 50, 7)    # round trip
    0.3
    """
    return _act_weight("effective_kl_weight", effective_kl_weight, chunk_length, action_dim,
                       laplace_scale, effective=False)


# ---------------------------------------------------------------------------------------
# L6: latent policies are transport maps
# ---------------------------------------------------------------------------------------

def decoder_max_mode_mass(decoder_lipschitz: Any, separation: Any, n_modes: Any = 2,
                          output_noise_std: Any = 0.0) -> Any:
    r"""L6: the largest least-covered mode mass of a latent policy sampled from ``N(0, I)``.

    Sampling ``z ~ N(0, I_k)`` and ``a = D(z) + s eps``, ``eps ~ N(0, I_D)``, with ``D``
    ``L``-Lipschitz in ``z`` is the push-forward of ``N(0, I_{k+D})`` by
    ``(z, eps) -> D(z) + s eps``, which is ``sqrt(L^2 + s^2)``-Lipschitz (Cauchy-Schwarz).
    T2/T3 then give, for ``K`` modes at pairwise distance ``>= Delta``,

    .. math:: \min_k m_k \le \Phi\Big(\Phi^{-1}(1/K) - \frac{\Delta}{2\sqrt{L^2 + s^2}}\Big).

    Parameters
    ----------
    decoder_lipschitz : float or array_like
        ``L > 0`` (``inf`` allowed).
    separation : float or array_like
        ``Delta >= 0``, finite.
    n_modes : int, optional
        ``K``, ``2 <= K <= 2**53``.
    output_noise_std : float or array_like, optional
        ``s >= 0``, finite. ``L``, ``Delta`` and ``s`` broadcast.

    Returns
    -------
    float or ndarray
        The bound on ``min_k m_k`` in ``[0, 1/K]``, broadcast shape of all three arrays
        (also when ``s`` is all zeros).

    Raises
    ------
    ValueError, TypeError
        ``decoder_lipschitz <= 0``, negative ``separation`` or ``output_noise_std``,
        ``n_modes`` not an integer in ``[2, 2**53]``, NaN, non-real input.

    Notes
    -----
    ``s = 0`` is the paper's L6; ``s > 0`` (decoder output noise) is our extension. With a
    prior ``N(0, r^2 I)`` pass ``r L`` as the Lipschitz constant.

    References
    ----------
    docs/theory.md, L6 and Part T (T2/T3).

    Examples
    --------
    >>> import theory
    >>> round(theory.decoder_max_mode_mass(1.0, 2.0), 4)
    0.1587
    >>> round(theory.decoder_max_mode_mass(1.0, 2.0, output_noise_std=0.5), 4)
    0.1855
    """
    from theory.transport import max_mode_mass

    lip = _args.positive_or_inf(decoder_lipschitz, "decoder_lipschitz")
    sep = _args.nonnegative(separation, "separation")
    noise = _args.nonnegative(output_noise_std, "output_noise_std")
    if _symbolic(decoder_lipschitz=lip, separation=sep, output_noise_std=noise):
        lip, sep, noise = _args.sympify(lip, sep, noise)
        sp = _sympy()
        combined = lip if noise == 0 else sp.sqrt(lip**2 + noise**2)
        return max_mode_mass(combined, sep, n_modes)
    with np.errstate(over="ignore"):    # hypot overflows only when the constant does
        combined = _named(lambda: np.hypot(lip, noise), decoder_lipschitz=lip,
                          output_noise_std=noise)
    return _named(lambda: max_mode_mass(_args.scalar_out(combined), sep, n_modes),
                  decoder_lipschitz=combined, separation=sep)


# ---------------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------------

def _symbols(*names: str, **assumptions: bool):
    sp = _sympy()
    return sp.symbols(names, **assumptions)


def _l1():
    sp = _sympy()
    kl, rate, mi = _symbols("marginal_kl", "rate", "mutual_information", nonnegative=True)
    return sp.Eq(kl, rate_decomposition(rate, mi))


def _l2():
    sp = _sympy()
    k = sp.Symbol("K", integer=True, positive=True)
    w = sp.IndexedBase("w")
    j = sp.Symbol("k", integer=True)
    rate, error = _symbols("rate", "error", nonnegative=True)
    entropy = -sp.Sum(w[j] * sp.log(w[j]), (j, 1, k))
    phi = -error * sp.log(error) - (1 - error) * sp.log(1 - error) + error * sp.log(k - 1)
    return sp.Ge(rate, entropy - phi)


def _l3():
    tv, eps = _symbols("tv", "eps", nonnegative=True)
    return _sympy().Le(tv, kl_tv_bound(eps))


def _l4():
    beta_star = _sympy().Symbol("beta_star", positive=True)
    separation, sigma = _symbols("separation", "sigma", positive=True)
    return _sympy().Eq(beta_star, collapse_threshold(separation, sigma))


def _l5():
    tv, kl = _symbols("tv", "marginal_kl", nonnegative=True)
    return _sympy().Le(tv, prior_tv_bound(kl))


def _l6():
    sp = _sympy()
    m_min = sp.Symbol("min_mode_mass", nonnegative=True)
    lip, separation = _symbols("decoder_lipschitz", "separation", positive=True)
    k = sp.Symbol("n_modes", integer=True, positive=True)
    phi_inv = sp.sqrt(2) * sp.erfinv(2 / k - 1)
    return sp.Le(m_min, (1 + sp.erf((phi_inv - separation / (2 * lip)) / sp.sqrt(2))) / 2)


PROPOSITIONS: tuple[Proposition, ...] = (
    Proposition(
        id="L1", title="rate decomposition", statement=_l1, evaluate=rate_decomposition,
        assumptions="encoder q(z|o,a), prior p(z|o), actions a ~ pi*(.|o); any latent space",
        extensions="",
        reference="docs/theory.md Part L1; Hoffman & Johnson 2016 (ELBO surgery); "
                  "Alemi et al. 2018",
    ),
    Proposition(
        id="L2", title="mode information (Fano)", statement=_l2,
        evaluate=fano_min_rate, related=(fano_min_error,),
        assumptions="K modes with weights w; any rule reading the mode from z errs with "
                    "probability <= error <= (K-1)/K",
        extensions="inverse fano_min_error",
        reference="docs/theory.md Part L2; Cover & Thomas Thm 2.10.1",
    ),
    Proposition(
        id="L3", title="pointwise regularization collapses modes", statement=_l3,
        evaluate=kl_tv_bound,
        related=(kl_tv_bound_exact, min_kl_for_tv, mode_recovery_accuracy,
                 mode_averaging_distance),
        assumptions="KL(q_a || p) <= eps and KL(q_a' || p) <= eps",
        extensions="exact curve kl_tv_bound_exact (tight; needs only the average KL, so the "
                   "rate suffices); mode averaging as an exact identity in TV(Q1, Q2)",
        reference="docs/theory.md Part L3; Pinsker; Bretagnolle & Huber 1979",
    ),
    Proposition(
        id="L4", title="collapse threshold", statement=_l4, evaluate=collapse_threshold,
        related=(collapse_threshold_local, collapse_objective, binary_channel_mmse,
                 collapsed_directions, act_effective_kl_weight, act_kl_weight),
        assumptions="two equal-weight point modes Delta apart; Gaussian decoder likelihood "
                    "N(D(z), sigma^2 I); Gaussian encoder; N(0, I) prior; unconstrained "
                    "decoder; collapse (u = 0 optimal) iff beta >= beta_star",
        extensions="global optimality proof via sech^2(x) >= exp(-x^2); unequal weights "
                   "w1 w2 Delta^2/sigma^2 (exact for w1 w2 >= 1/5); the local threshold "
                   "lambda_max(Cov_w(c))/sigma^2 for any mode geometry "
                   "(collapse_threshold_local); linear conditional case as "
                   "collapsed_directions",
        reference="docs/theory.md Part L4; Lucas et al. 2019; Dang et al. ICLR 2024",
    ),
    Proposition(
        id="L5", title="prior coverage", statement=_l5, evaluate=prior_tv_bound,
        related=(min_prior_coverage,),
        assumptions="deployment samples z ~ p(z|o) instead of qbar; tv = TV(p, qbar)",
        extensions="Bretagnolle-Huber branch; sharp region form min_prior_coverage",
        reference="docs/theory.md Part L5; Pinsker; data processing for KL",
    ),
    Proposition(
        id="L6", title="latent policies are transport maps", statement=_l6,
        evaluate=decoder_max_mode_mass,
        assumptions="z ~ N(0, I); decoder L-Lipschitz in z; K modes pairwise >= Delta apart",
        extensions="decoder output noise s: L -> sqrt(L^2 + s^2)",
        reference="docs/theory.md Part L6 and Part T2/T3",
    ),
)

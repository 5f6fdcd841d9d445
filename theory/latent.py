"""Part L: latent-variable policies (CVAE / ACT-style), propositions L1..L6.

A latent policy has a prior ``p(z|o)``, an encoder ``q(z|o,a)`` and a decoder
``a = D(o, z)`` plus output noise, trained on
``E_q[loss(a, D(o, z))] + beta KL(q(z|o,a) || p(z|o))``. The rate is
``R = E_{a ~ pi*} KL(q_a || p)``, the aggregate posterior ``qbar = E_a q_a``, and ``M``
is the mode index of ``a``. All information quantities are in nats.

Every public function takes floats or NumPy arrays (broadcast; scalar in -> float out)
and, where the result has a closed form, SymPy symbols (expression out). The functions
that invert a transcendental equation (``kl_tv_bound_exact``, ``fano_min_error``,
``min_prior_coverage``, the exact forms of L3's consequences) have no closed form and
raise ``TypeError`` on SymPy input; their defining equations are in the docstrings and
in ``docs/theory.md (Part L)``.

Extensions beyond the paper (proved in ``docs/theory.md (Part L)``): the exact
KL-to-TV curve ``kl_tv_bound_exact`` (tight, and it needs only the rate, not a pointwise
KL bound); the exact identity behind mode averaging; the global proof of the L4
threshold; the output-noise form of L6.
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


def _root(f, lo, hi, args=()) -> np.ndarray:
    """Elementwise root of an increasing ``f`` on ``[lo, hi]``.

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


# ---------------------------------------------------------------------------------------
# L1: rate decomposition
# ---------------------------------------------------------------------------------------

def rate_decomposition(rate: Any, mutual_information: Any) -> Any:
    r"""L1: the marginal KL of the aggregate posterior, ``KL(qbar || p) = R - I_q(A; Z)``.

    Statement (Hoffman & Johnson 2016, "ELBO surgery"; Alemi et al. 2018): for an encoder
    ``q(z|a)``, a prior ``p(z)`` and ``qbar = E_a q(.|a)``,

    .. math:: R = E_a KL(q(\cdot|a) \| p) = I_q(A; Z) + KL(\bar q \| p),

    hence ``I(M; Z) <= I(A; Z) <= R`` for any function ``M`` of ``A`` (data processing).

    Args:
        rate: ``R >= 0`` (nats), any shape.
        mutual_information: ``I_q(A; Z)`` with ``0 <= I <= R``, broadcastable with ``rate``.

    Returns:
        ``KL(qbar || p) = R - I`` (nats), broadcast shape.

    Raises:
        ValueError: if ``rate < 0`` or ``mutual_information`` is outside ``[0, rate]``
            (by L1 that cannot happen for exact values; with estimates, clip them first).
    """
    if _args.is_symbolic(rate, mutual_information):
        return rate - mutual_information
    r = _args.nonnegative(rate, "rate")
    i = _args.nonnegative(mutual_information, "mutual_information")
    bad = np.asarray(i) > np.asarray(r)
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
    if _args.is_symbolic(*np.ravel(np.asarray(weights, dtype=object))):
        sp = _sympy()
        ws = list(np.ravel(np.asarray(weights, dtype=object)))
        if len(ws) < 2:
            raise ValueError(f"weights must hold at least 2 weights, got {len(ws)}")
        return -sum(w * sp.log(w) for w in ws), len(ws), True
    w = _args.weight_vector(weights, "weights")
    return float(-np.sum(special.xlogy(w, w))), w.size, False


def _fano_function(delta: np.ndarray, k: int) -> np.ndarray:
    """``phi(delta) = h(delta) + delta log(K - 1)``, increasing on ``[0, (K-1)/K]``."""
    return special.entr(delta) + special.entr(1.0 - delta) + delta * math.log(k - 1)


def fano_min_rate(weights: Any, error: Any) -> Any:
    r"""L2: the rate needed to read the mode from ``z`` with error at most ``delta``.

    Statement (Fano's inequality, Cover & Thomas Thm 2.10.1, with L1): if a rule
    ``\hat M(z)`` errs with probability ``P_e <= delta`` on modes with weights ``w``
    (``K`` modes), then

    .. math:: R \ge I(M; Z) \ge \Big[H(w) - h(\delta) - \delta \log(K-1)\Big]_+ ,
              \qquad \delta \le (K-1)/K,

    and the bound is 0 for ``delta >= (K-1)/K`` (``h`` the binary entropy, nats). It is
    attained by the K-ary symmetric channel for uniform ``w`` (and, by the Hamming
    rate-distortion function, whenever ``delta <= (K-1) min_k w_k``).

    Args:
        weights: mode weights, 1-D of length ``K >= 2``, positive, summing to 1 (or SymPy
            symbols).
        error: ``delta`` in ``[0, 1]``, any shape.

    Returns:
        the minimum rate (nats), shape of ``error``.
    """
    entropy, k, symbolic = _weights(weights)
    if symbolic or _args.is_symbolic(error):
        sp = _sympy()
        d = sp.sympify(error)
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

    Args:
        weights: mode weights, 1-D of length ``K >= 2``, positive, summing to 1.
        rate: ``R >= 0`` (nats; ``inf`` allowed), any shape.

    Returns:
        the error lower bound, shape of ``rate``.
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

    Statement (Pinsker; Bretagnolle & Huber 1979; triangle inequality; TV <= 1): if
    ``KL(q_a || p) <= eps`` and ``KL(q_{a'} || p) <= eps`` then

    .. math:: TV(q_a, q_{a'}) \le \tau(\epsilon) =
              \min\Big(1,\; 2\min\big(\sqrt{\epsilon/2}, \sqrt{1 - e^{-\epsilon}}\big)\Big).

    This is a corollary of the exact curve :func:`kl_tv_bound_exact` (always larger or
    equal); ``TV`` is ``sup_A |P(A) - Q(A)|`` in ``[0, 1]``.

    Args:
        eps: the KL budget ``>= 0`` (nats; ``inf`` allowed), any shape.

    Returns:
        ``tau(eps)`` in ``[0, 1]``, shape of ``eps``.
    """
    if _args.is_symbolic(eps):
        sp = _sympy()
        return sp.Min(1, 2 * sp.Min(sp.sqrt(eps / 2), sp.sqrt(1 - sp.exp(-eps))))
    e = _args.nonnegative_or_inf(eps, "eps")
    tau = 2.0 * np.minimum(np.sqrt(np.divide(e, 2.0)), np.sqrt(-np.expm1(np.negative(e))))
    return _args.scalar_out(np.minimum(1.0, tau))


def min_kl_for_tv(tv: Any) -> Any:
    r"""The exact KL budget two distributions need to be ``tv`` apart (inverse of L3).

    .. math:: f(t) = \tfrac12\big[(1+t)\log(1+t) + (1-t)\log(1-t)\big]
                   = \log 2 - h\big(\tfrac{1+t}{2}\big),

    the least value of ``max(KL(P||R), KL(Q||R))`` -- indeed of the average
    ``(KL(P||R) + KL(Q||R)) / 2`` -- over all ``P, Q, R`` with ``TV(P, Q) = t``
    (``docs/theory.md (Part L)``, L3-exact; attained by ``P, Q = Bernoulli((1 +- t)/2)``,
    ``R = Bernoulli(1/2)``). ``f(1) = log 2``.

    Args:
        tv: ``t`` in ``[0, 1]``, any shape.

    Returns:
        ``f(t)`` (nats), shape of ``tv``.
    """
    if _args.is_symbolic(tv):
        sp = _sympy()
        return ((1 + tv) * sp.log(1 + tv) + (1 - tv) * sp.log(1 - tv)) / 2
    t = _args.probability(tv, "tv")
    return _args.scalar_out(_kl_tv_curve(np.asarray(t, dtype=float)))


def kl_tv_bound_exact(eps: Any) -> Any:
    r"""L3 (exact, our extension): the largest ``TV(q_a, q_{a'})`` a KL budget allows.

    Statement: if ``(KL(q_a || p) + KL(q_{a'} || p)) / 2 <= eps`` (in particular if both
    are ``<= eps``) then ``TV(q_a, q_{a'}) <= tau*(eps)``, the root ``t`` of
    ``min_kl_for_tv(t) = eps`` (``tau* = 1`` for ``eps >= log 2``). Tight: equality for
    ``q_a, q_{a'} = Bernoulli((1 +- tau*)/2)``, ``p = Bernoulli(1/2)``. Always
    ``tau* <= kl_tv_bound(eps)``, with ``tau* = sqrt(2 eps) (1 - eps/6 + O(eps^2))``.

    Args:
        eps: the KL budget ``>= 0`` (nats; ``inf`` allowed), any shape.

    Returns:
        ``tau*(eps)`` in ``[0, 1]``, shape of ``eps``; relative error below ``1e-12``
        (checked against 400-digit arithmetic for ``eps`` from ``1e-250`` to ``log 2``).
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
    if exact:
        if _args.is_symbolic(eps):
            raise _no_closed_form(name + "(..., exact=True)",
                                  "((1+t)log(1+t) + (1-t)log(1-t))/2 = eps; pass exact=False "
                                  "for the closed-form Pinsker/Bretagnolle-Huber corollary")
        return kl_tv_bound_exact(eps)
    return kl_tv_bound(eps)


def mode_recovery_accuracy(eps: Any, *, exact: bool = True) -> Any:
    r"""L3: best accuracy of reading one of two equal-weight modes from ``z``.

    Statement: with two equal-weight modes and rate ``R <= eps`` (in particular when
    ``KL(q_a || p) <= eps`` for every ``a``), every rule ``\hat M(z)`` has

    .. math:: P(\hat M = M) \le \tfrac12\big(1 + \tau(\epsilon)\big),

    ``tau = kl_tv_bound_exact`` (``exact=True``, tight) or the paper's ``kl_tv_bound``
    (``exact=False``). Proof: the Bayes accuracy is ``(1 + TV(Q_1, Q_2))/2`` with
    ``Q_k = E[q_a | M = k]``, and ``(KL(Q_1||p) + KL(Q_2||p))/2 <= R`` by convexity.

    Args:
        eps: the KL budget (rate) ``>= 0``, nats, any shape.
        exact: use the exact curve (default) or the closed-form corollary.

    Returns:
        the accuracy bound in ``[1/2, 1]``, shape of ``eps``.
    """
    tau = _tau(eps, exact, "mode_recovery_accuracy")
    return (1 + tau) / 2 if _args.is_symbolic(tau) else _args.scalar_out((1.0 + tau) / 2.0)


def mode_averaging_distance(separation: Any, eps: Any, *, exact: bool = True) -> Any:
    r"""L3: a squared-loss decoder's mean distance from the modes (mode averaging).

    Statement: two equal-weight point modes ``Delta`` apart, rate ``R <= eps`` (in
    particular ``KL(q_a || p) <= eps`` for all ``a``), decoder ``D(z) = E[A | z]``
    (optimal for squared loss), ``z ~ qbar``:

    .. math:: E\,\mathrm{dist}\big(D(z), \{a_1, a_2\}\big)
              = \tfrac{\Delta}{2}\big(1 - TV(Q_1, Q_2)\big)
              \ge \tfrac{\Delta}{2}\big(1 - \tau(\epsilon)\big).

    The identity is exact (our extension); the bound is tight with ``exact=True``.

    Args:
        separation: ``Delta > 0``, broadcastable with ``eps``.
        eps: the KL budget (rate) ``>= 0``, nats.
        exact: use ``kl_tv_bound_exact`` (default) or the paper's ``kl_tv_bound``.

    Returns:
        the lower bound on the mean distance, broadcast shape.
    """
    if _args.is_symbolic(separation):
        return separation / 2 * (1 - _tau(eps, exact, "mode_averaging_distance"))
    s = _args.positive(separation, "separation")
    tau = _tau(eps, exact, "mode_averaging_distance")
    if _args.is_symbolic(tau):
        return s / 2 * (1 - tau)
    return _args.scalar_out(np.multiply(s, 1.0 - np.asarray(tau)) / 2.0)


# ---------------------------------------------------------------------------------------
# L4: collapse threshold
# ---------------------------------------------------------------------------------------

def collapse_threshold(separation: Any, sigma: Any) -> Any:
    r"""L4: the KL weight at which a CVAE on two point modes collapses its latent.

    Statement: two equal-weight point modes ``Delta`` apart, Gaussian decoder likelihood
    ``N(D(z), sigma^2 I)``, Gaussian encoder, ``N(0, I)`` prior, unconstrained decoder.
    The latent collapses (``u = 0`` minimises :func:`collapse_objective`, ``I(M;Z) = 0``)
    iff

    .. math:: \beta \ge \beta^* = \frac{\Delta^2}{4\sigma^2},

    the linear-VAE condition "variance <= beta sigma^2" (Lucas et al. 2019; Dang et al.
    2024) with the modes' variance ``(Delta/2)^2``. Proof (global, our extension) in
    ``docs/theory.md (Part L)``.

    Args:
        separation: ``Delta > 0``; ``sigma``: decoder noise std ``> 0``; broadcastable.

    Returns:
        ``beta*``, broadcast shape.
    """
    if _args.is_symbolic(separation, sigma):
        return separation**2 / (4 * sigma**2)
    d = _args.positive(separation, "separation")
    s = _args.positive(sigma, "sigma")
    return _args.scalar_out(np.square(d) / (4.0 * np.square(s)))


# Quadrature for g(u) = E sech^2(u^2 + u xi). For small u the integrand is a smooth
# function of xi: Gauss-Hermite (probabilists') is exact to ~1e-16 for u <= 0.5. For
# larger u, sech^2 becomes a narrow peak in xi that fixed Hermite nodes miss (relative
# error 1e-3 at u = 3 with 80 nodes), so we change variables to x = u^2 + u xi and use
# the trapezoidal rule on sech^2(x) N(x; u^2, u^2) over |x| <= 20 (sech^2(20) < 2e-17):
# both factors are analytic in a strip, so the rule converges geometrically (sampling
# error ~ exp(-pi^2 / h) from sech^2 and exp(-2 pi^2 u^2 / h^2) from the Gaussian; both
# below 1e-20 for h = 0.2, u > 0.5).
_GH_NODES, _GH_WEIGHTS = np.polynomial.hermite_e.hermegauss(60)
_GH_WEIGHTS = _GH_WEIGHTS / math.sqrt(2.0 * math.pi)
_TRAP_STEP = 0.2
_TRAP_X = np.linspace(-20.0, 20.0, 201)
_TRAP_SECH2 = _TRAP_STEP / np.cosh(_TRAP_X) ** 2
_SMALL_U = 0.5
_CHUNK = 4096  # elements per block: bounds the (elements x nodes) temporaries


def _mmse_block(u: np.ndarray) -> np.ndarray:
    out = np.empty_like(u)
    small = u <= _SMALL_U
    if np.any(small):
        us = u[small][:, None]
        out[small] = np.sum(_GH_WEIGHTS / np.cosh(us * us + us * _GH_NODES) ** 2, axis=-1)
    if np.any(~small):
        ul = u[~small][:, None]
        z = (_TRAP_X - ul * ul) / ul
        out[~small] = np.sum(_TRAP_SECH2 * np.exp(-0.5 * z * z), axis=-1) / (
            ul[:, 0] * math.sqrt(2.0 * math.pi))
    return out


def _mmse(u: np.ndarray) -> np.ndarray:
    flat = np.abs(u).ravel()
    out = np.concatenate([_mmse_block(flat[i:i + _CHUNK])
                          for i in range(0, flat.size, _CHUNK)] or [flat])
    return out.reshape(u.shape)


def binary_channel_mmse(u: Any) -> Any:
    r"""``g(u) = 1 - E tanh^2(u^2 + u xi) = E sech^2(u^2 + u xi)``, ``xi ~ N(0, 1)``.

    The minimum mean squared error of estimating a uniform sign ``M in {-1, +1}`` from
    ``Y = u M + xi`` (signal-to-noise ratio ``u^2``): ``E[M | Y] = tanh(u Y)``. In L4 it
    is the reconstruction error of the optimal decoder, in units of ``(Delta/2)^2``.
    Properties: ``g(0) = 1``, ``g(u) = 1 - u^2 + u^4 + O(u^6)``, decreasing in ``|u|``,
    ``g(u) >= (1 + 2u^2)^{-1/2} exp(-u^4 / (1 + 2u^2))``.

    Accuracy: absolute error below 1e-15 against adaptive quadrature for ``|u| <= 12``
    (Gauss-Hermite with 60 nodes for ``|u| <= 0.5``, the trapezoidal rule after a change
    of variables above); relative accuracy is lost only where ``g < 1e-30``.

    Args:
        u: the encoder's signal-to-noise amplitude (any real), any shape.

    Returns:
        ``g(u)`` in ``(0, 1]``, shape of ``u``; SymPy in -> the defining integral.
    """
    if _args.is_symbolic(u):
        sp = _sympy()
        x = sp.Dummy("xi", real=True)
        return 1 - sp.Integral(sp.tanh(u**2 + u * x) ** 2 * sp.exp(-x**2 / 2)
                               / sp.sqrt(2 * sp.pi), (x, -sp.oo, sp.oo))
    a = np.asarray(_args._check(u, "u", math.isfinite, np.isfinite, "finite"), dtype=float)
    return _args.scalar_out(_mmse(a))


def collapse_objective(u: Any, beta: Any, separation: Any, sigma: Any) -> Any:
    r"""L4: the CVAE objective reduced to the encoder's signal-to-noise ratio ``u = m/s``.

    .. math:: J(u) = \frac{\Delta^2}{8\sigma^2} g(u) + \frac{\beta}{2}\log(1 + u^2),
              \qquad g(u) = 1 - E\tanh^2(u^2 + u\xi),

    the negative ELBO (up to a constant) of two equal-weight point modes ``+-Delta/2``
    with encoder ``N(+-m, s^2)``, prior ``N(0, 1)``, the optimal decoder
    ``D(z) = (Delta/2) tanh(m z / s^2)`` and the optimal ``s^2 = 1/(1 + u^2)`` for given
    ``u``. Its global minimiser is ``u = 0`` iff ``beta >= collapse_threshold``.

    Args:
        u: signal-to-noise amplitude (real); ``beta >= 0``; ``separation > 0``;
            ``sigma > 0``; all broadcastable.

    Returns:
        ``J(u)``, broadcast shape.
    """
    if _args.is_symbolic(u, beta, separation, sigma):
        sp = _sympy()
        return (separation**2 / (8 * sigma**2) * binary_channel_mmse(u)
                + beta / 2 * sp.log(1 + u**2))
    b = _args.nonnegative(beta, "beta")
    d = _args.positive(separation, "separation")
    s = _args.positive(sigma, "sigma")
    g = binary_channel_mmse(u)
    uu = np.asarray(u, dtype=float)
    j = np.square(d) / (8.0 * np.square(s)) * g + np.multiply(b, 0.5) * np.log1p(uu * uu)
    return _args.scalar_out(j)


def collapsed_directions(eigenvalues: Any, beta: Any, decoder_noise_var: Any) -> Any:
    r"""L4, linear conditional VAE: which latent directions collapse.

    Statement (Lucas et al. 2019 for the linear VAE; Dang et al., ICLR 2024 for the
    conditional case): with ``theta_i`` the eigenvalues of the residual covariance of the
    actions given the observation, a linear decoder with noise variance ``eta_dec^2``
    and KL weight ``beta``, latent direction ``i`` collapses (its encoder and decoder
    weights are zero at every global optimum) iff

    .. math:: \theta_i \le \beta\,\eta_{dec}^2 .

    Args:
        eigenvalues: ``theta_i >= 0``, any shape; ``beta > 0``; ``decoder_noise_var``
            ``eta_dec^2 > 0``; broadcastable.

    Returns:
        boolean array (``True`` = collapsed), broadcast shape; a bool for scalars;
        SymPy in -> the relational.
    """
    if _args.is_symbolic(eigenvalues, beta, decoder_noise_var):
        return _sympy().Le(eigenvalues, beta * decoder_noise_var)
    t = _args.nonnegative(eigenvalues, "eigenvalues")
    b = _args.positive(beta, "beta")
    v = _args.positive(decoder_noise_var, "decoder_noise_var")
    out = np.less_equal(t, np.multiply(b, v))
    return bool(out) if np.ndim(out) == 0 else out


# ---------------------------------------------------------------------------------------
# L5: prior coverage
# ---------------------------------------------------------------------------------------

def prior_tv_bound(marginal_kl: Any) -> Any:
    r"""L5: deployment with ``z ~ p`` instead of ``qbar`` changes any probability by at most

    .. math:: TV(p, \bar q) \le \min\Big(\sqrt{KL(\bar q\|p)/2},\;
              \sqrt{1 - e^{-KL(\bar q\|p)}}\Big), \qquad KL(\bar q \| p) = R - I(A; Z)

    (Pinsker, as in the paper; Bretagnolle-Huber added, it wins for ``KL > 1.6``).

    Args:
        marginal_kl: ``KL(qbar || p) >= 0`` (nats, ``inf`` allowed), any shape; see
            :func:`rate_decomposition`.

    Returns:
        the bound in ``[0, 1]``, shape of ``marginal_kl``.
    """
    if _args.is_symbolic(marginal_kl):
        sp = _sympy()
        return sp.Min(sp.sqrt(marginal_kl / 2), sp.sqrt(1 - sp.exp(-marginal_kl)))
    k = _args.nonnegative_or_inf(marginal_kl, "marginal_kl")
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


def min_prior_coverage(marginal_kl: Any, posterior_mass: Any) -> Any:
    r"""L5 (sharp): the least prior mass of a latent region the decoder was trained on.

    Statement (data processing for KL through the indicator of ``C``): if
    ``qbar(C) >= m`` then

    .. math:: p(C) \ge c^* = \min\{c \in [0, m] : kl_{bin}(m \| c) \le KL(\bar q\|p)\},

    ``kl_bin(x||y) = x log(x/y) + (1-x) log((1-x)/(1-y))``. Tight: attained by ``p`` and
    ``qbar`` that agree up to a factor inside ``C`` and inside its complement. ``m = 1``
    gives ``c* = exp(-KL)``.

    Args:
        marginal_kl: ``KL(qbar || p) >= 0`` (nats, ``inf`` allowed), any shape.
        posterior_mass: ``m = qbar(C)`` in ``[0, 1]`` (``1 - eta``), broadcastable.

    Returns:
        ``c*`` in ``[0, m]``, broadcast shape; relative error below ``1e-12`` against
        50-digit arithmetic (``KL`` from ``1e-8`` to ``300``).
    """
    if _args.is_symbolic(marginal_kl, posterior_mass):
        raise _no_closed_form("min_prior_coverage", "kl_bin(posterior_mass || c) = marginal_kl")
    k = _args.nonnegative_or_inf(marginal_kl, "marginal_kl")
    m = _args.probability(posterior_mass, "posterior_mass")
    k, m = np.broadcast_arrays(np.asarray(k, dtype=float), np.asarray(m, dtype=float))
    # kl_bin(1 || c) = -log c: closed form at m = 1.
    out = np.where(k == 0, m, np.where(m == 1.0, np.exp(-k), 0.0))
    inside = (k > 0) & np.isfinite(k) & (m > 0) & (m < 1)
    if np.any(inside):
        ki, mi = k[inside], m[inside]
        # Upper ends for t: kl_bin(m || m e^{-t}) >= m t - 1/e gives (KL + 1/e)/m + 1, and
        # Pinsker (kl_bin(m || c) >= 2 (m - c)^2) gives -log(1 - sqrt(KL/2)/m), which
        # keeps the bracket's relative width O(1) for small budgets.
        gap = np.sqrt(ki / 2) / mi
        with np.errstate(divide="ignore", invalid="ignore"):
            pinsker = np.where(gap < 1, -np.log1p(-np.minimum(gap, 1.0)), np.inf)
        hi = np.minimum((ki + 1.0 / math.e) / mi + 1.0, pinsker)
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
        if not np.all(np.equal(np.mod(value, 1.0), 0.0)):
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return h, d, _args.positive(laplace_scale, "laplace_scale")


def act_effective_kl_weight(kl_weight: Any, chunk_length: Any, action_dim: Any,
                            laplace_scale: Any = 1.0) -> Any:
    r"""ACT's ``kl_weight`` as the ``beta`` of a per-chunk Laplace likelihood.

    ACT (Zhao et al. 2023; LeRobot) minimises ``mean_{H d} |a - D(z)| + w KL`` with the L1
    error averaged over the ``H * action_dim`` chunk elements and the KL summed over
    latent dimensions. A Laplace likelihood with scale ``b`` per element has negative
    log-likelihood ``sum |a - D| / b + const = (H d / b) mean |a - D| + const``, so ACT's
    loss is proportional to the beta-ELBO with

    .. math:: \beta_{eff} = \frac{w\, H\, d}{b}

    (ALOHA: ``10 * 100 * 14 = 14,000``). Thresholds like L4's must be compared in one
    convention.

    Args:
        kl_weight: ACT's ``w >= 0``; ``chunk_length`` ``H`` and ``action_dim`` ``d``:
            positive integers; ``laplace_scale`` ``b > 0``; all broadcastable.

    Returns:
        ``beta_eff``, broadcast shape.
    """
    if _args.is_symbolic(kl_weight, chunk_length, action_dim, laplace_scale):
        w, h, d, b = map(_exact, (kl_weight, chunk_length, action_dim, laplace_scale))
        return w * h * d / b
    w = _args.nonnegative(kl_weight, "kl_weight")
    h, d, b = _chunk_sizes(chunk_length, action_dim, laplace_scale)
    return _args.scalar_out(np.asarray(w) * h * d / b)


def act_kl_weight(effective_kl_weight: Any, chunk_length: Any, action_dim: Any,
                  laplace_scale: Any = 1.0) -> Any:
    r"""Inverse of :func:`act_effective_kl_weight`: ``w = beta_eff b / (H d)``.

    Args:
        effective_kl_weight: ``beta_eff >= 0``; ``chunk_length``, ``action_dim``:
            positive integers; ``laplace_scale > 0``; all broadcastable.

    Returns:
        ACT's ``kl_weight``, broadcast shape.
    """
    if _args.is_symbolic(effective_kl_weight, chunk_length, action_dim, laplace_scale):
        w, h, d, b = map(_exact, (effective_kl_weight, chunk_length, action_dim, laplace_scale))
        return w * b / (h * d)
    w = _args.nonnegative(effective_kl_weight, "effective_kl_weight")
    h, d, b = _chunk_sizes(chunk_length, action_dim, laplace_scale)
    return _args.scalar_out(np.asarray(w) * b / (h * d))


# ---------------------------------------------------------------------------------------
# L6: latent policies are transport maps
# ---------------------------------------------------------------------------------------

def decoder_max_mode_mass(decoder_lipschitz: Any, separation: Any, n_modes: int = 2,
                          output_noise_std: Any = 0.0) -> Any:
    r"""L6: the largest least-covered mode mass of a latent policy sampled from ``N(0, I)``.

    Statement: sampling ``z ~ N(0, I_k)`` and ``a = D(z) + s eps``, ``eps ~ N(0, I_D)``,
    with ``D`` ``L``-Lipschitz in ``z`` is the push-forward of ``N(0, I_{k+D})`` by the
    map ``(z, eps) -> D(z) + s eps``, which is ``sqrt(L^2 + s^2)``-Lipschitz
    (Cauchy-Schwarz). T2/T3 (``theory.max_mode_mass``) then give, for ``K`` modes at
    pairwise distance ``>= Delta``,

    .. math:: \min_k m_k \le \Phi\Big(\Phi^{-1}(1/K) - \frac{\Delta}{2\sqrt{L^2 + s^2}}\Big).

    ``s = 0`` is the paper's L6; ``s > 0`` (decoder output noise) is our extension. With a
    prior ``N(0, r^2 I)`` pass ``r L`` as the Lipschitz constant.

    Args:
        decoder_lipschitz: ``L > 0``; ``separation`` ``Delta > 0``;
            ``output_noise_std`` ``s >= 0``; broadcastable.
        n_modes: ``K >= 2``.

    Returns:
        the bound on ``min_k m_k``, broadcast shape.
    """
    from theory.transport import max_mode_mass

    if _args.is_symbolic(decoder_lipschitz, separation, output_noise_std):
        sp = _sympy()
        lip = (decoder_lipschitz if output_noise_std == 0
               else sp.sqrt(decoder_lipschitz**2 + output_noise_std**2))
        return max_mode_mass(lip, separation, n_modes)
    lip = _args.positive_or_inf(decoder_lipschitz, "decoder_lipschitz")
    noise = _args.nonnegative(output_noise_std, "output_noise_std")
    return max_mode_mass(np.hypot(lip, noise) if np.any(np.asarray(noise) > 0) else lip,
                         separation, n_modes)


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
        id="L1", title="rate decomposition", statement=_l1,
        assumptions="encoder q(z|o,a), prior p(z|o), actions a ~ pi*(.|o); any latent space",
        evaluate=rate_decomposition,
        extensions="",
        reference="docs/theory.md Part L1; Hoffman & Johnson 2016 (ELBO surgery); "
                  "Alemi et al. 2018",
    ),
    Proposition(
        id="L2", title="mode information (Fano)", statement=_l2,
        assumptions="K modes with weights w; any rule reading the mode from z errs with "
                    "probability <= error <= (K-1)/K",
        evaluate=fano_min_rate,
        extensions="inverse fano_min_error",
        reference="docs/theory.md Part L2; Cover & Thomas Thm 2.10.1",
        related=(fano_min_error,),
    ),
    Proposition(
        id="L3", title="pointwise regularization collapses modes", statement=_l3,
        assumptions="KL(q_a || p) <= eps and KL(q_a' || p) <= eps",
        evaluate=kl_tv_bound,
        extensions="exact curve kl_tv_bound_exact (tight; needs only the average KL, so the "
                   "rate suffices); mode averaging as an exact identity in TV(Q1, Q2)",
        reference="docs/theory.md Part L3; Pinsker; Bretagnolle & Huber 1979",
        related=(kl_tv_bound_exact, min_kl_for_tv, mode_recovery_accuracy,
                 mode_averaging_distance),
    ),
    Proposition(
        id="L4", title="collapse threshold", statement=_l4,
        assumptions="two equal-weight point modes Delta apart; Gaussian decoder likelihood "
                    "N(D(z), sigma^2 I); Gaussian encoder; N(0, I) prior; unconstrained "
                    "decoder; collapse (u = 0 optimal) iff beta >= beta_star",
        evaluate=collapse_threshold,
        extensions="global optimality proof via sech^2(x) >= exp(-x^2); linear conditional "
                   "case as collapsed_directions",
        reference="docs/theory.md Part L4; Lucas et al. 2019; Dang et al. ICLR 2024",
        related=(collapse_objective, binary_channel_mmse, collapsed_directions,
                 act_effective_kl_weight, act_kl_weight),
    ),
    Proposition(
        id="L5", title="prior coverage", statement=_l5,
        assumptions="deployment samples z ~ p(z|o) instead of qbar; tv = TV(p, qbar)",
        evaluate=prior_tv_bound,
        extensions="Bretagnolle-Huber branch; sharp region form min_prior_coverage",
        reference="docs/theory.md Part L5; Pinsker; data processing for KL",
        related=(min_prior_coverage,),
    ),
    Proposition(
        id="L6", title="latent policies are transport maps", statement=_l6,
        assumptions="z ~ N(0, I); decoder L-Lipschitz in z; K modes pairwise >= Delta apart",
        evaluate=decoder_max_mode_mass,
        extensions="decoder output noise s: L -> sqrt(L^2 + s^2)",
        reference="docs/theory.md Part L6 and Part T2/T3",
    ),
)

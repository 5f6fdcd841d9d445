r"""The Gaussian isoperimetric profile, the enlargement function, and ball masses.

Gaussian isoperimetry (Borell 1975; Sudakov & Tsirelson 1974): for every Borel set
``A`` of ``R^d`` and ``r >= 0``, with ``A_r = {x : dist(x, A) <= r}``,

.. math::  \gamma_d(A_r) \ge \Phi(\Phi^{-1}(\gamma_d(A)) + r),
           \qquad \gamma_d^+(\partial A) \ge I(\gamma_d(A)),
           \qquad I(m) = \varphi(\Phi^{-1}(m)),

with equality for half-spaces, in every dimension. Everything in Part T
(`theory.transport`) is a consequence of these two inequalities; this module holds
the two functions they are written with, their logarithms for the tails, and the
Gaussian mass outside a ball (the ``p`` of the local forms of Part T).

Every function takes floats, NumPy arrays (broadcast; scalar in -> Python float out)
or SymPy expressions (returns the expression, for ``sympy.latex``). SymPy is imported
only on the symbolic path. The ``*_expr`` helpers are the SymPy forms of
``Phi, Phi^{-1}, phi`` shared with `theory.transport` and `theory.latent`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import special

from theory import _args

__all__ = [
    "isoperimetric_profile", "log_isoperimetric_profile",
    "gaussian_enlargement", "log_gaussian_enlargement",
    "outside_ball_mass",
    "normal_cdf_expr", "normal_quantile_expr", "normal_pdf_expr",
]

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2 * math.pi)


def normal_cdf_expr(x: Any) -> Any:
    r"""SymPy ``\Phi(x) = \operatorname{erfc}(-x/\sqrt 2)/2``.

    erfc rather than ``(1 + erf)/2``: lambdified, it keeps the lower tail's relative
    accuracy, where ``(1 + erf)/2`` cancels.

    Parameters
    ----------
    x : sympy.Expr or float
        A real expression (``+-oo`` allowed); numbers are checked like floats.

    Returns
    -------
    sympy.Expr
        ``\Phi(x)`` in the notation of docs/theory.md, Part T.

    Raises
    ------
    ValueError, TypeError
        A value that is not real (``nan``, ``zoo``, ``I``, text).

    Examples
    --------
    >>> import sympy
    >>> from theory.gaussian import normal_cdf_expr
    >>> normal_cdf_expr(sympy.Integer(0))
    1/2
    """
    import sympy

    x = _args.symbolic_scalar(_args.extended_real(x, "x"), "x")
    return sympy.erfc(-x / sympy.sqrt(2)) / 2


def normal_quantile_expr(m: Any) -> Any:
    r"""SymPy ``\Phi^{-1}(m) = \sqrt 2 \operatorname{erf}^{-1}(2m - 1)``.

    Parameters
    ----------
    m : sympy.Expr or float
        A mass in ``[0, 1]`` (numbers are checked; expressions by their assumptions).

    Returns
    -------
    sympy.Expr
        ``\Phi^{-1}(m)``; ``erfinv`` stays unevaluated except at special values (``m = 1/2``).

    Raises
    ------
    ValueError, TypeError
        A number outside ``[0, 1]`` or not real.

    Examples
    --------
    >>> import sympy
    >>> from theory.gaussian import normal_quantile_expr
    >>> normal_quantile_expr(sympy.Rational(1, 2))
    0
    """
    import sympy

    m = _args.symbolic_scalar(_args.probability(m, "m"), "m")
    return sympy.sqrt(2) * sympy.erfinv(2 * m - 1)


def normal_pdf_expr(x: Any) -> Any:
    r"""SymPy ``\varphi(x) = e^{-x^2/2} / \sqrt{2\pi}``.

    Parameters
    ----------
    x : sympy.Expr or float
        A real expression (``+-oo`` allowed).

    Returns
    -------
    sympy.Expr
        The standard normal density at ``x`` (docs/theory.md, Part T, notation).

    Raises
    ------
    ValueError, TypeError
        A value that is not real.

    Examples
    --------
    >>> import sympy
    >>> from theory.gaussian import normal_pdf_expr
    >>> normal_pdf_expr(sympy.Integer(0))
    sqrt(2)/(2*sqrt(pi))
    """
    import sympy

    x = _args.symbolic_scalar(_args.extended_real(x, "x"), "x")
    return sympy.exp(-x**2 / 2) / sympy.sqrt(2 * sympy.pi)


def _broadcast_error(**values: Any) -> None:
    _args.broadcast(**values)


def _enlargement(m: Any, r: Any, closed_form, numeric) -> Any:
    """`gaussian_enlargement` and its logarithm after validating ``m`` and ``r``.

    ``closed_form(m, r)`` on the SymPy path (no arrays mixed in); otherwise
    ``numeric(Phi^{-1}(m) + r)`` as a float or array, a broadcast error naming ``m`` and ``r``.
    """
    m = _args.probability(m, "m")
    r = _args.finite(r, "r")
    if _args.is_symbolic(m, r):
        _args.no_arrays_with_symbols(m=m, r=r)
        return closed_form(m, r)
    try:
        return _args.scalar_out(numeric(special.ndtri(m) + r))
    except ValueError:
        _broadcast_error(m=m, r=r)
        raise


def _log_enlargement_expr(m: Any, r: Any) -> Any:
    import sympy

    return sympy.log(gaussian_enlargement(m, r), evaluate=False)   # no erfc evalf


def isoperimetric_profile(m: Any) -> Any:
    r"""Gaussian isoperimetric profile ``I(m) = \varphi(\Phi^{-1}(m))``.

    Every Borel ``A`` with ``\gamma_d(A) = m`` has boundary measure
    ``\gamma_d^+(\partial A) \ge I(m)``, with equality for half-spaces.

    Parameters
    ----------
    m : float, array_like or sympy.Expr
        Mass in ``[0, 1]``, any shape.

    Returns
    -------
    float or ndarray
        ``I(m)``, same shape as ``m``; accurate to a few ulp except that ``m`` within an ulp
        of 1 loses its distance to 1 in the input itself (pass ``1 - m``: ``I`` is
        symmetric).

    Raises
    ------
    ValueError
        ``m`` outside ``[0, 1]`` or NaN.
    TypeError
        Non-real input.

    Notes
    -----
    ``I`` is symmetric, ``I(m) = I(1-m)``, concave, ``I(0) = I(1) = 0``,
    ``I(1/2) = 1/\sqrt{2\pi}``.

    References
    ----------
    docs/theory.md, Part T, "The one tool: Gaussian isoperimetry" (Borell 1975;
    Sudakov & Tsirelson 1974); used by T8.

    Examples
    --------
    >>> import theory
    >>> round(theory.isoperimetric_profile(0.5), 6)         # 1 / sqrt(2 pi)
    0.398942
    """
    m = _args.probability(m, "m")
    if _args.is_symbolic(m):
        return normal_pdf_expr(normal_quantile_expr(m))
    x = special.ndtri(m)
    return _args.scalar_out(_INV_SQRT_2PI * np.exp(-0.5 * x * x))


def log_isoperimetric_profile(m: Any) -> Any:
    r"""``\log I(m) = -\Phi^{-1}(m)^2/2 - \log\sqrt{2\pi}`` (``-inf`` at ``m = 0, 1``).

    Parameters
    ----------
    m : float, array_like or sympy.Expr
        Mass in ``[0, 1]``; checked (and errors raised) as in `isoperimetric_profile`.

    Returns
    -------
    float or ndarray
        ``log I(m)``; finite for every ``m`` in ``(0, 1)``, including subnormal ``m``.

    References
    ----------
    docs/theory.md, Part T (the isoperimetric profile, for the tails).

    Examples
    --------
    >>> import theory
    >>> round(theory.log_isoperimetric_profile(1e-300), 2)
    -687.16
    """
    m = _args.probability(m, "m")
    if _args.is_symbolic(m):
        import sympy

        return sympy.log(isoperimetric_profile(m), evaluate=False)
    x = special.ndtri(m)
    return _args.scalar_out(-0.5 * x * x - _LOG_SQRT_2PI)


def gaussian_enlargement(m: Any, r: Any) -> Any:
    r"""Smallest Gaussian mass of an ``r``-enlargement: ``\Phi(\Phi^{-1}(m) + r)``.

    If ``\gamma_d(A) = m`` and ``r \ge 0`` then ``\gamma_d(A_r) \ge \Phi(\Phi^{-1}(m) + r)``,
    equality for half-spaces, in every dimension ``d``. For ``r < 0`` the value is the
    largest mass of the inner parallel set ``\{x : dist(x, A^c) > |r|\}`` (the statement
    applied to ``A^c``).

    Parameters
    ----------
    m : float, array_like or sympy.Expr
        Mass ``\gamma_d(A)`` in ``[0, 1]``.
    r : float, array_like or sympy.Expr
        Radius, a finite real (broadcasts with ``m``).

    Returns
    -------
    float or ndarray
        ``\Phi(\Phi^{-1}(m) + r)`` in ``[0, 1]``, broadcast shape; ``m = 0 -> 0``,
        ``m = 1 -> 1``. Underflows to 0 below ``1e-308``: use `log_gaussian_enlargement`.

    Raises
    ------
    ValueError
        ``m`` outside ``[0, 1]``, ``r`` infinite or NaN, shapes that do not broadcast.
    TypeError
        Non-real input.

    References
    ----------
    docs/theory.md, Part T (T2, T3).

    Examples
    --------
    >>> import theory
    >>> round(theory.gaussian_enlargement(0.5, 1.0), 4)     # Phi(1)
    0.8413
    """
    return _enlargement(m, r, lambda m, r: normal_cdf_expr(normal_quantile_expr(m) + r),
                        special.ndtr)


def log_gaussian_enlargement(m: Any, r: Any) -> Any:
    r"""``\log \Phi(\Phi^{-1}(m) + r)`` via ``scipy.special.log_ndtr`` (exact in the tails).

    Parameters
    ----------
    m, r : float, array_like or sympy.Expr
        As in `gaussian_enlargement` (a mass in ``[0, 1]`` and a finite radius that
        broadcast; the same errors).

    Returns
    -------
    float or ndarray
        The logarithm of `gaussian_enlargement` (``-inf`` at ``m = 0``), accurate where the
        plain value underflows (e.g. ``r = -80``).

    References
    ----------
    docs/theory.md, Part T (T2, T3 in the far tail).

    Examples
    --------
    >>> import theory
    >>> round(theory.log_gaussian_enlargement(0.5, -80.0), 2)       # log Phi(-80)
    -3205.3
    """
    return _enlargement(m, r, _log_enlargement_expr, special.log_ndtr)


def _off_centre_outside(R: float, d: int, delta: float) -> float:
    """``P(|x - c| > R)``, ``|c| = delta > 0``, by one quadrature along ``c``.

    With ``t`` the coordinate of ``x`` along ``c`` and ``chi^2_{d-1}`` the rest,
    ``p = P(|t - delta| > R) + int_{|t - delta| <= R} phi(t) P(chi^2_{d-1} > R^2 - (t - delta)^2)
    dt``: every term is a tail probability, so tiny and near-1 values keep their accuracy.
    (``scipy.stats.ncx2.sf`` overflows, returns NaN or takes seconds for large noncentrality.)
    """
    from scipy import integrate

    if R == math.inf:
        return 0.0
    outside_slab = float(special.ndtr(delta - R) + special.ndtr(-delta - R))
    if d == 1 or R == 0:
        return min(outside_slab, 1.0) if R > 0 else 1.0
    lo, hi = delta - R, delta + R
    # phi(t) is below 1e-300 beyond |t| = 37.5: integrate only where it is not.
    lo, hi = max(lo, -37.5), min(hi, 37.5)
    if lo >= hi:
        return min(outside_slab, 1.0)

    def integrand(t):
        return math.exp(-0.5 * t * t) * _INV_SQRT_2PI * float(
            special.chdtrc(d - 1, max(R * R - (t - delta) ** 2, 0.0)))

    inner = integrate.quad(integrand, lo, hi, points=[x for x in (0.0, delta) if lo < x < hi],
                           epsabs=0.0, epsrel=1e-12, limit=200)[0]
    return min(outside_slab + inner, 1.0)


def outside_ball_mass(radius: Any, dim: Any, center_distance: Any = 0.0) -> Any:
    r"""Gaussian mass outside a ball: ``p = \gamma_d(\{x : |x - c| > R\})``.

    With ``|c| = \delta``, ``|\epsilon - c|^2`` is noncentral chi-squared with ``d`` degrees
    of freedom and noncentrality ``\delta^2``, so ``p = P(\chi'^2_d(\delta^2) > R^2)``
    (``\delta = 0``: ``P(\chi^2_d > R^2)``, ``e^{-R^2/2}`` at ``d = 2``). This is the ``p``
    of the local forms of Part T (`theory.max_mode_mass_local` and its relatives) when the
    map is certified on a ball, e.g. by per-neuron slope bounds on the ball.

    Parameters
    ----------
    radius : float or array_like
        ``R >= 0`` (``inf`` allowed: ``p = 0``).
    dim : int
        ``d >= 1``.
    center_distance : float or array_like, optional
        ``\delta = |c| >= 0``, finite (default 0, a ball around the origin). Broadcasts with
        ``radius``.

    Returns
    -------
    float or ndarray
        ``p`` in ``[0, 1]``, broadcast shape (``scipy.special.chdtrc`` for ``\delta = 0``; one
        adaptive quadrature of chi-squared tails along ``c`` otherwise, relative error
        ~1e-12).

    Raises
    ------
    ValueError, TypeError
        Negative or NaN radius or distance, ``dim`` not a positive integer, non-real input.

    References
    ----------
    docs/theory.md, "Local forms".

    Examples
    --------
    >>> import math, theory
    >>> math.isclose(theory.outside_ball_mass(2.0, 2), math.exp(-2), rel_tol=1e-12)
    True
    """
    R = _args.nonnegative_or_inf(radius, "radius")
    d = _args.integer_at_least(dim, "dim", 1, 10**9)
    c = _args.nonnegative(center_distance, "center_distance")
    if _args.is_symbolic(R, c):
        raise TypeError("outside_ball_mass takes numbers (a chi-squared tail has no "
                        "elementary closed form)")
    shape = _args.broadcast(radius=R, center_distance=c)
    Rb = np.broadcast_to(np.asarray(R, dtype=float), shape)
    cc = np.broadcast_to(np.asarray(c, dtype=float), shape)
    with np.errstate(over="ignore"):
        out = np.array(special.chdtrc(d, np.square(Rb)), dtype=float, copy=True)
    for idx in zip(*np.nonzero(np.atleast_1d(cc > 0)), strict=True):
        idx = idx if shape else ()
        out[idx] = _off_centre_outside(float(Rb[idx]), d, float(cc[idx]))
    return _args.scalar_out(np.clip(out, 0.0, 1.0))

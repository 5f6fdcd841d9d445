r"""The Gaussian isoperimetric profile and the enlargement function.

Gaussian isoperimetry (Borell 1975; Sudakov & Tsirelson 1974): for every Borel set
``A`` of ``R^d`` and ``r >= 0``, with ``A_r = {x : dist(x, A) <= r}``,

.. math::  \gamma_d(A_r) \ge \Phi(\Phi^{-1}(\gamma_d(A)) + r),
           \qquad \gamma_d^+(\partial A) \ge I(\gamma_d(A)),
           \qquad I(m) = \varphi(\Phi^{-1}(m)),

with equality for half-spaces, in every dimension. Everything in Part T
(`theory.transport`) is a consequence of these two inequalities; this module holds
the two functions they are written with, and their logarithms for the tails.

Every function takes floats, NumPy arrays (broadcast; scalar in -> Python float out)
or SymPy expressions (returns the expression, for ``sympy.latex``). SymPy is imported
only on the symbolic path. The ``*_expr`` helpers are the SymPy forms of
``Phi, Phi^{-1}, phi`` shared with `theory.transport` (and usable in `theory.latent`).
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
    "normal_cdf_expr", "normal_quantile_expr", "normal_pdf_expr",
]

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2 * math.pi)


def normal_cdf_expr(x: Any) -> Any:
    r"""SymPy ``\Phi(x) = \operatorname{erfc}(-x/\sqrt 2)/2`` (erfc: lambdified, it keeps
    the lower tail's relative accuracy, where ``(1 + erf)/2`` cancels)."""
    import sympy

    return sympy.erfc(-x / sympy.sqrt(2)) / 2


def normal_quantile_expr(m: Any) -> Any:
    r"""SymPy ``\Phi^{-1}(m) = \sqrt 2 \operatorname{erf}^{-1}(2m - 1)``."""
    import sympy

    return sympy.sqrt(2) * sympy.erfinv(2 * m - 1)


def normal_pdf_expr(x: Any) -> Any:
    r"""SymPy ``\varphi(x) = e^{-x^2/2} / \sqrt{2\pi}``."""
    import sympy

    return sympy.exp(-x**2 / 2) / sympy.sqrt(2 * sympy.pi)


def _finite_real(x: Any, name: str) -> float | np.ndarray:
    # A radius may be negative (inner parallel sets), but never NaN or infinite: an
    # infinite radius meets Phi^{-1}(0) = -inf in an undefined -inf + inf.
    if type(x) in (float, int):
        if not math.isfinite(x):
            raise ValueError(f"{name} must be a finite real number, got {x!r}")
        return float(x)
    if isinstance(x, (bool, np.bool_)):
        raise TypeError(f"{name} must be a real number or array of real numbers, got a bool")
    try:
        a = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a real number or array of real numbers, "
                        f"got {type(x).__name__}") from exc
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be a finite real number, got {a[~np.isfinite(a)].flat[0]!r}"
                         if a.ndim else f"{name} must be a finite real number, got {float(a)!r}")
    return float(a) if a.ndim == 0 else a


def isoperimetric_profile(m: Any) -> Any:
    r"""Gaussian isoperimetric profile ``I(m) = \varphi(\Phi^{-1}(m))``.

    Statement (Borell 1975; Sudakov-Tsirelson 1974): every Borel ``A`` with
    ``\gamma_d(A) = m`` has boundary measure ``\gamma_d^+(\partial A) \ge I(m)``, with
    equality for half-spaces; ``I`` is symmetric, ``I(m) = I(1-m)``, concave,
    ``I(0) = I(1) = 0``, ``I(1/2) = 1/\sqrt{2\pi}``.

    Args:
        m: mass in ``[0, 1]``; float, array (any shape) or SymPy expression.

    Returns:
        ``I(m)``, same shape as ``m``. Accurate to a few ulp except that ``m`` within an
        ulp of 1 loses its distance to 1 in the input itself (pass ``1 - m`` then: ``I``
        is symmetric).

    Reference: docs/theory.md, Part T, "Gaussian isoperimetry"; used by T8.
    """
    if _args.is_symbolic(m):
        return normal_pdf_expr(normal_quantile_expr(m))
    m = _args.probability(m, "m")
    x = special.ndtri(m)
    return _args.scalar_out(_INV_SQRT_2PI * np.exp(-0.5 * x * x))


def log_isoperimetric_profile(m: Any) -> Any:
    r"""``\log I(m) = -\Phi^{-1}(m)^2/2 - \log\sqrt{2\pi}`` (``-inf`` at ``m = 0, 1``).

    Args:
        m: mass in ``[0, 1]``; float, array or SymPy expression.

    Returns:
        ``log I(m)``; finite for every ``m`` in ``(0, 1)`` including subnormal ``m``.

    Reference: docs/theory.md, Part T.
    """
    if _args.is_symbolic(m):
        import sympy

        return sympy.log(isoperimetric_profile(m))
    m = _args.probability(m, "m")
    x = special.ndtri(m)
    return _args.scalar_out(-0.5 * x * x - _LOG_SQRT_2PI)


def gaussian_enlargement(m: Any, r: Any) -> Any:
    r"""Smallest Gaussian mass of an ``r``-enlargement: ``\Phi(\Phi^{-1}(m) + r)``.

    Statement (Borell 1975; Sudakov-Tsirelson 1974): if ``\gamma_d(A) = m`` and
    ``r \ge 0`` then ``\gamma_d(A_r) \ge \Phi(\Phi^{-1}(m) + r)``, equality for
    half-spaces, in every dimension ``d``. For ``r < 0`` the value is the largest mass
    of the inner parallel set ``\{x : dist(x, A^c) > |r|\}`` (the statement applied to
    ``A^c``).

    Args:
        m: mass ``\gamma_d(A)`` in ``[0, 1]``.
        r: radius, finite real (broadcasts with ``m``).

    Returns:
        ``\Phi(\Phi^{-1}(m) + r)`` in ``[0, 1]``, broadcast shape; ``m = 0 -> 0``,
        ``m = 1 -> 1``. Underflows to 0 below ``1e-308``: use `log_gaussian_enlargement`.

    Reference: docs/theory.md, Part T (T2, T3).
    """
    if _args.is_symbolic(m, r):
        return normal_cdf_expr(normal_quantile_expr(m) + r)
    m = _args.probability(m, "m")
    r = _finite_real(r, "r")
    return _args.scalar_out(special.ndtr(special.ndtri(m) + r))


def log_gaussian_enlargement(m: Any, r: Any) -> Any:
    r"""``\log \Phi(\Phi^{-1}(m) + r)`` via ``scipy.special.log_ndtr`` (exact in the tails).

    Args:
        m: mass in ``[0, 1]``; r: finite real radius (broadcasts with ``m``).

    Returns:
        the logarithm of `gaussian_enlargement` (``-inf`` at ``m = 0``), accurate where
        the plain value underflows (e.g. ``r = -80``).

    Reference: docs/theory.md, Part T.
    """
    if _args.is_symbolic(m, r):
        import sympy

        return sympy.log(gaussian_enlargement(m, r))
    m = _args.probability(m, "m")
    r = _finite_real(r, "r")
    return _args.scalar_out(special.log_ndtr(special.ndtri(m) + r))

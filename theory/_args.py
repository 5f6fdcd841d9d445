"""Validation of public arguments, shared by every module of `theory`.

Each checker takes a value and the argument's public name, returns the value as a
Python float (scalar in) or a float64 array (array-like in), and raises
``ValueError``/``TypeError`` naming the argument and the valid range. Scalars take a
fast path with plain comparisons: a scalar bound must cost a few microseconds, and
``np.asarray`` plus ``np.all`` alone would cost about that much.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

_SCALAR_TYPES = (float, int)


def is_symbolic(*values: Any) -> bool:
    """True if any value is a SymPy object (checked by module name: no SymPy import)."""
    return any(type(v).__module__.startswith("sympy") for v in values)


def _as_float_array(x: Any, name: str) -> np.ndarray:
    if isinstance(x, (bool, np.bool_)):
        raise TypeError(f"{name} must be a real number or array of real numbers, got a bool")
    try:
        a = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{name} must be a real number or array of real numbers, got {type(x).__name__}"
        ) from exc
    return a


def _first_bad(a: np.ndarray, ok: np.ndarray) -> float:
    return float(a[~ok].flat[0]) if a.ndim else float(a)


def _check(x: Any, name: str, ok_scalar, ok_array, what: str):
    if type(x) in _SCALAR_TYPES:
        if not ok_scalar(x):
            raise ValueError(f"{name} must be {what}, got {x!r}")
        return float(x)
    a = _as_float_array(x, name)
    ok = ok_array(a)
    if not np.all(ok):
        raise ValueError(f"{name} must be {what}, got {_first_bad(a, ok)!r}")
    return float(a) if a.ndim == 0 else a


def positive(x: Any, name: str) -> float | np.ndarray:
    """``0 < x < inf``."""
    return _check(x, name, lambda v: 0 < v < math.inf,
                  lambda a: np.isfinite(a) & (a > 0), "positive and finite")


def positive_or_inf(x: Any, name: str) -> float | np.ndarray:
    """``0 < x <= inf`` (an infinite Lipschitz constant is a meaningful limit)."""
    return _check(x, name, lambda v: 0 < v, lambda a: a > 0, "positive (inf allowed)")


def nonnegative(x: Any, name: str) -> float | np.ndarray:
    """``0 <= x < inf``."""
    return _check(x, name, lambda v: 0 <= v < math.inf,
                  lambda a: np.isfinite(a) & (a >= 0), "non-negative and finite")


def nonnegative_or_inf(x: Any, name: str) -> float | np.ndarray:
    """``0 <= x <= inf``."""
    return _check(x, name, lambda v: 0 <= v, lambda a: a >= 0, "non-negative (inf allowed)")


def probability(x: Any, name: str) -> float | np.ndarray:
    """``0 <= x <= 1``."""
    return _check(x, name, lambda v: 0 <= v <= 1, lambda a: (a >= 0) & (a <= 1),
                  "a probability in [0, 1]")


def open_probability(x: Any, name: str) -> float | np.ndarray:
    """``0 < x < 1``."""
    return _check(x, name, lambda v: 0 < v < 1, lambda a: (a > 0) & (a < 1),
                  "a probability in the open interval (0, 1)")


def integer_at_least(n: Any, name: str, low: int, high: int | None = None) -> int:
    """An integer ``n`` with ``low <= n (<= high)``; integral floats are accepted."""
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer, float)):
        raise TypeError(f"{name} must be an integer, got {type(n).__name__}")
    if isinstance(n, float) and not n.is_integer():
        raise ValueError(f"{name} must be an integer, got {n!r}")
    n = int(n)
    if n < low or (high is not None and n > high):
        rng = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be an integer {rng}, got {n}")
    return n


def weight_vector(w: Any, name: str = "weights", atol: float = 1e-9) -> np.ndarray:
    """A 1-D vector of at least two positive weights summing to 1 (within ``atol``)."""
    a = _as_float_array(w, name)
    if a.ndim != 1 or a.size < 2:
        raise ValueError(f"{name} must be a 1-D vector of at least 2 weights, got shape {a.shape}")
    if not np.all(np.isfinite(a) & (a > 0)):
        raise ValueError(f"{name} must be positive and finite, got {a.tolist()}")
    if abs(a.sum() - 1.0) > atol:
        raise ValueError(f"{name} must sum to 1, got sum {a.sum()!r}")
    return a


def scalar_out(x: Any) -> Any:
    """A 0-d array or NumPy scalar becomes a Python float; arrays pass through."""
    if isinstance(x, np.ndarray) and x.ndim == 0:
        return float(x)
    if isinstance(x, np.floating):
        return float(x)
    return x

"""Validation of public arguments: the one layer every public function of `theory` uses.

Internal module (not part of the public API; `numerics` and `validation` import it too, so
that the whole toolkit rejects bad input the same way). Each range checker takes a value
and the argument's public name and returns

- a Python float for a real scalar (``float``, ``int``, NumPy scalar, 0-d array),
- a float64 array for an array-like of real numbers,
- the value itself for a SymPy expression, after checking it: a SymPy *number* (``Integer(-1)``,
  ``Rational(1, 2)``, ``pi``, ``nan``, ``zoo``, ``I``) is held to the same range as a float,
  exactly (SymPy comparisons); a SymPy expression with free symbols is rejected only when its
  assumptions contradict the range (``Symbol("L", negative=True)`` for a positive ``L``);

and raises ``TypeError`` (not a real number: ``str``, ``bytes``, ``complex``, ``bool``, ``None``,
objects) or ``ValueError`` (outside the range, NaN, a Python ``int`` beyond float64, shapes that
do not broadcast), always naming the argument and saying what is valid. Rules, the same for
scalars and arrays: booleans are not numbers here (``True`` as a Lipschitz constant is a bug);
numeric strings are not numbers (``"1.0"``); complex values are rejected even with a zero
imaginary part.

Scalars take a fast path with plain comparisons: a scalar bound must cost a few
microseconds, and ``np.asarray`` plus ``np.all`` alone would cost about that much.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

__all__: list[str] = []   # internal: nothing here is re-exported by `theory`

# Largest sizes accepted by functions whose cost grows with a count (documented in each
# function's Raises section): past these, a clear ValueError instead of a MemoryError or an
# hour of work.
MAX_MODES_CLOSED_FORM = 2**53   # 1/K is exact in float64 up to here


def is_symbolic(*values: Any) -> bool:
    """True if any value is a SymPy object (checked by module name: no SymPy import)."""
    return any(type(v).__module__.startswith("sympy") for v in values)


def _is_sympy(x: Any) -> bool:
    return type(x).__module__.startswith("sympy")


def _describe(x: Any) -> str:
    if isinstance(x, (bool, np.bool_)):
        return "a bool"
    if isinstance(x, (str, bytes)):
        return f"a {type(x).__name__} ({x!r}); pass a number, not its text"
    if isinstance(x, (complex, np.complexfloating)):
        return f"a complex number ({x!r})"
    return type(x).__name__


def _not_real(x: Any, name: str) -> TypeError:
    return TypeError(f"{name} must be a real number or an array of real numbers, "
                     f"got {_describe(x)}")


def _int_to_float(x: int, name: str) -> float:
    try:
        return float(x)
    except OverflowError:
        raise ValueError(f"{name} must be representable as a float64 (|x| <= 1.8e308), got an "
                         f"integer with {len(str(abs(x)))} digits") from None


def _sympy_number(x: Any, name: str) -> float:
    """A SymPy number as a float, after rejecting non-real values (nan, zoo, I)."""
    if not x.is_extended_real:
        raise TypeError(f"{name} must be a real number, got the SymPy value {x}")
    return float(x)


def _element(e: Any, name: str) -> float:
    if isinstance(e, (bool, np.bool_)) or not (isinstance(e, numbers.Real) or _is_sympy(e)):
        raise _not_real(e, name)
    if _is_sympy(e):
        if not getattr(e, "is_number", False):
            raise TypeError(f"{name} must hold numbers only, got the SymPy expression {e} "
                            "inside an array: pass it on its own for the symbolic form")
        return _sympy_number(e, name)
    if isinstance(e, int):
        return _int_to_float(e, name)
    return float(e)


def real_array(x: Any, name: str) -> np.ndarray:
    """``x`` as a float64 array (any shape), or ``TypeError``/``ValueError`` naming ``name``.

    Accepts floats, ints (``ValueError`` beyond float64), NumPy real scalars and arrays of any
    real dtype, nested lists of those, SymPy numbers; rejects ``str``/``bytes``, ``complex``,
    ``bool`` (scalars and arrays alike), ``None`` and other objects. Values are not range-checked.
    """
    if isinstance(x, (str, bytes, bool, np.bool_, complex, np.complexfloating)) or x is None:
        raise _not_real(x, name)
    if _is_sympy(x):
        if not getattr(x, "is_number", False):
            raise TypeError(f"{name} must be a number here, got the SymPy expression {x}")
        return np.asarray(_sympy_number(x, name))
    try:
        a = np.asarray(x)
    except (TypeError, ValueError) as exc:   # ragged nesting, unconvertible objects
        raise TypeError(f"{name} must be a real number or a (rectangular) array of real "
                        f"numbers, got {type(x).__name__} ({exc})") from None
    kind = a.dtype.kind
    if kind == "f":
        return a.astype(np.float64, copy=False)
    if kind in "iu":
        return a.astype(np.float64)
    if kind == "O":
        flat = [_element(e, name) for e in a.ravel().tolist()]
        return np.asarray(flat, dtype=np.float64).reshape(a.shape)
    if kind == "b":
        raise TypeError(f"{name} must be real numbers, got a bool array (cast it to float "
                        "if you mean 0/1)")
    if kind == "c":
        raise TypeError(f"{name} must be real numbers, got a complex array")
    if kind in "US":
        raise TypeError(f"{name} must be real numbers, got an array of strings; pass numbers, "
                        "not their text")
    raise TypeError(f"{name} must be real numbers, got an array of dtype {a.dtype}")


# Kept under its historical name for the modules of `numerics` and `validation` that use it.
_as_float_array = real_array


def _first_bad(a: np.ndarray, ok: np.ndarray) -> float:
    return float(a[~ok].flat[0]) if a.ndim else float(a)


class _Range:
    """An interval of the extended reals, ``low <(=) x <(=) high``; `check` tests a value."""

    __slots__ = ("low", "low_open", "high", "high_open", "what", "scalar")

    def __init__(self, low: float, low_open: bool, high: float, high_open: bool, what: str):
        self.low, self.low_open, self.high, self.high_open, self.what = (
            low, low_open, high, high_open, what)
        # One specialised comparison per range: the scalar fast path of every bound runs
        # through here, and a generic method costs as much as the bound itself. NaN fails
        # every comparison.
        if low_open and high_open:
            self.scalar = lambda v: low < v < high
        elif low_open:
            self.scalar = lambda v: low < v <= high
        elif high_open:
            self.scalar = lambda v: low <= v < high
        else:
            self.scalar = lambda v: low <= v <= high

    def __reduce__(self):
        # the comparison above is a closure: rebuilt from the ends, so that the checkers
        # (bound `check` methods) pickle as the plain functions they replaced did
        return _Range, (self.low, self.low_open, self.high, self.high_open, self.what)

    def check(self, x: Any, name: str) -> Any:
        """``x`` checked against the range (``name``: the argument's public name)."""
        t = type(x)
        if t is float:
            if not self.scalar(x):
                raise ValueError(f"{name} must be {self.what}, got {x!r}")
            return x
        if t is int:
            v = _int_to_float(x, name)
            if not self.scalar(v):
                raise ValueError(f"{name} must be {self.what}, got {x!r}")
            return v
        if _is_sympy(x):
            return self.symbolic(x, name)
        a = real_array(x, name)
        ok = self.array(a)
        if not ok.all():
            raise ValueError(f"{name} must be {self.what}, got {_first_bad(a, ok)!r}")
        return float(a) if a.ndim == 0 else a

    def array(self, a: np.ndarray) -> np.ndarray:
        lo = a > self.low if self.low_open else a >= self.low
        hi = a < self.high if self.high_open else a <= self.high
        return lo & hi

    def symbolic(self, x: Any, name: str) -> Any:
        import sympy

        if x.is_number:
            # Evaluated, not asked: SymPy's assumptions can be wrong on numbers (it calls
            # erfinv(-549755813887/549755813888) not real).
            value = sympy.N(x, 30)
            if value.has(sympy.nan) or not value.is_extended_real:
                raise TypeError(f"{name} must be a real number, got the SymPy value {x}")
            lo = (value > self.low) if self.low_open else (value >= self.low)
            hi = (value < self.high) if self.high_open else (value <= self.high)
            if not (lo == sympy.true and hi == sympy.true):
                raise ValueError(f"{name} must be {self.what}, got {x}")
            return x
        if not x.is_Symbol:   # compound expressions: assumptions too unreliable to refuse on
            return x
        if x.is_extended_real is False:
            raise TypeError(f"{name} must be real, got the SymPy symbol {x} (not real)")
        lo = (x - self.low).is_extended_positive if self.low_open else (
            (x - self.low).is_extended_nonnegative)
        hi = (self.high - x).is_extended_positive if self.high_open else (
            (self.high - x).is_extended_nonnegative)
        if lo is False or hi is False:
            raise ValueError(f"{name} must be {self.what}; the assumptions on {x} contradict it")
        return x


# The range checkers, ``checker(x, name)``: `_Range.check` of one range each (what comes back
# and what is raised: the module docstring).
positive = _Range(0.0, True, math.inf, True, "positive and finite").check  # 0 < x < inf
# 0 < x <= inf: an infinite Lipschitz constant is a meaningful limit
positive_or_inf = _Range(0.0, True, math.inf, False, "positive (inf allowed)").check
nonnegative = _Range(0.0, False, math.inf, True, "non-negative and finite").check  # 0 <= x < inf
nonnegative_or_inf = _Range(0.0, False, math.inf, False, "non-negative (inf allowed)").check
probability = _Range(0.0, False, 1.0, False, "a probability in [0, 1]").check
open_probability = _Range(0.0, True, 1.0, True, "a probability in the open interval (0, 1)").check
finite = _Range(-math.inf, True, math.inf, True, "a finite real number").check  # any sign
# -inf <= x <= inf: a real number; NaN and non-real values rejected
extended_real = _Range(-math.inf, False, math.inf, False, "a real number (+-inf allowed)").check


def at_least(x: Any, name: str, low: float, high: float = math.inf) -> Any:
    """``low <= x < high`` (``high = inf``: finite)."""
    return _Range(low, False, high, True, f"a real number in [{low:g}, {high:g})").check(x, name)


_FLOAT_INT_MAX = 2**1023  # the largest power of two below float64's maximum


def integer_at_least(n: Any, name: str, low: int, high: int | None = None) -> int:
    """An integer ``n`` with ``low <= n (<= high)``; integral floats, NumPy integers, 0-d
    arrays and SymPy integers are accepted, booleans and non-integral values are not."""
    if type(n) is int:
        v = n
    else:
        if isinstance(n, np.ndarray) and n.ndim == 0 and n.dtype.kind in "iuf":
            n = n.item()
        if _is_sympy(n) and getattr(n, "is_Integer", False):
            n = int(n)
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer, float,
                                                                  np.floating)):
            raise TypeError(f"{name} must be an integer, got {_describe(n)}")
        if isinstance(n, (float, np.floating)) and not float(n).is_integer():
            raise ValueError(f"{name} must be an integer, got {n!r}")
        v = int(n)
    if high is None and abs(v) > _FLOAT_INT_MAX:
        # integers beyond float64 overflow wherever they meet a float (OverflowError)
        high = _FLOAT_INT_MAX
    if v < low or (high is not None and v > high):
        shown_high = "2**1023" if high == _FLOAT_INT_MAX else high
        rng = f">= {low}" if high is None else f"in [{low}, {shown_high}]"
        shown = v if abs(v) < 10**30 else f"an integer with {len(str(abs(v)))} digits"
        raise ValueError(f"{name} must be an integer {rng}, got {shown}")
    return v


def symbolic_integer(n: Any, name: str, low: int, high: int | None = None) -> Any:
    """A SymPy integer-valued expression (checked by its assumptions) or a Python integer."""
    if not _is_sympy(n):
        return integer_at_least(n, name, low, high)
    if n.is_number:
        if not n.is_Integer:
            raise ValueError(f"{name} must be an integer, got {n}")
        return integer_at_least(int(n), name, low, high)
    if n.is_integer is False:
        raise TypeError(f"{name} must be an integer, got the SymPy expression {n}")
    if (n - low).is_extended_nonnegative is False:
        raise ValueError(f"{name} must be an integer >= {low}; the assumptions on {n} "
                         "contradict it")
    return n


def choice(value: Any, name: str, options: tuple[str, ...]) -> str:
    """One of a few strings, or ``ValueError`` listing them."""
    if not isinstance(value, str) or value not in options:
        listed = ", ".join(repr(o) for o in options)
        raise ValueError(f"{name} must be one of {listed}, got {value!r}")
    return value


def weight_vector(w: Any, name: str = "weights", atol: float = 1e-9,
                  max_size: int | None = None) -> np.ndarray:
    """A 1-D vector of at least two positive weights summing to 1 (within ``atol``),
    at most ``max_size`` long."""
    a = real_array(w, name)
    if a.ndim != 1 or a.size < 2:
        raise ValueError(f"{name} must be a 1-D vector of at least 2 weights, got shape {a.shape}")
    if max_size is not None and a.size > max_size:
        raise ValueError(f"{name} must hold at most {max_size} weights here (the cost grows "
                         f"quickly with their number), got {a.size}")
    if not np.all(np.isfinite(a) & (a > 0)):
        raise ValueError(f"{name} must be positive and finite, got {a.tolist()}")
    if abs(a.sum() - 1.0) > atol:
        raise ValueError(f"{name} must sum to 1, got sum {a.sum()!r}")
    return a


def broadcast(**arrays: Any) -> tuple[int, ...]:
    """The broadcast shape of the named values, or ``ValueError`` naming the ones that clash."""
    shapes = {k: np.shape(v) for k, v in arrays.items()}
    try:
        return np.broadcast_shapes(*shapes.values())
    except ValueError:
        listed = ", ".join(f"{k} (shape {s})" for k, s in shapes.items() if s != ())
        raise ValueError(f"arguments do not broadcast together: {listed}") from None


def symbolic_scalar(x: Any, name: str) -> Any:
    """For the SymPy path: a SymPy expression, or a number converted to SymPy; no arrays."""
    if isinstance(x, (np.ndarray, list, tuple)) and np.ndim(x) > 0:
        raise TypeError(f"{name} must be a scalar or a SymPy expression here, got an array")
    return sympify(x)[0]


def no_arrays_with_symbols(**values: Any) -> None:
    """``TypeError`` if a SymPy expression is mixed with an array argument."""
    arrays = [k for k, v in values.items()
              if isinstance(v, (np.ndarray, list, tuple)) and np.ndim(v) > 0]
    if arrays:
        symbolic = [k for k, v in values.items() if _is_sympy(v)]
        raise TypeError(f"{', '.join(arrays)} must be scalars when {', '.join(symbolic)} "
                        f"{'is a SymPy expression' if len(symbolic) == 1 else 'are SymPy'} "
                        "(the symbolic form takes one value per argument)")


def sympify(*values: Any) -> tuple:
    """Numbers as SymPy numbers, for the symbolic path: Python floats there would overflow or
    divide by zero (``5e-324 ** 2 == 0.0``) where SymPy's arbitrary-exponent floats do not."""
    import sympy

    def convert(v):
        if v is None or _is_sympy(v):
            return v
        if isinstance(v, float) and v != 0 and not 1e-100 <= abs(v) <= 1e100:
            # exact, and left unevaluated inside erfc/erfinv: SymPy would evaluate a Float
            # there at once, and mpmath overflows on erfc(7e299)
            return sympy.Rational(v)
        return sympy.sympify(v)

    return tuple(convert(v) for v in values)


def scalar_out(x: Any) -> Any:
    """A 0-d array or NumPy scalar becomes a Python float; arrays pass through."""
    if isinstance(x, np.ndarray) and x.ndim == 0:
        return float(x)
    if isinstance(x, np.floating):
        return float(x)
    return x

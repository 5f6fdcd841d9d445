"""Validation of tensor, network and seed arguments at the public edge of `numerics`.

Internal module (nothing here is re-exported). Scalars go through `theory._args` (the one
range checker of the toolkit); this module adds what `theory` cannot hold because it never
imports torch: tensors, `SlopeNetwork` arguments, seeds shared by NumPy and torch. Every
check raises ``TypeError`` (wrong kind of object) or ``ValueError`` (wrong value or shape)
naming the argument and saying what is valid.

Values are checked only on concrete tensors: inside a `torch.func` transform (``vmap``,
``jacrev``, ``jvp``) a value-dependent check is data-dependent control flow, which ``vmap``
refuses; the transform's outermost call has already been checked at its own edge.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import torch

from theory import _args

__all__: list[str] = []   # internal

# Seeds must be exact integers a float64 can hold (the toolkit's rule for Python ints);
# torch generators take 64 bits, so a larger seed is reduced modulo 2**64 for them.
MAX_SEED = int(sys.float_info.max)
_TORCH_SEEDS = 2**64


def _transformed(x: torch.Tensor) -> bool:
    """True for a tensor wrapped by a torch.func transform (its values are not concrete)."""
    return bool(torch._C._functorch.is_functorch_wrapped_tensor(x))


def real_tensor(x: Any, name: str, *, ndim: int | None = None, finite: bool = True,
                dtype: torch.dtype | None = torch.float64, shape: str | None = None,
                tensor_only: bool = False) -> torch.Tensor:
    """``x`` as a real tensor, or ``TypeError``/``ValueError`` naming ``name``.

    Accepts torch tensors of a real dtype and (unless ``tensor_only``) array-likes of real
    numbers (converted by `theory._args.real_array`: ragged lists, text, bools and complex
    values are refused there). Rejects bool and complex tensors. ``dtype``: the result's
    dtype; ``None`` keeps a floating tensor's dtype (integers become float64). ``ndim``: the
    required number of dimensions, ``shape`` its description for the message (``"(n, d)"``).
    ``finite``: refuse NaN and inf entries.
    """
    if isinstance(x, torch.Tensor):
        if x.dtype == torch.bool:
            raise TypeError(f"{name} must hold real numbers, got a bool tensor (cast it to a "
                            "float dtype if you mean 0/1)")
        if x.dtype.is_complex:
            raise TypeError(f"{name} must hold real numbers, got a complex tensor "
                            f"({x.dtype})")
        if dtype is not None:
            x = x.to(dtype)
        elif not x.dtype.is_floating_point:
            x = x.to(torch.float64)
    elif tensor_only:
        raise TypeError(f"{name} must be a torch.Tensor{' of shape ' + shape if shape else ''},"
                        f" got {type(x).__name__}")
    else:
        x = torch.from_numpy(np.array(_args.real_array(x, name), dtype=np.float64))
        if dtype is not None:
            x = x.to(dtype)
    if ndim is not None and x.ndim != ndim:
        what = shape or f"{ndim} dimension(s)"
        raise ValueError(f"{name} must have shape {what}, got shape {tuple(x.shape)}")
    if finite and not _transformed(x) and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} must be finite, got a non-finite (NaN or inf) entry")
    return x


def real_scalar(x: Any, name: str, check=_args.finite) -> float:
    """A real scalar as a Python float after the `theory._args` range ``check`` (which names
    ``name`` and the range); arrays and SymPy expressions with symbols are refused."""
    value = check(x, name)
    if isinstance(value, np.ndarray):
        raise ValueError(f"{name} must be a scalar, got an array of shape {value.shape}")
    try:
        return float(value)
    except TypeError:   # a SymPy expression with free symbols
        raise TypeError(f"{name} must be a number, got the expression {value}") from None


def callable_arg(f: Any, name: str, what: str) -> Any:
    """``f`` if it is callable, else ``TypeError`` naming ``name`` and saying ``what`` it maps."""
    if not callable(f):
        raise TypeError(f"{name} must be a callable {what}, got {type(f).__name__}")
    return f


def seed(value: Any, name: str = "seed") -> int:
    """A seed: an integer in ``[0, MAX_SEED]`` (any float64-representable integer)."""
    v = _args.integer_at_least(value, name, 0)
    if v > MAX_SEED:
        raise ValueError(f"{name} must be an integer in [0, 1.8e308] (representable in "
                         f"float64), got an integer with {len(str(v))} digits")
    return v


def torch_seed(value: int) -> int:
    """A checked `seed` as a torch generator seed (64 bits)."""
    return value % _TORCH_SEEDS


def flag(x: Any, name: str) -> bool:
    """A boolean option (``bool`` or ``np.bool_``; ``1``/``"yes"`` are refused: a typo)."""
    if not isinstance(x, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {x!r}")
    return bool(x)


def describe_sequence(x: Any) -> str:
    """``"a list of 3"`` / ``"a str"``: what a sequence argument was, for messages."""
    if isinstance(x, (list, tuple)):
        return f"a {type(x).__name__} of {len(x)}"
    return f"a {type(x).__name__}"


def instance(x: Any, name: str, cls: type, what: str) -> Any:
    """``x`` if it is a ``cls``, else ``TypeError`` naming ``name`` and the expected type."""
    if not isinstance(x, cls):
        raise TypeError(f"{name} must be {what}, got {type(x).__name__}")
    return x

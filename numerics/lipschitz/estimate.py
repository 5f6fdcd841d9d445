"""The result type every Lipschitz estimate returns: what it is says what it bounds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from numerics import _inputs
from theory import _args

Kind = Literal["upper", "lower", "exact"]


@dataclass(frozen=True)
class LipschitzEstimate:
    """A Lipschitz constant with its status.

    Attributes:
        value: the number (a float, ``>= 0``).
        kind: ``"upper"`` -- a certified upper bound (every multiplier checked in
            float64); ``"lower"`` -- attained by points the method found, so the true
            constant is at least this; ``"exact"`` -- known in closed form.
        method: the method's name ("eclipse-fast", "lipsdp-neuron", "gradient-ascent", ...).
        seconds: wall-clock time of the computation.
        details: method-specific diagnostics (certificate margins, iterations, ...).
    """

    value: float
    kind: Kind
    method: str
    seconds: float
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in ("upper", "lower", "exact"):
            raise ValueError(f"kind must be 'upper', 'lower' or 'exact', got {self.kind!r}")
        # a bool or numeric text is not a constant; NumPy scalars are stored as floats
        value = _inputs.real_scalar(self.value, "value", _args.nonnegative_or_inf)
        object.__setattr__(self, "value", value)

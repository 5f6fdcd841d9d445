"""The registry of propositions: one `Proposition` per statement of Parts T and L.

Each module of `theory` declares its propositions next to the functions that evaluate
them; `theory.PROPOSITIONS` collects them by id ("T1".."T8", "L1".."L6", and the local
forms "T2-local".."T5-local"). Proofs: docs/theory.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Proposition:
    """A proposition of the theory, in words, in SymPy, and as code.

    Attributes:
        id: "T1".."T8" (action-space generators), "T2-local".."T5-local" (their local
            forms) or "L1".."L6" (latent-variable policies).
        title: a short name ("two-mode limit").
        statement: the statement as a SymPy relational or expression (an inequality
            in the named symbols), built lazily so importing `theory` stays cheap.
        assumptions: the assumptions in words.
        evaluate: the public function that evaluates the bound numerically.
        extensions: which parts go beyond the paper (empty when none).
        reference: where the proof is (section of docs/theory.md) and the prior work.
    """

    id: str
    title: str
    statement: Callable[[], Any]
    assumptions: str
    evaluate: Callable[..., Any]
    extensions: str = ""
    reference: str = ""
    related: tuple[Callable[..., Any], ...] = field(default=())

    def latex(self) -> str:
        r"""The statement in LaTeX (via `sympy.latex`).

        Examples
        --------
        >>> import theory
        >>> print(theory.PROPOSITIONS["T1"].latex())
        d_{ij} \geq \frac{\Delta_{ij}}{L}
        """
        import sympy

        return sympy.latex(self.statement())

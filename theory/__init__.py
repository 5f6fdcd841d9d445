"""theory: the propositions of multimodal failure in action-chunking BC as code.

Part T (action-space generators: diffusion, flow matching, one-step maps) lives in
`theory.transport` on top of the Gaussian isoperimetric profile in `theory.gaussian`;
Part L (latent-variable policies: CVAE, ACT) lives in `theory.latent`. Every public
function takes floats, NumPy arrays (broadcasting) or SymPy symbols (returns the
expression). `theory.PROPOSITIONS` maps "T1".."T8", "L1".."L6" and the local forms
"T2-local".."T5-local" to `Proposition`s. Proofs: docs/theory.md.

The public API is `__all__`: the lists of `theory.gaussian`, `theory.transport` and
`theory.latent` (each module's own `__all__`, re-exported here) and the registry.
`theory.strategies` (hypothesis strategies) is imported on demand, not here.
"""

from theory import gaussian, latent, transport
from theory.gaussian import *  # noqa: F403
from theory.latent import *  # noqa: F403
from theory.registry import Proposition
from theory.transport import *  # noqa: F403

PROPOSITIONS: dict[str, Proposition] = {
    p.id: p for p in (*transport.PROPOSITIONS, *latent.PROPOSITIONS)
}

__all__ = [*gaussian.__all__, *transport.__all__, *latent.__all__, "PROPOSITIONS",
           "Proposition"]

"""Lipschitz constants of torch maps: certified upper bounds, empirical lower bounds.

Every estimate is a `LipschitzEstimate` whose ``kind`` says what it is: a certified
``"upper"`` bound (`lipschitz_upper`: spectral product, ECLipsE-Fast, LipSDP via cvxpy,
and the fast certified solver; `sampler_lipschitz_upper`: a whole sampler's unrolled graph
certified at once; `sampler_lipschitz_local`: a sampler's constant on a ball,
for the local forms of Part T), an empirical ``"lower"`` bound (`lipschitz_lower`: Jacobian power
iteration with gradient ascent, difference quotients; `transition_lipschitz_lower`: the
search for sharp transitions between modes), or ``"exact"``. The mathematics is in each
module's docstring and in ``docs/numerics-lipschitz.md``.
"""

from numerics.lipschitz.certificate import (
    NotCertified,
    certify_multipliers,
    scalar_feasible_multipliers,
)
from numerics.lipschitz.compositional import eclipse_fast, spectral_product
from numerics.lipschitz.estimate import LipschitzEstimate
from numerics.lipschitz.fast import fast_certified
from numerics.lipschitz.lipsdp import lipsdp
from numerics.lipschitz.local import sampler_lipschitz_local
from numerics.lipschitz.lower import jacobian_norm, lipschitz_lower
from numerics.lipschitz.network import SlopeNetwork, activation_slopes, network_from_sequential
from numerics.lipschitz.one_sided import LogNormBound, one_sided_lipschitz_upper
from numerics.lipschitz.sampler import (
    SAMPLER_METHODS,
    SAMPLERS,
    SamplerStage,
    SamplerStep,
    UnrolledSampler,
    certify_chain,
    product_bound,
    sampler_lipschitz_upper,
    sampler_map,
    unroll_sampler,
)
from numerics.lipschitz.transitions import transition_lipschitz_lower
from numerics.lipschitz.upper import UPPER_METHODS, lipschitz_upper

__all__ = [
    "LipschitzEstimate", "lipschitz_upper", "lipschitz_lower", "UPPER_METHODS",
    "SlopeNetwork", "network_from_sequential", "activation_slopes", "certify_multipliers",
    "NotCertified", "scalar_feasible_multipliers", "spectral_product", "eclipse_fast",
    "lipsdp", "fast_certified", "jacobian_norm", "LogNormBound", "one_sided_lipschitz_upper",
    "sampler_lipschitz_upper", "sampler_map", "unroll_sampler", "UnrolledSampler",
    "SamplerStep", "SamplerStage", "SAMPLERS", "SAMPLER_METHODS", "certify_chain",
    "product_bound", "transition_lipschitz_lower", "sampler_lipschitz_local",
]

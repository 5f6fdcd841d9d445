"""theory: the propositions of multimodal failure in action-chunking BC as code.

Part T (action-space generators: diffusion, flow matching, one-step maps) lives in
`theory.transport` on top of the Gaussian isoperimetric profile in `theory.gaussian`;
Part L (latent-variable policies: CVAE, ACT) lives in `theory.latent`. Every public
function takes floats, NumPy arrays (broadcasting) or SymPy symbols (returns the
expression). `theory.PROPOSITIONS` maps "T1".."T8", "L1".."L6" and the local forms
"T2-local".."T5-local" to `Proposition`s. Proofs: docs/theory.md.

The names below are re-exported explicitly (no star imports): this list is the public API.
`theory.strategies` (hypothesis strategies) is imported on demand, not here.
"""

from theory import latent, transport
from theory.gaussian import (
    gaussian_enlargement,
    isoperimetric_profile,
    log_gaussian_enlargement,
    log_isoperimetric_profile,
    normal_cdf_expr,
    normal_pdf_expr,
    normal_quantile_expr,
    outside_ball_mass,
)
from theory.latent import (
    act_effective_kl_weight,
    act_kl_weight,
    binary_channel_mmse,
    collapse_objective,
    collapse_threshold,
    collapse_threshold_local,
    collapsed_directions,
    decoder_max_mode_mass,
    fano_min_error,
    fano_min_rate,
    kl_tv_bound,
    kl_tv_bound_exact,
    min_kl_for_tv,
    min_prior_coverage,
    mode_averaging_distance,
    mode_recovery_accuracy,
    prior_tv_bound,
    rate_decomposition,
)
from theory.registry import Proposition
from theory.transport import (
    achievable_mode_mass,
    chunk_separation,
    exact_fit_min_lipschitz,
    flow_lipschitz_bound,
    gaussian_equivalent_lipschitz,
    isoperimetric_min_lipschitz,
    log_max_mode_mass,
    max_mode_mass,
    max_mode_mass_local,
    max_weighted_coverage,
    max_weighted_coverage_local,
    min_bridge_mass,
    min_bridge_mass_local,
    min_integrated_lipschitz,
    min_lipschitz,
    min_lipschitz_for_bridge,
    mode_mass_frontier,
    preimage_separation,
    wasserstein_lower_bound,
    wasserstein_lower_bound_local,
)

PROPOSITIONS: dict[str, Proposition] = {
    p.id: p for p in (*transport.PROPOSITIONS, *latent.PROPOSITIONS)
}

__all__ = [
    # theory.gaussian
    "isoperimetric_profile", "log_isoperimetric_profile",
    "gaussian_enlargement", "log_gaussian_enlargement", "outside_ball_mass",
    "normal_cdf_expr", "normal_quantile_expr", "normal_pdf_expr",
    # theory.transport (Part T)
    "preimage_separation",
    "max_mode_mass", "log_max_mode_mass", "mode_mass_frontier", "min_lipschitz",
    "max_weighted_coverage", "achievable_mode_mass",
    "min_bridge_mass", "min_lipschitz_for_bridge",
    "wasserstein_lower_bound",
    "flow_lipschitz_bound", "min_integrated_lipschitz", "gaussian_equivalent_lipschitz",
    "chunk_separation",
    "exact_fit_min_lipschitz", "isoperimetric_min_lipschitz",
    "max_mode_mass_local", "max_weighted_coverage_local", "min_bridge_mass_local",
    "wasserstein_lower_bound_local",
    # theory.latent (Part L)
    "rate_decomposition",
    "fano_min_rate", "fano_min_error",
    "kl_tv_bound", "kl_tv_bound_exact", "min_kl_for_tv",
    "mode_recovery_accuracy", "mode_averaging_distance",
    "collapse_threshold", "collapse_threshold_local", "collapse_objective",
    "binary_channel_mmse", "collapsed_directions",
    "prior_tv_bound", "min_prior_coverage",
    "act_effective_kl_weight", "act_kl_weight",
    "decoder_max_mode_mass",
    # registry
    "PROPOSITIONS", "Proposition",
]

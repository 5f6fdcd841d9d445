"""theory: the propositions of multimodal failure in action-chunking BC as code.

Part T (action-space generators: diffusion, flow matching, one-step maps) lives in
`theory.transport` on top of the Gaussian isoperimetric profile in `theory.gaussian`;
Part L (latent-variable policies: CVAE, ACT) lives in `theory.latent`. Every public
function takes floats, NumPy arrays (broadcasting) or SymPy symbols (returns the
expression). `theory.PROPOSITIONS` maps "T1".."T8", "L1".."L6" and the local forms
"T2-local".."T5-local" to `Proposition`s. Proofs: docs/theory.md.

The public API is `__all__`: the names of `theory.gaussian`, `theory.transport` and
`theory.latent` (each module's own `__all__`, re-exported here by name; a test checks
that the two agree) and the registry.
`theory.strategies` (hypothesis strategies) is imported on demand, not here.
"""

from theory import gaussian, latent, transport
from theory.gaussian import gaussian_enlargement as gaussian_enlargement
from theory.gaussian import isoperimetric_profile as isoperimetric_profile
from theory.gaussian import log_gaussian_enlargement as log_gaussian_enlargement
from theory.gaussian import log_isoperimetric_profile as log_isoperimetric_profile
from theory.gaussian import normal_cdf_expr as normal_cdf_expr
from theory.gaussian import normal_pdf_expr as normal_pdf_expr
from theory.gaussian import normal_quantile_expr as normal_quantile_expr
from theory.gaussian import outside_ball_mass as outside_ball_mass
from theory.latent import act_effective_kl_weight as act_effective_kl_weight
from theory.latent import act_kl_weight as act_kl_weight
from theory.latent import binary_channel_mmse as binary_channel_mmse
from theory.latent import collapse_objective as collapse_objective
from theory.latent import collapse_threshold as collapse_threshold
from theory.latent import collapse_threshold_local as collapse_threshold_local
from theory.latent import collapsed_directions as collapsed_directions
from theory.latent import decoder_max_mode_mass as decoder_max_mode_mass
from theory.latent import fano_min_error as fano_min_error
from theory.latent import fano_min_rate as fano_min_rate
from theory.latent import kl_tv_bound as kl_tv_bound
from theory.latent import kl_tv_bound_exact as kl_tv_bound_exact
from theory.latent import min_kl_for_tv as min_kl_for_tv
from theory.latent import min_prior_coverage as min_prior_coverage
from theory.latent import mode_averaging_distance as mode_averaging_distance
from theory.latent import mode_recovery_accuracy as mode_recovery_accuracy
from theory.latent import prior_tv_bound as prior_tv_bound
from theory.latent import rate_decomposition as rate_decomposition
from theory.registry import Proposition
from theory.transport import achievable_mode_mass as achievable_mode_mass
from theory.transport import chunk_separation as chunk_separation
from theory.transport import exact_fit_min_lipschitz as exact_fit_min_lipschitz
from theory.transport import flow_lipschitz_bound as flow_lipschitz_bound
from theory.transport import gaussian_equivalent_lipschitz as gaussian_equivalent_lipschitz
from theory.transport import isoperimetric_min_lipschitz as isoperimetric_min_lipschitz
from theory.transport import log_max_mode_mass as log_max_mode_mass
from theory.transport import max_mode_mass as max_mode_mass
from theory.transport import max_mode_mass_local as max_mode_mass_local
from theory.transport import max_weighted_coverage as max_weighted_coverage
from theory.transport import max_weighted_coverage_local as max_weighted_coverage_local
from theory.transport import min_bridge_mass as min_bridge_mass
from theory.transport import min_bridge_mass_local as min_bridge_mass_local
from theory.transport import min_integrated_lipschitz as min_integrated_lipschitz
from theory.transport import min_lipschitz as min_lipschitz
from theory.transport import min_lipschitz_for_bridge as min_lipschitz_for_bridge
from theory.transport import mode_mass_frontier as mode_mass_frontier
from theory.transport import preimage_separation as preimage_separation
from theory.transport import wasserstein_lower_bound as wasserstein_lower_bound
from theory.transport import wasserstein_lower_bound_local as wasserstein_lower_bound_local

PROPOSITIONS: dict[str, Proposition] = {
    p.id: p for p in (*transport.PROPOSITIONS, *latent.PROPOSITIONS)
}

__all__ = [*gaussian.__all__, *transport.__all__, *latent.__all__, "PROPOSITIONS",
           "Proposition"]

"""numerics: the constants the bounds take, measured on real torch models.

`numerics.lipschitz` (certified upper and empirical lower Lipschitz constants),
`numerics.flow` (flow maps of samplers and their constants), `numerics.transport`
(optimal-transport distances on POT), `numerics.modes` (mode masses with intervals and
bound verdicts), `numerics.information` (latent information of Gaussian encoders).
"""

from numerics import flow, information, lipschitz, modes, transport
from numerics.flow import FLOW_METHODS as FLOW_METHODS
from numerics.flow import ddim_coefficients as ddim_coefficients
from numerics.flow import flow_lipschitz_lower as flow_lipschitz_lower
from numerics.flow import flow_lipschitz_upper as flow_lipschitz_upper
from numerics.flow import ideal_velocity as ideal_velocity
from numerics.flow import ideal_velocity_jacobian as ideal_velocity_jacobian
from numerics.flow import integrate_flow as integrate_flow
from numerics.flow import step_lipschitz_bound as step_lipschitz_bound
from numerics.information import CollapseThreshold as CollapseThreshold
from numerics.information import HeldOutModeTerms as HeldOutModeTerms
from numerics.information import LatentInformation as LatentInformation
from numerics.information import PriorCoverage as PriorCoverage
from numerics.information import collapse_ratio as collapse_ratio
from numerics.information import collapse_threshold as collapse_threshold
from numerics.information import gaussian_rate as gaussian_rate
from numerics.information import held_out_mode_terms as held_out_mode_terms
from numerics.information import latent_information as latent_information
from numerics.information import prior_coverage as prior_coverage
from numerics.lipschitz import SAMPLER_METHODS as SAMPLER_METHODS
from numerics.lipschitz import SAMPLERS as SAMPLERS
from numerics.lipschitz import UPPER_METHODS as UPPER_METHODS
from numerics.lipschitz import LipschitzEstimate as LipschitzEstimate
from numerics.lipschitz import LogNormBound as LogNormBound
from numerics.lipschitz import NotCertified as NotCertified
from numerics.lipschitz import SamplerStage as SamplerStage
from numerics.lipschitz import SamplerStep as SamplerStep
from numerics.lipschitz import SlopeNetwork as SlopeNetwork
from numerics.lipschitz import UnrolledSampler as UnrolledSampler
from numerics.lipschitz import activation_slopes as activation_slopes
from numerics.lipschitz import certify_chain as certify_chain
from numerics.lipschitz import certify_multipliers as certify_multipliers
from numerics.lipschitz import eclipse_fast as eclipse_fast
from numerics.lipschitz import fast_certified as fast_certified
from numerics.lipschitz import jacobian_norm as jacobian_norm
from numerics.lipschitz import lipschitz_lower as lipschitz_lower
from numerics.lipschitz import lipschitz_upper as lipschitz_upper
from numerics.lipschitz import lipsdp as lipsdp
from numerics.lipschitz import network_from_sequential as network_from_sequential
from numerics.lipschitz import one_sided_lipschitz_upper as one_sided_lipschitz_upper
from numerics.lipschitz import product_bound as product_bound
from numerics.lipschitz import sampler_lipschitz_local as sampler_lipschitz_local
from numerics.lipschitz import sampler_lipschitz_upper as sampler_lipschitz_upper
from numerics.lipschitz import sampler_map as sampler_map
from numerics.lipschitz import scalar_feasible_multipliers as scalar_feasible_multipliers
from numerics.lipschitz import spectral_product as spectral_product
from numerics.lipschitz import transition_lipschitz_lower as transition_lipschitz_lower
from numerics.lipschitz import unroll_sampler as unroll_sampler
from numerics.modes import BoundCheck as BoundCheck
from numerics.modes import ModeMasses as ModeMasses
from numerics.modes import assign_modes as assign_modes
from numerics.modes import binomial_pvalue as binomial_pvalue
from numerics.modes import check_interval_bound as check_interval_bound
from numerics.modes import check_proportion_bound as check_proportion_bound
from numerics.modes import clopper_pearson as clopper_pearson
from numerics.modes import detectable_proportion as detectable_proportion
from numerics.modes import holm_adjusted as holm_adjusted
from numerics.modes import masses_from_labels as masses_from_labels
from numerics.modes import mode_distances as mode_distances
from numerics.modes import mode_masses as mode_masses
from numerics.modes import modes_from_demonstrations as modes_from_demonstrations
from numerics.transport import AtomDistance as AtomDistance
from numerics.transport import check_wasserstein_bound as check_wasserstein_bound
from numerics.transport import empirical_transport_map as empirical_transport_map
from numerics.transport import lipschitz_ratio as lipschitz_ratio
from numerics.transport import w1_to_atoms as w1_to_atoms
from numerics.transport import wasserstein as wasserstein

__all__ = [
    *lipschitz.__all__, *flow.__all__, *transport.__all__, *modes.__all__,
    *information.__all__,
]

"""numerics: the constants the bounds take, measured on real torch models.

`numerics.lipschitz` (certified upper and empirical lower Lipschitz constants),
`numerics.flow` (flow maps of samplers and their constants), `numerics.transport`
(optimal-transport distances on POT), `numerics.modes` (mode masses with intervals and
bound verdicts), `numerics.information` (latent information of Gaussian encoders).
"""

from numerics import flow, information, lipschitz, modes, transport
from numerics.flow import *  # noqa: F403
from numerics.information import *  # noqa: F403
from numerics.lipschitz import *  # noqa: F403
from numerics.modes import *  # noqa: F403
from numerics.transport import *  # noqa: F403

__all__ = [
    *lipschitz.__all__, *flow.__all__, *transport.__all__, *modes.__all__,
    *information.__all__,
]

"""Local forms: Part T at the certified constant on a ball, where the checks bite.

A global certificate of a trained unconstrained sampler is 10^3-10^7 times the constant a
search finds (the worst slope of every neuron at once), and Part T at it is vacuous. The
local forms (docs/theory.md, "local forms") need only ``L_B``, the constant on a ball
``B = {|eps| <= R}`` of Gaussian mass ``1 - p``, which `numerics.sampler_lipschitz_local`
certifies within a few percent of an attained Jacobian norm when the noise is
low-dimensional. So each run here trains one unconstrained policy on the planar two-mode
task (``kway``, ``K = 2``, one planar action per chunk: noise in ``R^2``), certifies
``L_B`` at every evaluation observation and checks T2-T5 in both forms
(`validation.checks.transport_checks_from`: ``"T2"`` ... at the global constant,
``"T2-local"`` ... at ``L_B`` and ``p``) with enough samples that the bridge bound can
fail (`numerics.detectable_proportion`: ``n = 2 x 10^5`` resolves a bridge mass of
``~3 x 10^-5``).

Resumable: each run is cached by its config hash (`validation.cache`).
"""

from __future__ import annotations

from dataclasses import dataclass

from validation.experiments import (
    Running,
    Training,
    TransportRun,
    lipschitz_sweep,
    measured_run,
    transport_sweep,
)
from validation.experiments.lipschitz_sweep import VARIANTS
from validation.tasks import TaskSpec

# The planar two-mode task: one action of two coordinates per chunk, so the noise is R^2
# and the ball certificate's boxes are few (its cost grows exponentially with the noise
# dimension; the fork's 8-D chunks are out of its reach).
PLANAR = TaskSpec.of("kway", n_modes=2, horizon=1)
# The ball of Gaussian mass 1 - 1e-3 (R = 3.717 in R^2): the outside mass costs the local
# bounds p = 1e-3 while the constant on the ball is that of the bulk of the samples.
OUTSIDE_MASS = 1e-3


@dataclass(frozen=True)
class LocalFormsConfig(Running):
    """The stage: which policies (keys of `lipschitz_sweep.VARIANTS`), their training, the
    evaluation sizes and the ball certificate's options (`measure_transport`'s ``local``)."""

    variants: tuple[str, ...]
    training: Training
    n_obs: int
    n_samples: int
    local: tuple[tuple[str, object], ...]
    seeds: tuple[int, ...] = (0,)
    task: TaskSpec = PLANAR
    # (n_starts, ascent_steps, n_power) of the empirical Lipschitz search
    lower_search: tuple[int, int, int] = (8, 20, 20)


def _ball(tolerance: float, max_cells: int, max_seconds: float) -> tuple:
    return (("max_cells", max_cells), ("max_seconds", max_seconds),
            ("outside_mass", OUTSIDE_MASS), ("tolerance", tolerance))


SIZES: dict[str, LocalFormsConfig] = {
    "smoke": LocalFormsConfig(
        variants=("flow-free",), training=Training(steps=300, n_demos=1024, hidden=(32, 32),
                                                   lr=3e-3),
        n_obs=1, n_samples=20_000, local=_ball(0.25, 50_000, 30.0), lower_search=(2, 4, 4)),
    "reduced": LocalFormsConfig(
        variants=("flow-free",), training=Training(steps=4000, n_demos=4096,
                                                   hidden=(128, 128), lr=3e-3),
        n_obs=2, n_samples=200_000, local=_ball(0.05, 400_000, 120.0),
        lower_search=(4, 10, 10)),
    "full": LocalFormsConfig(
        variants=("flow-free", "flow-free-2step", "diffusion-ddim-10"),
        training=Training(steps=10000, n_demos=16384, hidden=(128, 128), lr=3e-3),
        n_obs=4, n_samples=1_000_000, local=_ball(0.02, 2_000_000, 600.0),
        seeds=(0, 1, 2)),
}


def runs(config: LocalFormsConfig) -> list[TransportRun]:
    """The runs of the stage, in order (`lipschitz_sweep.runs` with the ball's options)."""
    for name in config.variants:
        if VARIANTS.get(name, ("flow",))[0] not in ("flow", "diffusion"):
            raise ValueError(f"variants must be flow or diffusion policies (the ball "
                             f"certificate runs their sampler), got {name!r} "
                             f"({VARIANTS[name][0]})")
    return lipschitz_sweep.runs(config, local=tuple(config.local))


# Train, certify (globally and on the ball), sample, measure (`measure_run`).
run_one = measured_run


def run(config: LocalFormsConfig) -> dict:
    """All runs (cached) -> ``{"rows": [...], "checks": [BoundCheck dicts]}``."""
    return transport_sweep(config, "local_forms", runs(config), tag=" (planar)")

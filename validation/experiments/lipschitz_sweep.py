"""Lipschitz sweep: trained action-space generators against T2-T5 as ``L`` varies.

Each run trains one policy on the fork task -- a flow with spectral normalisation and
an explicit Lipschitz scale of the velocity (``l <= scale``, so ``L <= (1 + l/N)^N``), an
unconstrained flow, a DDIM diffusion policy with few or many steps, a CVAE decoder with
and without weight decay -- then measures its mode masses, bridge mass and ``W_1``
(`validation.checks.measure_transport`) at the certified upper constant (checks that
must hold) and the empirical lower one (how close the policy comes to the bound).

Resumable: each run is cached by its config hash (`validation.cache`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from validation.experiments import (
    FORK,
    Running,
    Training,
    TransportRun,
    measured_run,
    transport_sweep,
)
from validation.tasks import TaskSpec

# (kind, hyper-parameters, weight decay): the sizes below pick from these.
VARIANTS: dict[str, tuple[str, tuple, float]] = {
    "flow-sn-0.5": ("flow", (("spectral_norm", True), ("activation", "relu"),
                             ("lipschitz_scale", 0.5), ("n_steps", 8)), 0.0),
    "flow-sn-1": ("flow", (("spectral_norm", True), ("activation", "relu"),
                           ("lipschitz_scale", 1.0), ("n_steps", 8)), 0.0),
    "flow-sn-2": ("flow", (("spectral_norm", True), ("activation", "relu"),
                           ("lipschitz_scale", 2.0), ("n_steps", 8)), 0.0),
    "flow-sn-4": ("flow", (("spectral_norm", True), ("activation", "relu"),
                           ("lipschitz_scale", 4.0), ("n_steps", 8)), 0.0),
    "flow-free": ("flow", (("n_steps", 8),), 0.0),
    "flow-free-2step": ("flow", (("n_steps", 2),), 0.0),
    "diffusion-ddim-2": ("diffusion", (("n_sampling_steps", 2),), 0.0),
    "diffusion-ddim-10": ("diffusion", (("n_sampling_steps", 10),), 0.0),
    "cvae": ("cvae", (("beta", 0.05), ("latent_dim", 2)), 0.0),
    "cvae-wd": ("cvae", (("beta", 0.05), ("latent_dim", 2)), 1.0),
}

@dataclass(frozen=True)
class LipschitzSweepConfig(Running):
    """The sweep: which variants (keys of `VARIANTS`), training and evaluation sizes,
    and how the suite runs it (device, cache, progress, planted bound)."""

    variants: tuple[str, ...]
    training: Training
    n_obs: int
    n_samples: int
    seeds: tuple[int, ...] = (0,)
    # the task (--task, docs/bring-your-own-task.md); default the fork of the figures
    task: TaskSpec = FORK
    # (n_starts, ascent_steps, n_power) of the empirical Lipschitz search
    lower_search: tuple[int, int, int] = (8, 20, 20)


SIZES: dict[str, LipschitzSweepConfig] = {
    "smoke": LipschitzSweepConfig(
        variants=("flow-sn-1", "flow-free", "diffusion-ddim-2", "cvae"),
        training=Training(steps=150, n_demos=512, hidden=(16, 16)), n_obs=2, n_samples=2000,
        lower_search=(1, 0, 2)),
    "reduced": LipschitzSweepConfig(
        # The unconstrained flow, DDIM-10 and the CVAE of the same training are the
        # gallery's (`gallery.SIZES["reduced"]`): the quick suite trains them once.
        variants=("flow-sn-0.5", "flow-sn-1", "flow-sn-4", "diffusion-ddim-2", "cvae-wd"),
        training=Training(steps=4000, n_demos=4096, hidden=(128, 128), lr=3e-3), n_obs=4,
        n_samples=10_000),
    "full": LipschitzSweepConfig(
        variants=tuple(VARIANTS), training=Training(steps=10000, n_demos=16384,
                                                    hidden=(256, 256), lr=3e-3),
        n_obs=8, n_samples=50_000, seeds=(0, 1, 2)),
}


def runs(config: LipschitzSweepConfig, local: tuple[tuple[str, object], ...] = ()
         ) -> list[TransportRun]:
    """The runs of a sweep, in order; ``local``: the ball certificate's options of every
    run (`TransportRun.local`; the local-forms stage builds its runs here too)."""
    out = []
    for name in config.variants:
        if name not in VARIANTS:
            raise ValueError(f"variants must be keys of VARIANTS {sorted(VARIANTS)}, got {name!r}")
        kind, hyper, wd = VARIANTS[name]
        training = dataclasses.replace(config.training, weight_decay=wd)
        out += [TransportRun(name, kind, hyper, config.task, training, config.n_obs,
                             config.n_samples, seed, config.device, tuple(config.lower_search),
                             local=tuple(local))
                for seed in config.seeds]
    return out


# Train, certify, sample, measure: the JSON-ready result of one run (`measure_run`).
run_one = measured_run


def run(config: LipschitzSweepConfig) -> dict:
    """All runs (cached) -> ``{"rows": [...], "checks": [BoundCheck dicts]}``."""
    return transport_sweep(config, "lipschitz_sweep", runs(config))

"""The policy gallery: every policy family trained on the fork task, side by side.

Regression (mode averaging), a mixture density network (discontinuous sampling), a CVAE
(latent variable), flow matching and diffusion (action-space generators) on the same
two-mode fork: their mode masses and bridge mass at the evaluation observations
(`validation.checks.measure_transport`; Part T checks for the policies with a Lipschitz
constant) and ``N_PLOT_SAMPLES`` chunks at one observation for the gallery figure.
"""

from __future__ import annotations

from dataclasses import dataclass

from validation.checks import TransportMeasurement, transport_checks_from
from validation.experiments import FORK, Running, Training, TransportRun, labelled, measure_run
from validation.tasks import TaskSpec

# label -> (kind, hyper-parameters)
POLICIES: dict[str, tuple[str, tuple]] = {
    "regression": ("regression", ()),
    "gmm": ("gmm", (("n_components", 4),)),
    "cvae": ("cvae", (("beta", 0.05), ("latent_dim", 2))),
    "flow": ("flow", (("n_steps", 8),)),
    "diffusion": ("diffusion", (("n_sampling_steps", 10),)),
}
N_PLOT_SAMPLES = 48


@dataclass(frozen=True)
class GalleryConfig(Running):
    """Which policies, training and evaluation sizes, and how the suite runs it."""

    training: Training
    n_obs: int
    n_samples: int
    seeds: tuple[int, ...] = (0,)
    policies: tuple[str, ...] = tuple(POLICIES)
    # the task (--task, docs/bring-your-own-task.md); default the fork of the figures
    task: TaskSpec = FORK
    # (n_starts, ascent_steps, n_power) of the empirical Lipschitz search
    lower_search: tuple[int, int, int] = (8, 20, 20)


SIZES: dict[str, GalleryConfig] = {
    "smoke": GalleryConfig(training=Training(150, 512, (16, 16)), n_obs=2, n_samples=2000,
                           lower_search=(1, 0, 2)),
    "reduced": GalleryConfig(training=Training(4000, 4096, (128, 128), lr=3e-3), n_obs=4,
                             n_samples=10_000),
    "full": GalleryConfig(training=Training(10000, 16384, (256, 256), lr=3e-3), n_obs=8,
                          n_samples=50_000),
}


def runs(config: GalleryConfig) -> list[TransportRun]:
    """The runs of the gallery, in order."""
    out = []
    for label in config.policies:
        if label not in POLICIES:
            raise ValueError(f"policies must be keys of POLICIES {sorted(POLICIES)}, "
                             f"got {label!r}")
        kind, hyper = POLICIES[label]
        out += [TransportRun(label, kind, hyper, config.task, config.training,
                           config.n_obs, config.n_samples, seed, config.device,
                           tuple(config.lower_search))
                for seed in config.seeds]
    return out


def run_one(r: TransportRun) -> dict:
    """Train one policy; its measurement and ``N_PLOT_SAMPLES`` chunks at one observation."""
    import torch

    task, policy, obs, _, result = measure_run(r)
    gen = torch.Generator(device=policy.device).manual_seed(r.seed)
    shown = policy.sample(obs[:1], N_PLOT_SAMPLES, generator=gen)[0].cpu().numpy()
    shape = (task.horizon, task.action_dim)
    return {**result, "samples": shown.reshape(-1, *shape).tolist(),
            "centres": task.mode_centres(obs[:1])[0].reshape(-1, *shape).tolist()}


def run(config: GalleryConfig) -> dict:
    """All runs (cached) -> ``{"rows", "samples", "checks"}``."""
    rows, samples, checks = [], [], []
    for res in config.sweep("gallery", runs(config), run_one):
        r = res["run"]
        m = TransportMeasurement.from_dict(res["measurement"])
        rows.append({"policy": r["label"], **m.summary(), "final_loss": res["final_loss"]})
        checks += labelled(transport_checks_from(m, plant=config.plant),
                           f"gallery {r['label']} seed {r['seed']}")
        samples.append({"policy": r["kind"], "label": r["label"], "samples": res["samples"],
                        "centres": res["centres"]})
    return {"rows": rows, "samples": samples, "checks": checks}


__all__ = ["GalleryConfig", "N_PLOT_SAMPLES", "POLICIES", "SIZES", "run",
           "run_one", "runs"]

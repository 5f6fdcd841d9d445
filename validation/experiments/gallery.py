"""The policy gallery: every policy family trained on the fork task, side by side.

Regression (mode averaging), a mixture density network (discontinuous sampling), a CVAE
(latent variable), flow matching and diffusion (action-space generators) on the same
two-mode fork: their mode masses and bridge mass at the evaluation observations
(`validation.checks.measure_transport`; Part T checks for the policies with a Lipschitz
constant) and ``N_PLOT_SAMPLES`` chunks at one observation for the gallery figure.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from validation.backends import Backend, LocalBackend
from validation.checks import TransportMeasurement, measure_transport, transport_checks_from
from validation.experiments import Training, labelled, sweep, train_policy

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
class GalleryConfig:
    """Which policies, training and evaluation sizes, and how the suite runs it."""

    training: Training
    n_obs: int
    n_samples: int
    seeds: tuple[int, ...] = (0,)
    policies: tuple[str, ...] = tuple(POLICIES)
    task_params: tuple[tuple[str, object], ...] = (("horizon", 4), ("clearance", 0.5))
    device: str = "cpu"
    progress: bool = False
    cache_dir: Path = Path("out/cache")
    plant: bool = False
    backend: Backend = LocalBackend()


SIZES: dict[str, GalleryConfig] = {
    "smoke": GalleryConfig(training=Training(150, 512, (16, 16)), n_obs=2, n_samples=2000),
    "reduced": GalleryConfig(training=Training(4000, 4096, (128, 128), lr=3e-3), n_obs=4,
                             n_samples=10_000),
    "full": GalleryConfig(training=Training(10000, 16384, (256, 256), lr=3e-3), n_obs=8,
                          n_samples=50_000),
}


@dataclass(frozen=True)
class GalleryRun:
    """One cached gallery run: a policy kind trained on the fork task."""

    label: str
    kind: str
    hyper: tuple[tuple[str, object], ...]
    task_params: tuple[tuple[str, object], ...]
    training: Training
    n_obs: int
    n_samples: int
    seed: int
    device: str


def runs(config: GalleryConfig) -> list[GalleryRun]:
    """The runs of the gallery, in order."""
    out = []
    for label in config.policies:
        if label not in POLICIES:
            raise ValueError(f"policies must be keys of POLICIES {sorted(POLICIES)}, "
                             f"got {label!r}")
        kind, hyper = POLICIES[label]
        out += [GalleryRun(label, kind, hyper, config.task_params, config.training,
                           config.n_obs, config.n_samples, seed, config.device)
                for seed in config.seeds]
    return out


def run_one(r: GalleryRun) -> dict:
    """Train one policy; its mode masses and ``N_PLOT_SAMPLES`` chunks at one observation."""
    import torch

    from validation.tasks import make_task

    task = make_task("fork", **dict(r.task_params))
    policy, log, _ = train_policy(task, r.kind, dict(r.hyper), r.training, seed=r.seed,
                                  device=r.device)
    obs = task.observations(r.n_obs, seed=r.seed)
    m = measure_transport(policy, task, obs, r.n_samples, seed=r.seed)
    gen = torch.Generator(device=policy.device).manual_seed(r.seed)
    shown = policy.sample(obs[:1], N_PLOT_SAMPLES, generator=gen)[0].cpu().numpy()
    shape = (task.horizon, task.action_dim)
    return {"run": dataclasses.asdict(r), "measurement": m.to_dict(),
            "samples": shown.reshape(-1, *shape).tolist(),
            "centres": task.mode_centres(obs[:1])[0].reshape(-1, *shape).tolist(),
            "final_loss": log.final_loss, "train_seconds": log.seconds}


def run(config: GalleryConfig) -> dict:
    """All runs (cached) -> ``{"rows", "samples", "checks"}``."""
    results = sweep("gallery", runs(config), run_one, config.cache_dir, config.progress,
                    config.backend)
    rows, samples, checks = [], [], []
    for res in results:
        r = res["run"]
        m = TransportMeasurement.from_dict(res["measurement"])
        rows.append({"policy": r["label"], **m.summary(), "final_loss": res["final_loss"]})
        checks += labelled(transport_checks_from(m, plant=config.plant),
                           f"gallery {r['label']} seed {r['seed']}")
        samples.append({"policy": r["kind"], "label": r["label"], "samples": res["samples"],
                        "centres": res["centres"]})
    return {"rows": rows, "samples": samples, "checks": checks}


__all__ = ["GalleryConfig", "GalleryRun", "N_PLOT_SAMPLES", "POLICIES", "SIZES", "run",
           "run_one", "runs"]

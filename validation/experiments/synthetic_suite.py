"""The ``quick`` and ``full`` suites: every synthetic experiment, every policy, every bound.

``run_suite`` runs, at the suite's size, the policy gallery (regression, mixture
density, CVAE, flow and diffusion on the fork task: mode masses and samples), the
Lipschitz sweep (T2-T5), the beta sweep (L1-L5 and the L4 transition) and the chunk
sweep (T7), each cached and resumable under ``config.cache``. ``plot_suite`` draws the
figures from the results alone.
"""

from __future__ import annotations

import dataclasses
import datetime
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from validation.checks import (
    PLANT_ENV,
    TransportMeasurement,
    measure_transport,
    planted,
    transport_checks_from,
)
from validation.experiments import (
    beta_sweep,
    chunk_sweep,
    labelled,
    lipschitz_sweep,
    resolve_device,
    sweep,
    train_policy,
)
from validation.suites import SuiteConfig

# label -> (kind, hyper-parameters) of the gallery on the fork task
GALLERY: dict[str, tuple[str, tuple]] = {
    "regression": ("regression", ()),
    "gmm": ("gmm", (("n_components", 4),)),
    "cvae": ("cvae", (("beta", 0.05), ("latent_dim", 2))),
    "flow": ("flow", (("n_steps", 8),)),
    "diffusion": ("diffusion", (("n_sampling_steps", 10),)),
}
N_PLOT_SAMPLES = 48


@dataclass(frozen=True)
class GalleryRun:
    """One cached gallery run: a policy kind trained on the fork task."""

    label: str
    kind: str
    hyper: tuple[tuple[str, object], ...]
    task_params: tuple[tuple[str, object], ...]
    hidden: tuple[int, ...]
    steps: int
    n_demos: int
    n_obs: int
    n_samples: int
    seed: int
    device: str


def gallery_run(r: GalleryRun) -> dict:
    """Train one policy; its mode masses and ``N_PLOT_SAMPLES`` chunks at one observation."""
    import torch

    from validation.tasks import make_task

    task = make_task("fork", **dict(r.task_params))
    policy, log, _ = train_policy(task, r.kind, {**dict(r.hyper), "hidden": r.hidden},
                                  steps=r.steps, n_demos=r.n_demos, seed=r.seed,
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


def run_suite(config: SuiteConfig) -> dict[str, Any]:
    """Run the synthetic experiments at ``config.size`` -> the results dict (architecture.md)."""
    start = time.perf_counter()
    device = resolve_device(config.device)
    common = dict(seed=config.seed, device=device, progress=config.progress,
                  cache_dir=Path(config.cache))
    lip_cfg = lipschitz_sweep.LipschitzSweepConfig.for_size(config.size, **common)
    beta_cfg = beta_sweep.BetaSweepConfig.for_size(config.size, **common)
    chunk_cfg = chunk_sweep.ChunkSweepConfig.for_size(config.size, **common)

    gallery = [GalleryRun(label, kind, hyper, lip_cfg.task_params, lip_cfg.hidden,
                          lip_cfg.steps, lip_cfg.n_demos, lip_cfg.n_obs, lip_cfg.n_samples,
                          config.seed, device) for label, (kind, hyper) in GALLERY.items()]
    stages = [("gallery", lambda: sweep("gallery", gallery, gallery_run, config.cache,
                                        config.progress)),
              ("lipschitz", lambda: lipschitz_sweep.run(lip_cfg)),
              ("beta", lambda: beta_sweep.run(beta_cfg)),
              ("chunk", lambda: chunk_sweep.run(chunk_cfg))]
    out: dict[str, Any] = {}
    timings = {}
    for name, stage in stages:
        t = time.perf_counter()
        out[name] = stage()
        timings[name] = time.perf_counter() - t

    checks, policy_rows, sample_rows = [], [], []
    for res in out["gallery"]:
        m = TransportMeasurement.from_dict(res["measurement"])
        policy_rows.append({"policy": res["run"]["label"], **m.summary(),
                            "final_loss": res["final_loss"]})
        checks += labelled(transport_checks_from(m), f"gallery {res['run']['label']}")
        sample_rows.append({"policy": res["run"]["kind"], "label": res["run"]["label"],
                            "samples": res["samples"], "centres": res["centres"]})
    for name in ("lipschitz", "beta", "chunk"):
        checks += out[name]["checks"]

    beta_star = out["beta"]["beta_star"]
    notes = [
        f"Size {config.size!r}, base seed {config.seed} (every run's seed is listed in its "
        f"table row), device {device}; stage wall times (s, cached runs load instantly): "
        + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()) + ".",
        "Intervals: Clopper-Pearson per observation and mode, all of a check jointly at "
        "99% (Bonferroni); a check reports the observation closest to violating its bound.",
        "T2-T5 use the certified upper Lipschitz constant (must hold); the empirical lower "
        "constant is reported in the notes and as hollow points in the mode-mass figure.",
        f"beta* (L4, squared loss summed over the chunk, sigma^2 = 1/2) = {beta_star:.4g}; "
        "the L4 checks use thresholds H(w)/2 below beta*/4 and H(w)/10 above 4 beta*.",
        "Gallery policies without a Lipschitz constant (regression: deterministic; gmm: "
        "discontinuous) are measured but not checked against Part T.",
    ]
    if planted():
        notes.insert(0, f"A WRONG BOUND IS PLANTED ({PLANT_ENV}): FAIL verdicts are expected.")
    return {
        "suite": "full" if config.size == "full" else "quick", "size": config.size,
        "seed": config.seed, "device": device,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "wall_seconds": time.perf_counter() - start, "checks": checks,
        "tables": {"policies": policy_rows, "lipschitz_sweep": out["lipschitz"]["rows"],
                   "beta_sweep": out["beta"]["rows"], "chunk_sweep": out["chunk"]["rows"],
                   "policy_samples": sample_rows},
        "beta_star": beta_star, "notes": notes,
    }


def plot_suite(results: dict[str, Any], out_dir: Path) -> list[Path]:
    """Every figure of the suite from ``results`` alone (PNG and PDF under out_dir/figures)."""
    import matplotlib.pyplot as plt

    from validation import plots

    tables = results.get("tables", {})
    transport_rows = [*tables.get("policies", []), *tables.get("lipschitz_sweep", [])]
    beta_rows = tables.get("beta_sweep", [])
    beta_star = results.get("beta_star") or (beta_rows[0]["beta_star"] if beta_rows else 1.0)
    figures = [
        ("mode_mass_vs_ratio", lambda: plots.plot_mode_mass_vs_ratio(transport_rows)),
        ("bridge_vs_lipschitz", lambda: plots.plot_bridge_vs_lipschitz(transport_rows)),
        ("w1_vs_bound", lambda: plots.plot_w1_vs_bound(transport_rows)),
        ("beta_sweep", lambda: plots.plot_beta_sweep(beta_rows, float(beta_star))),
        ("chunk_sweep", lambda: plots.plot_chunk_sweep(tables.get("chunk_sweep", []))),
        ("policy_samples", lambda: plots.plot_policy_samples(tables.get("policy_samples", []))),
    ]
    paths: list[Path] = []
    with plots.publication_style():
        for name, draw in figures:
            fig = draw()
            paths += plots.save_figure(fig, out_dir, name)
            plt.close(fig)
    return paths


__all__ = ["GALLERY", "GalleryRun", "gallery_run", "plot_suite", "run_suite"]

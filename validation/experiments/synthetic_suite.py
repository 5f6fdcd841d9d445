"""The ``quick`` and ``full`` suites: every synthetic experiment, every policy, every bound.

``run_suite`` runs, at the suite's size, the policy gallery (`gallery`: regression,
mixture density, CVAE, flow and diffusion on the fork task), the Lipschitz sweep (T2-T5),
the local forms (T2-T5 at the constant certified on a ball, `local_forms`), the beta sweep
(L1-L5 and the L4 transition) and the chunk sweep (T7), each cached and resumable under
``config.cache``. ``plot_suite`` draws the figures from the results alone
(`synthetic_figures`). With ``config.task`` (``--task``) the stages of `TASK_STAGES` run on
that task instead of the fork; the others keep their own.
"""

from __future__ import annotations

import datetime
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

from validation.backends import for_suite
from validation.experiments import (
    beta_sweep,
    chunk_sweep,
    gallery,
    lipschitz_sweep,
    local_forms,
    sized,
)
from validation.suites import SuiteConfig
from validation.tasks import Task, TaskSpec

# The stages in the order they run: (name, experiment module).
STAGES = (("gallery", gallery), ("lipschitz", lipschitz_sweep), ("local", local_forms),
          ("beta", beta_sweep), ("chunk", chunk_sweep))
# The stages that run on a user's task (their configs have a ``task`` field): the gallery
# and the Lipschitz sweep measure mode masses and Part T on any task. The local forms
# (their ball certificate needs a planar task), the beta sweep (L4's beta* is the fork's
# closed form) and the chunk sweep (T7 varies the fork's horizon) keep their own tasks.
TASK_STAGES = ("gallery", "lipschitz")


def check_task(text: str) -> Task:
    """Build the task ``text`` names (`TaskSpec.parse`) as the `TASK_STAGES` will, or a
    ``ValueError`` / ``TypeError`` saying why it cannot run here."""
    unable = [name for name, module in STAGES if name in TASK_STAGES
              and "task" not in {f.name for f in fields(next(iter(module.SIZES.values())))}]
    if unable:
        raise ValueError(f"the {' and '.join(unable)} stage(s) of this version take no task "
                         "(their configs have no task field)")
    return TaskSpec.parse(text).build()


def run_suite(config: SuiteConfig) -> dict[str, Any]:
    """Run the synthetic experiments at ``config.size`` -> the results dict (architecture.md)."""
    start = time.perf_counter()
    backend = for_suite(config)
    device = backend.resolve_device(config.device)
    common = dict(device=device, progress=config.progress, cache_dir=Path(config.cache),
                  plant=config.plant_wrong_bound, backend=backend)
    own_task = {}
    if config.task is not None:
        check_task(config.task)
        own_task = {"task": TaskSpec.parse(config.task)}
    out: dict[str, Any] = {}
    timings = {}
    for name, module in STAGES:
        t = time.perf_counter()
        extra = own_task if name in TASK_STAGES else {}
        out[name] = module.run(sized(module.SIZES, config.size, config.seed, **common,
                                     **extra))
        timings[name] = time.perf_counter() - t
    checks = [c for name, _ in STAGES for c in out[name]["checks"]]

    beta_star = out["beta"]["beta_star"]
    notes = [
        f"Size {config.size!r}, base seed {config.seed} (every run's seed is listed in its "
        f"table row), device {device}; stage wall times (s, cached runs load instantly): "
        + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()) + ".",
        "Intervals: Clopper-Pearson per observation and mode, all of a check jointly at "
        "99% (Bonferroni); a check reports the observation closest to violating its bound.",
        "T2-T5 use the certified upper Lipschitz constant (must hold); the empirical lower "
        "constant is reported in the notes and as hollow points in the mode-mass figure.",
        "T2-local ... T5-local (the local-forms stage, planar two-mode task): the local forms "
        "of Part T at L_B, the constant certified on the noise ball of Gaussian mass "
        f"1 - {local_forms.OUTSIDE_MASS:g} (numerics.sampler_lipschitz_local), where the "
        "global certificate of the same unconstrained policy is orders of magnitude larger.",
        f"beta* (L4, squared loss summed over the chunk, sigma^2 = 1/2) = {beta_star:.4g}; "
        "the L4 checks use thresholds H(w)/2 below beta*/4 and H(w)/10 above 4 beta*.",
        "Gallery policies without a Lipschitz constant (regression: deterministic; gmm: "
        "discontinuous) are measured but not checked against Part T.",
    ]
    if config.task is not None:
        notes.insert(0, f"Task {config.task!r} (--task) in the {' and '.join(TASK_STAGES)} "
                        "stages; the other stages run on their own tasks.")
    if config.plant_wrong_bound:
        notes.insert(0, "A WRONG BOUND IS PLANTED (--plant-wrong-bound): FAIL verdicts are "
                        "expected.")
    return {
        "suite": "full" if config.size == "full" else "quick", "size": config.size,
        "seed": config.seed, "device": device, "backend": backend.describe(),
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "wall_seconds": time.perf_counter() - start, "checks": checks,
        "tables": {"policies": out["gallery"]["rows"],
                   "lipschitz_sweep": out["lipschitz"]["rows"],
                   "local_forms": out["local"]["rows"],
                   "beta_sweep": out["beta"]["rows"], "chunk_sweep": out["chunk"]["rows"],
                   "policy_samples": out["gallery"]["samples"]},
        "beta_star": beta_star, "notes": notes,
    }


def plot_suite(results: dict[str, Any], out_dir: Path) -> list[Path]:
    """Every figure of the suite from ``results`` alone (PNG and PDF under out_dir/figures)."""
    import matplotlib.pyplot as plt

    from validation import plots
    from validation.experiments import synthetic_figures as figs

    tables = results.get("tables", {})
    transport_rows = [*tables.get("policies", []), *tables.get("lipschitz_sweep", []),
                      *tables.get("local_forms", [])]
    beta_rows = tables.get("beta_sweep", [])
    beta_star = results.get("beta_star") or (beta_rows[0]["beta_star"] if beta_rows else 1.0)
    figures = [
        ("mode_mass_vs_ratio", lambda: figs.plot_mode_mass_vs_ratio(transport_rows)),
        ("bridge_vs_lipschitz", lambda: figs.plot_bridge_vs_lipschitz(transport_rows)),
        ("bridge_vs_bound", lambda: figs.plot_bridge_vs_bound(transport_rows)),
        ("w1_vs_bound", lambda: figs.plot_w1_vs_bound(transport_rows)),
        ("beta_sweep", lambda: figs.plot_beta_sweep(beta_rows, float(beta_star))),
        ("chunk_sweep", lambda: figs.plot_chunk_sweep(tables.get("chunk_sweep", []))),
        ("policy_samples", lambda: figs.plot_policy_samples(tables.get("policy_samples", []))),
        ("check_power", lambda: plots.plot_check_power(results.get("checks", []))),
        ("lipschitz_sandwich", lambda: plots.plot_sandwich(
            [{**r, "policy": r.get("variant", r.get("policy"))} for r in transport_rows])),
    ]
    paths: list[Path] = []
    with plots.publication_style():
        for name, draw in figures:
            fig = draw()
            paths += plots.save_figure(fig, out_dir, name)
            plt.close(fig)
    return paths


__all__ = ["STAGES", "TASK_STAGES", "check_task", "plot_suite", "run_suite"]

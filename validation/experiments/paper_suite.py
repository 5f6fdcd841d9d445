"""The paper's unit-square benchmark (``modebound validate --suite paper``; issue #6).

For every task of `validation.tasks.paper` and every policy setting of the paper (CVAE
with latent dimension 2, 4 on ``radial`` with 16 rays, KL weight 0.01 and a sweep around
it; flow matching with 10 Euler steps; DDIM with 100 steps; a regression baseline), for
several training seeds: train on the demonstrations, roll out closed loop from the start
states (whole chunk open loop, and ACT temporal ensembling ``exp(-0.01 i)``), score the
rollouts with `validation.paper_metrics`, and run the synthetic suite's bound checks on
the chunk distribution at the start (`validation.checks`: T2-T5 at the certified
Lipschitz constant, L1-L5 for the CVAE). One run = one (task, setting, seed), cached by
`validation.cache.run_cached` so a killed suite resumes.

Output: ``results["tables"]["paper_metrics"]`` (the paper's format: one row per task,
policy setting and execution, each metric as ``mean [low, high]``, a 95% Student-t
interval over training seeds), ``results["paper_metrics_raw"]`` (the same as numbers),
the bound checks in ``results["checks"]`` (their quantity names task, setting and seed),
``results["rollouts"]`` (the plotted paths and the task geometry) and the figure of
rollouts over each task's obstacles per policy (`plot_suite`).
"""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from validation import checks as bound_checks
from validation import paper_metrics
from validation.cache import run_cached
from validation.suites import SuiteConfig
from validation.tasks import make_task
from validation.tasks.paper import rollout

# task key -> (task name, task parameters)
TASK_KEYS: dict[str, tuple[str, dict[str, Any]]] = {
    "circle": ("circle", {}),
    "conditional_circle": ("conditional_circle", {}),
    "sequential_decision": ("sequential_decision", {}),
    "radial-8": ("radial", {"n_rays": 8}),
    "radial-16": ("radial", {"n_rays": 16}),
}
# The unimodal-given-context control: the Part T/L checks assume the weights are the
# mode probabilities at every observation, which is false when the context fixes the mode.
CONTROL_TASKS = ("conditional_circle",)
# Actions in "unit square per episode" (deltas times T - 1): O(1) chunks, as Diffusion
# Policy's action normalisation gives; with the literal deltas (0.007-0.05 per element) a
# policy started from N(0, I) in 120 dimensions must shrink its noise ~100-fold.
ACTION_SCALE = 59.0
PAPER_BETA = 0.01
AGGREGATION = 0.01
EXECUTIONS = ("chunk", "ensemble")


@dataclass(frozen=True)
class SizeSpec:
    """Everything that differs between smoke, reduced and full."""

    tasks: tuple[str, ...]
    beta_sweep: tuple[float, ...]
    seeds: int
    steps: int
    batch_size: int
    hidden: tuple[int, ...]
    n_demos: int
    n_rollouts: int
    n_check_obs: int
    n_check_samples: int
    n_plot_paths: int
    ddim_steps: int = 100


SIZES: dict[str, SizeSpec] = {
    "smoke": SizeSpec(tasks=("circle", "conditional_circle", "sequential_decision", "radial-8"),
                      beta_sweep=(), seeds=2, steps=30, batch_size=64, hidden=(32, 32),
                      n_demos=64, n_rollouts=8, n_check_obs=2, n_check_samples=30,
                      n_plot_paths=8, ddim_steps=10),
    "reduced": SizeSpec(tasks=("circle", "conditional_circle", "sequential_decision",
                               "radial-8"),
                        beta_sweep=(1.0,), seeds=2, steps=1500, batch_size=256,
                        hidden=(128, 128), n_demos=1000, n_rollouts=100, n_check_obs=4,
                        n_check_samples=200, n_plot_paths=40),
    "full": SizeSpec(tasks=tuple(TASK_KEYS), beta_sweep=(0.0001, 0.001, 0.1, 1.0, 10.0),
                     seeds=5, steps=5000, batch_size=256, hidden=(256, 256), n_demos=1000,
                     n_rollouts=500, n_check_obs=8, n_check_samples=1000, n_plot_paths=60),
}


@dataclass(frozen=True)
class PaperRun:
    """One cached run: train ``kind`` with ``hyper`` on ``task_key`` at ``seed``, evaluate."""

    task_key: str
    setting: str
    kind: str
    hyper: tuple[tuple[str, Any], ...]
    seed: int
    steps: int
    batch_size: int
    lr: float
    n_demos: int
    n_rollouts: int
    n_check_obs: int
    n_check_samples: int
    n_plot_paths: int
    device: str


# DDIM-100 starts at t = T - 1, where 1/sqrt(abar) ~ 2000 multiplies the epsilon error;
# clipping the predicted clean chunk (as Diffusion Policy does) keeps it on the data.
# Scaled chunks stay within about +-1.5 per element; 4 leaves the data untouched.
DDIM_CLIP = 4.0


def settings_for(task_key: str, spec: SizeSpec) -> list[tuple[str, str, dict[str, Any]]]:
    """``[(setting label, policy kind, hyper-parameters)]`` for one task.

    CVAE: ACT's loss convention (L1 averaged over chunk elements, KL summed over latent
    dimensions; `CVAEPolicy` ``reduction="mean"``), prior sampling at deployment.
    """
    latent = 4 if task_key == "radial-16" else 2
    net = {"hidden": spec.hidden}
    cvae = {"latent_dim": latent, "loss": "l1", "reduction": "mean", "deploy": "prior", **net}
    out = [("regression", "regression", dict(net))]
    for beta in sorted({PAPER_BETA, *spec.beta_sweep}):
        out.append((f"cvae beta={beta:g}", "cvae", {**cvae, "beta": beta}))
    out.append(("flow euler-10", "flow", {"n_steps": 10, "solver": "euler", **net}))
    out.append((f"diffusion ddim-{spec.ddim_steps}", "diffusion",
                {"n_train_steps": 100, "sampler": "ddim", "n_sampling_steps": spec.ddim_steps,
                 "clip_sample": DDIM_CLIP, **net}))
    return out


def run_one(cfg: PaperRun) -> dict[str, Any]:
    """Train, roll out, score and measure one (task, setting, seed); JSON-ready."""
    from validation.policies import TrainConfig, make_policy

    torch.set_num_threads(1)
    start = time.perf_counter()
    name, params = TASK_KEYS[cfg.task_key]
    task = make_task(name, action_scale=ACTION_SCALE, **params)
    demos = task.demonstrations(cfg.n_demos, cfg.seed)
    paths, modes = task.demonstration_paths(cfg.n_demos, cfg.seed)
    reference = paper_metrics.expert_reference(paths, modes, task.n_modes, task.obstacles())
    hyper = dict(cfg.hyper)
    policy = make_policy(cfg.kind, task.obs_dim, task.chunk_dim, seed=cfg.seed, **hyper)
    log = policy.fit(demos.obs, demos.actions,
                     TrainConfig(steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr,
                                 seed=cfg.seed, device=cfg.device))
    starts = task.observations(cfg.n_rollouts, cfg.seed)
    executions = [(e, None if e == "chunk" else AGGREGATION) for e in EXECUTIONS]
    result: dict[str, Any] = {
        "task": cfg.task_key, "setting": cfg.setting, "kind": cfg.kind, "seed": cfg.seed,
        "train_seconds": log.seconds, "final_loss": log.final_loss,
        "metrics": {}, "paths": {}, "labels": {}, "transport": None, "latent": None}
    variants = [(e, agg, None) for e, agg in executions]
    if cfg.kind == "cvae":
        # ACT deploys at the prior mean z = 0 (THEORY L5, last sentence).
        variants.append(("chunk z=0", None, "mean"))
    for label, aggregation, deploy in variants:
        if deploy is not None:
            policy.deploy = deploy
        gen = torch.Generator(device=policy.device).manual_seed(cfg.seed)
        rolled, diverged = rollout(task, policy, starts, aggregation=aggregation,
                                   generator=gen, return_diverged=True)
        m = paper_metrics.rollout_metrics(rolled, reference, diverged)
        result["metrics"][label] = m.values()
        k = cfg.n_plot_paths
        result["paths"][label] = np.round(rolled[:k], 4).tolist()
        result["labels"][label] = list(m.labels[:k])
    if cfg.kind == "cvae":
        policy.deploy = "prior"
    if cfg.task_key in CONTROL_TASKS:
        result["run_seconds"] = time.perf_counter() - start
        return result
    obs = task.observations(cfg.n_check_obs, cfg.seed + 1)
    if hasattr(policy, "certified_lipschitz"):
        empirical = policy.empirical_lipschitz(obs[:2], n_starts=2, seed=cfg.seed,
                                               ascent_steps=5, segment_points=8)
        result["transport"] = bound_checks.measure_transport(
            policy, task, obs, cfg.n_check_samples, cfg.seed, empirical=empirical).to_dict()
    if cfg.kind == "cvae":
        held_out = task.demonstrations(max(cfg.n_demos, 64), cfg.seed + 10_000)
        result["latent"] = bound_checks.measure_latent(policy, task, held_out,
                                                        cfg.seed).to_dict()
    result["run_seconds"] = time.perf_counter() - start
    return result


def _device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def run_suite(config: SuiteConfig) -> dict[str, Any]:
    """Run the paper benchmark at ``config.size``; the results dict of docs/architecture.md."""
    if config.size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)}, got {config.size!r}")
    spec = SIZES[config.size]
    device = _device(config.device)
    start = time.perf_counter()
    runs = [PaperRun(task_key=t, setting=label, kind=kind,
                     hyper=tuple(sorted(hyper.items())), seed=config.seed + s,
                     steps=spec.steps, batch_size=spec.batch_size, lr=1e-3,
                     n_demos=spec.n_demos, n_rollouts=spec.n_rollouts,
                     n_check_obs=spec.n_check_obs, n_check_samples=spec.n_check_samples,
                     n_plot_paths=spec.n_plot_paths, device=device)
            for t in spec.tasks for label, kind, hyper in settings_for(t, spec)
            for s in range(spec.seeds)]
    iterator = runs
    if config.progress:
        from tqdm.auto import tqdm
        iterator = tqdm(runs, desc="paper suite")
    done = [run_cached("paper", cfg, run_one, config.cache) for cfg in iterator]

    checks = []
    for r in done:
        found = []
        if r["transport"] is not None:
            found += bound_checks.transport_checks_from(
                bound_checks.TransportMeasurement.from_dict(r["transport"]))
        if r["latent"] is not None:
            found += bound_checks.latent_checks_from(
                bound_checks.LatentMeasurement.from_dict(r["latent"]))
        for c in found:
            d = c.to_dict()
            d["quantity"] = f"{r['task']} / {r['setting']} / seed {r['seed']}: {d['quantity']}"
            checks.append(d)
    raw = metric_rows(done)
    n_fail = sum(c["verdict"] == "FAIL" for c in checks)
    notes = [
        f"{len(done)} runs: {len(spec.tasks)} tasks x settings x {spec.seeds} training seeds "
        f"(seeds {config.seed}..{config.seed + spec.seeds - 1}); {spec.steps} training steps, "
        f"{spec.n_demos} demonstrations, {spec.n_rollouts} rollouts per run and execution.",
        f"Compute: {sum(r['run_seconds'] for r in done):.0f} s summed over the runs when "
        "they were computed (cached runs are loaded, not redone).",
        "Metric intervals: 95% Student-t over training seeds (none with one seed).",
        "Executions: 'chunk' = each predicted chunk open loop; 'ensemble' = ACT temporal "
        f"ensembling with weights exp(-{AGGREGATION} i); 'chunk z=0' = the CVAE at the prior "
        "mean (ACT's deployment).",
        f"Bound checks ({len(checks)}, {n_fail} FAIL) at the start states; skipped on "
        f"{', '.join(CONTROL_TASKS)} (the context fixes the mode, so the task weights are "
        "not the mode probabilities given the observation) and for regression (no noise).",
        f"Actions are position deltas times {ACTION_SCALE:g} (unit square per episode), so "
        "chunk-space separations, rho and Lipschitz constants are in those units.",
        "Path noise is a squared-exponential Gaussian process (length 10 steps) with the "
        "paper's standard deviation; see docs/paper-benchmark.md for this and every other "
        "reading of the paper's benchmark.",
    ]
    if bound_checks.planted():
        notes.append("A WRONG BOUND WAS PLANTED (MODEBOUND_PLANT_WRONG_BOUND): FAILs expected.")
    return {
        "suite": "paper", "size": config.size, "seed": config.seed, "device": device,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "wall_seconds": time.perf_counter() - start,
        "compute_seconds": float(sum(r["run_seconds"] for r in done)),
        "checks": checks,
        "tables": {"paper_metrics": format_rows(raw)},
        "notes": notes,
        "paper_metrics_raw": raw,
        "rollouts": rollout_samples(done),
    }


def metric_rows(done: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (task, setting, execution): each metric's mean and interval over seeds."""
    groups: dict[tuple[str, str, str], list[dict[str, float]]] = {}
    for r in done:
        for execution, values in r["metrics"].items():
            groups.setdefault((r["task"], r["setting"], execution), []).append(values)
    rows = []
    for (task, setting, execution), per_seed in groups.items():
        row: dict[str, Any] = {"task": task, "policy": setting, "execution": execution,
                               "seeds": len(per_seed)}
        for metric in paper_metrics.METRICS:
            mean, lo, hi = paper_metrics.seed_interval([v[metric] for v in per_seed])
            row[metric] = mean
            row[f"{metric}_low"] = None if np.isnan(lo) else max(0.0, lo)
            row[f"{metric}_high"] = None if np.isnan(hi) else min(1.0, hi)
        rows.append(row)
    return rows


def format_rows(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The paper's table: ``mean [low, high]`` strings (the interval clipped to [0, 1])."""
    out = []
    for row in raw:
        f = {k: row[k] for k in ("task", "policy", "execution", "seeds")}
        for metric in paper_metrics.METRICS:
            lo, hi = row[f"{metric}_low"], row[f"{metric}_high"]
            f[metric] = (f"{row[metric]:.3f}" if lo is None
                         else f"{row[metric]:.3f} [{lo:.3f}, {hi:.3f}]")
        out.append(f)
    return out


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """``rows`` (e.g. ``results["tables"]["paper_metrics"]``) as a GitHub markdown table."""
    if not rows:
        return ""
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(r[k]) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def rollout_samples(done: list[dict[str, Any]]) -> dict[str, Any]:
    """The plotted rollouts: the first seed's paths per task, setting and execution, with
    the geometry `plot_suite` draws (so figures come from the JSON alone)."""
    out: dict[str, Any] = {}
    first = {}
    for r in done:
        first.setdefault((r["task"], r["setting"]), r)
    for (task_key, setting), r in first.items():
        entry = out.setdefault(task_key, {"settings": {}, **_geometry(task_key)})
        entry["settings"][setting] = {"paths": r["paths"], "labels": r["labels"]}
    return out


def _geometry(task_key: str) -> dict[str, Any]:
    name, params = TASK_KEYS[task_key]
    task = make_task(name, **params)
    return {"mean_paths": np.round(task.mean_paths(), 4).tolist(),
            "obstacles": task.obstacles().tolist()}


def plot_suite(results: dict[str, Any], out_dir: Path) -> list[Path]:
    """Rollouts over each task's obstacles, one panel per task and policy setting, one
    figure per execution; drawn from ``results["rollouts"]`` alone."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from validation.plots import publication_style, save_figure

    rollouts = results.get("rollouts", {})
    if not rollouts:
        return []
    tasks = list(rollouts)
    settings = list(dict.fromkeys(s for t in tasks for s in rollouts[t]["settings"]))
    executions = list(dict.fromkeys(e for t in tasks for s in rollouts[t]["settings"].values()
                                    for e in s["paths"]))
    files: list[Path] = []
    with publication_style():
        for execution in executions:
            fig, axes = plt.subplots(len(tasks), len(settings), squeeze=False,
                                     figsize=(1.9 * len(settings), 1.9 * len(tasks)))
            for i, task_key in enumerate(tasks):
                geo = rollouts[task_key]
                for j, setting in enumerate(settings):
                    ax = axes[i, j]
                    _draw_panel(ax, geo, geo["settings"].get(setting, {}), execution, Rectangle)
                    if i == 0:
                        ax.set_title(setting, fontsize=7)
                    if j == 0:
                        ax.set_ylabel(task_key, fontsize=7)
            fig.suptitle(f"rollouts ({execution}); colour = assigned mode", fontsize=8)
            fig.tight_layout()
            files += save_figure(fig, out_dir, f"paper_rollouts_{execution.replace(' ', '_')}"
                                 .replace("=", ""))
            plt.close(fig)
    return files


def _draw_panel(ax, geo: dict, setting: dict, execution: str, rectangle) -> None:
    import matplotlib.pyplot as plt

    for x0, y0, x1, y1 in geo["obstacles"]:
        ax.add_patch(rectangle((x0, y0), x1 - x0, y1 - y0, color="0.6", lw=0))
    n_modes = len(geo["mean_paths"])
    # tab10's colours are distinct; tab20 (pairs of light and dark) only when K > 10.
    colours = plt.get_cmap("tab10" if n_modes <= 10 else "tab20")
    for k, m in enumerate(geo["mean_paths"]):
        m = np.asarray(m)
        ax.plot(m[:, 0], m[:, 1], color=colours(k), lw=2.5, alpha=0.25)
    paths = setting.get("paths", {}).get(execution)
    if paths is not None:
        for p, k in zip(paths, setting["labels"][execution], strict=True):
            p = np.asarray(p)
            ax.plot(p[:, 0], p[:, 1], color=colours(k), lw=0.6, alpha=0.8)
    else:
        ax.text(0.5, 0.5, "n/a", ha="center", va="center", fontsize=7)
    ax.set(xlim=(0, 1), ylim=(0, 1), xticks=[], yticks=[], aspect="equal")


__all__ = ["SIZES", "TASK_KEYS", "PaperRun", "SizeSpec", "format_rows", "markdown_table",
           "metric_rows", "plot_suite", "run_one", "run_suite", "settings_for"]

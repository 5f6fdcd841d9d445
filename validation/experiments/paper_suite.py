"""The paper's unit-square benchmark (``modebound validate --suite paper``; issue #6).

For every task of `validation.tasks.paper` and every policy setting of the paper (CVAE
with latent dimension 2, 4 on ``radial`` with 16 rays, KL weight 0.01 and a sweep around
it; flow matching with 10 Euler steps; DDIM with 100 steps; a regression baseline), for
several training seeds: train on the demonstrations, roll out closed loop from the start
states (whole chunk open loop, and ACT temporal ensembling ``exp(-0.01 i)``), score the
rollouts with `validation.paper_metrics`, and run the synthetic suite's bound checks on
the chunk distribution at the start (`validation.checks`: T2-T5 at the certified
Lipschitz constant, L1-L5 for the CVAE). One run = one (task, setting, seed), cached by
`validation.experiments.sweep` so a killed suite resumes.

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
from validation.backends import for_suite
from validation.experiments import Training, searched_lower, sized, sweep, train_policy
from validation.suites import SuiteConfig
from validation.tasks import TaskSpec, task_factory
from validation.tasks.paper import PaperTask, rollout

# The paper's tasks: table label -> `TaskSpec` (resolved by the task registry). Any other
# registered task or "module:Class[:json]" runs by that text as its label (`task_spec`,
# ``--task``).
TASK_KEYS: dict[str, TaskSpec] = {
    "circle": TaskSpec.of("circle"),
    "conditional_circle": TaskSpec.of("conditional_circle"),
    "sequential_decision": TaskSpec.of("sequential_decision"),
    "radial-8": TaskSpec.of("radial", n_rays=8),
    "radial-16": TaskSpec.of("radial", n_rays=16),
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
class PaperSuiteConfig:
    """What the paper suite runs at one size (`SIZES`).

    Attributes:
        tasks: keys of `TASK_KEYS` or task specs (`task_spec`).
        beta_sweep: CVAE KL weights besides the paper's 0.01.
        seeds: training seeds (offset by the suite's base seed). training: `Training`.
        n_rollouts: closed-loop rollouts per run and execution.
        n_check_obs, n_check_samples: start states and samples per state of the bound
            checks. n_plot_paths: rollouts stored for the figure. ddim_steps: DDIM steps.
        lower_search: ``(n_starts, ascent_steps, n_power)`` of the empirical Lipschitz
            lower bound (`TransportPolicy.empirical_lipschitz`): every Jacobian norm is a
            pass through up to 100 sampler steps, so the search is sized with the suite.
        max_check_samples: cap of the power analysis (`validation.checks.samples_for_power`):
            a policy whose certificate is small enough gets up to this many samples per
            state so that T2/T3 can fail (None: always ``n_check_samples``).
    """

    tasks: tuple[str, ...]
    beta_sweep: tuple[float, ...]
    seeds: tuple[int, ...]
    training: Training
    n_rollouts: int
    n_check_obs: int
    n_check_samples: int
    n_plot_paths: int
    ddim_steps: int = 100
    lower_search: tuple[int, int, int] = (2, 5, 4)
    max_check_samples: int | None = None


SIZES: dict[str, PaperSuiteConfig] = {
    "smoke": PaperSuiteConfig(
        tasks=("circle", "conditional_circle", "sequential_decision", "radial-8"),
        beta_sweep=(), seeds=(0, 1), training=Training(30, 64, (32, 32), batch_size=64),
        n_rollouts=8, n_check_obs=2, n_check_samples=1000, n_plot_paths=8, ddim_steps=10,
        lower_search=(1, 0, 2)),
    "reduced": PaperSuiteConfig(
        tasks=("circle", "conditional_circle", "sequential_decision", "radial-8"),
        beta_sweep=(1.0,), seeds=(0, 1), training=Training(1500, 1000, (128, 128)),
        n_rollouts=100, n_check_obs=4, n_check_samples=10_000, n_plot_paths=40,
        max_check_samples=100_000),
    "full": PaperSuiteConfig(
        tasks=tuple(TASK_KEYS), beta_sweep=(0.0001, 0.001, 0.1, 1.0, 10.0),
        seeds=(0, 1, 2, 3, 4), training=Training(5000, 1000, (256, 256)), n_rollouts=500,
        n_check_obs=8, n_check_samples=50_000, n_plot_paths=60, max_check_samples=500_000),
}


@dataclass(frozen=True)
class PaperRun:
    """One cached run: train ``kind`` with ``hyper`` on ``task`` at ``seed``, evaluate.
    ``task_key`` is the task's label in the tables; ``task`` puts its import path and
    parameters into the cache key."""

    task_key: str
    task: TaskSpec
    setting: str
    kind: str
    hyper: tuple[tuple[str, Any], ...]
    seed: int
    training: Training
    n_rollouts: int
    n_check_obs: int
    n_check_samples: int
    n_plot_paths: int
    device: str
    lower_search: tuple[int, int, int] = (2, 5, 4)
    max_check_samples: int | None = None


# DDIM-100 starts at t = T - 1, where 1/sqrt(abar) ~ 2000 multiplies the epsilon error;
# clipping the predicted clean chunk (as Diffusion Policy does) keeps it on the data.
# Scaled chunks stay within about +-1.5 per element; 4 leaves the data untouched.
DDIM_CLIP = 4.0


def task_spec(key: str) -> TaskSpec:
    """The task of a table label: `TASK_KEYS`, else `TaskSpec.parse` (a registered name or
    ``module:Class``, optionally ``:{json-kwargs}``)."""
    return TASK_KEYS[key] if key in TASK_KEYS else TaskSpec.parse(key)


def check_task(text: str) -> PaperTask:
    """Build the task ``text`` names (`task_spec`) as the suite will, or a ``ValueError``
    / ``TypeError`` saying why it cannot run here (the suite needs a `PaperTask`: its
    rollouts, mean paths and obstacles)."""
    spec = task_spec(text)
    factory = task_factory(spec.name)
    task = None
    if not (isinstance(factory, type) and not issubclass(factory, PaperTask)):
        task = spec.build(action_scale=ACTION_SCALE)
    if not isinstance(task, PaperTask):
        shown = factory.__name__ if task is None else type(task).__name__
        raise TypeError(f"the paper suite runs validation.tasks.paper.PaperTask subclasses; "
                        f"task {text!r} is a {shown}")
    return task


def settings_for(task_key: str, spec: PaperSuiteConfig) -> list[tuple[str, str, dict[str, Any]]]:
    """``[(setting label, policy kind, hyper-parameters)]`` for one task.

    CVAE: ACT's loss convention (L1 averaged over chunk elements, KL summed over latent
    dimensions; `CVAEPolicy` ``reduction="mean"``), prior sampling at deployment.
    """
    latent = 4 if task_key == "radial-16" else 2
    cvae = {"latent_dim": latent, "loss": "l1", "reduction": "mean", "deploy": "prior"}
    out = [("regression", "regression", {})]
    for beta in sorted({PAPER_BETA, *spec.beta_sweep}):
        out.append((f"cvae beta={beta:g}", "cvae", {**cvae, "beta": beta}))
    out.append(("flow euler-10", "flow", {"n_steps": 10, "solver": "euler"}))
    out.append((f"diffusion ddim-{spec.ddim_steps}", "diffusion",
                {"n_train_steps": 100, "sampler": "ddim", "n_sampling_steps": spec.ddim_steps,
                 "clip_sample": DDIM_CLIP}))
    return out


def run_one(cfg: PaperRun) -> dict[str, Any]:
    """Train, roll out, score and measure one (task, setting, seed); JSON-ready."""
    start = time.perf_counter()
    task = cfg.task.build(action_scale=ACTION_SCALE)
    paths, modes = task.demonstration_paths(cfg.training.n_demos, cfg.seed)
    reference = paper_metrics.expert_reference(paths, modes, task.n_modes, task.obstacles())
    policy, log, _ = train_policy(task, cfg.kind, dict(cfg.hyper), cfg.training,
                                  seed=cfg.seed, device=cfg.device)
    starts = task.observations(cfg.n_rollouts, cfg.seed)
    executions = [(e, None if e == "chunk" else AGGREGATION) for e in EXECUTIONS]
    result: dict[str, Any] = {
        "task": cfg.task_key, "setting": cfg.setting, "kind": cfg.kind, "seed": cfg.seed,
        "train_seconds": log.seconds, "final_loss": log.final_loss,
        "metrics": {}, "paths": {}, "labels": {}, "transport": None, "latent": None,
        "geometry": {"mean_paths": np.round(task.mean_paths(), 4).tolist(),
                     "obstacles": task.obstacles().tolist()}}
    variants = [(e, agg, None) for e, agg in executions]
    if cfg.kind == "cvae":
        # ACT deploys at the prior mean z = 0 (docs/theory.md, L5, last sentence).
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
    if cfg.task_key in CONTROL_TASKS or task.context_dim > 0:
        result["run_seconds"] = time.perf_counter() - start
        return result
    obs = task.observations(cfg.n_check_obs, cfg.seed + 1)
    if hasattr(policy, "certified_lipschitz"):
        empirical = searched_lower(policy, obs[:2], cfg.lower_search, cfg.seed,
                                   segment_points=8)
        result["transport"] = bound_checks.measure_transport(
            policy, task, obs, cfg.n_check_samples, cfg.seed, empirical=empirical,
            max_samples=cfg.max_check_samples).to_dict()
    if cfg.kind == "cvae":
        held_out = task.demonstrations_at(
            task.observations(max(1, cfg.training.n_demos // 64), cfg.seed + 10_000), 64,
            cfg.seed)
        result["latent"] = bound_checks.measure_latent(policy, task, held_out,
                                                        cfg.seed).to_dict()
    result["run_seconds"] = time.perf_counter() - start
    return result


def runs(spec: PaperSuiteConfig, device: str) -> list[PaperRun]:
    """Every run of the suite: task x policy setting x seed."""
    return [PaperRun(task_key=t, task=task_spec(t), setting=label, kind=kind,
                     hyper=tuple(sorted(hyper.items())),
                     seed=seed, training=spec.training, n_rollouts=spec.n_rollouts,
                     n_check_obs=spec.n_check_obs, n_check_samples=spec.n_check_samples,
                     n_plot_paths=spec.n_plot_paths, device=device,
                     lower_search=spec.lower_search, max_check_samples=spec.max_check_samples)
            for t in spec.tasks for label, kind, hyper in settings_for(t, spec)
            for seed in spec.seeds]


def run_suite(config: SuiteConfig) -> dict[str, Any]:
    """Run the paper benchmark at ``config.size``; the results dict of docs/architecture.md."""
    own_task = {} if config.task is None else {"tasks": (config.task,)}
    if config.task is not None:
        check_task(config.task)
    spec = sized(SIZES, config.size, config.seed, **own_task)
    backend = for_suite(config)
    device = backend.resolve_device(config.device)
    start = time.perf_counter()
    done = sweep("paper", runs(spec, device), run_one, config.cache, config.progress, backend)

    checks = []
    for r in done:
        found = []
        if r["transport"] is not None:
            found += bound_checks.transport_checks_from(
                bound_checks.TransportMeasurement.from_dict(r["transport"]),
                plant=config.plant_wrong_bound)
        if r["latent"] is not None:
            found += bound_checks.latent_checks_from(
                bound_checks.LatentMeasurement.from_dict(r["latent"]),
                plant=config.plant_wrong_bound)
        for c in found:
            d = c.to_dict()
            d["quantity"] = f"{r['task']} / {r['setting']} / seed {r['seed']}: {d['quantity']}"
            checks.append(d)
    raw = metric_rows(done)
    n_fail = sum(c["verdict"] == "FAIL" for c in checks)
    notes = [
        f"{len(done)} runs: {len(spec.tasks)} tasks x settings x {len(spec.seeds)} training "
        f"seeds (seeds {', '.join(map(str, spec.seeds))}); {spec.training.steps} training "
        f"steps, {spec.training.n_demos} demonstrations, {spec.n_rollouts} rollouts per run "
        "and execution.",
        f"Compute: {sum(r['run_seconds'] for r in done):.0f} s summed over the runs when "
        "they were computed (cached runs are loaded, not redone).",
        "Metric intervals: 95% Student-t over training seeds (none with one seed).",
        "Executions: 'chunk' = each predicted chunk open loop; 'ensemble' = ACT temporal "
        f"ensembling with weights exp(-{AGGREGATION} i); 'chunk z=0' = the CVAE at the prior "
        "mean (ACT's deployment).",
        f"Bound checks ({len(checks)}, {n_fail} FAIL) at the start states; skipped on "
        f"{', '.join(CONTROL_TASKS)} and any task with a context (the context fixes the "
        "mode, so the task weights are "
        "not the mode probabilities given the observation) and for regression (no noise).",
        f"Actions are position deltas times {ACTION_SCALE:g} (unit square per episode), so "
        "chunk-space separations, rho and Lipschitz constants are in those units.",
        "Path noise is a squared-exponential Gaussian process (length 10 steps) with the "
        "paper's standard deviation; see docs/paper-benchmark.md for this and every other "
        "reading of the paper's benchmark.",
    ]
    if config.plant_wrong_bound:
        notes.insert(0, "A WRONG BOUND IS PLANTED (--plant-wrong-bound): FAIL verdicts are "
                        "expected.")
    return {
        "suite": "paper", "size": config.size, "seed": config.seed, "device": device,
        "backend": backend.describe(),
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


def rollout_samples(done: list[dict[str, Any]]) -> dict[str, Any]:
    """The plotted rollouts: the first seed's paths per task, setting and execution, with
    the geometry `plot_suite` draws (so figures come from the JSON alone)."""
    out: dict[str, Any] = {}
    first = {}
    for r in done:
        first.setdefault((r["task"], r["setting"]), r)
    for (task_key, setting), r in first.items():
        entry = out.setdefault(task_key, {"settings": {}, **r["geometry"]})
        entry["settings"][setting] = {"paths": r["paths"], "labels": r["labels"]}
    return out


def plot_suite(results: dict[str, Any], out_dir: Path) -> list[Path]:
    """Every figure of the suite from ``results`` alone (`paper_figures`)."""
    import matplotlib.pyplot as plt

    from validation import plots
    from validation.experiments import paper_figures

    files = paper_figures.plot_rollouts(results.get("rollouts", {}), out_dir)
    with plots.publication_style():
        fig = plots.plot_check_power(results.get("checks", []))
        files += plots.save_figure(fig, out_dir, "check_power")
        plt.close(fig)
    return files


__all__ = ["SIZES", "TASK_KEYS", "PaperRun", "PaperSuiteConfig", "check_task", "format_rows",
           "metric_rows", "plot_suite", "run_one", "run_suite", "runs", "settings_for",
           "task_spec"]

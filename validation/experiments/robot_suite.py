"""The robot suite (``modebound validate --suite robot``): MuJoCo tasks, closed loop.

For each MuJoCo task (`validation.tasks.robot`) the synthetic suite's policies are
trained on the scripted expert's demonstrations (noisy closed-loop rollouts,
`expert_demonstrations`; cached on disk), each inside the per-dimension normalisation
of its training data (`validation.tasks.robot.normalise`), and evaluated twice:

1. *closed loop*: rollouts from held-out initial states under each execution setting
   (whole chunk, the first ``k`` steps, ACT's temporal ensembling), the CVAE both as ACT
   deploys it (``z = 0``: one chunk per observation, docs/theory.md L5) and with
   ``z ~ p``: success rate, mode frequencies read off the trajectories, bridge (collision
   or stall) rate, each with a Clopper-Pearson interval;
2. *chunk space* at the decision states (initial states, where the demonstrator is the
   ``w``-mixture of the expert's chunks): mode masses, bridge mass and ``W_1`` against
   T2-T5 at the certified Lipschitz constant (`validation.checks.measure_transport`),
   and for the CVAE over a ``beta`` sweep, L1-L5 (`validation.checks.measure_latent`).

The CVAE uses the squared loss summed over the (normalised) chunk: a Gaussian likelihood
with ``sigma^2 = 1/2``, so L4's threshold is ``beta* = Delta~^2 / 2`` with ``Delta~`` the
mean decision-state separation in the normalised chunk metric; the sweep is in multiples
of it.

Schema (`validation.experiments`): `RobotSuiteConfig` and its `SIZES`; one `RobotRun`
(one policy on one task) and one `ExpertRun` (the expert's ceiling on one task) per unit
of work, each cached (`sweep`), so a killed suite resumes and verdicts are recomputed
from stored measurements on every run. Figures and media: `validation.robot_media`.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from validation.backends import Backend, LocalBackend, for_suite
from validation.experiments import Training, labelled, searched_lower, sized, sweep

# The robot tasks and their parameters (names as `validation.tasks.TASKS` registers them).
ROBOT_TASK_PARAMS: dict[str, tuple[tuple[str, Any], ...]] = {
    "reach_around": (("horizon", 8),),
    "multi_reach": (("n_modes", 3), ("horizon", 8)),
    "push_around": (("horizon", 8),),
    "aloha_transfer_cube": (("horizon", 20),),
}
KINDS = ("regression", "gmm", "cvae", "flow", "diffusion")
SIGMA2 = 0.5    # squared error summed over the chunk = Gaussian likelihood, 2 sigma^2 = 1
# How each policy is deployed closed loop: the CVAE as ACT does (z = 0) and with z ~ N(0, I);
# the mixture by sampling and with its drawn component's mean (robomimic's low-noise
# evaluation); everything else by sampling.
DEPLOYS = {"cvae": ("mean", "prior"), "gmm": ("sample", "component-mean")}


@dataclass(frozen=True)
class TaskPlan:
    """What the suite trains on one task.

    Attributes:
        task: a key of `ROBOT_TASK_PARAMS`; params: its `make_task` parameters.
        kinds: the policies trained on it (`validation.policies.POLICIES` keys).
        training: steps, demonstrations, widths, AdamW settings of every policy on it.
        demo_execute: the expert's demonstrations are recorded every ``demo_execute``
            steps, each chunk executed that long (`expert_demonstrations`).
        n_obs: decision states of the chunk-space checks; n_eval_obs: decision states of
            the latent checks (64 demonstrations each): ALOHA plans each new initial state
            by inverse kinematics (about 1 s), so it uses fewer.
        beta_multiples: the CVAE's ``beta / beta*`` on this task (None: the suite's).
    """

    task: str
    params: tuple[tuple[str, Any], ...]
    kinds: tuple[str, ...]
    training: Training
    demo_execute: int = 1
    n_obs: int = 8
    n_eval_obs: int = 16
    beta_multiples: tuple[float, ...] | None = None


@dataclass(frozen=True)
class RobotSuiteConfig:
    """The robot suite at one size.

    Attributes:
        plans: one `TaskPlan` per task.
        beta_multiples: the CVAE's ``beta / beta*``.
        normalise: train every policy inside `normalised` (mean/std of its data).
        n_rollouts: closed-loop episodes per policy and setting.
        execute: fractions of the chunk executed per query (1 = the whole chunk);
            ensemble: ACT's temporal-ensembling rates.
        n_samples: policy samples per decision state (chunk-space checks).
        lower_search: ``(n_starts, ascent_steps, n_power)`` of the empirical Lipschitz
            search (`TransportPolicy.empirical_lipschitz`) at the decision states; the
            smoke size keeps it small: the search, not training, dominated its time.
        seeds: suite seeds (demonstrations, initialisation, minibatches = seed; rollouts
            seed + 1; check observations seed + 2).
        workers: training processes (one torch thread each); 1 runs in this process.
        device, progress, cache_dir, plant: how the suite runs (`SuiteConfig`).
        backend: where the runs execute (`validation.backends`; ``workers`` is the
            local backend's process pool, Ray schedules by its own resources).
    """

    plans: tuple[TaskPlan, ...]
    beta_multiples: tuple[float, ...]
    n_rollouts: int
    n_samples: int
    execute: tuple[float, ...]
    ensemble: tuple[float, ...]
    normalise: bool = True
    chunk_law: tuple[int, ...] = (1, 5, 10, 20, 50, 100)
    lower_search: tuple[int, int, int] = (8, 20, 20)
    seeds: tuple[int, ...] = (0,)
    workers: int = 1
    device: str = "cpu"
    progress: bool = False
    cache_dir: Path = Path("out/cache")
    plant: bool = False
    backend: Backend = LocalBackend()


def _plans(kinds: dict[str, tuple[str, ...]], training: dict[str, Training],
           **extra: dict[str, Any]) -> tuple[TaskPlan, ...]:
    return tuple(TaskPlan(name, ROBOT_TASK_PARAMS[name], kinds[name], training[name],
                          **{k: v[name] for k, v in extra.items() if name in v})
                 for name in ROBOT_TASK_PARAMS)


_PLANAR = ("reach_around", "multi_reach", "push_around")
SIZES: dict[str, RobotSuiteConfig] = {
    # Every code path in seconds (tests): tiny networks, a few rollouts.
    "smoke": RobotSuiteConfig(
        plans=_plans({**{t: KINDS for t in _PLANAR}, "aloha_transfer_cube": ("cvae", "flow")},
                     {**{t: Training(steps=40, n_demos=256, hidden=(32, 32), lr=1e-3)
                         for t in _PLANAR},
                      "aloha_transfer_cube": Training(steps=40, n_demos=64, hidden=(32, 32),
                                                      lr=1e-3)},
                     demo_execute={"aloha_transfer_cube": 20},
                     n_obs={t: 2 for t in ROBOT_TASK_PARAMS},
                     n_eval_obs={t: 2 for t in ROBOT_TASK_PARAMS}),
        beta_multiples=(1 / 16, 16.0), n_rollouts=3, n_samples=32,
        execute=(1.0, 0.5), ensemble=(0.01,), lower_search=(1, 0, 2)),
    # The CPU size (the suite's default): docs/robot.md says what each setting buys. Two
    # training processes; the planar tasks' beta sweep, one beta on push and ALOHA.
    "reduced": RobotSuiteConfig(
        plans=_plans({"reach_around": KINDS, "multi_reach": KINDS, "push_around": KINDS,
                      "aloha_transfer_cube": ("gmm", "cvae", "flow", "diffusion")},
                     {"reach_around": Training(steps=3000, n_demos=4000, hidden=(128, 128),
                                               lr=2e-3),
                      "multi_reach": Training(steps=3000, n_demos=4000, hidden=(128, 128),
                                              lr=2e-3),
                      "push_around": Training(steps=10000, n_demos=4000, hidden=(256, 256),
                                              lr=1e-3),
                      "aloha_transfer_cube": Training(steps=6000, n_demos=40000,
                                                      hidden=(256, 256), lr=1e-3)},
                     n_obs={"aloha_transfer_cube": 4}, n_eval_obs={"aloha_transfer_cube": 8},
                     beta_multiples={"push_around": (1 / 16,),
                                     "aloha_transfer_cube": (1 / 16,)}),
        beta_multiples=(1 / 16, 1.0, 16.0), n_rollouts=40, n_samples=10_000,
        execute=(1.0, 0.5), ensemble=(0.01,), workers=2),
    # The GPU / many-core configuration (`--device cuda`, ``workers``): every policy and
    # setting, more data, longer training, more rollouts.
    "full": RobotSuiteConfig(
        plans=_plans({t: KINDS for t in ROBOT_TASK_PARAMS},
                     {**{t: Training(steps=20000, n_demos=20000, hidden=(512, 512), lr=1e-3)
                         for t in _PLANAR},
                      "aloha_transfer_cube": Training(steps=30000, n_demos=50000,
                                                      hidden=(512, 512), lr=1e-3)},
                     n_obs={t: 16 for t in ROBOT_TASK_PARAMS},
                     n_eval_obs={t: 32 for t in ROBOT_TASK_PARAMS}),
        beta_multiples=(1 / 64, 1 / 16, 1 / 4, 1.0, 4.0, 16.0, 64.0), n_rollouts=200,
        n_samples=50_000, execute=(1.0, 0.5, 0.25), ensemble=(0.01, 0.1), workers=4),
}


@dataclass(frozen=True)
class RobotRun:
    """One cached run: one policy (with its hyper-parameters) on one task."""

    task: str
    task_params: tuple[tuple[str, Any], ...]
    kind: str
    hyper: tuple[tuple[str, Any], ...]
    training: Training
    normalise: bool
    demo_execute: int
    n_rollouts: int
    execute: tuple[float, ...]
    ensemble: tuple[float, ...]
    n_obs: int
    n_eval_obs: int
    n_samples: int
    seed: int
    device: str
    beta_multiple: float | None = None   # CVAE: beta / beta* (beta itself: run_one)
    lower_search: tuple[int, int, int] = (8, 20, 20)


@dataclass(frozen=True)
class ChunkLawRun:
    """One cached run: T7 on ALOHA, the expert's decision-state separation against ``H``."""

    horizons: tuple[int, ...]
    n_obs: int
    seed: int


@dataclass(frozen=True)
class ExpertRun:
    """One cached run: the scripted expert's rollouts on one task (the ceiling rows)."""

    task: str
    task_params: tuple[tuple[str, Any], ...]
    n_rollouts: int
    execute: tuple[float, ...]
    ensemble: tuple[float, ...]
    seed: int


def settings(horizon: int, execute: tuple[float, ...], ensemble: tuple[float, ...]
             ) -> list[tuple[str, dict]]:
    """Execution settings: (label, keyword arguments of `run_closed_loop`); ``execute``
    holds fractions of the chunk length ``horizon``."""
    steps = list(dict.fromkeys(max(1, round(f * horizon)) for f in execute))
    out = [(f"execute {k}/{horizon}", {"execute": k}) for k in steps]
    return out + [(f"ensemble m={m:g}", {"ensemble": m}) for m in ensemble]


def plan(config: RobotSuiteConfig) -> tuple[list[RobotRun], list[ExpertRun]]:
    """Every run of the suite at ``config``."""
    runs, experts = [], []
    for p in config.plans:
        for seed in config.seeds:
            common = dict(training=p.training, normalise=config.normalise,
                          demo_execute=p.demo_execute, n_rollouts=config.n_rollouts,
                          execute=tuple(config.execute), ensemble=tuple(config.ensemble),
                          n_obs=p.n_obs, n_eval_obs=p.n_eval_obs, n_samples=config.n_samples,
                          seed=seed, device=config.device,
                          lower_search=tuple(config.lower_search))
            for kind in p.kinds:
                if kind == "gmm":
                    hyper = (("n_components", int(dict(p.params).get("n_modes", 2))),)
                    runs.append(RobotRun(p.task, p.params, kind, hyper, **common))
                elif kind == "cvae":
                    hyper = (("latent_dim", 2), ("loss", "l2"), ("reduction", "sum"))
                    multiples = (config.beta_multiples if p.beta_multiples is None
                                 else p.beta_multiples)
                    runs += [RobotRun(p.task, p.params, kind, hyper, beta_multiple=float(m),
                                      **common) for m in multiples]
                else:
                    runs.append(RobotRun(p.task, p.params, kind, (), **common))
            experts.append(ExpertRun(p.task, p.params, config.n_rollouts,
                                     tuple(config.execute), tuple(config.ensemble), seed))
    return runs, experts


@functools.cache
def _task(name: str, params: tuple[tuple[str, Any], ...]):
    from validation.tasks import make_task

    return make_task(name, **dict(params))


def _params(params) -> tuple[tuple[str, Any], ...]:
    """Task parameters as a hashable tuple (JSON turns tuples into lists)."""
    return tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in params)


def cached_demonstrations(task, task_key: str, n: int, seed: int, execute: int,
                          cache_dir: Path):
    """`expert_demonstrations` ``(task, n, seed, execute=execute)``, stored as ``.npz``
    (written atomically) after the first call: expert rollouts are the slow part of a
    small run, and every policy on a task trains on the same set."""
    from validation.tasks import Demonstrations
    from validation.tasks.robot import expert_demonstrations

    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"robot-demos-{task_key}-n{n}-x{execute}-s{seed}.npz"
    if path.is_file():
        with np.load(path) as f:
            return Demonstrations(obs=f["obs"], actions=f["actions"], modes=f["modes"])
    demos = expert_demonstrations(task, n, seed, execute=execute)
    fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".npz")
    with os.fdopen(fd, "wb") as f:
        np.savez(f, obs=demos.obs, actions=demos.actions, modes=demos.modes)
    os.replace(tmp, path)
    return demos


def robot_collapse_threshold(task, demos, normalise: bool, seed: int, n_obs: int = 16) -> float:
    """L4's ``beta* = Delta^2 / (4 sigma^2)`` with ``Delta`` the mean decision-state
    separation in the metric the CVAE is trained in (divided by the action std of the
    demonstrations when ``normalise``)."""
    from validation.tasks.robot.normalise import data_scale

    centres = task.mode_centres(task.observations(n_obs, seed))            # [B, K, D]
    scale = (data_scale(demos.actions, "actions")[1].astype(np.float64) if normalise
             else np.ones(task.chunk_dim))
    diff = (centres[:, :, None, :] - centres[:, None, :, :]) / scale
    d = np.linalg.norm(diff, axis=-1)
    K = task.n_modes
    d[:, np.arange(K), np.arange(K)] = np.inf
    return float(np.mean(d.min(axis=(1, 2))) ** 2 / (4 * SIGMA2))


def train(task, run: RobotRun, demos):
    """``make_policy(run.kind, ...)`` (inside `normalised` when ``run.normalise``) fitted on
    ``demos`` with ``run.training``: `validation.experiments.train_policy` with the wrapper.
    Returns ``(policy, train_log, hyper)``; ``hyper`` holds the CVAE's ``beta``."""
    from validation.policies import TrainConfig, make_policy
    from validation.tasks.robot.normalise import normalised

    hyper = dict(run.hyper)
    if run.kind == "cvae":
        hyper["beta"] = run.beta_multiple * robot_collapse_threshold(
            task, demos, run.normalise, run.seed)
    policy = make_policy(run.kind, task.obs_dim, task.chunk_dim, seed=run.seed,
                         hidden=run.training.hidden, **hyper)
    if run.normalise:
        policy = normalised(policy, demos.obs, demos.actions)
    t = run.training
    log = policy.fit(demos.obs, demos.actions,
                     TrainConfig(steps=t.steps, batch_size=t.batch_size, lr=t.lr,
                                 weight_decay=t.weight_decay, seed=run.seed,
                                 device=run.device))
    return policy, log, hyper


def _set_deploy(policy, deploy: str) -> None:
    inner = getattr(policy, "inner", policy)
    inner.deploy = deploy


def _trajectories(roll, n: int) -> list[dict]:
    """The tracked body's path of the first ``n`` episodes (for the figures)."""
    return [{"mode": o.mode, "side": o.side, "collision": o.collision,
             "path": np.round(pos, 4).tolist()}
            for o, pos in zip(roll.outcomes[:n], roll.paths[:n], strict=True)]


def run_one(run: RobotRun, cache_dir: Path) -> dict:
    """Train one policy on one task; closed-loop rollouts and chunk-space measurements."""
    from validation.checks import conditional_demonstrations, measure_latent, measure_transport
    from validation.tasks.robot import policy_rollouts

    task = _task(run.task, _params(run.task_params))
    key = "-".join([run.task] + [f"{k}{v}" for k, v in run.task_params])
    demos = cached_demonstrations(task, key, run.training.n_demos, run.seed, run.demo_execute,
                                  cache_dir)
    policy, log, hyper = train(task, run, demos)
    rollouts = []
    for deploy in DEPLOYS.get(run.kind, (None,)):
        if run.kind == "cvae":
            _set_deploy(policy, deploy)
        for label, kwargs in settings(task.horizon, run.execute, run.ensemble):
            roll = policy_rollouts(task, policy, run.n_rollouts, seed=run.seed + 1,
                                   component_mean=deploy == "component-mean", **kwargs)
            rollouts.append({"setting": label, "deploy": deploy,
                             "summary": roll.summary(task.n_modes, 0.95),
                             "trajectories": _trajectories(roll, 12)})
    if run.kind == "cvae":
        _set_deploy(policy, "prior")     # the transport map z -> chunk of L6
    obs = task.observations(run.n_obs, seed=run.seed + 2)
    transport = measure_transport(policy, task, obs, run.n_samples, seed=run.seed,
                                  empirical=searched_lower(policy, obs, run.lower_search,
                                                           run.seed))
    out = {"run": dataclasses.asdict(run), "hyper": hyper, "final_loss": log.final_loss,
           "train_seconds": log.seconds, "rollouts": rollouts,
           "transport": transport.to_dict(), "latent": None}
    if run.kind == "cvae":
        held_out = conditional_demonstrations(
            task, task.observations(run.n_eval_obs, seed=run.seed + 10_000), 64, seed=run.seed)
        out["latent"] = measure_latent(policy, task, held_out, seed=run.seed).to_dict()
    return out


def run_expert(run: ExpertRun) -> dict:
    """The scripted expert under the suite's execution settings (its chunks carry the
    demonstration noise): the ceiling of every policy's success rate."""
    from validation.tasks.robot import expert_rollouts

    task = _task(run.task, _params(run.task_params))
    rows = []
    for label, kwargs in settings(task.horizon, run.execute, run.ensemble):
        roll = expert_rollouts(task, run.n_rollouts, np.random.default_rng([run.seed, 3]),
                               **kwargs)
        rows.append({"setting": label, "summary": roll.summary(task.n_modes, 0.95),
                     "trajectories": _trajectories(roll, 12)})
    return {"run": dataclasses.asdict(run), "rows": rows}


def run_chunk_law(run: ChunkLawRun) -> dict:
    """T7 measured on ALOHA: the expert's two modes differ by ``delta_t`` at step ``t`` of a
    chunk predicted at the initial state, so ``Delta_H = (sum_{t<H} |delta_t|^2)^{1/2}``:
    the per-step differences of the longest chunk give ``Delta_H`` at every ``H``
    (checked against the default task's own `Task.separation` at its ``H``), and the
    fitted growth exponent (``1/2`` for a constant ``delta``; the arms diverge linearly in
    time here, so about ``3/2``)."""
    H = max(run.horizons)
    task = _task("aloha_transfer_cube", (("horizon", H),))
    obs = task.observations(run.n_obs, seed=run.seed + 2)
    centres = task.mode_centres(obs)
    step = np.linalg.norm((centres[:, 0] - centres[:, 1]).reshape(len(obs), H, -1), axis=-1)
    default = _task("aloha_transfer_cube", ROBOT_TASK_PARAMS["aloha_transfer_cube"])
    check = float(np.abs(default.separation(obs)
                         - np.sqrt((step[:, :default.horizon] ** 2).sum(1))).max())
    rows = [{"horizon": h, "separation_mean": float(np.sqrt((step[:, :h] ** 2).sum(1)).mean()),
             "separation_min": float(np.sqrt((step[:, :h] ** 2).sum(1)).min()),
             "delta_t_mean": float(step[:, h - 1].mean())} for h in run.horizons]
    logs = np.log([[r["horizon"], r["separation_mean"]] for r in rows])
    slope = float(np.polyfit(logs[:, 0], logs[:, 1], 1)[0]) if len(rows) > 1 else float("nan")
    for r in rows:
        r["fitted_exponent"] = slope
        r["check_vs_task_separation"] = check
    return {"run": dataclasses.asdict(run), "rows": rows}


def flat_summary(summary: dict) -> dict:
    """A `Rollouts.summary` as one flat table row (rates and their 95% intervals)."""
    return {"episodes": summary["episodes"],
            "success": summary["success"]["rate"], "success_ci": summary["success"]["interval"],
            "mode_freq": [m["rate"] for m in summary["modes"]],
            "mode_ci": [m["interval"] for m in summary["modes"]],
            "bridge": summary["bridge"]["rate"], "bridge_ci": summary["bridge"]["interval"],
            "collision": summary["collision"]["rate"], "stall": summary["stall"]["rate"],
            "sim_steps_per_s": summary["sim_steps"] / max(summary["seconds"], 1e-9)}


def policy_label(run: dict, deploy: str | None = None) -> str:
    """Policy label, the same across tasks: the CVAE's ``beta`` as a multiple of ``beta*``
    and its deployment (``z=0`` or ``z~p``), the mixture's (``component mean``)."""
    if run["kind"] == "cvae":
        z = {"mean": " z=0", "prior": " z~p", None: ""}[deploy]
        return f"cvae beta={run['beta_multiple']:.3g} beta*{z}"
    if deploy == "component-mean":
        return f"{run['kind']} component mean"
    return run["kind"]


def _pool_train(runs: list[RobotRun], cache_dir: Path, workers: int) -> None:
    """Run the uncached ``runs`` in ``workers`` processes of one torch thread each (their
    results land in the cache, where `sweep` then finds them)."""
    from concurrent.futures import ProcessPoolExecutor

    from validation.cache import is_cached

    todo = [r for r in runs if not is_cached("robot", r, cache_dir)]
    if workers <= 1 or len(todo) <= 1:
        return
    # Demonstrations first, one task at a time, so that workers do not collect the same set.
    for r in {(r.task, r.task_params, r.training.n_demos, r.seed, r.demo_execute): r
              for r in todo}.values():
        task = _task(r.task, _params(r.task_params))
        key = "-".join([r.task] + [f"{k}{v}" for k, v in r.task_params])
        cached_demonstrations(task, key, r.training.n_demos, r.seed, r.demo_execute, cache_dir)
    with ProcessPoolExecutor(max_workers=workers, initializer=_one_thread) as pool:
        list(pool.map(_cached_run_one, todo, [cache_dir] * len(todo)))


def _one_thread() -> None:
    from validation.threads import limit_threads

    limit_threads(1)


def _cached_run_one(run: RobotRun, cache_dir: Path) -> None:
    from validation.cache import run_cached

    run_cached("robot", run, lambda r: run_one(r, cache_dir), cache_dir)


def run(config: RobotSuiteConfig) -> dict:
    """Run (cached) every robot experiment of ``config``: tables, trajectories, checks."""
    from validation.checks import (
        LatentMeasurement,
        TransportMeasurement,
        latent_checks_from,
        transport_checks_from,
    )

    runs, experts = plan(config)
    cache_dir = Path(config.cache_dir)
    if isinstance(config.backend, LocalBackend):
        _pool_train(runs, cache_dir, config.workers)
    # A partial of a top-level function, not a lambda: Ray workers import it by name.
    results = sweep("robot", runs, functools.partial(run_one, cache_dir=cache_dir), cache_dir,
                    config.progress, config.backend)
    expert_results = sweep("robot-expert", experts, run_expert, cache_dir, config.progress,
                           config.backend)
    law = []
    if config.chunk_law and any(p.task == "aloha_transfer_cube" for p in config.plans):
        law_run = ChunkLawRun(tuple(config.chunk_law), 8, config.seeds[0])
        law = sweep("robot-chunk-law", [law_run], run_chunk_law, cache_dir, config.progress,
                    config.backend)[0]["rows"]
    rollout_rows, trajectories, mass_rows, latent_rows, checks = [], [], [], [], []

    def add(task: str, policy: str, setting: str, summary: dict, trajs: list,
            deploy: str | None = None) -> None:
        row = {"task": task, "policy": policy, "setting": setting, **flat_summary(summary)}
        rollout_rows.append(row)
        trajectories.append({"task": task, "policy": policy, "setting": setting,
                             "deploy": deploy, "trajectories": trajs})

    for res in expert_results:
        for r in res["rows"]:
            add(res["run"]["task"], "expert", r["setting"], r["summary"], r["trajectories"])
    for res in results:
        r = res["run"]
        for roll in res["rollouts"]:
            add(r["task"], policy_label(r, roll["deploy"]), roll["setting"], roll["summary"],
                roll["trajectories"], roll["deploy"])
        label = f"{r['task']} {policy_label(r)} seed {r['seed']}"
        tm = TransportMeasurement.from_dict(res["transport"])
        mass_rows.append({"task": r["task"], "policy": policy_label(r), **tm.summary(),
                          "final_loss": res["final_loss"],
                          "train_seconds": res["train_seconds"]})
        checks += labelled(transport_checks_from(tm, plant=config.plant), label)
        if res["latent"] is not None:
            lat = LatentMeasurement.from_dict(res["latent"])
            w = np.asarray(lat.weights)
            latent_rows.append({
                "task": r["task"], "beta": res["hyper"]["beta"],
                "beta_over_beta_star": r["beta_multiple"],
                "rate": lat.rate, "mode_information": lat.mode_information,
                "mode_entropy": float(-(w * np.log(w)).sum()),
                "mode_error": lat.errors / lat.n, "prior_in_mode": lat.prior_in_mode / lat.n,
                "posterior_in_mode": lat.posterior_in_mode / lat.n,
                "off_support_prior": lat.off_support_prior,
                "off_support_mean": lat.off_support_mean})
            checks += labelled(latent_checks_from(lat, plant=config.plant), label)
    return {"checks": checks,
            "tables": {"rollouts": rollout_rows, "best": best_rows(rollout_rows),
                       "act_deployment": act_rows(rollout_rows),
                       "chunk_masses": mass_rows, "latent": latent_rows, "chunk_law": law},
            "trajectories": trajectories}


def best_rows(rollout_rows: list[dict]) -> list[dict]:
    """Per task, the trained multimodal policy and setting with the highest success whose
    every mode holds at least 20% of the episodes (the suite's bar; the expert and the
    regressor excluded), and the best one regardless of the modes."""
    out = []
    for task in dict.fromkeys(r["task"] for r in rollout_rows):
        rows = [r for r in rollout_rows if r["task"] == task
                and r["policy"] not in ("expert", "regression")]
        balanced = [r for r in rows if min(r["mode_freq"]) >= 0.2]
        for what, pool in (("best with every mode >= 20%", balanced), ("best", rows)):
            if pool:
                b = max(pool, key=lambda r: (r["success"], min(r["mode_freq"])))
                out.append({"task": task, "which": what, "policy": b["policy"],
                            "setting": b["setting"], "success": b["success"],
                            "success_ci": b["success_ci"], "mode_freq": b["mode_freq"],
                            "mode_ci": b["mode_ci"]})
    return out


def act_rows(rollout_rows: list[dict]) -> list[dict]:
    """ALOHA side by side (the issue's ACT-style comparison): every policy (CVAE at
    ``z = 0`` and ``z ~ p``) with temporal ensembling off (whole chunk) and on."""
    rows = [r for r in rollout_rows if r["task"] == "aloha_transfer_cube"
            and (r["setting"].startswith("ensemble") or whole_chunk(r["setting"]))]
    return [{"policy": r["policy"],
             "ensembling": "on" if r["setting"].startswith("ensemble") else "off",
             "setting": r["setting"], "success": r["success"], "success_ci": r["success_ci"],
             "mode_freq": r["mode_freq"], "mode_ci": r["mode_ci"], "bridge": r["bridge"]}
            for r in rows]


def whole_chunk(setting: str) -> bool:
    """Whether a `settings` label executes the whole chunk (``"execute H/H"``)."""
    if not setting.startswith("execute "):
        return False
    k, h = setting.split()[1].split("/")
    return k == h


def run_suite(config) -> dict:
    """Run the robot suite at ``config.size`` (a `validation.suites.SuiteConfig`) -> the
    shared results dict (docs/architecture.md)."""
    start, cpu = time.perf_counter(), _cpu_seconds()
    backend = for_suite(config)
    device = backend.resolve_device(config.device)
    cfg = sized(SIZES, config.size, config.seed, device=device, progress=config.progress,
                cache_dir=Path(config.cache), plant=config.plant_wrong_bound, backend=backend)
    out = run(cfg)
    notes = suite_notes(cfg, config.seed)
    from validation.robot_media import gl_problem

    why = gl_problem()
    notes.append("Camera observations are not used (state observations only); MuJoCo "
                 + ("offscreen rendering works here (--render draws frames)." if not why else
                    f"rendering is unavailable here: {why}."))
    media: list[str] = []
    if config.render:
        from validation.robot_media import render_media

        paths, media_notes = render_media([p.task for p in cfg.plans], Path(config.out),
                                          config.seed)
        media = [str(m) for m in paths]
        notes += [f"media: {n}" for n in media_notes]
    return {"suite": "robot", "size": config.size, "seed": config.seed, "device": device,
            "backend": backend.describe(),
            "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "wall_seconds": time.perf_counter() - start,
            "cpu_seconds": _cpu_seconds() - cpu, **out, "media": media,
            "notes": notes}


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process and its finished children (the training
    workers): on a shared machine the wall time says little, the CPU time what it cost."""
    import resource

    return sum(u.ru_utime + u.ru_stime for u in (resource.getrusage(resource.RUSAGE_SELF),
                                                 resource.getrusage(resource.RUSAGE_CHILDREN)))


def suite_notes(cfg: RobotSuiteConfig, seed: int) -> list[str]:
    """The report's notes: how the numbers were made (every statement true of ``cfg``)."""
    notes = [
        "Closed-loop rates: Clopper-Pearson 95% intervals over rollouts from held-out "
        "initial states; mode read off the trajectory (side of the obstacle / target "
        "reached / arm that picked the cube); collisions and stalls are bridge behaviour.",
        "Chunk-space checks at the initial (decision) states, where the demonstrator is "
        "exactly the weighted mixture of the expert's chunks; L checks on 64 "
        "demonstrations at each of a few decision states.",
        f"Seeds: suite seed {seed}; demonstrations, network init and minibatches = "
        f"{cfg.seeds[0]}, rollouts {cfg.seeds[0] + 1}, check observations "
        f"{cfg.seeds[0] + 2}.",
        "Policies are trained " + ("inside the per-dimension mean/std normalisation of "
                                   "their demonstrations; certified constants include the "
                                   "factor max_i std_i of the actions" if cfg.normalise
                                   else "on raw observations and chunks") + ".",
        "ALOHA transfer-cube: both hand-over directions over ACT's cube range, joint-space "
        "control from state observations (agent_pos, cube pose, the cube's initial "
        "position, phase), closed-loop scripted expert (docs/robot.md); no camera images.",
        "CVAE rows: 'z=0' is ACT's deployment (one chunk per observation, L5), 'z~p' samples "
        "the prior; the chunk-space and L checks use the prior (the transport map of L6). "
        "'gmm component mean': the mixture draws its component at every query and executes "
        "its mean (robomimic's low-noise evaluation); the chunk-space checks use samples.",
    ]
    if cfg.plant:
        notes.insert(0, "A WRONG BOUND IS PLANTED (--plant-wrong-bound): every check's bound "
                        "is replaced by a wrong one, FAIL verdicts are expected.")
    return notes


def plot_suite(results: dict, out_dir: Path) -> list[Path]:
    """The suite's figures from the results dict alone (`validation.robot_media`)."""
    from validation.robot_media import plot_suite as draw

    return draw(results, out_dir)


__all__ = ["DEPLOYS", "KINDS", "ROBOT_TASK_PARAMS", "SIZES", "ChunkLawRun", "ExpertRun",
           "RobotRun",
           "RobotSuiteConfig", "TaskPlan", "act_rows", "best_rows", "cached_demonstrations",
           "robot_collapse_threshold", "flat_summary", "plan", "plot_suite", "policy_label", "run",
           "run_chunk_law", "run_expert", "run_one", "run_suite", "settings", "train",
           "whole_chunk"]

"""The robot suite (``modebound validate --suite robot``): MuJoCo tasks, closed loop.

For each MuJoCo task (`validation.tasks.robot`) the synthetic suite's policies are
trained on the scripted expert's demonstrations (cached on disk) and evaluated twice:

1. *closed loop*: rollouts from held-out initial states under each execution setting
   (whole chunk, the first ``k`` steps, ACT's temporal ensembling): success rate, mode
   frequencies read off the trajectories, bridge (collision or stall) rate, each with a
   Clopper-Pearson interval;
2. *chunk space* at the decision states (initial states, where the demonstrator is the
   ``w``-mixture of the expert's chunks): mode masses, bridge mass and ``W_1`` against
   T2-T5 at the certified Lipschitz constant (`validation.checks.measure_transport`),
   and for the CVAE over a ``beta`` sweep, L1-L5 (`validation.checks.measure_latent`).

The CVAE uses the squared loss summed over the chunk (Gaussian likelihood,
``sigma^2 = 1/2``), so L4's threshold is ``beta* = Delta^2 / 2`` with ``Delta`` the mean
decision-state separation; the sweep is in multiples of it.

Every (task, policy) run is cached (`validation.cache.run_cached`): a killed suite
resumes. Verdicts are recomputed from the stored measurements on every run.
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

from validation.experiments import labelled, resolve_device, sweep

TASKS = {
    "reach_around": (("horizon", 8),),
    "multi_reach": (("n_modes", 3), ("horizon", 8)),
    "push_around": (("horizon", 8),),
    "aloha_transfer_cube": (("horizon", 20),),
}
KINDS = ("regression", "gmm", "cvae", "flow", "diffusion")
SIGMA2 = 0.5    # squared error summed over the chunk = Gaussian likelihood, 2 sigma^2 = 1

# ``execute``: fractions of the chunk executed per query (1 = the whole chunk);
# ``kinds``: the policies trained on each task (ALOHA's 280-dimensional chunks make a
# run about ten times as costly as a planar task's).
SIZES: dict[str, dict[str, Any]] = {
    "smoke": dict(tasks=tuple(TASKS), beta_multiples=(1 / 16, 16.0),
                  kinds={**{t: KINDS for t in TASKS},
                         "aloha_transfer_cube": ("flow",)},
                  hidden=(32, 32), steps=40, lr=1e-3, n_demos=256, n_rollouts=3, n_obs=2,
                  n_samples=32, n_eval_demos=64, execute=(1.0, 0.5), ensemble=(0.01,)),
    "reduced": dict(tasks=tuple(TASKS), beta_multiples=(1 / 16, 1.0, 16.0),
                    kinds={**{t: KINDS for t in TASKS},
                           "aloha_transfer_cube": ("regression", "gmm", "flow")},
                    hidden=(128, 128), steps=3000, lr=2e-3, n_demos=4000, n_rollouts=40,
                    n_obs=8,
                    n_samples=200, n_eval_demos=1024, execute=(1.0, 0.5), ensemble=(0.01,)),
    "full": dict(tasks=tuple(TASKS), beta_multiples=(1 / 64, 1 / 16, 1 / 4, 1.0, 4.0, 16.0, 64.0),
                 kinds={t: KINDS for t in TASKS},
                 hidden=(256, 256), steps=6000, lr=1e-3, n_demos=20000, n_rollouts=200, n_obs=16,
                 n_samples=500, n_eval_demos=2048, execute=(1.0, 0.5, 0.125),
                 ensemble=(0.01, 0.1)),
}


@dataclass(frozen=True)
class RobotRun:
    """One cached run: one policy (with its hyper-parameters) on one task."""

    task: str
    task_params: tuple[tuple[str, Any], ...]
    kind: str
    hyper: tuple[tuple[str, Any], ...]
    steps: int
    lr: float
    n_demos: int
    n_rollouts: int
    execute: tuple[float, ...]
    ensemble: tuple[float, ...]
    n_obs: int
    n_samples: int
    n_eval_demos: int
    seed: int
    device: str
    beta_multiple: float | None = None   # CVAE: beta / beta* (beta itself is in hyper)


def settings(horizon: int, execute: tuple[float, ...], ensemble: tuple[float, ...]
             ) -> list[tuple[str, dict]]:
    """Execution settings: (label, keyword arguments of `run_closed_loop`); ``execute``
    holds fractions of the chunk length ``horizon``."""
    steps = [max(1, round(f * horizon)) for f in execute]
    out = [(f"execute {k}/{horizon}", {"execute": k}) for k in steps]
    return out + [(f"ensemble m={m:g}", {"ensemble": m}) for m in ensemble]


def cached_demonstrations(task, task_key: str, n: int, seed: int, cache_dir: Path):
    """``task.demonstrations(n, seed)``, stored as ``.npz`` (written atomically) after the
    first call: expert rollouts in MuJoCo are the slow part of a small run."""
    from validation.tasks import Demonstrations

    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"robot-demos-{task_key}-n{n}-s{seed}.npz"
    if path.is_file():
        with np.load(path) as f:
            return Demonstrations(obs=f["obs"], actions=f["actions"], modes=f["modes"])
    demos = task.demonstrations(n, seed)
    fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".npz")
    with os.fdopen(fd, "wb") as f:
        np.savez(f, obs=demos.obs, actions=demos.actions, modes=demos.modes)
    os.replace(tmp, path)
    return demos


@functools.cache
def _task_cached(name: str, params: tuple[tuple[str, Any], ...]):
    from validation.tasks import make_task

    return make_task(name, **dict(params))


def separation_scale(task, seed: int) -> float:
    """Mean decision-state separation ``Delta`` (for ``beta* = Delta^2 / (4 sigma^2)``)."""
    return float(np.mean(task.separation(task.observations(64, seed))))


def plan(size: str, seed: int, device: str) -> list[RobotRun]:
    """Every run of the suite at ``size``."""
    p = SIZES[size]
    runs = []
    for name in p["tasks"]:
        params = TASKS[name]
        for kind in p["kinds"][name]:
            hyper: list[tuple[tuple[tuple[str, Any], ...], float | None]] = []
            base = (("hidden", tuple(p["hidden"])),)
            if kind == "gmm":
                n_modes = dict(params).get("n_modes", 2)
                hyper.append((base + (("n_components", n_modes),), None))
            elif kind == "cvae":
                delta = separation_scale(_task_cached(name, params), seed)
                beta_star = delta ** 2 / (4 * SIGMA2)
                hyper += [(base + (("beta", float(m * beta_star)), ("latent_dim", 2),
                                   ("loss", "l2"), ("reduction", "sum")), float(m))
                          for m in p["beta_multiples"]]
            else:
                hyper.append((base, None))
            runs += [RobotRun(name, params, kind, h, p["steps"], p["lr"], p["n_demos"],
                              p["n_rollouts"],
                              tuple(p["execute"]), tuple(p["ensemble"]), p["n_obs"],
                              p["n_samples"], p["n_eval_demos"], seed, device, m)
                     for h, m in hyper]
    return runs


def _trajectories(roll, n: int) -> list[dict]:
    """The tracked body's path of the first ``n`` episodes (for the figures)."""
    return [{"mode": o.mode, "side": o.side, "collision": o.collision,
             "path": np.round(pos, 4).tolist()}
            for o, pos in zip(roll.outcomes[:n], roll.paths[:n], strict=True)]


def run_one(run: RobotRun, cache_dir: Path) -> dict:
    """Train one policy on one task; closed-loop rollouts and chunk-space measurements."""
    from validation.checks import measure_latent, measure_transport
    from validation.policies import TrainConfig, make_policy
    from validation.tasks.robot import policy_rollouts

    task = _task_cached(run.task, _params(run.task_params))
    key = "-".join([run.task] + [f"{k}{v}" for k, v in run.task_params])
    demos = cached_demonstrations(task, key, run.n_demos, run.seed, cache_dir)
    policy = make_policy(run.kind, task.obs_dim, task.chunk_dim, seed=run.seed, **dict(run.hyper))
    log = policy.fit(demos.obs, demos.actions,
                     TrainConfig(steps=run.steps, batch_size=256, lr=run.lr, seed=run.seed,
                                 device=run.device))
    rollouts = []
    for label, kwargs in settings(task.horizon, run.execute, run.ensemble):
        roll = policy_rollouts(task, policy, run.n_rollouts, seed=run.seed + 1, **kwargs)
        rollouts.append({"setting": label, "summary": roll.summary(task.n_modes, 0.95),
                         "trajectories": _trajectories(roll, 12)})
    obs = task.observations(run.n_obs, seed=run.seed + 2)
    transport = measure_transport(policy, task, obs, run.n_samples, seed=run.seed)
    out = {"run": dataclasses.asdict(run), "final_loss": log.final_loss,
           "train_seconds": log.seconds, "rollouts": rollouts,
           "transport": transport.to_dict(), "latent": None}
    if run.kind == "cvae":
        held_out = task.decision_demonstrations(run.n_eval_demos, seed=run.seed + 10_000)
        out["latent"] = measure_latent(policy, task, held_out, seed=run.seed).to_dict()
    return out


def expert_baseline(task_name: str, params, n: int, seed: int, execute: tuple[float, ...],
                    ensemble: tuple[float, ...]) -> list[dict]:
    """The scripted expert under the same execution settings (its chunks carry the
    demonstration noise): the ceiling of every policy's success rate."""
    from validation.tasks.robot import expert_rollouts

    task = _task_cached(task_name, _params(params))
    rows = []
    for label, kwargs in settings(task.horizon, execute, ensemble):
        roll = expert_rollouts(task, n, np.random.default_rng([seed, 3]), **kwargs)
        rows.append({"task": task_name, "policy": "expert", "setting": label,
                     **flat_summary(roll.summary(task.n_modes, 0.95)),
                     "trajectories": _trajectories(roll, 12)})
    return rows


def flat_summary(summary: dict) -> dict:
    """A `Rollouts.summary` as one flat table row (rates and their 95% intervals)."""
    return {"episodes": summary["episodes"],
            "success": summary["success"]["rate"], "success_ci": summary["success"]["interval"],
            "mode_freq": [m["rate"] for m in summary["modes"]],
            "mode_ci": [m["interval"] for m in summary["modes"]],
            "bridge": summary["bridge"]["rate"], "bridge_ci": summary["bridge"]["interval"],
            "collision": summary["collision"]["rate"], "stall": summary["stall"]["rate"],
            "sim_steps_per_s": summary["sim_steps"] / max(summary["seconds"], 1e-9)}


def _row(res: dict, roll: dict) -> dict:
    r = res["run"]
    return {"task": r["task"], "policy": _label(r), "setting": roll["setting"],
            **flat_summary(roll["summary"]), "trajectories": roll["trajectories"]}


def _label(run: dict) -> str:
    """Policy label, the same across tasks: the CVAE's ``beta`` as a multiple of ``beta*``."""
    if run["kind"] == "cvae":
        return f"cvae beta={run['beta_multiple']:.3g} beta*"
    return run["kind"]


def run_suite(config) -> dict:
    """Run (cached) every robot experiment at ``config.size``; the shared results dict."""
    from validation.checks import (
        LatentMeasurement,
        TransportMeasurement,
        latent_checks_from,
        transport_checks_from,
    )

    if config.size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)}, got {config.size!r}")
    start = time.perf_counter()
    device = resolve_device(config.device)
    runs = plan(config.size, config.seed, device)
    cache_dir = Path(config.cache)
    results = sweep("robot", runs, lambda r: run_one(r, cache_dir), cache_dir,
                    config.progress)
    p = SIZES[config.size]
    rollout_rows, trajectories, mass_rows, latent_rows, checks = [], [], [], [], []
    for name in p["tasks"]:
        for row in expert_baseline(name, TASKS[name], p["n_rollouts"], config.seed,
                                   p["execute"], p["ensemble"]):
            trajectories.append({k: row[k] for k in ("task", "policy", "setting",
                                                     "trajectories")})
            rollout_rows.append({k: v for k, v in row.items() if k != "trajectories"})
    for res in results:
        r = res["run"]
        hyper = dict((k, v) for k, v in r["hyper"])
        label = f"{r['task']} {_label(r)} seed {r['seed']}"
        for roll in res["rollouts"]:
            row = _row(res, roll)
            trajectories.append({k: row[k] for k in ("task", "policy", "setting",
                                                     "trajectories")})
            rollout_rows.append({k: v for k, v in row.items() if k != "trajectories"})
        tm = TransportMeasurement.from_dict(res["transport"])
        mass_rows.append({"task": r["task"], "policy": _label(r),
                          **tm.summary(), "final_loss": res["final_loss"]})
        checks += labelled(transport_checks_from(tm), label)
        if res["latent"] is not None:
            lat = LatentMeasurement.from_dict(res["latent"])
            w = np.asarray(lat.weights)
            latent_rows.append({
                "task": r["task"], "beta": hyper["beta"],
                "beta_over_beta_star": r["beta_multiple"],
                "rate": lat.rate, "mode_information": lat.mode_information,
                "mode_entropy": float(-(w * np.log(w)).sum()),
                "mode_error": lat.errors / lat.n, "prior_in_mode": lat.prior_in_mode / lat.n,
                "posterior_in_mode": lat.posterior_in_mode / lat.n,
                "off_support_prior": lat.off_support_prior,
                "off_support_mean": lat.off_support_mean})
            checks += labelled(latent_checks_from(lat), label)
    notes = [
        "Closed-loop rates: Clopper-Pearson 95% intervals over rollouts from held-out "
        "initial states; mode read off the trajectory (side of the obstacle / target "
        "reached); collisions and stalls are bridge behaviour.",
        "Chunk-space checks at the initial (decision) states, where the demonstrator is "
        "exactly the weighted mixture of the expert's chunks; L checks on decision-state "
        "demonstrations.",
        f"Seeds: suite seed {config.seed}; demonstrations seed, network init and minibatches "
        f"= {config.seed}, rollouts {config.seed + 1}, check observations {config.seed + 2}.",
        "ALOHA transfer-cube is reduced: either arm picks and lifts the cube (the hand-over "
        "is left out), joint-space control from state observations (see docs/robot.md).",
    ]
    media: list[str] = []
    if config.render:
        from validation.robot_media import render_media

        paths, media_notes = render_media(p["tasks"], Path(config.out), config.seed)
        media = [str(m) for m in paths]
        notes += [f"media: {n}" for n in media_notes]
    return {"suite": "robot", "size": config.size, "seed": config.seed, "device": device,
            "created": datetime.datetime.now(datetime.UTC).isoformat(),
            "wall_seconds": time.perf_counter() - start, "checks": checks,
            "tables": {"rollouts": rollout_rows, "chunk_masses": mass_rows,
                       "latent": latent_rows},
            "trajectories": trajectories, "media": media, "notes": notes}


def _params(params) -> tuple[tuple[str, Any], ...]:
    """Task parameters as a hashable tuple (JSON turns tuples into lists)."""
    return tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in params)


def _task(run: dict):
    return _task_cached(run["task"], _params(run["task_params"]))


# --------------------------------------------------------------------------- figures

_MODE_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2",
                 "#17becf", "#bcbd22")
_BRIDGE_COLOUR = "#7f7f7f"


def _saved(fig, out_dir: Path, name: str) -> list[Path]:
    import matplotlib.pyplot as plt

    from validation.plots import save_figure

    paths = save_figure(fig, out_dir, name)
    plt.close(fig)
    return paths


def _scene(ax, task_name: str, params) -> None:
    """Obstacles and targets of a planar task, drawn from the task's own geometry."""
    import matplotlib.patches as mpatches

    task = _task({"task": task_name, "task_params": params})
    if task_name in ("reach_around", "push_around"):
        geom = task.model.geom("obstacle")
        ax.add_patch(mpatches.Circle((0, 0), float(geom.size[0]), color="#b0413e", alpha=0.6))
        goal = task.model.site("goal")
        ax.add_patch(mpatches.Circle(tuple(task.model.site_pos[goal.id, :2]),
                                     float(task.model.site_size[goal.id, 0]),
                                     color="#2ca02c", alpha=0.25))
    if task_name == "multi_reach":
        for k, t in enumerate(task.targets):
            ax.add_patch(mpatches.Circle(tuple(t), task.goal_tolerance,
                                         color=_MODE_COLOURS[k], alpha=0.3))
    ax.set_aspect("equal")
    if task_name != "aloha_transfer_cube":     # ALOHA: the cube's path, autoscaled
        ax.set_xlim(-1.4, 1.4)
        ax.set_ylim(-1.2, 1.2)


def plot_rollout_outcomes(results: dict, out_dir: Path) -> list[Path]:
    """Per task: mode frequencies and bridge rate of each policy and setting (stacked),
    with the success rate's 95% interval."""
    import matplotlib.pyplot as plt

    from validation.plots import publication_style

    rows = results["tables"]["rollouts"]
    tasks = sorted({r["task"] for r in rows})
    with publication_style():
        fig, axes = plt.subplots(len(tasks), 1, figsize=(9, 2.8 * len(tasks)), squeeze=False)
        for ax, name in zip(axes[:, 0], tasks, strict=True):
            sel = [r for r in rows if r["task"] == name]
            x = np.arange(len(sel))
            bottom = np.zeros(len(sel))
            for k in range(len(sel[0]["mode_freq"])):
                h = np.array([r["mode_freq"][k] for r in sel])
                ax.bar(x, h, bottom=bottom, color=_MODE_COLOURS[k], label=f"mode {k}")
                bottom += h
            ax.bar(x, [r["bridge"] for r in sel], bottom=bottom, color=_BRIDGE_COLOUR,
                   label="bridge (collision/stall)")
            s = np.array([r["success"] for r in sel])
            ci = np.array([r["success_ci"] for r in sel])
            ax.errorbar(x, s, yerr=[s - ci[:, 0], ci[:, 1] - s], fmt="k.", capsize=2,
                        label="success (95% CI)")
            ax.set_xticks(x, [f"{r['policy']}\n{r['setting']}" for r in sel], fontsize=6,
                          rotation=90)
            ax.set_ylabel("fraction of rollouts")
            ax.set_title(name)
            ax.set_ylim(0, 1.05)
        axes[0, 0].legend(fontsize=7, ncol=4, loc="upper right")
        fig.tight_layout()
        return _saved(fig, out_dir, "robot_rollout_outcomes")


def plot_trajectories(results: dict, out_dir: Path) -> list[Path]:
    """Paths of the tracked body, coloured by the mode read off them (grey: bridge)."""
    import matplotlib.pyplot as plt

    from validation.plots import publication_style

    trajs = [t for t in results["trajectories"] if t["setting"].startswith("execute")
             and t["setting"] == _first_setting(results, t["task"])]
    tasks = sorted({t["task"] for t in trajs})
    policies = list(dict.fromkeys(t["policy"] for t in trajs))
    with publication_style():
        fig, axes = plt.subplots(len(tasks), len(policies),
                                 figsize=(2.2 * len(policies), 2.0 * len(tasks)),
                                 squeeze=False)
        for i, name in enumerate(tasks):
            for j, pol in enumerate(policies):
                ax = axes[i, j]
                _scene(ax, name, TASKS.get(name, ()))
                for t in trajs:
                    if t["task"] != name or t["policy"] != pol:
                        continue
                    for ep in t["trajectories"]:
                        path = np.asarray(ep["path"])
                        c = _BRIDGE_COLOUR if ep["mode"] < 0 else _MODE_COLOURS[ep["mode"]]
                        ax.plot(path[:, 0], path[:, 1], color=c, lw=0.8)
                ax.set_xticks([])
                ax.set_yticks([])
                if i == 0:
                    ax.set_title(pol, fontsize=7)
                if j == 0:
                    ax.set_ylabel(name, fontsize=7)
        fig.tight_layout()
        return _saved(fig, out_dir, "robot_trajectories")


def _first_setting(results: dict, task: str) -> str:
    return next(r["setting"] for r in results["tables"]["rollouts"] if r["task"] == task)


def plot_chunk_masses(results: dict, out_dir: Path) -> list[Path]:
    """Decision-state min mode mass against ``(Delta - 2 rho) / L`` (certified ``L``), with
    T2/T3's ``max_mode_mass`` curve."""
    import matplotlib.pyplot as plt

    import theory
    from validation.plots import publication_style

    rows = [r for r in results["tables"]["chunk_masses"] if r["ratio_upper"] is not None]
    with publication_style():
        fig, ax = plt.subplots(figsize=(5, 3.5))
        ks = sorted({len(r["mode_masses"]) for r in rows}) or [2]
        hi = max([r["ratio_upper"] for r in rows] + [1e-3])
        grid = np.geomspace(1e-4, max(hi * 3, 1e-2), 200)
        for k in ks:
            ax.plot(grid, [theory.max_mode_mass(1.0, g, k) for g in grid], "k-", lw=0.8,
                    alpha=0.6 if k > 2 else 1.0, label=f"T2/T3 bound, K={k}")
        for i, r in enumerate(rows):
            ax.scatter(r["ratio_upper"], r["min_mode_mass"], s=18,
                       color=_MODE_COLOURS[i % len(_MODE_COLOURS)],
                       label=f"{r['task']} {r['policy']}")
        ax.set_xscale("log")
        ax.set_xlabel(r"$(\Delta - 2\rho) / L_{\mathrm{cert}}$")
        ax.set_ylabel("min mode mass (decision states)")
        ax.legend(fontsize=5, ncol=2)
        fig.tight_layout()
        return _saved(fig, out_dir, "robot_chunk_masses")


def plot_beta_sweep(results: dict, out_dir: Path) -> list[Path]:
    """CVAE: mode information and prior-deployed in-mode mass against ``beta / beta*``."""
    import matplotlib.pyplot as plt

    from validation.plots import publication_style

    rows = results["tables"]["latent"]
    if not rows:
        return []
    with publication_style():
        fig, axes = plt.subplots(1, 2, figsize=(8, 3))
        for i, name in enumerate(sorted({r["task"] for r in rows})):
            sel = sorted((r for r in rows if r["task"] == name),
                         key=lambda r: r["beta_over_beta_star"])
            x = [r["beta_over_beta_star"] for r in sel]
            c = _MODE_COLOURS[i]
            axes[0].plot(x, [r["mode_information"] / r["mode_entropy"] for r in sel], "o-",
                         color=c, label=name)
            axes[1].plot(x, [r["prior_in_mode"] for r in sel], "o-", color=c, label=name)
        for ax, lab in zip(axes, ("I(M;Z) / H(w)", "prior-deployed mass in a mode"),
                           strict=True):
            ax.set_xscale("log")
            ax.axvline(1.0, color="k", lw=0.6, ls="--")
            ax.set_xlabel(r"$\beta / \beta^*$")
            ax.set_ylabel(lab)
        axes[0].legend(fontsize=7)
        fig.tight_layout()
        return _saved(fig, out_dir, "robot_beta_sweep")


def plot_suite(results: dict, out_dir: Path) -> list[Path]:
    """The suite's figures, from the results dict alone."""
    out_dir = Path(out_dir)
    paths = []
    for draw in (plot_rollout_outcomes, plot_trajectories, plot_chunk_masses, plot_beta_sweep):
        paths += draw(results, out_dir)
    # Media (--render) are made by run_suite; list the contact sheets with the figures.
    return paths + [Path(m) for m in results.get("media", [])
                    if m.endswith(".png") and Path(m).is_file()]

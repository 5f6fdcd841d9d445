"""The robot suite's figures (from the results dict alone) and its rollout media.

Figures (`plot_suite`): per task the mode frequencies and bridge rate of every policy and
execution setting; the tracked body's paths coloured by mode; decision-state min mode
mass against T2/T3's bound; the CVAE's beta sweep; and on ALOHA the ACT-style deployment
comparison (CVAE at ``z = 0`` and ``z ~ p``, the generative policies, temporal ensembling
off and on).

Media (only with ``--render``): a contact sheet and GIFs of expert rollouts. Frames
come from MuJoCo's offscreen renderer (camera ``top`` of the shipped MJCF) when an OpenGL
backend works (``MUJOCO_GL=egl`` or ``osmesa`` must be set before MuJoCo is imported).
Where none does -- this development machine has neither a GPU nor working EGL/OSMesa --
the planar tasks are drawn as top views with matplotlib from the same simulator states
(bodies at their simulated positions, true radii), and the report says so in one line;
ALOHA's meshes need MuJoCo's renderer, so its media are skipped with that line. GIFs are
written with Pillow (no ffmpeg on this machine, so no MP4).
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

FRAME_SIZE = 240
_MODE_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2",
                 "#17becf", "#bcbd22")
_BRIDGE_COLOUR = "#7f7f7f"


@functools.cache
def gl_problem() -> str:
    """Why MuJoCo cannot render offscreen here ("" if it can).

    Probed in a subprocess: without an OpenGL backend, creating a `mujoco.Renderer` may
    abort the whole process (GLFW without a display) rather than raise.
    """
    probe = ("import mujoco; m = mujoco.MjModel.from_xml_string('<mujoco/>'); "
             "mujoco.Renderer(m, 8, 8).render()")
    try:
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                              timeout=120, env=os.environ.copy())
    except subprocess.TimeoutExpired:
        return "MuJoCo offscreen rendering unavailable (probe timed out)"
    if done.returncode == 0:
        return ""
    last = (done.stderr.strip().splitlines() or ["no message"])[-1]
    gl = os.environ.get("MUJOCO_GL", "unset")
    return f"MuJoCo offscreen rendering unavailable (MUJOCO_GL={gl}: {last[:160]})"


def _gl_renderer(model):
    """A `mujoco.Renderer`, or None and the reason there is none."""
    import mujoco

    why = gl_problem()
    if why:
        return None, why
    return mujoco.Renderer(model, FRAME_SIZE, FRAME_SIZE), ""


def _schematic_frame(task, obs: np.ndarray) -> np.ndarray:
    """Top view of a planar task's state drawn from the model's own geometry."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle

    model = task.model
    fig, ax = plt.subplots(figsize=(2.4, 2.4), dpi=FRAME_SIZE / 2.4)
    data = task.new_data(obs)
    for g in range(model.ngeom):
        if model.geom_type[g] not in (2, 5):          # spheres and cylinders only
            continue
        colour = tuple(model.geom_rgba[g])
        ax.add_patch(Circle(tuple(data.geom_xpos[g, :2]), float(model.geom_size[g, 0]),
                            color=colour))
    for s in range(model.nsite):
        if model.site_rgba[s, 3] > 0:
            ax.add_patch(Circle(tuple(data.site_xpos[s, :2]), float(model.site_size[s, 0]),
                                color=tuple(model.site_rgba[s]), alpha=0.4))
    ax.set_xlim(-1.4, 1.4)
    ax.set_ylim(-1.4, 1.4)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.canvas.draw()
    frame = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return frame


def rollout_frames(task, states: np.ndarray, every: int = 2) -> tuple[list[np.ndarray], str]:
    """Frames of one episode's states ``[T + 1, obs_dim]`` and how they were made."""
    renderer, why = _gl_renderer(task.model)
    picked = states[::every]
    if renderer is not None:
        import mujoco

        frames = []
        data = mujoco.MjData(task.model)
        for obs in picked:
            task.set_state(data, obs)
            renderer.update_scene(data, camera="top")
            frames.append(renderer.render().copy())
        renderer.close()
        return frames, "MuJoCo offscreen renderer"
    if task.name == "aloha_transfer_cube":
        return [], why + "; ALOHA's meshes need it: skipped"
    return [_schematic_frame(task, obs) for obs in picked], why + "; matplotlib top view"


def render_media(task_names, out_dir: Path, seed: int, episodes_per_mode: int = 2
                 ) -> tuple[list[Path], list[str]]:
    """Contact sheet (PNG) and GIF of expert rollouts, ``episodes_per_mode`` per mode.

    Returns the written paths and one note per task (how frames were made, or why not).
    """
    import matplotlib.pyplot as plt
    from PIL import Image

    from validation.experiments.robot_suite import ROBOT_TASK_PARAMS
    from validation.tasks import make_task
    from validation.tasks.robot import expert_rollouts

    out = Path(out_dir) / "media"
    out.mkdir(parents=True, exist_ok=True)
    paths, notes = [], []
    for name in task_names:
        task = make_task(name, **dict(ROBOT_TASK_PARAMS.get(name, ())))
        modes = np.repeat(np.arange(task.n_modes), episodes_per_mode)
        roll = expert_rollouts(task, len(modes), np.random.default_rng([seed, 4]), modes=modes)
        episodes, how = [], ""
        for states in roll.observations:
            frames, how = rollout_frames(task, states)
            if not frames:
                break
            episodes.append(frames)
        notes.append(f"{name}: {how}")
        if not episodes:
            continue
        cols = 6
        picks = np.linspace(0, len(episodes[0]) - 1, cols).round().astype(int)
        fig, axes = plt.subplots(len(episodes), cols, figsize=(1.6 * cols, 1.6 * len(episodes)),
                                 squeeze=False)
        for i, frames in enumerate(episodes):
            for j, t in enumerate(picks):
                axes[i, j].imshow(frames[t])
                axes[i, j].axis("off")
            axes[i, 0].set_title(f"mode {modes[i]} (read: {roll.outcomes[i].mode})",
                                 fontsize=6, loc="left")
        fig.tight_layout()
        sheet = out / f"{name}_contact_sheet.png"
        fig.savefig(sheet)
        plt.close(fig)
        # One GIF per task: the episodes side by side, frame by frame.
        strip = [Image.fromarray(np.concatenate([ep[t] for ep in episodes], axis=1))
                 for t in range(len(episodes[0]))]
        gif = out / f"{name}_rollouts.gif"
        strip[0].save(gif, save_all=True, append_images=strip[1:], duration=80, loop=0)
        paths += [sheet, gif]
    return paths, notes


# --------------------------------------------------------------------------- figures


def _saved(fig, out_dir: Path, name: str) -> list[Path]:
    import matplotlib.pyplot as plt

    from validation.plots import save_figure

    paths = save_figure(fig, out_dir, name)
    plt.close(fig)
    return paths


def _scene(ax, task_name: str) -> None:
    """Obstacles and targets of a planar task, drawn from the task's own geometry."""
    import matplotlib.patches as mpatches

    from validation.experiments.robot_suite import ROBOT_TASK_PARAMS
    from validation.tasks import make_task

    if task_name == "aloha_transfer_cube":      # the cube's path, autoscaled
        ax.set_aspect("equal")
        return
    task = make_task(task_name, **dict(ROBOT_TASK_PARAMS.get(task_name, ())))
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
    ax.set_xlim(-1.4, 1.4)
    ax.set_ylim(-1.2, 1.2)


def _stacked_modes(ax, rows: list[dict], labels: list[str]) -> None:
    """Mode frequencies and the bridge rate of ``rows`` as stacked bars, with the success
    rate's 95% interval."""
    x = np.arange(len(rows))
    bottom = np.zeros(len(rows))
    for k in range(len(rows[0]["mode_freq"])):
        h = np.array([r["mode_freq"][k] for r in rows])
        ax.bar(x, h, bottom=bottom, color=_MODE_COLOURS[k], label=f"mode {k}")
        bottom += h
    ax.bar(x, [r["bridge"] for r in rows], bottom=bottom, color=_BRIDGE_COLOUR,
           label="bridge (collision/stall)")
    s = np.array([r["success"] for r in rows])
    ci = np.array([r["success_ci"] for r in rows])
    ax.errorbar(x, s, yerr=[s - ci[:, 0], ci[:, 1] - s], fmt="k.", capsize=2,
                label="success (95% CI)")
    ax.set_xticks(x, labels, fontsize=6, rotation=90)
    ax.set_ylabel("fraction of rollouts")
    ax.set_ylim(0, 1.05)


def plot_rollout_outcomes(results: dict, out_dir: Path) -> list[Path]:
    """Per task: mode frequencies and bridge rate of each policy and setting (stacked),
    with the success rate's 95% interval."""
    import matplotlib.pyplot as plt

    from validation.plots import publication_style

    rows = results["tables"]["rollouts"]
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    with publication_style():
        fig, axes = plt.subplots(len(tasks), 1, figsize=(9, 2.8 * len(tasks)), squeeze=False)
        for ax, name in zip(axes[:, 0], tasks, strict=True):
            sel = [r for r in rows if r["task"] == name]
            _stacked_modes(ax, sel, [f"{r['policy']}\n{r['setting']}" for r in sel])
            ax.set_title(name)
        axes[0, 0].legend(fontsize=7, ncol=4, loc="upper right")
        fig.tight_layout()
        return _saved(fig, out_dir, "robot_rollout_outcomes")


def plot_act_deployment(results: dict, out_dir: Path) -> list[Path]:
    """ALOHA, ACT-style deployment side by side: the modes each policy's rollouts took
    (stacked), temporal ensembling off (whole chunk) and on."""
    import matplotlib.pyplot as plt

    from validation.plots import publication_style

    rows = results["tables"].get("act_deployment", [])
    if not rows:
        return []
    with publication_style():
        fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.2), sharey=True)
        for ax, ens in zip(axes, ("off", "on"), strict=True):
            sel = [r for r in rows if r["ensembling"] == ens]
            if sel:
                _stacked_modes(ax, sel, [r["policy"] for r in sel])
            ax.set_title(f"temporal ensembling {ens}")
        axes[0].legend(fontsize=6, loc="upper left")
        fig.suptitle("ALOHA transfer-cube: which arm gave the cube (mode 0 left, 1 right)")
        fig.tight_layout()
        return _saved(fig, out_dir, "robot_act_deployment")


def plot_trajectories(results: dict, out_dir: Path) -> list[Path]:
    """Paths of the tracked body (whole chunks executed), coloured by the mode read off
    them (grey: bridge)."""
    import matplotlib.pyplot as plt

    from validation.experiments.robot_suite import whole_chunk
    from validation.plots import publication_style

    trajs = [t for t in results["trajectories"] if whole_chunk(t["setting"])]
    tasks = list(dict.fromkeys(t["task"] for t in trajs))
    policies = list(dict.fromkeys(t["policy"] for t in trajs))
    if not trajs:
        return []
    with publication_style():
        fig, axes = plt.subplots(len(tasks), len(policies),
                                 figsize=(2.2 * len(policies), 2.0 * len(tasks)),
                                 squeeze=False)
        for i, name in enumerate(tasks):
            for j, pol in enumerate(policies):
                ax = axes[i, j]
                _scene(ax, name)
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
                    ax.set_title(pol, fontsize=6)
                if j == 0:
                    ax.set_ylabel(name, fontsize=7)
        fig.tight_layout()
        return _saved(fig, out_dir, "robot_trajectories")


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
        for i, name in enumerate(dict.fromkeys(r["task"] for r in rows)):
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
    """Every figure of the robot suite from ``results`` alone, plus the contact sheets
    that ``--render`` wrote."""
    out_dir = Path(out_dir)
    paths = []
    for draw in (plot_rollout_outcomes, plot_act_deployment, plot_trajectories,
                 plot_chunk_masses, plot_beta_sweep):
        paths += draw(results, out_dir)
    return paths + [Path(m) for m in results.get("media", [])
                    if m.endswith(".png") and Path(m).is_file()]

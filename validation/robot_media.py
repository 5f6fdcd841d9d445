"""Rollout media of the robot suite (only with ``--render``): a contact sheet and GIFs.

Frames come from MuJoCo's offscreen renderer (camera ``top`` of the shipped MJCF) when an
OpenGL backend works (``MUJOCO_GL=egl`` or ``osmesa`` must be set before MuJoCo is
imported). Where none does -- this development machine has neither a GPU nor working
EGL/OSMesa -- the planar tasks are drawn as top views with matplotlib from the same
simulator states (bodies at their simulated positions, true radii), and the report
says so; ALOHA's meshes need MuJoCo's renderer, so its media are skipped with a message.
GIFs are written with Pillow (no ffmpeg on this machine, so no MP4).
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

FRAME_SIZE = 240


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

    from validation.tasks import make_task
    from validation.tasks.robot import expert_rollouts

    out = Path(out_dir) / "media"
    out.mkdir(parents=True, exist_ok=True)
    paths, notes = [], []
    for name in task_names:
        task = make_task(name)
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

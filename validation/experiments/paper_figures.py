"""The paper suite's figures, from ``results["rollouts"]`` alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from validation.plots import publication_style, save_figure


def plot_rollouts(rollouts: dict[str, Any], out_dir: Path) -> list[Path]:
    """Rollouts over each task's obstacles, one panel per task and policy setting, one
    figure per execution; drawn from ``results["rollouts"]`` alone (PNG and PDF)."""
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


__all__ = ["plot_rollouts"]

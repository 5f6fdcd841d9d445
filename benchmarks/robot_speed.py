"""Speed of the robot tasks: physics steps per second with and without a policy in the
loop, and closed-loop rollouts per second.

Reference (same process): a bare ``mujoco.mj_step`` loop on the same model. Reported:
- ``bare``: bare mj_step loop (physics steps/s);
- ``task.step``: the task's control step (servo set-point, substeps, obstacle-contact
  check), constant set-point (physics steps/s and ratio to bare);
- ``expert``: closed-loop expert rollouts (scripted expert in the loop);
- ``policy``: closed-loop rollouts of an (untrained: speed only) policy, batched over
  episodes, whole chunks executed and with temporal ensembling.

Usage: ``.venv/bin/python benchmarks/robot_speed.py [--episodes 32] [--tasks ...]``
"""

from __future__ import annotations

import argparse
import time

import mujoco
import numpy as np
import torch

from validation.policies import make_policy
from validation.tasks import make_task
from validation.tasks.robot import expert_rollouts, policy_rollouts


def bare_steps_per_second(task, n: int = 20000) -> float:
    data = task.new_data(task.observations(1, 0)[0].astype(float))
    start = time.perf_counter()
    mujoco.mj_step(task.model, data, nstep=n)
    return n / (time.perf_counter() - start)


def task_steps_per_second(task, n_control: int = 2000) -> float:
    obs = task.observations(1, 0)[0].astype(float)
    data = task.new_data(obs)
    target = task.anchor(obs)
    start = time.perf_counter()
    for _ in range(n_control):
        task.step(data, target)
    return n_control * task.substeps / (time.perf_counter() - start)


def rollout_rate(roll) -> tuple[float, float]:
    """(physics steps/s, rollouts/s) of a `Rollouts`."""
    return roll.sim_steps / roll.seconds, len(roll.outcomes) / roll.seconds


def rollout_cell(rate: tuple[float, float], bare: float) -> str:
    """A table cell of a `rollout_rate`: ``steps/s (ratio to bare mj_step), rollouts/s``."""
    return f"{rate[0]:,.0f} ({rate[0] / bare:.2f}), {rate[1]:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=32)
    parser.add_argument("--tasks", nargs="+",
                        default=["reach_around", "multi_reach", "push_around",
                                 "aloha_transfer_cube"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| task | bare mj_step (steps/s) | task.step (steps/s, ratio) | expert loop "
          "(steps/s, ratio, rollouts/s) | flow policy, whole chunk (steps/s, ratio, rollouts/s)"
          " | flow policy, ensembling (steps/s, ratio, rollouts/s) |")
    print("|---|---|---|---|---|---|")
    for name in args.tasks:
        task = make_task(name)
        bare = bare_steps_per_second(task)
        step = task_steps_per_second(task)
        expert = rollout_rate(expert_rollouts(task, args.episodes, np.random.default_rng(0)))
        policy = make_policy("flow", task.obs_dim, task.chunk_dim, seed=0, hidden=(128, 128),
                             n_steps=10)
        whole = rollout_rate(policy_rollouts(task, policy, args.episodes, seed=0))
        ens = rollout_rate(policy_rollouts(task, policy, args.episodes, seed=0, ensemble=0.01))
        cells = [f"{bare:,.0f}", f"{step:,.0f} ({step / bare:.2f})",
                 *(rollout_cell(rate, bare) for rate in (expert, whole, ens))]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()

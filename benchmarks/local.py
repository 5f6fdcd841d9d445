"""Benchmark: the certified constant on a ball against the global certificate (issues #10, #11).

An unconstrained flow (2 x 128 SiLU velocity, Euler 8, 4000 steps) trained on the planar
two-mode task (``kway``, ``K = 2``, one planar action per chunk: noise in ``R^2``). At each
of two observations it prints

- ``L_B``: `numerics.sampler_lipschitz_local` on the ball of Gaussian mass ``1 - 1e-3``,
  with its attained lower end (``||J||`` at a box centre in the ball);
- the global joint certificate (`sampler_lipschitz_upper`) and the policy's transition
  search (`empirical_lipschitz`, all of ``R^2``);
- T4, local form, at ``L_B`` against the observed bridge mass (2 x 10^5 samples, the task's
  ``rho``) and T2's local bound against the smaller mode mass.

One CPU thread, in this process.

    .venv/bin/python benchmarks/local.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))

from sampler_models import _cached  # noqa: E402

import theory  # noqa: E402
from numerics import mode_masses, sampler_lipschitz_local, sampler_lipschitz_upper  # noqa: E402


def main() -> None:
    torch.set_num_threads(1)
    from validation.policies import TrainConfig, make_policy
    from validation.policies.networks import time_embedding
    from validation.tasks import make_task

    task = make_task("kway", n_modes=2, horizon=1)
    demos = task.demonstrations(4096, seed=0)

    def build():
        return make_policy("flow", task.obs_dim, task.chunk_dim, seed=0, n_steps=8,
                           hidden=(128, 128))

    def train(policy):
        policy.fit(demos.obs, demos.actions, TrainConfig(steps=4000, seed=0, lr=3e-3))

    policy, _ = _cached("flow-kway2-planar", build, train)
    obs = task.observations(2, seed=0)
    p = 1e-3
    for b in range(obs.shape[0]):
        o = torch.as_tensor(obs[b], dtype=torch.float32)

        def cond(t, o=o):
            return torch.cat([time_embedding(torch.tensor(float(t)), policy.time_dim), o])

        began = time.perf_counter()
        loc = sampler_lipschitz_local(policy.velocity_net, "euler", policy.n_steps,
                                      state_dim=task.chunk_dim, condition=cond, outside_mass=p,
                                      max_seconds=300, max_cells=2_000_000)
        t_loc = time.perf_counter() - began
        glob = sampler_lipschitz_upper(policy.velocity_net, "euler", policy.n_steps,
                                       state_dim=task.chunk_dim, condition=cond, max_seconds=60)
        low = policy.empirical_lipschitz(obs[b:b + 1])
        s = policy.sample(obs[b:b + 1], 200_000, generator=torch.Generator().manual_seed(1))
        mm = mode_masses(s[0].numpy(), task.mode_centres(obs[b:b + 1])[0], task.rho)
        eff = float(np.atleast_1d(task.separation(obs[b:b + 1]))[0]) - 2 * task.rho
        t4 = float(theory.min_bridge_mass_local(loc.value, eff, p, m1=float(mm.masses[0])))
        t2 = float(theory.max_mode_mass_local(loc.value, eff, p))
        print(f"obs {b}: L_B {loc.value:.4g} (lower {loc.details['lower']:.4g}, ratio "
              f"{loc.value / loc.details['lower']:.3f}, {loc.details['cells']} boxes, "
              f"{t_loc:.1f} s, {loc.details['stopped']}); global {glob.value:.4g}; search "
              f"{low.value:.4g}; L_B / search {loc.value / low.value:.3f}", flush=True)
        print(f"       bridge {mm.bridge_mass:.4f} {tuple(round(v, 4) for v in mm.bridge_interval)}"
              f", T4-local bound {t4:.4f} (bound / observed {t4 / mm.bridge_mass:.3f}); min "
              f"mode {mm.masses.min():.4f} <= T2-local {t2:.4f}", flush=True)


if __name__ == "__main__":
    main()

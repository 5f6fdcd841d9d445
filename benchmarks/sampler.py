"""Benchmark: whole-sampler certificates against per-step products and lower bounds (issue #10).

For each trained sampler (`benchmarks/sampler_models.py`, cached under ``out/bench-cache``)
and one observation it prints

- certified, old: T6's product of per-step bounds (`sampler_lipschitz_upper(...,
  method="product")`, the same number the policies' ``certified_lipschitz`` gave);
- certified, new: the joint certificate of the unrolled sampler (`sampler_lipschitz_upper`);
- measured lower bounds, old: the policies' ``empirical_lipschitz`` (segments between
  Gaussian pairs plus Adam ascent) or, for the plain-torch flow, `lipschitz_lower` from 32
  Gaussian starts; new: `transition_lipschitz_lower` (pairs ranked by quotient, zoomed
  segments, ascent from the steep points and from starts at radii 1, 3, 10, 30);
- the ratios certified / lower and the seconds of each.

Everything runs on one CPU thread in this process, one case after another.

    .venv/bin/python benchmarks/sampler.py                    # all cases
    .venv/bin/python benchmarks/sampler.py --cases speed      # the 2x256 timing case
    .venv/bin/python benchmarks/sampler.py --max-seconds 600  # a longer optimisation
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

from sampler_models import fork_policy, paper_ddim100, plain_flow, time_features  # noqa: E402

from numerics.lipschitz import (  # noqa: E402
    lipschitz_lower,
    sampler_lipschitz_upper,
    sampler_map,
    transition_lipschitz_lower,
)

CASES = ("flow-free", "ddim-10", "plain-flow", "speed", "flow-sn", "ddim-100")


def _policy_case(name: str):
    from validation.policies.networks import time_embedding

    if name == "ddim-100":
        policy, task, _ = paper_ddim100()
    elif name == "ddim-10":
        policy, task, _ = fork_policy("diffusion-ddim-10", "diffusion",
                                      {"n_sampling_steps": 10, "hidden": (128, 128)})
    elif name == "flow-free":
        policy, task, _ = fork_policy("flow-free", "flow", {"n_steps": 8, "hidden": (128, 128)})
    else:
        policy, task, _ = fork_policy("flow-sn-1", "flow", {
            "n_steps": 8, "hidden": (128, 128), "spectral_norm": True, "activation": "relu",
            "lipschitz_scale": 1.0})
    obs = torch.as_tensor(task.observations(1, seed=0), dtype=torch.float32)
    o = obs[0]
    if policy.kind == "flow":
        def cond(t):
            return torch.cat([time_embedding(torch.tensor(float(t)), policy.time_dim), o])
        spec = {"sampler": "euler", "n_steps": policy.n_steps}
        net = policy.velocity_net
    else:
        n_train = policy.n_train_steps

        def cond(t):
            return torch.cat([time_embedding(torch.tensor(float(t)) / n_train,
                                             policy.time_dim), o])
        spec = {"sampler": "ddim", "alpha_bars": policy._alpha_bar_path,
                "timesteps": [c[0] for c in policy._coefficients],
                "clip_sample": policy.clip_sample}
        net = policy.eps_net

    def old_lower():
        return policy.empirical_lipschitz(obs)
    return net, spec, cond, policy.chunk_dim, old_lower


def _plain_case(hidden: int, steps: int):
    net, _ = plain_flow(hidden=hidden, steps=steps)
    spec = {"sampler": "euler", "n_steps": 10}

    def cond(t):
        return time_features(torch.tensor(float(t)))

    def old_lower():
        f = sampler_map(net, state_dim=8, condition=cond, **spec)
        x0 = torch.randn(32, 8, generator=torch.Generator().manual_seed(0))
        return lipschitz_lower(f, x0, n_steps=10)
    return net, spec, cond, 8, old_lower


def run_case(name: str, max_seconds: float) -> dict:
    if name == "plain-flow":
        net, spec, cond, dim, old_lower = _plain_case(128, 4000)
    elif name == "speed":
        net, spec, cond, dim, old_lower = _plain_case(256, 1000)
    else:
        net, spec, cond, dim, old_lower = _policy_case(name)
    spec = {k: v for k, v in spec.items() if v is not None}
    row = {"case": name}
    began = time.perf_counter()
    old = sampler_lipschitz_upper(net, state_dim=dim, condition=cond, method="product", **spec)
    row["old"], row["old_s"] = old.value, time.perf_counter() - began
    began = time.perf_counter()
    new = sampler_lipschitz_upper(net, state_dim=dim, condition=cond, max_seconds=max_seconds,
                                  **spec)
    row["new"], row["new_s"] = new.value, time.perf_counter() - began
    row["start"], row["evals"] = new.details.get("start"), new.details.get("evaluations")
    began = time.perf_counter()
    row["lower_old"] = old_lower().value
    row["lower_old_s"] = time.perf_counter() - began
    f = sampler_map(net, state_dim=dim, condition=cond, **spec)
    began = time.perf_counter()
    low = transition_lipschitz_lower(f, dim, radii=(1.0, 3.0, 10.0, 30.0), seed=0)
    row["lower_new"], row["lower_new_s"] = low.value, time.perf_counter() - began
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    parser.add_argument("--max-seconds", type=float, default=120.0,
                        help="optimisation time cap of the joint certificate per case")
    parser.add_argument("--speed-seconds", type=float, default=50.0,
                        help="optimisation cap of the 2x256 speed case (bar: 60 s in all)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    header = (f"{'case':<10} {'certified old':>14} {'certified new':>14} {'new/old':>9} "
              f"{'lower old':>10} {'lower new':>10} {'new/lower':>10} {'old/lower':>10} "
              f"{'s old':>6} {'s new':>7} {'s low':>6} {'evals':>6}")
    print(header)
    print("-" * len(header), flush=True)
    for name in args.cases:
        r = run_case(name, args.speed_seconds if name == "speed" else args.max_seconds)
        lower = max(r["lower_old"], r["lower_new"])
        print(f"{r['case']:<10} {r['old']:14.4g} {r['new']:14.4g} {r['new'] / r['old']:9.2e} "
              f"{r['lower_old']:10.4g} {r['lower_new']:10.4g} {r['new'] / lower:10.3g} "
              f"{r['old'] / lower:10.3g} {r['old_s']:6.1f} {r['new_s']:7.1f} "
              f"{r['lower_new_s']:6.1f} {r['evals'] or 0:6d}", flush=True)


if __name__ == "__main__":
    main()

"""Benchmark of the certified Lipschitz upper bounds (numerics.lipschitz).

For random ReLU MLPs with widths [16, w, .., w, 4] (torch default init, seed 0) it
prints each method's certified bound, its time, the bound's ratio to LipSDP-Neuron
(cvxpy + SCS; only where the LMI is small enough to finish in reasonable time) and the
speed-up over it, plus two lower bounds for the gap (gradient ascent from 64 Gaussian
starts, and the transition search of `transition_lipschitz_lower`). Times are measured in
this process after a warm-up call, so ratios compare like with like.

    .venv/bin/python benchmarks/lipschitz.py --quick
    .venv/bin/python benchmarks/lipschitz.py --widths 64 128 256 512 1024 --depths 2 4 8
    .venv/bin/python benchmarks/lipschitz.py --device cuda      # fast-certified on GPU
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from numerics.lipschitz import lipschitz_lower, lipschitz_upper, transition_lipschitz_lower


def relu_mlp(widths: list[int], seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for i in range(len(widths) - 1):
        layers.append(nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def run(widths, depths, device, lipsdp_max, scs_eps, fast_options, lipsdp_layer,
        tight) -> None:
    lipschitz_upper(relu_mlp([4, 8, 2]), "fast-certified", device=device)  # warm-up
    lipschitz_upper(relu_mlp([4, 8, 2]), "lipsdp-neuron", eps=scs_eps)
    header = f"{'width':>5} {'depth':>5} {'method':<26} {'bound':>10} {'seconds':>9} " \
             f"{'/neuron':>8} {'speed-up':>9}"
    print(header)
    print("-" * len(header))
    for depth in depths:
        for width in widths:
            model = relu_mlp([16] + [width] * depth + [4])
            rows = [(m, lipschitz_upper(model, m)) for m in ("spectral-product", "eclipse-fast")]
            rows.append(("fast-certified", lipschitz_upper(model, "fast-certified",
                                                           device=device, **fast_options)))
            if tight:
                rows.append(("fast-certified(tight)", lipschitz_upper(
                    model, "fast-certified", device=device, tolerance=1e-6, max_iter=300,
                    **{k: v for k, v in fast_options.items() if k != "max_iter"})))
            neuron = None
            if width * depth <= lipsdp_max:
                neuron = lipschitz_upper(model, "lipsdp-neuron", eps=scs_eps)
                rows.append((f"lipsdp-neuron(SCS {scs_eps:g})", neuron))
                if lipschitz_layer_ok(width, depth, lipsdp_layer):
                    rows.append((f"lipsdp-layer(SCS {scs_eps:g})",
                                 lipschitz_upper(model, "lipsdp-layer", eps=scs_eps)))
            lower = lipschitz_lower(model, n_starts=64, seed=0, n_steps=5)
            rows.append(("lower: gradient-ascent", lower))
            rows.append(("lower: transition-search", transition_lipschitz_lower(model, 16,
                                                                                seed=0)))
            for name, est in rows:
                ratio = f"{est.value / neuron.value:8.4f}" if neuron else f"{'-':>8}"
                speed = f"{neuron.seconds / est.seconds:9.1f}" if neuron else f"{'-':>9}"
                print(f"{width:5d} {depth:5d} {name:<26} {est.value:10.5f} {est.seconds:9.3f} "
                      f"{ratio} {speed}", flush=True)


def lipschitz_layer_ok(width: int, depth: int, enabled: bool) -> bool:
    return enabled and width * depth <= 256


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="widths 16-128, depth 2")
    parser.add_argument("--widths", type=int, nargs="+", default=[16, 64, 128, 256, 512, 1024])
    parser.add_argument("--depths", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--device", default="cpu", help="device of fast-certified (cpu, cuda)")
    parser.add_argument("--lipsdp-max", type=int, default=512,
                        help="run cvxpy LipSDP only where width * depth <= this")
    parser.add_argument("--scs-eps", type=float, default=1e-4)
    parser.add_argument("--max-iter", type=int, default=None, help="fast-certified L-BFGS "
                        "iterations per smoothing stage")
    parser.add_argument("--max-seconds", type=float, default=None,
                        help="fast-certified optimisation time limit per network")
    parser.add_argument("--lipsdp-layer", action="store_true", help="also LipSDP-Layer")
    parser.add_argument("--tight", action="store_true",
                        help="also fast-certified at tolerance 1e-6 (default 1e-4)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    widths, depths = ([16, 64, 128], [2]) if args.quick else (args.widths, args.depths)
    fast_options = {k: v for k, v in (("max_iter", args.max_iter),
                                      ("max_seconds", args.max_seconds)) if v is not None}
    run(widths, depths, args.device, args.lipsdp_max, args.scs_eps, fast_options,
        args.lipsdp_layer, args.tight)


if __name__ == "__main__":
    main()

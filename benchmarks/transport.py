"""Benchmark of numerics.transport: exact EMD time vs n, our adapter against a bare
``ot.emd2`` call in the same process, and sliced vs exact (time and value).

Run: ``.venv/bin/python benchmarks/transport.py [--sizes 1000 2000 5000] [--repeats 3]``.
Prints a Markdown table (paste into benchmarks/RESULTS.md). Timings are ratios
against the reference run in the same process; absolute seconds depend on the machine.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import ot
import torch

from numerics.transport import wasserstein


def _best_of(f, repeats: int) -> tuple[float, float]:
    """(value, fastest wall time) of ``repeats`` calls."""
    best, value = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        value = f()
        best = min(best, time.perf_counter() - start)
    return float(value), best


def run(sizes: list[int], repeats: int, dim: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for n in sizes:
        x, y = rng.normal(size=(n, dim)), rng.normal(0.5, 1.0, size=(n, dim))
        u = np.full(n, 1.0 / n)

        def bare(x=x, y=y, u=u):
            # the reference: what a careful user writes by hand (Euclidean cost, 1e7 iterations)
            return ot.emd2(u, u, ot.dist(x, y, metric="euclidean"), numItermax=10_000_000)

        ref, t_ref = _best_of(bare, repeats)
        ours, t_ours = _best_of(lambda x=x, y=y: wasserstein(x, y, 1, "exact"), repeats)
        sliced, t_sliced = _best_of(
            lambda x=x, y=y: wasserstein(x, y, 1, "sliced", n_projections=200, seed=0), repeats)
        rows.append(dict(n=n, bare_s=t_ref, ours_s=t_ours, overhead=t_ours / t_ref,
                         sliced_s=t_sliced, sliced_speedup=t_ref / t_sliced, w1=ours,
                         w1_bare=ref, sliced_w1=sliced))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 5000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dim", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = run(args.sizes, args.repeats, args.dim, args.seed)
    print(f"d = {args.dim}, seed = {args.seed}, best of {args.repeats}")
    print("| n | bare ot.emd2 (s) | wasserstein exact (s) | ratio | sliced 200 proj (s) | "
          "exact / sliced time | W1 exact | W1 bare | SW1 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['n']} | {r['bare_s']:.3f} | {r['ours_s']:.3f} | {r['overhead']:.3f} | "
              f"{r['sliced_s']:.4f} | {r['sliced_speedup']:.0f} | {r['w1']:.5f} | "
              f"{r['w1_bare']:.5f} | {r['sliced_w1']:.5f} |")


if __name__ == "__main__":
    main()

"""Speed of theory.transport's numeric paths, as ratios against references in-process.

Targets (GitHub issues #2, #12): `max_mode_mass` on a 10^6-element array within 1.3x of a
bare `scipy.special.ndtr` call on the same array; a scalar call under 5 microseconds (also
after the validation layer of issue #12); SymPy never imported by numeric calls. Also timed:
the local forms and the K >= 3 Wasserstein bound (a lower Riemann sum since issue #12). Run:

    .venv/bin/python benchmarks/theory_speed.py

Prints a Markdown table (medians over repeats) to paste into benchmarks/RESULTS.md.
"""

from __future__ import annotations

import math
import statistics
import sys
import timeit

import numpy as np
from scipy import special

import theory

REPEATS = 15


def per_call(fn, number: int) -> float:
    """Median seconds per call over REPEATS timings of ``number`` calls."""
    return statistics.median(t / number for t in timeit.repeat(fn, number=number,
                                                               repeat=REPEATS))


def paired_ratio(fn, reference, number: int) -> tuple[float, float, float]:
    """Median of per-repeat ratios fn/reference, timed alternately (shared-CPU noise)."""
    ratios, a, b = [], [], []
    for _ in range(REPEATS):
        tr = timeit.timeit(reference, number=number) / number
        tf = timeit.timeit(fn, number=number) / number
        ratios.append(tf / tr)
        a.append(tf)
        b.append(tr)
    return statistics.median(ratios), statistics.median(a), statistics.median(b)


def main() -> None:
    import os

    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    rng = np.random.default_rng(0)
    sep = rng.uniform(0.0, 10.0, 10**6)
    rows = []
    ratio, t_f, t_r = paired_ratio(lambda: theory.max_mode_mass(1.0, sep),
                                   lambda: special.ndtr(sep), 5)
    rows.append(("max_mode_mass(1.0, sep[1e6]) / ndtr(sep[1e6])", f"{ratio:.3f}",
                 f"{t_f * 1e3:.2f} ms vs {t_r * 1e3:.2f} ms", "<= 1.3"))
    ratio, t_f, t_r = paired_ratio(lambda: theory.max_mode_mass(1.0, sep, 3),
                                   lambda: special.ndtr(sep), 5)
    rows.append(("max_mode_mass(1.0, sep[1e6], 3) / ndtr(sep[1e6])", f"{ratio:.3f}",
                 f"{t_f * 1e3:.2f} ms vs {t_r * 1e3:.2f} ms", "<= 1.3"))
    ratio, t_f, t_r = paired_ratio(lambda: theory.log_max_mode_mass(1.0, sep),
                                   lambda: special.log_ndtr(sep), 5)
    rows.append(("log_max_mode_mass(1.0, sep[1e6]) / log_ndtr(sep[1e6])", f"{ratio:.3f}",
                 f"{t_f * 1e3:.2f} ms vs {t_r * 1e3:.2f} ms", "-"))
    ratio, t_f, t_r = paired_ratio(lambda: theory.min_bridge_mass(1.0, sep),
                                   lambda: special.erf(sep), 5)
    rows.append(("min_bridge_mass(1.0, sep[1e6]) / erf(sep[1e6])", f"{ratio:.3f}",
                 f"{t_f * 1e3:.2f} ms vs {t_r * 1e3:.2f} ms", "-"))
    scalar = [
        ("max_mode_mass(1.0, 2.0)", lambda: theory.max_mode_mass(1.0, 2.0), "< 5 us"),
        ("max_mode_mass(1.0, 2.0, 3)", lambda: theory.max_mode_mass(1.0, 2.0, 3), "< 5 us"),
        ("log_max_mode_mass(1.0, 80.0)", lambda: theory.log_max_mode_mass(1.0, 80.0), "-"),
        ("min_bridge_mass(1.0, 2.0)", lambda: theory.min_bridge_mass(1.0, 2.0), "-"),
        ("mode_mass_frontier(0.2, 1.0, 2.0)",
         lambda: theory.mode_mass_frontier(0.2, 1.0, 2.0), "-"),
        ("math.erfc(1.0) (reference)", lambda: math.erfc(1.0), "-"),
        ("scipy.special.ndtr(1.0) (reference)", lambda: special.ndtr(1.0), "-"),
    ]
    for name, fn, target in scalar:
        rows.append((name, "-", f"{per_call(fn, 20000) * 1e6:.2f} us", target))
    slow = [
        ("max_weighted_coverage(L[1e4], 2.0, (0.3, 0.7))",
         lambda: theory.max_weighted_coverage(rng.uniform(0.1, 5, 10**4), 2.0, (0.3, 0.7))),
        ("max_weighted_coverage(1.0, 2.0, w[K=4]) (SLSQP over r)",
         lambda: theory.max_weighted_coverage(1.0, 2.0, (0.1, 0.2, 0.3, 0.4))),
        ("achievable_mode_mass(1.0, 2.0, 3)", lambda: theory.achievable_mode_mass(1.0, 2.0, 3)),
        ("wasserstein_lower_bound(1.0, 2.0) (p = 1, closed form)",
         lambda: theory.wasserstein_lower_bound(1.0, 2.0)),
        ("wasserstein_lower_bound(1.0, 2.0, p=2) (tanh-sinh)",
         lambda: theory.wasserstein_lower_bound(1.0, 2.0, p=2)),
        ("wasserstein_lower_bound(1.0, 2.0, w[K=3]) (Riemann sum)",
         lambda: theory.wasserstein_lower_bound(1.0, 2.0, (0.3, 0.3, 0.4))),
        ("wasserstein_lower_bound(1.0, 2.0, w[K=20]) (hung > 10 s before #12)",
         lambda: theory.wasserstein_lower_bound(1.0, 2.0, np.full(20, 0.05))),
        ("wasserstein_lower_bound(1e12, 2.0) (p = 1, Gauss-Jacobi)",
         lambda: theory.wasserstein_lower_bound(1e12, 2.0)),
        ("max_mode_mass_local(1.0, 1.0, 0.1353)",
         lambda: theory.max_mode_mass_local(1.0, 1.0, 0.1353)),
        ("max_mode_mass_local(L[1e4], 1.0, 0.1)",
         lambda: theory.max_mode_mass_local(rng.uniform(0.1, 5, 10**4), 1.0, 0.1)),
        ("max_mode_mass_local(1.0, 1.0, 0.1, 3)",
         lambda: theory.max_mode_mass_local(1.0, 1.0, 0.1, 3)),
        ("max_weighted_coverage_local(1.0, 1.0, w[K=3], 0.1)",
         lambda: theory.max_weighted_coverage_local(1.0, 1.0, (0.2, 0.3, 0.5), 0.1)),
        ("min_bridge_mass_local(1.0, 1.0, 0.1)",
         lambda: theory.min_bridge_mass_local(1.0, 1.0, 0.1)),
        ("wasserstein_lower_bound_local(1.0, 2.0, 0.1)",
         lambda: theory.wasserstein_lower_bound_local(1.0, 2.0, 0.1)),
        ("outside_ball_mass(2.0, 16, 0.5)", lambda: theory.outside_ball_mass(2.0, 16, 0.5)),
    ]
    for name, fn in slow:
        rows.append((name, "-", f"{per_call(fn, 3) * 1e3:.2f} ms", "-"))
    print("| call | ratio (median) | time (median) | target |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\nsympy imported by the numeric calls above: {'sympy' in sys.modules}")


if __name__ == "__main__":
    main()

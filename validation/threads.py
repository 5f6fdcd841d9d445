"""Thread counts of every process the project starts: one torch/BLAS thread per owned CPU.

Torch's and OpenBLAS's default pools use every core of the machine. Two such processes
on a shared 2-core machine oversubscribe it (the fast certified LipSDP solver ran 16-24x
slower with two threads while another process held a core, benchmarks/RESULTS.md), so
the CLI, the Ray workers and the benchmarks set their counts explicitly with
`limit_threads`.
"""

from __future__ import annotations

import os

from theory import _args


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask; ``os.cpu_count()`` elsewhere)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:   # not every platform has sched_getaffinity
        return max(1, os.cpu_count() or 1)


def limit_threads(n: int | None = None) -> int:
    """Set torch's intra-op pool and every loaded BLAS/OpenMP pool to ``n`` threads.

    Args:
        n: threads, ``>= 1``; default: the environment variable ``MODEBOUND_THREADS`` when
            set (the test suite sets 1: its two xdist workers share two cores), else
            `available_cpus`.

    Returns:
        the count set. Environment variables (``OMP_NUM_THREADS`` ...) are set too, for
        libraries loaded later and for child processes.
    """
    import torch
    from threadpoolctl import threadpool_limits

    if n is None and os.environ.get("MODEBOUND_THREADS"):
        text = os.environ["MODEBOUND_THREADS"]
        n = int(text) if text.strip().isdigit() else 0
        if n < 1:
            raise ValueError(f"MODEBOUND_THREADS must be an integer >= 1, got {text!r}")
    n = available_cpus() if n is None else _args.integer_at_least(n, "threads", 1)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    torch.set_num_threads(n)
    threadpool_limits(limits=n)
    return n


__all__ = ["available_cpus", "limit_threads"]

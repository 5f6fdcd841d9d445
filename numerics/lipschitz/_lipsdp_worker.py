"""LipSDP through cvxpy, run as a separate process by `numerics.lipschitz.lipsdp`.

Executed by path (``python _lipsdp_worker.py``), so it imports only NumPy and cvxpy (not
this package or torch): the parent sends ``(weights, slopes, form, solver, options)`` as a
pickle on stdin and reads ``{"t": [...], "rho": ..., "status": ...}`` (or ``{"error": ...}``)
as a pickle on stdout. Running the whole of cvxpy's canonicalisation and the solver in a
child is what lets the parent enforce a hard time limit: both run in C code that a
thread cannot interrupt, and canonicalisation alone took 9 s on a 2x128 network.
"""

from __future__ import annotations

import pickle
import sys

import cvxpy as cp
import numpy as np


def build(w: list[np.ndarray], slopes: list[tuple[float, float]], form: str):
    """``min rho`` s.t. the LipSDP matrix ``M(rho, T) <= 0`` (numerics.lipschitz.certificate)."""
    depth = len(slopes)
    sizes = [x.shape[1] for x in w]  # n_0 .. n_l
    rho = cp.Variable(nonneg=True)
    if form == "neuron":
        t = [cp.Variable(w[k].shape[0], nonneg=True) for k in range(depth)]
        tmat = [cp.diag(x) for x in t]
    else:
        t = [cp.Variable(nonneg=True) for _ in range(depth)]
        tmat = [x * np.eye(w[k].shape[0]) for k, x in enumerate(t)]
    blocks = [[np.zeros((sizes[i], sizes[j])) for j in range(depth + 1)]
              for i in range(depth + 1)]
    blocks[0][0] = -rho * np.eye(sizes[0])
    for k in range(1, depth + 1):
        a, b = slopes[k - 1]
        tk, wprev = tmat[k - 1], w[k - 1]
        if a * b != 0:
            blocks[k - 1][k - 1] = blocks[k - 1][k - 1] - 2 * a * b * (wprev.T @ tk @ wprev)
        blocks[k][k] = -2 * tk
        blocks[k][k - 1] = (a + b) * (tk @ wprev)
        blocks[k - 1][k] = (a + b) * (wprev.T @ tk)
    blocks[depth][depth] = blocks[depth][depth] + w[depth].T @ w[depth]
    m = cp.bmat(blocks)
    # M is symmetric by construction; cvxpy wants the symmetry explicit for '<<'
    return cp.Problem(cp.Minimize(rho), [(m + m.T) / 2 << 0]), rho, t


def solve(weights, slopes, form: str, solver: str, options: dict) -> dict:
    """Build and solve; ``{"t", "rho", "status"}`` or ``{"error"}``."""
    try:
        problem, rho, t = build(weights, slopes, form)
        problem.solve(solver=solver, **options)
        return {"t": [None if x.value is None else np.asarray(x.value, dtype=float) for x in t],
                "rho": None if rho.value is None else float(rho.value),
                "status": problem.status}
    except cp.error.SolverError as exc:
        return {"error": f"{solver} failed: {exc}"}
    except (TypeError, ValueError) as exc:  # bad solver options
        return {"error": f"{type(exc).__name__}: {exc}"}


def main() -> None:
    sys.stdout.buffer.write(pickle.dumps(solve(*pickle.load(sys.stdin.buffer))))


if __name__ == "__main__":
    main()

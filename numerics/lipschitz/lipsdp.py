r"""LipSDP-Neuron and LipSDP-Layer (Fazlyab et al., NeurIPS 2019) through cvxpy.

Minimise ``rho`` subject to ``M(rho, T) <= 0`` (see `numerics.lipschitz.certificate`)
over diagonal ``T_k >= 0`` ("neuron": one multiplier per neuron) or ``T_k = t_k I``
("layer": one per layer). The solver's ``rho`` is never returned: its multipliers are
certified by the Schur complement in float64 and that bound is the answer. A solution
on the boundary of the feasible set (common with SCS) is pulled inside along the
segment to a strictly feasible point (the feasible set of ``T`` is convex), the first
point that certifies is used, and the mixing weight is reported.

The pairwise "Network" form is deliberately absent: it is unsound (its bounds fell up
to 69% below the true constant on random one-hidden-layer ReLU nets, NUMERICS-NOTES).
"""

from __future__ import annotations

from typing import Literal

import cvxpy as cp
import numpy as np
import torch

from numerics.lipschitz.certificate import NotCertified, certify_multipliers
from numerics.lipschitz.network import SlopeNetwork

_MIXES = (0.0, 1e-8, 1e-6, 1e-4, 1e-3, 1e-2, 0.1, 0.5, 1.0)


def _lmi(net: SlopeNetwork, form: Literal["neuron", "layer"]):
    w = [x.cpu().numpy() for x in net.weights]
    depth = net.depth
    sizes = [x.shape[1] for x in w]  # n_0 .. n_l
    rho = cp.Variable(nonneg=True)
    if form == "neuron":
        t = [cp.Variable(w[k].shape[0], nonneg=True) for k in range(depth)]
        tmat = [cp.diag(x) for x in t]
    else:
        t = [cp.Variable(nonneg=True) for _ in range(depth)]
        tmat = [x * np.eye(w[k].shape[0]) for k, x in enumerate(t)]
    blocks = [[None] * (depth + 1) for _ in range(depth + 1)]
    for i in range(depth + 1):
        for j in range(depth + 1):
            blocks[i][j] = np.zeros((sizes[i], sizes[j]))
    blocks[0][0] = -rho * np.eye(sizes[0])
    for k in range(1, depth + 1):
        a, b = net.slopes[k - 1]
        tk, wprev = tmat[k - 1], w[k - 1]
        if a * b != 0:
            blocks[k - 1][k - 1] = blocks[k - 1][k - 1] - 2 * a * b * (wprev.T @ tk @ wprev)
        blocks[k][k] = -2 * tk
        blocks[k][k - 1] = (a + b) * (tk @ wprev)
        blocks[k - 1][k] = (a + b) * (wprev.T @ tk)
    blocks[depth][depth] = blocks[depth][depth] + w[depth].T @ w[depth]
    m = cp.bmat(blocks)
    # M is symmetric by construction; cvxpy wants the symmetry explicit for '<<'
    problem = cp.Problem(cp.Minimize(rho), [(m + m.T) / 2 << 0])
    return problem, rho, t


def lipsdp(
    net: SlopeNetwork,
    form: Literal["neuron", "layer"] = "neuron",
    solver: str = "SCS",
    start: list[torch.Tensor] | None = None,
    **solver_options,
) -> tuple[float, dict]:
    """Certified LipSDP bound.

    Args:
        net: the network.
        form: "neuron" (diagonal ``T_k``) or "layer" (``T_k = t_k I``).
        solver: "SCS" (default; ``eps`` 1e-6 unless given) or "CLARABEL" (small nets only:
            its memory grows fast, 4.6 GB at matrix size 150).
        start: a strictly feasible multiplier set to repair a boundary solution.

    Returns:
        ``(L, details)``; ``details`` has the solver's own (untrusted) ``solver_value``,
        the certificate's ``min_pivot_eigenvalue``, ``mix`` and ``multipliers``.

    Raises:
        NotCertified: no point on the repair segment certifies.
    """
    problem, rho, t = _lmi(net, form)
    solver = solver.upper()
    if solver == "SCS":
        solver_options.setdefault("eps", 1e-6)
        solver_options.setdefault("max_iters", 100000)
    problem.solve(solver=solver, **solver_options)
    if t[0].value is None:
        raise NotCertified(f"{solver} returned no multipliers (status {problem.status})")
    sizes = [w.shape[0] for w in net.weights[:-1]]
    found = [torch.as_tensor(np.maximum(np.broadcast_to(x.value, (n,)), 0.0), dtype=torch.float64)
             for x, n in zip(t, sizes, strict=True)]
    for mix in _MIXES:
        if mix > 0 and start is None:
            break
        mults = found if mix == 0 else [(1 - mix) * f + mix * s for f, s in zip(found, start,
                                                                                 strict=True)]
        try:
            value, cert = certify_multipliers(net, mults)
        except NotCertified:
            continue
        return value, {**cert, "solver_value": float(np.sqrt(max(rho.value, 0.0))),
                       "solver_status": problem.status, "mix": mix, "multipliers": mults}
    raise NotCertified(f"{solver}'s multipliers for LipSDP-{form} could not be certified")

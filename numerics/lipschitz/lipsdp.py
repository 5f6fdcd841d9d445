r"""LipSDP-Neuron and LipSDP-Layer (Fazlyab et al., NeurIPS 2019) through cvxpy.

Minimise ``rho`` subject to ``M(rho, T) <= 0`` (see `numerics.lipschitz.certificate`)
over diagonal ``T_k >= 0`` ("neuron": one multiplier per neuron) or ``T_k = t_k I``
("layer": one per layer). The solver's ``rho`` is never returned: its multipliers are
certified by the Schur complement in float64 and that bound is the answer. A solution
on the boundary of the feasible set (common with SCS) is pulled inside along the
segment to a strictly feasible point (the feasible set of ``T`` is convex), the first
point that certifies is used, and the mixing weight is reported.

The pairwise "Network" form is deliberately absent: it is unsound (its bounds fell up
to 69% below the true constant on random one-hidden-layer ReLU nets; measured).
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import time
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from numerics.lipschitz.certificate import NotCertified, certify_multipliers
from numerics.lipschitz.network import SlopeNetwork, as_network
from theory import _args

_MIXES = (0.0, 1e-8, 1e-6, 1e-4, 1e-3, 1e-2, 0.1, 0.5, 1.0)


MAX_LMI = 4096  # rows of the LipSDP matrix cvxpy is allowed to build
# Up to this many rows cvxpy builds and solves in well under a second, so the problem is
# solved in this process under the solver's own time limit; larger ones go to a child
# process that is killed at max_seconds (starting it costs a few seconds).
IN_PROCESS_ROWS = 128
SOLVERS = ("SCS", "CLARABEL")
_WORKER = Path(__file__).with_name("_lipsdp_worker.py")


def _solve_in_child(net: SlopeNetwork, form: str, solver: str, options: dict,
                    max_seconds: float) -> tuple[dict | None, float]:
    """Build and solve the LMI in a child process; ``None`` if it ran past ``max_seconds``
    (the child is killed: cvxpy's canonicalisation and the solvers run in C code that
    cannot be interrupted from a thread)."""
    args = ([w.cpu().numpy() for w in net.weights], list(net.slopes), form, solver, options)
    began = time.perf_counter()
    if sum(w.shape[1] for w in net.weights) <= IN_PROCESS_ROWS:
        from numerics.lipschitz._lipsdp_worker import solve

        limit = {"SCS": "time_limit_secs", "CLARABEL": "time_limit"}[solver]
        out = solve(*args[:4], {limit: max_seconds, **options})
        return out, time.perf_counter() - began
    payload = pickle.dumps(args)
    try:
        done = subprocess.run([sys.executable, str(_WORKER)], input=payload,
                              capture_output=True, timeout=max_seconds, check=False)
    except subprocess.TimeoutExpired:
        return None, time.perf_counter() - began
    seconds = time.perf_counter() - began
    if done.returncode != 0 or not done.stdout:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        return {"error": f"the cvxpy worker failed ({tail[0]})"}, seconds
    return pickle.loads(done.stdout), seconds


def lipsdp(
    net: SlopeNetwork,
    form: Literal["neuron", "layer"] = "neuron",
    solver: str = "SCS",
    start: list[torch.Tensor] | None = None,
    *,
    max_seconds: float = 120.0,
    **solver_options,
) -> tuple[float, dict]:
    """Certified LipSDP bound.

    Args:
        net: the network.
        form: "neuron" (diagonal ``T_k``) or "layer" (``T_k = t_k I``).
        solver: "SCS" (default; ``eps`` 1e-6 unless given) or "CLARABEL" (small nets only:
            its memory grows fast, 4.6 GB at matrix size 150).
        start: a strictly feasible multiplier set to repair a boundary solution.
        max_seconds: limit on building and solving the SDP. LMIs above ``IN_PROCESS_ROWS``
            (128) rows run in a child process that is stopped at the limit (`NotCertified`
            then says it gave up); smaller ones run here under the solver's own time limit.
        **solver_options: passed to the solver (e.g. ``eps``, ``max_iters`` for SCS).

    Limits: the LMI has ``sum_k n_k <= MAX_LMI`` rows (4096); beyond, use
    ``lipschitz_upper(..., method="fast-certified")`` (same value, no LMI formed).

    Returns:
        ``(L, details)``; ``details`` has the solver's own (untrusted) ``solver_value``,
        the certificate's ``min_pivot_eigenvalue``, ``mix``, ``solver_status``,
        ``solver_seconds`` and ``multipliers``.

    Raises:
        ValueError: bad ``form``/``solver``/``max_seconds``, or an LMI above the size limit.
        NotCertified: no point on the repair segment certifies (the message says whether
            the solver stopped at its time limit).

    Examples:
        >>> net = SlopeNetwork((torch.eye(2, dtype=torch.float64),
        ...                     2 * torch.eye(2, dtype=torch.float64)), ((0.0, 1.0),))
        >>> round(lipsdp(net)[0], 3)  # f(x) = 2 relu(x): Lip = 2
        2.0
    """
    net = as_network(net)
    if not isinstance(form, str) or form not in ("neuron", "layer"):
        raise ValueError(f"form must be 'neuron' or 'layer', got {form!r}")
    if not isinstance(solver, str) or solver.upper() not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS} (the cvxpy solvers that take "
                         f"semidefinite constraints), got {solver!r}")
    max_seconds = float(_args.positive(max_seconds, "max_seconds"))
    rows = sum(w.shape[1] for w in net.weights)
    if rows > MAX_LMI:
        raise ValueError(f"the LipSDP matrix would have {rows} rows (> {MAX_LMI}): use "
                         "method='fast-certified', which reaches the same value without it")
    solver = solver.upper()
    if solver == "SCS":
        solver_options.setdefault("eps", 1e-6)
        solver_options.setdefault("max_iters", 100000)
    result, seconds = _solve_in_child(net, form, solver, solver_options, max_seconds)
    why = ""
    if result is None:
        raise NotCertified(f"LipSDP-{form} through {solver} did not finish within max_seconds="
                           f"{max_seconds:g} s (gave up, process stopped): raise max_seconds or "
                           "use method='fast-certified'")
    if "error" in result:
        raise NotCertified(f"LipSDP-{form}: {result['error']}; try method='fast-certified'")
    if result["t"][0] is None:
        raise NotCertified(f"{solver} returned no multipliers (status {result['status']})")
    sizes = [w.shape[0] for w in net.weights[:-1]]
    found = [torch.as_tensor(np.maximum(np.broadcast_to(x, (n,)), 0.0), dtype=torch.float64)
             for x, n in zip(result["t"], sizes, strict=True)]
    for mix in _MIXES:
        if mix > 0 and start is None:
            break
        mults = found if mix == 0 else [(1 - mix) * f + mix * s for f, s in zip(found, start,
                                                                                 strict=True)]
        try:
            value, cert = certify_multipliers(net, mults)
        except NotCertified:
            continue
        return value, {**cert, "solver_value": float(np.sqrt(max(result["rho"] or 0.0, 0.0))),
                       "solver_status": result["status"], "solver_seconds": seconds,
                       "mix": mix, "multipliers": mults}
    raise NotCertified(f"{solver}'s multipliers for LipSDP-{form} could not be certified{why}")

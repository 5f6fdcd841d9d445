r"""The fast certified solver: minimise the Schur-complement bound over diagonal ``T``.

For diagonal ``T >= 0`` with ``-C(T) > 0`` the best ``rho`` in LipSDP-Neuron is
``rho(T) = lambda_max(P + B^T (-C(T))^{-1} B)`` (`numerics.lipschitz.certificate`), so
LipSDP-Neuron is ``min_T rho(T)``: an unconstrained problem in ``log T`` on the open
set ``{-C(T) > 0}``, whose boundary ``rho`` blows up at. It is solved here by L-BFGS
in torch (CPU or GPU) on the smoothed objective
``rho_s(T) = s log sum_i exp(lambda_i / s)`` (``lambda_max <= rho_s <= lambda_max + s log n_0``;
without smoothing the kinks of ``lambda_max`` stall L-BFGS 3-9% above the optimum,
measured), with ``s`` shrinking in stages, started from ECLipsE-Fast. Each
evaluation is the block-tridiagonal recursion: ``O(l n^3)`` time, ``O(n^2)`` memory,
against the ``(sum n_k)^2``-variable interior-point/ADMM iterations of a generic SDP.

The optimiser's objective is not trusted either: the final ``T`` is certified in
float64 (`certify_multipliers`) and the best certified point seen is returned.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import torch
from threadpoolctl import threadpool_limits

from numerics.lipschitz.certificate import NotCertified, certify_multipliers, schur_rho
from numerics.lipschitz.network import SlopeNetwork, as_network, check_device
from theory import _args

MAX_ITER = 10_000
# The value returned at infeasible points: L-BFGS's strong-Wolfe line search then
# backtracks (it needs a finite number; inf turns its interpolation into NaN).
_INFEASIBLE = 1e30


class _OutOfTime(Exception):
    pass


@contextlib.contextmanager
def _one_cpu_thread(device: torch.device) -> Iterator[None]:
    """Run the solver's CPU work on one torch/BLAS thread, whatever the process default.

    Why: its matrices are a few hundred wide, so OpenMP threads synchronise at every
    small operation and one descheduled thread stalls the rest; with torch's default two
    threads and another process holding a core the solver ran 15x slower than on one
    thread (benchmarks/RESULTS.md, "Backends"). The caller's count is restored.
    """
    if device.type != "cpu":
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(previous)


def fast_certified(
    net: SlopeNetwork,
    start: list[torch.Tensor],
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float64,
    smoothing: tuple[float, ...] = (1e-2, 1e-3, 1e-4),
    max_iter: int = 100,
    max_seconds: float | None = None,
    tolerance: float = 1e-4,
) -> tuple[float, dict]:
    """Certified LipSDP-Neuron-type bound by L-BFGS on the smoothed Schur objective.

    Args:
        net: the network (any slopes).
        start: strictly feasible diagonal multipliers (ECLipsE-Fast or
            `scalar_feasible_multipliers`); shapes ``(n_1,), .., (n_l,)``.
        device, dtype: where the optimisation runs (the certificate is float64).
        smoothing: the stages' temperatures ``s``, relative to the starting ``rho``.
        max_iter: L-BFGS iterations per stage (at most; ``1..10000``).
        tolerance: a stage ends when the objective changes by less than
            ``tolerance * rho_start`` per iteration. The default 1e-4 trades about 1%
            of tightness on deep nets for speed; 1e-6 is the benchmark's "tight"
            setting (benchmarks/RESULTS.md).
        max_seconds: stop optimising after this long (the best certified point so far
            is returned; certification time is not counted).

    Returns:
        ``(L, details)``: ``details`` has ``start_value``, ``evaluations``,
        ``min_pivot_eigenvalue`` and ``multipliers``.

    Raises:
        ValueError: bad ``max_iter``, ``tolerance``, ``smoothing``, ``max_seconds``,
        ``dtype`` or ``device`` (CUDA absent); `NotCertified` if ``start`` is not feasible.

    Examples:
        >>> eye = torch.eye(2, dtype=torch.float64)
        >>> net = SlopeNetwork((eye, 3 * eye), ((0.0, 1.0),))
        >>> round(fast_certified(net, [torch.full((2,), 9.0, dtype=torch.float64)])[0], 4)
        3.0
    """
    net = as_network(net)
    max_iter = _args.integer_at_least(max_iter, "max_iter", 1, MAX_ITER)
    tolerance = float(_args.positive(tolerance, "tolerance"))
    if max_seconds is not None:
        max_seconds = float(_args.nonnegative(max_seconds, "max_seconds"))
    if not isinstance(smoothing, (tuple, list)) or not smoothing:
        raise ValueError(f"smoothing must be a non-empty tuple of temperatures, got {smoothing!r}")
    smoothing = tuple(float(_args.positive(v, "smoothing")) for v in smoothing)
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")
    device = check_device(device)
    with _one_cpu_thread(torch.device(device)):
        return _fast_certified(net, start, device, dtype, smoothing, max_iter, max_seconds,
                               tolerance)


def _fast_certified(net: SlopeNetwork, start: list[torch.Tensor], device, dtype: torch.dtype,
                    smoothing: tuple[float, ...], max_iter: int, max_seconds: float | None,
                    tolerance: float) -> tuple[float, dict]:
    start_value, best_cert = certify_multipliers(net, start)
    best = (start_value, best_cert, [s.clone() for s in start])
    work = net.to(device=device, dtype=dtype)
    theta = [torch.log(s.to(device=device, dtype=dtype)).requires_grad_(True) for s in start]
    evaluations = 0
    deadline = None if max_seconds is None else time.perf_counter() + max_seconds
    for rel in smoothing:
        if deadline is not None and time.perf_counter() > deadline:
            break
        temperature = rel * start_value**2
        optimizer = torch.optim.LBFGS(theta, lr=1, max_iter=max_iter, history_size=20,
                                      tolerance_grad=1e-12,
                                      tolerance_change=tolerance * start_value**2,
                                      line_search_fn="strong_wolfe")

        def closure(temperature=temperature):
            nonlocal evaluations
            if deadline is not None and time.perf_counter() > deadline:
                raise _OutOfTime
            evaluations += 1
            for x in theta:
                x.grad = None
            target, _ = schur_rho(work, [torch.exp(x) for x in theta])
            if target is None:
                for x in theta:
                    x.grad = torch.zeros_like(x)
                return torch.tensor(_INFEASIBLE, dtype=dtype, device=device)
            eig = torch.linalg.eigvalsh((target + target.T) / 2)
            loss = temperature * torch.logsumexp(eig / temperature, dim=0)
            if not torch.isfinite(loss):
                for x in theta:
                    x.grad = torch.zeros_like(x)
                return torch.tensor(_INFEASIBLE, dtype=dtype, device=device)
            loss.backward()
            return loss

        try:
            optimizer.step(closure)
        except _OutOfTime:
            pass  # theta may be a line-search trial point: the certificate decides
        mults = [torch.exp(x.detach()).to(device="cpu", dtype=torch.float64) for x in theta]
        try:
            value, cert = certify_multipliers(net, mults)
        except NotCertified:
            with torch.no_grad():  # restart the next stage from the best certified point
                for x, m in zip(theta, best[2], strict=True):
                    x.copy_(torch.log(m.to(device=device, dtype=dtype)))
            continue
        if value < best[0]:
            best = (value, cert, mults)
    value, cert, mults = best
    return value, {**cert, "start_value": start_value, "evaluations": evaluations,
                   "multipliers": mults}

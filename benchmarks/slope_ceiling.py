"""Benchmark: how far can a slope-sector certificate go? The ceiling of its relaxation (#10).

Every global certificate of `numerics` (the joint LipSDP-type certificate of the unrolled
sampler, the per-step product, LipSDP-Neuron, interval slopes) uses of each hidden neuron
only that its activation has slopes in ``[alpha, beta]``, neuron by neuron and step by step.
Replace every neuron of every step by a *linear* function of one slope ``s`` in
``[alpha, beta]`` (a different ``s`` for the same neuron at different steps is allowed: they
are different nodes of the unrolled graph). That graph satisfies every constraint the
certificate uses, so the certificate bounds its Lipschitz constant too, which is the norm
of the linear map

.. math:: J(D) = \\prod_j (\\text{step } j \\text{ with } f' = W_l D_{j,l} \\cdots D_{j,1} W_0),

and therefore **certificate >= sup_D ||J(D)||** for every valid slope-sector certificate.
This script finds large values of ``||J(D)||`` by gradient ascent on the slopes
(``D = alpha + (beta - alpha) sigmoid(theta)``, Adam on ``log ||J(D)||_2`` from several
starts): a lower bound on that supremum, hence a floor under any such certificate. Set
against the joint certificate and the measured lower bound on the real map, it tells how much
of the gap is the solver's and how much the relaxation's (the decoupling of the slopes of
consecutive steps, which on the real map are tied together by the trajectory).

    .venv/bin/python benchmarks/slope_ceiling.py                        # all cases
    .venv/bin/python benchmarks/slope_ceiling.py --cases flow-free --no-certificate
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

from sampler import _plain_case, _policy_case  # noqa: E402

from numerics.lipschitz import (  # noqa: E402
    sampler_lipschitz_upper,
    sampler_map,
    transition_lipschitz_lower,
)
from numerics.lipschitz.sampler import _as_unrolled, _sampler_network  # noqa: E402

CASES = ("flow-free", "ddim-10", "plain-flow", "flow-sn", "ddim-100")


def _linearised(unrolled, net, d: int):
    """``theta -> J(D(theta))`` for the unrolled sampler with every neuron linear; and the
    list of ``theta`` shapes (one per hidden layer of every network stage, one per clip)."""
    shapes = []
    for step in unrolled.steps:
        for stage in step.stages:
            shapes += [(d,)] if stage.clip else [(w.shape[0],) for w in net.weights[:-1]]
    weights = [w.to(torch.float64) for w in net.weights]

    def jacobian(thetas):
        it = iter(thetas)
        x = torch.eye(d, dtype=torch.float64)
        for step in unrolled.steps:
            ys = [x]
            for stage in step.stages:
                z = sum(c * y for c, y in zip(stage.inputs, ys, strict=False) if c != 0)
                if stage.clip:
                    ys.append(torch.sigmoid(next(it))[:, None] * z)
                    continue
                g = weights[0] @ z
                for (alpha, beta), w in zip(net.slopes, weights[1:], strict=True):
                    s = alpha + (beta - alpha) * torch.sigmoid(next(it))
                    g = w @ (s[:, None] * g)
                ys.append(g)
            x = sum(c * y for c, y in zip(step.output, ys, strict=True) if c != 0)
        return x

    return jacobian, shapes


def slope_ceiling(unrolled, net, d: int, *, starts: int = 8, iterations: int = 1000,
                  seed: int = 0) -> tuple[float, list[float]]:
    """The largest ``||J(D)||_2`` found (a lower bound on ``sup_D``), and each start's."""
    jacobian, shapes = _linearised(unrolled, net, d)
    gen = torch.Generator().manual_seed(seed)
    found = []
    for k in range(starts):
        # start 0: every slope at its top (the "all neurons linear" network); the rest random
        thetas = [(torch.full(s, 3.0, dtype=torch.float64) if k == 0 else
                   torch.randn(s, generator=gen, dtype=torch.float64) * 2)
                  .requires_grad_(True) for s in shapes]
        opt = torch.optim.Adam(thetas, lr=0.2)
        best = 0.0
        for _ in range(iterations):
            opt.zero_grad()
            norm = torch.linalg.matrix_norm(jacobian(thetas), 2)
            best = max(best, norm.item())
            (-torch.log(norm)).backward()
            opt.step()
        with torch.no_grad():  # the vertex nearest the end point (the maximum is at one)
            vertex = [torch.where(t > 0, 40.0, -40.0) for t in thetas]
            best = max(best, float(torch.linalg.matrix_norm(jacobian(vertex), 2)))
        found.append(best)
    return max(found), found


def chain_rule_error(net, unrolled, slopes, cond, d: int, seed: int = 0) -> float:
    """Self-check of `_linearised`: with every slope set to the activation's derivative along
    the trajectory of one noise, ``J(D)`` is the chain rule, i.e. the map's own Jacobian
    there (relative error returned; samplers without clip stages)."""
    from numerics.lipschitz.sampler import _find_sequential

    seq = _find_sequential(net)
    acts = [m for m in seq if not isinstance(m, torch.nn.Linear)]
    inputs: list[torch.Tensor] = []
    hooks = [a.register_forward_hook(lambda m, i, o: inputs.append(i[0].detach()))
             for a in acts]
    f = sampler_map(net, unrolled, state_dim=d, condition=cond)
    x0 = torch.randn(1, d, generator=torch.Generator().manual_seed(seed))
    try:
        f(x0)
    finally:
        for h in hooks:
            h.remove()
    jacobian, _ = _linearised(unrolled, slopes, d)
    thetas = []
    # the hooks fire layer by layer, stage after stage: the activations repeat in order
    for u, (act, (alpha, beta)) in zip(inputs, itertools.cycle(zip(acts, slopes.slopes,
                                                                     strict=True))):
        with torch.enable_grad():
            v = u[0].to(torch.float64).requires_grad_(True)
            (s,) = torch.autograd.grad(act.double()(v).sum(), v)
        q = ((s - alpha) / (beta - alpha)).clamp(1e-12, 1 - 1e-12)
        thetas.append(torch.log(q) - torch.log1p(-q))
    real = torch.autograd.functional.jacobian(lambda x: f(x[None])[0], x0[0]).to(torch.float64)
    return float((jacobian(thetas) - real).norm() / real.norm())


def run_case(name: str, certify: bool, max_seconds: float) -> dict:
    if name == "plain-flow":
        net, spec, cond, dim, _ = _plain_case(128, 4000)
    else:
        net, spec, cond, dim, _ = _policy_case(name)
    spec = {k: v for k, v in spec.items() if v is not None}
    unrolled = _as_unrolled(spec.pop("sampler"), spec.pop("n_steps", None), spec)
    _, slopes = _sampler_network(net, unrolled, dim, cond)
    row = {"case": name, "steps": len(unrolled.steps)}
    if unrolled.clip_range is None:
        row["chain_rule_error"] = chain_rule_error(net, unrolled, slopes, cond, dim)
    began = time.perf_counter()
    row["ceiling"], row["starts"] = slope_ceiling(unrolled, slopes, dim)
    row["ceiling_s"] = time.perf_counter() - began
    f = sampler_map(net, unrolled, state_dim=dim, condition=cond)
    row["lower"] = transition_lipschitz_lower(f, dim, radii=(1.0, 3.0, 10.0, 30.0),
                                              seed=0).value
    if certify:
        began = time.perf_counter()
        row["certified"] = sampler_lipschitz_upper(net, unrolled, state_dim=dim,
                                                   condition=cond,
                                                   max_seconds=max_seconds).value
        row["certified_s"] = time.perf_counter() - began
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    parser.add_argument("--no-certificate", action="store_true",
                        help="skip the joint certificate (about 100 s a case)")
    parser.add_argument("--max-seconds", type=float, default=120.0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"{'case':<11} {'lower (real map)':>16} {'ceiling >=':>11} {'certified':>11} "
          f"{'ceiling/lower':>13} {'cert/ceiling':>12} {'s':>6}", flush=True)
    for name in args.cases:
        r = run_case(name, not args.no_certificate, args.max_seconds)
        cert = r.get("certified", float("nan"))
        print(f"{name:<11} {r['lower']:16.4g} {r['ceiling']:11.4g} {cert:11.4g} "
              f"{r['ceiling'] / r['lower']:13.3g} {cert / r['ceiling']:12.3g} "
              f"{r['ceiling_s']:6.1f}   chain-rule check {r.get('chain_rule_error', 'n/a')}"
              f"   starts {[f'{v:.3g}' for v in r['starts']]}",
              flush=True)


if __name__ == "__main__":
    main()

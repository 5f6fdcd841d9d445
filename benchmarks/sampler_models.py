"""The trained samplers `benchmarks/sampler.py` certifies, cached under ``out/bench-cache/``.

Each model is trained once on one CPU thread and its ``state_dict`` saved; later runs load
it. The package's policies come from `validation` (benchmarks may import it); the
plain-torch flow-matching velocity is written here without the package, the way a user
would write their own.

    .venv/bin/python benchmarks/sampler_models.py          # train (or load) them all
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch
from torch import nn

CACHE = Path("out/bench-cache")
FORK = {"horizon": 4, "clearance": 0.5}


def _cached(name: str, build, train) -> tuple[nn.Module, float]:
    """``build()`` a module, load ``CACHE/name.pt`` into it or ``train(module)`` and save."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"{name}.pt"
    module = build()
    if path.exists():
        module.load_state_dict(torch.load(path, weights_only=True))
        module.eval()
        return module, 0.0
    began = time.perf_counter()
    train(module)
    module.eval()
    torch.save(module.state_dict(), path)
    return module, time.perf_counter() - began


def fork_policy(name: str, kind: str, hyper: dict, steps: int = 4000, n_demos: int = 4096):
    """A policy of `validation` on the quick suite's fork task (lipschitz_sweep's setting)."""
    from validation.policies import TrainConfig, make_policy
    from validation.tasks import make_task

    task = make_task("fork", **FORK)
    demos = task.demonstrations(n_demos, seed=0)

    def build():
        return make_policy(kind, task.obs_dim, task.chunk_dim, seed=0, **hyper)

    def train(policy):
        policy.fit(demos.obs, demos.actions, TrainConfig(steps=steps, seed=0))

    policy, seconds = _cached(name, build, train)
    return policy, task, seconds


def paper_ddim100():
    """The paper suite's clipped DDIM-100 on the ``circle`` task at reduced size."""
    from validation.experiments.paper_suite import ACTION_SCALE, DDIM_CLIP
    from validation.policies import TrainConfig, make_policy
    from validation.tasks import make_task

    task = make_task("circle", action_scale=ACTION_SCALE)
    demos = task.demonstrations(1000, 0)

    def build():
        return make_policy("diffusion", task.obs_dim, task.chunk_dim, seed=0,
                           n_train_steps=100, sampler="ddim", n_sampling_steps=100,
                           clip_sample=DDIM_CLIP, hidden=(128, 128))

    def train(policy):
        policy.fit(demos.obs, demos.actions, TrainConfig(steps=1500, batch_size=256, seed=0))

    policy, seconds = _cached("paper-ddim100", build, train)
    return policy, task, seconds


# --- a plain-torch flow-matching velocity, as a user writes it (no modebound) ---

N_FREQ = 4


def time_features(t: torch.Tensor) -> torch.Tensor:
    """``[sin(2 pi k t), cos(2 pi k t)]``, ``k = 1..N_FREQ``, shape ``[..., 2 N_FREQ]``."""
    k = torch.arange(1, N_FREQ + 1, dtype=t.dtype, device=t.device)
    ang = 2 * math.pi * t[..., None] * k
    return torch.cat([torch.sin(ang), torch.cos(ang)], -1)


def mixture(n: int, dim: int, gen: torch.Generator) -> torch.Tensor:
    """Two equal Gaussian modes at ``+-c``, ``|c| = 1`` (separation 2), std 0.05."""
    c = torch.ones(dim) / math.sqrt(dim)
    sign = torch.where(torch.rand(n, 1, generator=gen) < 0.5, -1.0, 1.0)
    return sign * c + 0.05 * torch.randn(n, dim, generator=gen)


def plain_flow(hidden: int = 128, dim: int = 8, steps: int = 4000, seed: int = 0):
    """``v(x, t) = net([x, time_features(t)])``, a 2-hidden-layer SiLU MLP trained by
    flow matching (linear path) on `mixture`."""
    def build():
        torch.manual_seed(seed)
        return nn.Sequential(nn.Linear(dim + 2 * N_FREQ, hidden), nn.SiLU(),
                             nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, dim))

    def train(net):
        gen = torch.Generator().manual_seed(seed)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        for _ in range(steps):
            x1 = mixture(256, dim, gen)
            x0 = torch.randn(256, dim, generator=gen)
            t = torch.rand(256, generator=gen)
            xt = (1 - t[:, None]) * x0 + t[:, None] * x1
            loss = ((net(torch.cat([xt, time_features(t)], -1)) - (x1 - x0)) ** 2).sum(-1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()

    return _cached(f"plain-flow-{hidden}-{dim}-{steps}-{seed}", build, train)


def main() -> None:
    torch.set_num_threads(1)
    for name, kind, hyper in (
            ("flow-free", "flow", {"n_steps": 8, "hidden": (128, 128)}),
            ("diffusion-ddim-10", "diffusion", {"n_sampling_steps": 10, "hidden": (128, 128)}),
            ("flow-sn-1", "flow", {"n_steps": 8, "hidden": (128, 128), "spectral_norm": True,
                                   "activation": "relu", "lipschitz_scale": 1.0})):
        print(name, f"trained in {fork_policy(name, kind, hyper)[2]:.0f} s", flush=True)
    print("plain-flow 128", f"{plain_flow()[1]:.0f} s", flush=True)
    print("plain-flow 256", f"{plain_flow(hidden=256, steps=1000)[1]:.0f} s", flush=True)
    print("paper ddim-100", f"{paper_ddim100()[2]:.0f} s", flush=True)


if __name__ == "__main__":
    main()

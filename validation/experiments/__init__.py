"""Experiments: one file each (config dataclass + ``run(config)``), and the suites.

- `lipschitz_sweep`: mode masses, bridge mass and W1 of flow, diffusion and CVAE
  policies against T2-T5 as their Lipschitz constant is varied;
- `beta_sweep`: the CVAE collapse transition at L4's ``beta*`` and the L1-L5 checks;
- `chunk_sweep`: T7's ``sqrt(H)`` law on trained flows;
- `synthetic_suite`: the ``quick`` and ``full`` suites (`run_suite`, `plot_suite`).

This module holds what they share: a resumable sweep driver over cached runs and the
training of one policy on one task.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from validation.cache import is_cached, run_cached

DEVICES = ("cpu", "cuda", "auto")


def resolve_device(device: str) -> str:
    """"cpu", "cuda" or "auto" (cuda when available) -> "cpu" | "cuda"; ValueError otherwise."""
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device is 'cuda' but torch.cuda.is_available() is False; "
                         "use --device cpu or auto")
    return device


def sized_config(cls, sizes: dict[str, dict], size: str, seed: int, overrides: dict):
    """``cls`` at one of the named ``sizes`` ("smoke", "reduced", "full"), its seeds
    offset by ``seed`` and any field replaced by ``overrides``; ValueError on a bad size."""
    if size not in sizes:
        raise ValueError(f"size must be one of {sorted(sizes)}, got {size!r}")
    params = dict(sizes[size])
    params["seeds"] = tuple(seed + s for s in params["seeds"])
    return cls(**{**params, **overrides})


def sweep(name: str, configs: Sequence[Any], run: Callable[[Any], dict], cache_dir: Path,
          progress: bool = False) -> list[dict]:
    """``[run(c) for c in configs]``, each run cached (`validation.cache.run_cached`).

    A killed sweep resumes: finished runs are loaded, only the missing ones execute.
    The progress bar counts the runs still to do.
    """
    from tqdm.auto import tqdm

    todo = sum(not is_cached(name, c, cache_dir) for c in configs)
    results = []
    with tqdm(total=todo, desc=name, disable=not progress or todo == 0, leave=False) as bar:
        for c in configs:
            cached = is_cached(name, c, cache_dir)
            results.append(run_cached(name, c, run, cache_dir))
            if not cached:
                bar.update(1)
    return results


def train_policy(task, kind: str, hyper: dict, *, steps: int, n_demos: int, seed: int,
                 device: str, batch_size: int = 256, lr: float = 1e-3,
                 weight_decay: float = 0.0):
    """Build ``make_policy(kind, ...)`` and fit it on ``n_demos`` demonstrations of ``task``.

    Returns ``(policy, train_log, demos)``; ``seed`` seeds the demonstrations, the
    network initialisation and the minibatches.
    """
    from validation.policies import TrainConfig, make_policy

    demos = task.demonstrations(n_demos, seed=seed)
    policy = make_policy(kind, task.obs_dim, task.chunk_dim, seed=seed, **hyper)
    log = policy.fit(demos.obs, demos.actions,
                     TrainConfig(steps=steps, batch_size=batch_size, lr=lr,
                                 weight_decay=weight_decay, seed=seed, device=device))
    return policy, log, demos


def labelled(checks: Sequence[Any], label: str) -> list[dict]:
    """``BoundCheck``s as dicts, the run's label (policy, knob, seed) in front of the quantity."""
    out = []
    for c in checks:
        d = c.to_dict()
        d["quantity"] = f"[{label}] {d['quantity']}"
        out.append(d)
    return out


__all__ = ["DEVICES", "labelled", "resolve_device", "sweep", "train_policy"]

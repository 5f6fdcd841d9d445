"""Policies: one per file, one interface (`Policy`, `TransportPolicy`, `make_policy`).

`make_policy(kind, obs_dim, chunk_dim, **hyper)` builds "regression", "cvae", "flow",
"diffusion" or "gmm"; the hyper-parameters are the class's keyword arguments plus
``seed`` (network initialisation, default 0). "external" (`ExternalPolicy`) wraps a
policy trained elsewhere: a network and its sampler (`diffusers_schedule`,
`flow_schedule`), docs/bring-your-own-policy.md.
"""

from __future__ import annotations

import importlib
from typing import Any

import torch

from theory import _args
from validation.policies.base import Policy, TrainConfig, TrainLog, TransportPolicy
from validation.policies.external import (
    ExternalPolicy,
    SamplerSchedule,
    diffusers_schedule,
    flow_schedule,
)

# kind -> "module:Class". Add a policy with one line here.
POLICIES: dict[str, str] = {
    "regression": "validation.policies.regression:RegressionPolicy",
    "cvae": "validation.policies.cvae:CVAEPolicy",
    "flow": "validation.policies.flow:FlowPolicy",
    "diffusion": "validation.policies.diffusion:DiffusionPolicy",
    "gmm": "validation.policies.gmm:GMMPolicy",
    "external": "validation.policies.external:ExternalPolicy",
}


def make_policy(kind: str, obs_dim: int, chunk_dim: int, seed: int = 0, **hyper: Any) -> Policy:
    """Build a policy of ``kind``; its weights are initialised from ``seed`` (global RNG untouched).

    Example: ``make_policy("flow", task.obs_dim, task.chunk_dim, n_steps=4,
    spectral_norm=True, lipschitz_scale=2.0, activation="relu")``.
    """
    if not isinstance(kind, str):
        raise TypeError(f"kind must be a str, got {type(kind).__name__}")
    if kind not in POLICIES:
        raise ValueError(f"kind must be one of {sorted(POLICIES)}, got {kind!r}")
    seed = _args.integer_at_least(seed, "seed", 0)
    module, cls_name = POLICIES[kind].split(":")
    cls = getattr(importlib.import_module(module), cls_name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            return cls(obs_dim, chunk_dim, **hyper)
        except TypeError as exc:
            if "unexpected keyword argument" in str(exc):
                raise ValueError(f"make_policy({kind!r}, ...): {exc}; "
                                 f"see help({cls.__name__})") from exc
            raise


__all__ = ["POLICIES", "ExternalPolicy", "Policy", "SamplerSchedule", "TrainConfig", "TrainLog",
           "TransportPolicy", "diffusers_schedule", "flow_schedule", "make_policy"]

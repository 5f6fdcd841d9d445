"""Experiments: one module each, read top to bottom, and what they share.

The schema every experiment follows (the synthetic sweeps, the robot and the paper
suites alike):

- a frozen config dataclass (what to run: sizes, sweep values, seeds) and one table
  ``SIZES: dict[str, Config]`` of its "smoke", "reduced" and "full" instances;
  `sized` picks one and offsets its seeds by the suite's base seed;
- a frozen *run* dataclass per independent unit of work (one policy, one task, one
  seed, its hyper-parameters, a `Training`): the cache key of `validation.cache`;
- ``run_one(run) -> dict`` (JSON-ready measurements) and ``run(config) -> dict`` that
  maps `sweep` over the runs and turns the stored measurements into checks, so verdicts
  are recomputed from numbers on every run.

Modules: `lipschitz_sweep` (T2-T5 as the Lipschitz constant varies), `local_forms` (Part
T's local forms at the certified constant on a ball, planar task), `beta_sweep` (the
CVAE collapse transition, L1-L5), `chunk_sweep` (T7's ``sqrt(H)`` law), `gallery` (every
policy family on the fork task), `synthetic_suite` (the ``quick`` and ``full`` suites),
`robot_suite` (MuJoCo, closed loop), `paper_suite` (the paper's unit-square benchmark).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from theory import _args
from validation.backends import Backend, LocalBackend
from validation.tasks import TaskSpec

# The synthetic suite's default task: the two-mode fork of the figures (H = 4 set-points,
# obstacle clearance 0.5); `--task` replaces it in the gallery and the Lipschitz sweep.
FORK = TaskSpec.of("fork", horizon=4, clearance=0.5)

C = TypeVar("C")


@dataclass(frozen=True)
class Training:
    """How one policy is trained (AdamW, uniform minibatches); part of every run's key.

    Attributes:
        steps: optimisation steps. n_demos: demonstrations drawn from the task.
        hidden: hidden widths of the policy's networks.
        batch_size, lr, weight_decay: AdamW's.
    """

    steps: int
    n_demos: int
    hidden: tuple[int, ...]
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.0

    def __post_init__(self):
        _args.integer_at_least(self.steps, "steps", 1)
        _args.integer_at_least(self.n_demos, "n_demos", 1)
        _args.integer_at_least(self.batch_size, "batch_size", 1)
        _args.positive(self.lr, "lr")
        _args.nonnegative(self.weight_decay, "weight_decay")


def sized(sizes: dict[str, C], size: str, seed: int = 0, **overrides: Any) -> C:
    """The config ``sizes[size]`` with its ``seeds`` offset by ``seed`` and any field
    replaced by ``overrides`` (a ``ValueError`` names a bad size)."""
    if size not in sizes:
        raise ValueError(f"size must be one of {sorted(sizes)}, got {size!r}")
    config = sizes[size]
    seed = _args.integer_at_least(seed, "seed", 0)
    if hasattr(config, "seeds"):
        overrides.setdefault("seeds", tuple(seed + s for s in config.seeds))
    return dataclasses.replace(config, **overrides)


def sweep(name: str, runs: Sequence[Any], run_one: Callable[[Any], dict], cache_dir: Path,
          progress: bool = False, backend: Backend | None = None) -> list[dict]:
    """``[run_one(r) for r in runs]``, each result cached (`validation.cache.run_cached`).

    A killed sweep resumes: finished runs are loaded, only the missing ones execute.
    The progress bar counts the runs still to do. ``backend`` says where they execute
    (`validation.backends`: in this process by default, or as Ray tasks); ``run_one``
    must then be a top-level function (or a `functools.partial` of one).
    """
    return (backend or LocalBackend()).map_runs(name, runs, run_one, cache_dir, progress)


def train_policy(task, kind: str, hyper: dict, training: Training, *, seed: int,
                 device: str, demos=None):
    """Build ``make_policy(kind, ...)`` and fit it on demonstrations of ``task``.

    Args:
        task: a `validation.tasks.Task`; kind, hyper: as `make_policy` takes them
            (``training.hidden`` is added as ``hidden``).
        training: the `Training`; seed: seeds the demonstrations, the network
            initialisation and the minibatches; device: "cpu" or "cuda[:N]".
        demos: demonstrations to use instead of ``task.demonstrations(training.n_demos,
            seed)`` (e.g. cached expert rollouts).

    Returns ``(policy, train_log, demos)``.
    """
    from validation.policies import TrainConfig, make_policy

    if demos is None:
        demos = task.demonstrations(training.n_demos, seed=seed)
    policy = make_policy(kind, task.obs_dim, task.chunk_dim, seed=seed,
                         **{"hidden": training.hidden, **hyper})
    log = policy.fit(demos.obs, demos.actions,
                     TrainConfig(steps=training.steps, batch_size=training.batch_size,
                                 lr=training.lr, weight_decay=training.weight_decay,
                                 seed=seed, device=device))
    return policy, log, demos


@dataclass(frozen=True, kw_only=True)
class Running:
    """How a suite runs an experiment, shared by every experiment config (keyword-only, so
    each config lists its own fields first): where, with which progress display, cache,
    planted bound and backend. None of these changes a run's numbers except ``plant``
    (which changes only the checks, never a cached run)."""

    device: str = "cpu"
    progress: bool = False
    cache_dir: Path = Path("out/cache")
    plant: bool = False
    backend: Backend = LocalBackend()

    def sweep(self, name: str, runs: Sequence[Any], run_one: Callable[[Any], dict]
              ) -> list[dict]:
        """`sweep` with this config's cache folder, progress display and backend."""
        return sweep(name, runs, run_one, self.cache_dir, self.progress, self.backend)


@dataclass(frozen=True)
class TransportRun:
    """One cached run of the transport stages (gallery, Lipschitz sweep): a policy kind
    trained on a task, then certified, sampled and measured (`measure_run`). Every field
    changes the result, so the dataclass is the run's cache key."""

    label: str
    kind: str
    hyper: tuple[tuple[str, object], ...]
    task: TaskSpec
    training: Training
    n_obs: int
    n_samples: int
    seed: int
    device: str
    # (n_starts, ascent_steps, n_power) of `TransportPolicy.empirical_lipschitz`
    lower_search: tuple[int, int, int] = (8, 20, 20)
    # options of the certificate on a ball (`measure_transport`'s ``local``); () skips it
    local: tuple[tuple[str, object], ...] = ()


def searched_lower(policy, obs, lower_search: tuple[int, int, int], seed: int, **options):
    """`TransportPolicy.empirical_lipschitz` at ``obs`` with a suite's search size
    ``lower_search = (n_starts, ascent_steps, n_power)`` (``options``: its other keywords);
    None for a policy without one (regression, mixtures)."""
    if not hasattr(policy, "empirical_lipschitz"):
        return None
    n_starts, ascent_steps, n_power = lower_search
    return policy.empirical_lipschitz(obs, n_starts=n_starts, seed=seed,
                                      ascent_steps=ascent_steps, n_power=n_power, **options)


def measure_run(r: TransportRun):
    """Train ``r``'s policy and measure it (`validation.checks.measure_transport`) at
    ``r.n_obs`` evaluation observations -> ``(task, policy, obs, measurement, result)``;
    ``result`` is the JSON-ready part every transport stage stores."""
    from validation.checks import measure_transport

    task = r.task.build()
    policy, log, _ = train_policy(task, r.kind, dict(r.hyper), r.training, seed=r.seed,
                                  device=r.device)
    obs = task.observations(r.n_obs, seed=r.seed)
    m = measure_transport(policy, task, obs, r.n_samples, seed=r.seed,
                          empirical=searched_lower(policy, obs, r.lower_search, r.seed),
                          local=dict(r.local) if r.local else None)
    result = {"run": dataclasses.asdict(r), "measurement": m.to_dict(),
              "train_seconds": log.seconds, "final_loss": log.final_loss}
    return task, policy, obs, m, result


def measured_run(r: TransportRun) -> dict:
    """Train, certify, sample, measure: the JSON-ready result of one transport run
    (`measure_run`); the ``run_one`` of the transport stages."""
    return measure_run(r)[-1]


def transport_sweep(config: Running, name: str, runs: Sequence[TransportRun],
                    tag: str = "") -> dict:
    """The transport stages' ``run``: every run through `measured_run` (cached under
    ``name``) -> ``{"rows": [...], "checks": [BoundCheck dicts]}``, the measurements'
    `summary` rows and `transport_checks_from` checks; ``tag`` follows the label."""
    from validation.checks import TransportMeasurement, transport_checks_from

    rows, checks = [], []
    for res in config.sweep(name, runs, measured_run):
        r = res["run"]
        m = TransportMeasurement.from_dict(res["measurement"])
        label = f"{r['label']}{tag} seed {r['seed']}"
        rows.append({"variant": f"{r['label']}{tag}", "seed": r["seed"], **m.summary(),
                     "final_loss": res["final_loss"], "train_seconds": res["train_seconds"]})
        checks += labelled(transport_checks_from(m, plant=config.plant), label)
    return {"rows": rows, "checks": checks}


def labelled(checks: Sequence[Any], label: str) -> list[dict]:
    """``BoundCheck``s as dicts, the run's label (policy, knob, seed) in front of the quantity."""
    out = []
    for c in checks:
        d = c.to_dict()
        d["quantity"] = f"[{label}] {d['quantity']}"
        out.append(d)
    return out


__all__ = ["FORK", "Running", "Training", "TransportRun", "labelled", "measure_run",
           "measured_run", "searched_lower", "sized", "sweep", "train_policy",
           "transport_sweep"]

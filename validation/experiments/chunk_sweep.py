"""Chunk sweep: the `sqrt(H)` law of T7 (docs/theory.md) on trained flow policies.

Fork task with the constant detour profile: the two trajectory modes differ by
``delta = 2 clearance`` at every step, so in chunk space they are
``Delta_H = delta sqrt(H)`` apart (`theory.chunk_separation` of the per-step offsets; the
task computes the same distance from its mode centres -- both are recorded). With the
tolerance ``rho = Delta_H / 4`` (a constant per-step RMS tolerance) the rho-balls are
``Delta_H / 2`` apart, and at a fixed Lipschitz constant ``L`` T2 gives

    min_k m_k <= Phi(-delta sqrt(H) / (4 L)),

falling with ``H``. Each run trains a flow whose velocity is spectrally normalised
with a fixed Lipschitz scale, so its certified ``L`` is the same cap at every ``H``; the
check at each ``H`` is T7 (the T2 bound at ``Delta_H`` from `theory.chunk_separation`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from validation.checks import TransportMeasurement, measure_transport, transport_checks_from
from validation.experiments import Running, Training, labelled, train_policy


@dataclass(frozen=True)
class ChunkSweepConfig(Running):
    """The sweep: chunk lengths ``H``, the flow's Lipschitz cap, sizes, and how the suite
    runs it (device, cache, progress, planted bound)."""

    horizons: tuple[int, ...]
    training: Training
    n_obs: int
    n_samples: int
    seeds: tuple[int, ...] = (0,)
    clearance: float = 0.5
    lipschitz_scale: float = 0.5
    n_steps: int = 8


SIZES: dict[str, ChunkSweepConfig] = {
    "smoke": ChunkSweepConfig(horizons=(1, 4), training=Training(150, 512, (16, 16)),
                              n_obs=2, n_samples=2000),
    "reduced": ChunkSweepConfig(horizons=(1, 2, 4, 8, 16),
                                training=Training(4000, 4096, (128, 128), lr=3e-3), n_obs=4,
                                n_samples=10_000),
    "full": ChunkSweepConfig(horizons=(1, 2, 4, 8, 16, 32),
                             training=Training(10000, 16384, (256, 256), lr=3e-3), n_obs=8,
                             n_samples=50_000, seeds=(0, 1, 2)),
}


@dataclass(frozen=True)
class ChunkRun:
    """One cached run: one chunk length at one seed."""

    horizon: int
    clearance: float
    lipschitz_scale: float
    n_steps: int
    training: Training
    n_obs: int
    n_samples: int
    seed: int
    device: str


def runs(config: ChunkSweepConfig) -> list[ChunkRun]:
    return [ChunkRun(h, config.clearance, config.lipschitz_scale, config.n_steps,
                     config.training, config.n_obs, config.n_samples, seed, config.device)
            for h in config.horizons for seed in config.seeds]


def run_one(r: ChunkRun) -> dict:
    """Train the capped flow at chunk length ``r.horizon``; measure it."""
    import theory
    from validation.tasks import make_task

    task = make_task("fork", horizon=r.horizon, clearance=r.clearance, profile="constant")
    hyper = {"spectral_norm": True, "activation": "relu", "lipschitz_scale": r.lipschitz_scale,
             "n_steps": r.n_steps}
    policy, log, _ = train_policy(task, "flow", hyper, r.training, seed=r.seed, device=r.device)
    obs = task.observations(r.n_obs, seed=r.seed)
    m = measure_transport(policy, task, obs, r.n_samples, seed=r.seed)
    chunk_sep = np.asarray([float(theory.chunk_separation(off))
                            for off in task.per_step_offsets(obs)])
    return {"run": dataclasses.asdict(r), "measurement": m.to_dict(),
            "chunk_separation": chunk_sep.tolist(), "final_loss": log.final_loss,
            "train_seconds": log.seconds}


def run(config: ChunkSweepConfig) -> dict:
    """All runs (cached) -> ``{"rows", "checks"}``; the T7 check replaces the task's
    separation by `theory.chunk_separation` (they agree; the row records both)."""
    rows, checks = [], []
    for res in config.sweep("chunk_sweep", runs(config), run_one):
        r = res["run"]
        m = TransportMeasurement.from_dict(res["measurement"])
        t7 = dataclasses.replace(m, separation=tuple(res["chunk_separation"]))
        summary = m.summary()
        rows.append({"horizon": r["horizon"], "seed": r["seed"],
                     "per_step_offset": 2 * r["clearance"],
                     "task_separation": float(np.mean(m.separation)),
                     "chunk_separation": float(np.mean(res["chunk_separation"])),
                     **{k: summary[k] for k in (
                         "lipschitz_upper", "lipschitz_lower", "min_mode_mass", "bridge_mass",
                         "mass_bound_upper", "mass_bound_lower", "effective_separation")},
                     "final_loss": res["final_loss"]})
        t7_checks = [dataclasses.replace(c, proposition="T7")
                     for c in transport_checks_from(t7, plant=config.plant)
                     if c.proposition == "T2"]
        checks += labelled(t7_checks, f"flow H={r['horizon']} seed {r['seed']}")
    return {"rows": rows, "checks": checks}

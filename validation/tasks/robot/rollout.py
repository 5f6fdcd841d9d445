"""Closed-loop rollouts of the MuJoCo tasks, and how expert demonstrations are collected.

Episodes run in lockstep so that a policy is queried once per control step for all of
them (one batched forward pass). A chunk predicted at step ``t'`` from state ``o_{t'}``
is turned into absolute set-points ``anchor(o_{t'}) + a_{t', j}``, ``j = 0..H-1``, for
steps ``t' + j``; which prediction is executed when -- chunking (``execute`` set-points
per query) or ACT's temporal ensembling -- is decided by the one implementation of both,
`validation.execution.ChunkExecutor`. Averaging predictions of different modes lands
between them (docs/theory.md, T7): a bridge action by construction.

The mode of a rollout is read off its trajectory (`RobotTask.outcome`). Demonstrations
(`expert_demonstrations`) are the expert's chunks *as executed* in noisy closed-loop
rollouts: recording draws no randomness, so a recorded rollout is the same rollout.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from theory import _args
from validation.execution import ChunkExecutor
from validation.tasks.base import Demonstrations, _seed
from validation.tasks.robot.scene import Outcome, RobotTask

ChunkFn = Callable[[np.ndarray], np.ndarray]   # obs [E, obs_dim] -> chunks [E, chunk_dim]


@dataclass(frozen=True)
class Rollouts:
    """Results of ``E`` closed-loop episodes.

    Attributes:
        outcomes: one `Outcome` per episode.
        observations: ``[E, T + 1, obs_dim]`` the visited states.
        paths: ``[E, T + 1, 2]`` the tracked body's positions (what `outcome` reads).
        sim_steps: physics steps taken; seconds: wall time of the loop (policy included).
        queries: ``[(t, chunks [E, chunk_dim])]`` every chunk handed to the executor and
            the step it was predicted at (``run_closed_loop(record=True)``), else None.
        modes: ``[E]`` the mode each episode's expert ran in (`expert_rollouts`), else None.
    """

    outcomes: tuple[Outcome, ...]
    observations: np.ndarray
    paths: np.ndarray
    sim_steps: int
    seconds: float
    queries: tuple[tuple[int, np.ndarray], ...] | None = None
    modes: np.ndarray | None = None

    def summary(self, n_modes: int, confidence: float = 0.95) -> dict:
        """Success, mode frequencies, bridge/collision/stall rates, Clopper-Pearson intervals."""
        from numerics import clopper_pearson

        E = len(self.outcomes)
        modes = np.asarray([o.mode for o in self.outcomes])

        def rate(count: int) -> dict:
            lo, hi = clopper_pearson(int(count), E, confidence)
            return {"rate": count / E, "interval": [float(lo), float(hi)], "count": int(count)}

        return {
            "episodes": E, "confidence": confidence,
            "success": rate(sum(o.success for o in self.outcomes)),
            "modes": [rate(int((modes == k).sum())) for k in range(n_modes)],
            "bridge": rate(int((modes == -1).sum())),
            "collision": rate(sum(o.collision for o in self.outcomes)),
            "stall": rate(sum(o.stall for o in self.outcomes)),
            "sim_steps": self.sim_steps, "seconds": self.seconds,
        }


def run_closed_loop(task: RobotTask, chunk_fn: ChunkFn, initial_obs: np.ndarray, *,
                    execute: int | None = None, ensemble: float | None = None,
                    record: bool = False) -> Rollouts:
    """Run ``E`` episodes from ``initial_obs`` ``[E, obs_dim]`` for ``task.max_steps`` steps.

    Args:
        chunk_fn: maps states ``[E, obs_dim]`` to chunks ``[E, chunk_dim]``.
        execute: set-points executed per query, ``1..H`` (default ``H``); ignored
            with ``ensemble``.
        ensemble: ACT's temporal-ensembling rate ``m >= 0`` (``None``: off).
        record: keep every chunk handed to the executor (`Rollouts.queries`).
    """
    H = task.horizon
    executor = ChunkExecutor(H, execute=execute, ensemble=ensemble)
    initial_obs = np.asarray(initial_obs, dtype=np.float64)
    if initial_obs.ndim != 2 or initial_obs.shape[1] != task.obs_dim:
        raise ValueError(f"initial_obs must have shape [E, {task.obs_dim}], "
                         f"got {initial_obs.shape}")
    E, T = initial_obs.shape[0], task.max_steps
    start = time.perf_counter()
    datas = [task.new_data(o) for o in initial_obs]
    extras = [task.extra(o) for o in initial_obs]
    states = np.empty((E, T + 1, task.obs_dim))
    states[:, 0] = initial_obs
    collided = np.zeros(E, dtype=bool)
    queries = []
    for t in range(T):
        obs = states[:, t]
        if executor.query_due(t):
            chunk = np.asarray(chunk_fn(obs), dtype=np.float64).reshape(E, task.chunk_dim)
            if record:
                queries.append((t, chunk.copy()))
            executor.add(t, task.anchor(obs)[:, None, :]
                         + chunk.reshape(E, H, task.action_dim))
        target = executor.action(t)
        for e in range(E):
            collided[e] |= task.step(datas[e], target[e])
            states[e, t + 1] = task.observe(datas[e], extras[e])
    paths = task.tracked_position(states)
    outcomes = tuple(task.outcome(paths[e], bool(collided[e]), states[e, -1]) for e in range(E))
    return Rollouts(outcomes=outcomes, observations=states, paths=paths,
                    sim_steps=E * T * task.substeps, seconds=time.perf_counter() - start,
                    queries=tuple(queries) if record else None)


def expert_chunk_fn(task: RobotTask, modes: np.ndarray, rng: np.random.Generator | None
                    ) -> ChunkFn:
    """``obs -> c_{k_e}(o_e) + xi`` for episode ``e`` in mode ``modes[e]``; ``xi`` the task's
    clipped demonstration noise (`RobotTask.noisy`) drawn from ``rng`` (None: no noise)."""
    def expert(obs: np.ndarray) -> np.ndarray:
        out = np.empty((obs.shape[0], task.chunk_dim))
        for k in np.unique(modes):
            sel = modes == k
            out[sel] = task.expert_chunks(obs[sel], int(k))
        return out if rng is None else task.noisy(out, rng)

    return expert


def expert_rollouts(task: RobotTask, n_episodes: int, rng: np.random.Generator, *,
                    execute: int | None = None, ensemble: float | None = None,
                    modes: np.ndarray | None = None, record: bool = False) -> Rollouts:
    """Closed-loop rollouts of the scripted expert, each episode in mode ``k ~ weights``.

    The initial states, the modes (unless given) and the noise of the executed chunks
    (`RobotTask.noisy`) are drawn from ``rng``, in that order; ``record`` keeps the
    executed chunks (`run_closed_loop`) and draws nothing.
    """
    n_episodes = _args.integer_at_least(n_episodes, "n_episodes", 1)
    initial = task._initial_obs(rng, n_episodes)
    if modes is None:
        modes = rng.choice(task.n_modes, size=n_episodes, p=task.weights)
    modes = np.asarray(modes)
    if modes.shape != (n_episodes,) or modes.min() < 0 or modes.max() >= task.n_modes:
        raise ValueError(f"modes must be {n_episodes} integers in [0, {task.n_modes - 1}]")
    roll = run_closed_loop(task, expert_chunk_fn(task, modes, rng), initial, execute=execute,
                           ensemble=ensemble, record=record)
    return dataclasses.replace(roll, modes=modes)


def expert_demonstrations(task: RobotTask, n: int, seed: int, *, execute: int = 1,
                          episodes_per_batch: int = 16) -> Demonstrations:
    """``n`` (state, chunk, mode) triples from noisy closed-loop expert rollouts.

    Each episode draws an initial state and its mode ``k ~ weights``; the expert is
    queried every ``execute`` steps (``1..H``) and its chunk ``c_k(o) + xi`` (``xi`` the
    clipped demonstration noise) is executed; every queried state and its chunk *as
    executed* is a demonstration, except where the expert stands still (its chunk is all
    zero: the goal is reached), which would otherwise dominate the data. The noise the
    executed chunks carry moves the rollouts off the noise-free expert's path, so the
    data cover states a slightly wrong policy visits. Deterministic in ``seed``.
    """
    n = _args.integer_at_least(n, "n", 1)
    execute = _args.integer_at_least(execute, "execute", 1, task.horizon)
    episodes_per_batch = _args.integer_at_least(episodes_per_batch, "episodes_per_batch", 1)
    rng = np.random.default_rng([_seed(seed), 2])
    obs, act, modes = [], [], []
    total = 0
    while total < n:
        # At most one query per `execute` steps is recorded: no more episodes than needed.
        batch = min(episodes_per_batch, -(-(n - total) // -(-task.max_steps // execute)))
        roll = expert_rollouts(task, max(1, batch), rng, execute=execute, record=True)
        for t, chunks in roll.queries:
            moving = np.linalg.norm(chunks, axis=1) > 1e-6
            obs.append(roll.observations[moving, t])
            act.append(chunks[moving])
            modes.append(roll.modes[moving])
            total += int(moving.sum())
    return Demonstrations(obs=np.concatenate(obs)[:n].astype(np.float32),
                          actions=np.concatenate(act)[:n].astype(np.float32),
                          modes=np.concatenate(modes)[:n].astype(np.int64))


def policy_chunk_fn(policy, seed: int, *, component_mean: bool = False) -> ChunkFn:
    """``obs -> one sampled chunk per state`` of a `validation.policies.Policy`, seeded.

    With ``component_mean`` a mixture policy (``mixture`` or ``component_means``) draws
    its component ``j ~ pi(o)`` and executes that component's mean, without the
    component's Gaussian noise: robomimic's "low-noise" evaluation of GMM policies
    (Mandlekar et al., CoRL 2021). The mode is still drawn at every query.
    """
    import torch

    gen = torch.Generator(device=getattr(policy, "device", "cpu")).manual_seed(
        _args.integer_at_least(seed, "seed", 0))
    if component_mean and not (hasattr(policy, "mixture") or hasattr(policy, "component_means")):
        raise ValueError(f"component_mean needs a mixture policy, got {policy.kind!r}")

    def chunk_fn(obs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            x = torch.as_tensor(obs, dtype=torch.float32)
            if not component_mean:
                return policy.sample(x, 1, generator=gen)[:, 0].double().cpu().numpy()
            if hasattr(policy, "component_means"):
                logw, means = policy.component_means(x)
            else:
                logw, means, _ = policy.mixture(x)
            j = torch.multinomial(logw.exp(), 1, generator=gen)[:, 0]
            return means[torch.arange(len(j)), j].double().cpu().numpy()

    return chunk_fn


def policy_rollouts(task: RobotTask, policy, n_episodes: int, seed: int, *,
                    execute: int | None = None, ensemble: float | None = None,
                    component_mean: bool = False) -> Rollouts:
    """Closed-loop rollouts of a trained policy from ``n_episodes`` initial states.

    The initial states are those of `Task.observations` (stream independent of the
    demonstrations); the policy's samples are drawn from a generator seeded by ``seed``
    (``component_mean``: see `policy_chunk_fn`).
    """
    initial = task.observations(n_episodes, seed).astype(np.float64)
    return run_closed_loop(task, policy_chunk_fn(policy, seed, component_mean=component_mean),
                           initial, execute=execute, ensemble=ensemble)


__all__ = ["ChunkFn", "Rollouts", "expert_chunk_fn", "expert_demonstrations",
           "expert_rollouts", "policy_chunk_fn", "policy_rollouts", "run_closed_loop"]

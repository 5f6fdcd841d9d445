"""Closed-loop rollouts with action chunking and temporal ensembling.

Episodes run in lockstep so that a policy is queried once per control step for all of
them (one batched forward pass). A chunk predicted at step ``t'`` from state ``o_{t'}``
is turned into absolute set-points ``anchor(o_{t'}) + a_{t', j}``, ``j = 0..H-1``, for
steps ``t' + j``. Execution modes:

- chunking: query every ``execute`` steps (``execute = H``: the whole chunk open loop,
  as ACT without ensembling and Diffusion Policy with its action horizon);
- temporal ensembling (ACT, Zhao et al. 2023): query every step and execute at step
  ``t`` the weighted mean of every prediction made for ``t``,
  ``sum_i w_i a_i / sum_i w_i``, ``w_i = exp(-m i)``, ``i = 0`` the oldest prediction.
  Averaging predictions of different modes lands between them (THEORY T7): a bridge
  action by construction.

The mode of a rollout is read off its trajectory (`RobotTask.outcome`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from theory import _args
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
        demo_obs, demo_actions, demo_modes: the expert's recorded (state, chunk, mode)
            triples (`expert_rollouts(record=True)`), else None.
    """

    outcomes: tuple[Outcome, ...]
    observations: np.ndarray
    paths: np.ndarray
    sim_steps: int
    seconds: float
    demo_obs: np.ndarray | None = None
    demo_actions: np.ndarray | None = None
    demo_modes: np.ndarray | None = None

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
                    observer: Callable[[np.ndarray, int], None] | None = None) -> Rollouts:
    """Run ``E`` episodes from ``initial_obs`` ``[E, obs_dim]`` for ``task.max_steps`` steps.

    Args:
        chunk_fn: maps states ``[E, obs_dim]`` to chunks ``[E, chunk_dim]``.
        execute: set-points executed per query, ``1..H`` (default ``H``); ignored
            with ``ensemble``.
        ensemble: ACT's temporal-ensembling rate ``m >= 0`` (``None``: off).
        observer: called with the states and the step index at every step (recording).
    """
    H = task.horizon
    execute = H if execute is None else _args.integer_at_least(execute, "execute", 1, H)
    if ensemble is not None:
        ensemble = float(_args.nonnegative(ensemble, "ensemble"))
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
    # predictions[t'] = [E, H, 2] absolute set-points predicted at step t'.
    predictions: dict[int, np.ndarray] = {}
    last_query = 0
    for t in range(T):
        obs = states[:, t]
        if observer is not None:
            observer(obs, t)
        if ensemble is not None or t % execute == 0:
            chunk = np.asarray(chunk_fn(obs), dtype=np.float64).reshape(E, H, task.action_dim)
            predictions[t] = task.anchor(obs)[:, None, :] + chunk
            last_query = t
            predictions.pop(t - H, None)
        if ensemble is None:
            target = predictions[last_query][:, t - last_query]
        else:
            ages = sorted(tp for tp in predictions if t - tp < H)        # oldest first
            w = np.exp(-ensemble * np.arange(len(ages)))
            stacked = np.stack([predictions[tp][:, t - tp] for tp in ages])   # [A, E, 2]
            target = np.tensordot(w / w.sum(), stacked, axes=1)
        for e in range(E):
            collided[e] |= task.step(datas[e], target[e])
            states[e, t + 1] = task.observe(datas[e], extras[e])
    paths = task.tracked_position(states)
    outcomes = tuple(task.outcome(paths[e], bool(collided[e]), states[e, -1]) for e in range(E))
    return Rollouts(outcomes=outcomes, observations=states, paths=paths,
                    sim_steps=E * T * task.substeps, seconds=time.perf_counter() - start)


def expert_rollouts(task: RobotTask, n_episodes: int, rng: np.random.Generator, *,
                    execute: int | None = None, ensemble: float | None = None,
                    modes: np.ndarray | None = None, record: bool = False) -> Rollouts:
    """Closed-loop rollouts of the scripted expert, each episode in mode ``k ~ weights``.

    The expert executes its noisy chunk (clipped noise, `RobotTask.noisy`). With
    ``record`` every visited state's (state, noisy expert chunk, mode) is returned,
    except states where the expert stands still (its chunk is all zero: the goal is
    reached), which would otherwise dominate the data.
    """
    n_episodes = _args.integer_at_least(n_episodes, "n_episodes", 1)
    initial = task._initial_obs(rng, n_episodes)
    if modes is None:
        modes = rng.choice(task.n_modes, size=n_episodes, p=task.weights)
    modes = np.asarray(modes)
    if modes.shape != (n_episodes,) or modes.min() < 0 or modes.max() >= task.n_modes:
        raise ValueError(f"modes must be {n_episodes} integers in [0, {task.n_modes - 1}]")

    def expert(obs: np.ndarray) -> np.ndarray:
        out = np.empty((obs.shape[0], task.chunk_dim))
        for k in np.unique(modes):
            sel = modes == k
            out[sel] = task.expert_chunks(obs[sel], int(k))
        return out

    rec_obs, rec_act, rec_mode = [], [], []

    def observer(obs: np.ndarray, t: int) -> None:
        clean = expert(obs)
        moving = np.linalg.norm(clean, axis=1) > 1e-6
        rec_obs.append(obs[moving])
        rec_act.append(task.noisy(clean[moving], rng))
        rec_mode.append(modes[moving])

    roll = run_closed_loop(task, lambda o: task.noisy(expert(o), rng), initial,
                           execute=execute, ensemble=ensemble,
                           observer=observer if record else None)
    if not record:
        return roll
    return Rollouts(outcomes=roll.outcomes, observations=roll.observations, paths=roll.paths,
                    sim_steps=roll.sim_steps, seconds=roll.seconds,
                    demo_obs=np.concatenate(rec_obs), demo_actions=np.concatenate(rec_act),
                    demo_modes=np.concatenate(rec_mode))


def policy_chunk_fn(policy, seed: int) -> ChunkFn:
    """``obs -> one sampled chunk per state`` of a `validation.policies.Policy`, seeded."""
    import torch

    gen = torch.Generator(device=getattr(policy, "device", "cpu")).manual_seed(
        _args.integer_at_least(seed, "seed", 0))

    def chunk_fn(obs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            x = torch.as_tensor(obs, dtype=torch.float32)
            return policy.sample(x, 1, generator=gen)[:, 0].double().cpu().numpy()

    return chunk_fn


def policy_rollouts(task: RobotTask, policy, n_episodes: int, seed: int, *,
                    execute: int | None = None, ensemble: float | None = None) -> Rollouts:
    """Closed-loop rollouts of a trained policy from ``n_episodes`` initial states.

    The initial states are those of `Task.observations` (stream independent of the
    demonstrations); the policy's samples are drawn from a generator seeded by ``seed``.
    """
    initial = task.observations(n_episodes, seed).astype(np.float64)
    return run_closed_loop(task, policy_chunk_fn(policy, seed), initial, execute=execute,
                           ensemble=ensemble)

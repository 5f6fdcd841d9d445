"""How predicted action chunks become executed actions: chunking and temporal ensembling.

A chunking policy predicts ``H`` actions at once. Closed loop, the controller either

- executes the first ``execute`` actions of each chunk and then queries again
  (``execute = H``: the whole chunk open loop, as ACT without ensembling and Diffusion
  Policy with its action horizon), or
- queries at every step and executes at step ``t`` the weighted mean of every prediction
  made for ``t`` (ACT's temporal ensembling, Zhao et al. 2023):
  ``sum_i w_i a_i / sum_i w_i``, ``w_i = exp(-m i)``, ``i = 0`` the oldest prediction.
  Averaging predictions of different modes lands between them (docs/theory.md, T7): a
  bridge action by construction.

`ChunkExecutor` is the one implementation of both, used by the paper's unit-square
rollouts (`validation.tasks.paper.rollout`) and the MuJoCo rollouts
(`validation.tasks.robot.rollout`). It is indifferent to what an action is (a position
delta, an absolute set-point): it only decides which prediction is executed when.
"""

from __future__ import annotations

import numpy as np

from theory import _args


class ChunkExecutor:
    """The action to execute at each step, from the chunks predicted so far.

    Usage, for steps ``t = 0, 1, ..``: if ``executor.query_due(t)``, predict a chunk
    ``[E, H, A]`` at step ``t`` and ``executor.add(t, chunk)``; then execute
    ``executor.action(t)`` (``[E, A]``).

    Args:
        horizon: chunk length ``H >= 1``.
        execute: actions executed per query, in ``[1, H]`` (default ``H``); ignored with
            ``ensemble``.
        ensemble: ACT's temporal-ensembling rate ``m >= 0`` (``None``: chunking).
    """

    def __init__(self, horizon: int, *, execute: int | None = None,
                 ensemble: float | None = None):
        self.horizon = _args.integer_at_least(horizon, "horizon", 1)
        self.execute = (self.horizon if execute is None
                        else _args.integer_at_least(execute, "execute", 1, self.horizon))
        self.ensemble = None if ensemble is None else float(_args.nonnegative(ensemble,
                                                                              "ensemble"))
        self._chunks: dict[int, np.ndarray] = {}    # query step -> [E, H, A]
        self._last = None

    def query_due(self, t: int) -> bool:
        """Whether the policy must be queried at step ``t``."""
        return self.ensemble is not None or t % self.execute == 0 or self._last is None

    def add(self, t: int, chunk: np.ndarray) -> None:
        """Record the chunk ``[E, H, A]`` predicted at step ``t``."""
        chunk = np.asarray(chunk, dtype=np.float64)
        if chunk.ndim != 3 or chunk.shape[1] != self.horizon:
            raise ValueError(f"chunk must have shape [E, {self.horizon}, A], "
                             f"got {chunk.shape}")
        self._chunks[t] = chunk
        self._last = t
        self._chunks.pop(t - self.horizon, None)   # no longer covers any future step

    def action(self, t: int) -> np.ndarray:
        """``[E, A]`` the action executed at step ``t``."""
        if self._last is None:
            raise ValueError("no chunk has been added yet: call add() when query_due(t)")
        if self.ensemble is None:
            return self._chunks[self._last][:, t - self._last]
        live = sorted(s for s in self._chunks if s <= t < s + self.horizon)   # oldest first
        w = np.exp(-self.ensemble * np.arange(len(live)))
        stacked = np.stack([self._chunks[s][:, t - s] for s in live])         # [n, E, A]
        return np.tensordot(w / w.sum(), stacked, axes=1)


__all__ = ["ChunkExecutor"]

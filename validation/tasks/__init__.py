"""Tasks: conditional demonstrators with known modes (`Task`, `Demonstrations`, `make_task`).

Tasks are looked up by name in `TASKS` (name -> "module:Class") and imported lazily,
so that adding a task is one line and robot tasks do not import MuJoCo until asked for.
"""

from __future__ import annotations

import importlib
from typing import Any

from validation.tasks.base import Demonstrations, Task

# name -> "module:Class". Add a task with one line here.
TASKS: dict[str, str] = {
    "fork": "validation.tasks.fork:Fork",
    "kway": "validation.tasks.kway:KWay",
    "reach_around": "validation.tasks.robot.reach_around:ReachAround",
    "multi_reach": "validation.tasks.robot.multi_reach:MultiReach",
    "push_around": "validation.tasks.robot.push_around:PushAround",
    "aloha_transfer_cube": "validation.tasks.robot.aloha:AlohaTransferCube",
    "circle": "validation.tasks.paper:Circle",
    "conditional_circle": "validation.tasks.paper:ConditionalCircle",
    "sequential_decision": "validation.tasks.paper:SequentialDecision",
    "radial": "validation.tasks.paper:Radial",
}


def make_task(name: str, **params: Any) -> Task:
    """Build the task registered as ``name`` with its keyword parameters.

    Example: ``make_task("fork", horizon=16)``, ``make_task("kway", n_modes=4,
    layout="simplex", separation=1.5)``. Unknown names or parameters raise ``ValueError``
    naming the argument and the valid choices.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    if name not in TASKS:
        raise ValueError(f"name must be one of {sorted(TASKS)}, got {name!r}")
    module, cls_name = TASKS[name].split(":")
    cls = getattr(importlib.import_module(module), cls_name)
    try:
        return cls(**params)
    except TypeError as exc:
        if "unexpected keyword argument" in str(exc):
            raise ValueError(f"make_task({name!r}, ...): {exc}; see help({cls.__name__})") from exc
        raise


__all__ = ["TASKS", "Demonstrations", "Task", "make_task"]

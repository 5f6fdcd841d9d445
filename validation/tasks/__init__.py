"""Tasks: conditional demonstrators with known modes (`Task`, `Demonstrations`, `make_task`).

Every task is found through one registry, in this order:

1. the built-in tasks, `TASKS` (name -> ``"module:Class"``), imported lazily so that
   robot tasks do not import MuJoCo until asked for;
2. tasks registered in this process with `register_task(name, factory)`;
3. tasks of installed packages, declared as entry points of the group
   `ENTRY_POINT_GROUP` (``"modebound.tasks"``) and loaded only when built::

       # the package's pyproject.toml
       [project.entry-points."modebound.tasks"]
       zigzag = "mypkg.tasks:Zigzag"

4. any importable ``"module:Class"`` (or ``"module:function"``) path, without registering.

`TaskSpec` is a task by name (or path) and keyword parameters, as the suites' run
dataclasses store it: it enters a run's cache key by its resolved import path and its
parameters, and `TaskSpec.parse` reads the CLI's ``--task module:Class[:json-kwargs]``.
"""

from __future__ import annotations

import importlib
import json
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from validation.tasks.base import Demonstrations, Task

# name -> "module:Class". The built-in tasks; add your own with `register_task` or an
# entry point (module docstring), not here.
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
ENTRY_POINT_GROUP = "modebound.tasks"

TaskFactory = Callable[..., Task]
_REGISTERED: dict[str, TaskFactory | str] = {}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def _entry_points() -> dict[str, metadata.EntryPoint]:
    """Installed packages' tasks, by name (nothing is imported here)."""
    found = {}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in TASKS:
            warnings.warn(f"entry point {ep.name!r} = {ep.value!r} of group "
                          f"{ENTRY_POINT_GROUP!r} is ignored: {ep.name!r} is a built-in task",
                          stacklevel=3)
            continue
        found[ep.name] = ep
    return found


def register_task(name: str, factory: TaskFactory | str, *, replace: bool = False) -> None:
    """Register ``factory`` (a `Task` subclass, a function returning a `Task`, or an
    importable ``"module:Class"`` string) as the task ``name``.

    After ``register_task("zigzag", Zigzag)``, ``make_task("zigzag", **params)`` and
    ``TaskSpec.parse("zigzag")`` build it. Built-in names (`TASKS`) cannot be taken;
    registering a name twice needs ``replace=True``. A registration lives in this process
    only: for ``modebound validate --task`` in a fresh process use an entry point or the
    ``module:Class`` path (module docstring).

    Examples:
        >>> from validation.tasks.paper import Radial
        >>> register_task("radial_4", lambda **kw: Radial(n_rays=4, **kw))
        >>> make_task("radial_4").n_modes
        4
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError("name must be a str of letters, digits, '_', '-' or '.', starting "
                         f"with a letter or '_' (no ':', which separates a --task spec), "
                         f"got {name!r}")
    if name in TASKS:
        raise ValueError(f"name {name!r} is a built-in task; choose another name")
    if not (callable(factory) or (isinstance(factory, str) and _PATH.match(factory))):
        raise TypeError("factory must be a Task subclass, a callable returning a Task, or a "
                        f"'module:Class' string, got {factory!r}")
    if name in _REGISTERED and not replace and _REGISTERED[name] is not factory:
        raise ValueError(f"a task {name!r} is already registered; pass replace=True to "
                         "replace it")
    _REGISTERED[name] = factory


def task_names() -> tuple[str, ...]:
    """Every task name the registry knows: built-in, registered and entry points (sorted)."""
    return tuple(sorted({*TASKS, *_REGISTERED, *_entry_points()}))


def _import_path(path: str) -> Any:
    module, attr = path.split(":")
    try:
        obj = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise ValueError(f"task {path!r}: cannot import module {module!r} ({exc}); is its "
                         "folder on PYTHONPATH, or its package installed?") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"task {path!r}: module {module!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj


def task_path(name: str) -> str:
    """The import path (``"module:Class"``) a task name resolves to; a path is returned as
    it is. This is what a task contributes to a run's cache key (`TaskSpec`)."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    if name in TASKS:
        return TASKS[name]
    if name in _REGISTERED:
        f = _REGISTERED[name]
        return f if isinstance(f, str) else f"{f.__module__}:{f.__qualname__}"
    if _PATH.match(name):
        return name
    eps = _entry_points()
    if name in eps:
        return eps[name].value
    raise ValueError(f"name must be a registered task (one of {list(task_names())}) or a "
                     f"'module:Class' path, got {name!r}")


def task_factory(name: str) -> TaskFactory:
    """The callable that builds task ``name`` (a registered name or ``"module:Class"``),
    imported now: built-in, registered, then entry points (module docstring)."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    if name in TASKS:
        return _import_path(TASKS[name])
    factory = _REGISTERED.get(name)
    if factory is None and not _PATH.match(name):
        eps = _entry_points()
        if name not in eps:
            raise ValueError(f"name must be a registered task (one of {list(task_names())}) "
                             f"or a 'module:Class' path, got {name!r}")
        try:
            return eps[name].load()
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"task {name!r}: entry point {eps[name].value!r} of group "
                             f"{ENTRY_POINT_GROUP!r} cannot be loaded ({exc})") from None
    if factory is None:
        factory = name
    factory = _import_path(factory) if isinstance(factory, str) else factory
    if not callable(factory):
        raise TypeError(f"task {name!r} resolves to {factory!r}, which is not callable")
    return factory


def make_task(name: str, **params: Any) -> Task:
    """Build the task registered as ``name`` (or at the path ``"module:Class"``) with its
    keyword parameters.

    Example: ``make_task("fork", horizon=16)``, ``make_task("kway", n_modes=4,
    layout="simplex", separation=1.5)``, ``make_task("mypkg.tasks:Zigzag", width=0.2)``.
    Unknown names or parameters raise ``ValueError`` naming the argument and the valid
    choices; a factory that returns something other than a `Task` raises ``TypeError``.
    """
    factory = task_factory(name)
    try:
        task = factory(**params)
    except TypeError as exc:
        if "unexpected keyword argument" in str(exc):
            shown = getattr(factory, "__name__", repr(factory))
            raise ValueError(f"make_task({name!r}, ...): {exc}; see help({shown})") from exc
        raise
    if not isinstance(task, Task):
        raise TypeError(f"task {name!r} built a {type(task).__name__}, not a "
                        "validation.tasks.Task")
    return task


def _frozen(value: Any) -> Any:
    """JSON values with lists as tuples (a frozen dataclass field; JSON hashes them alike)."""
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, dict):
        return {k: _frozen(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class TaskSpec:
    """A task by name and parameters: what a run dataclass stores (its cache key).

    Attributes:
        name: a registered name or a ``"module:Class"`` path, as the user wrote it.
        path: the import path it resolves to (`task_path`), so that a user task enters
            the cache key by where its code lives, not only by a name.
        params: the keyword parameters, ``((key, value), ...)`` sorted by key.

    Examples:
        >>> spec = TaskSpec.parse('radial:{"n_rays": 4}')
        >>> spec.path, spec.params, spec.label
        ('validation.tasks.paper:Radial', (('n_rays', 4),), 'radial n_rays=4')
        >>> spec.build().n_modes
        4
    """

    name: str
    path: str
    params: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, name: str, **params: Any) -> TaskSpec:
        """The spec of ``make_task(name, **params)``."""
        return cls(name, task_path(name), tuple(sorted((k, _frozen(v))
                                                       for k, v in params.items())))

    @classmethod
    def parse(cls, text: str) -> TaskSpec:
        """Read ``name``, ``name:{json}``, ``module:Class`` or ``module:Class:{json}``
        (the CLI's ``--task``); the JSON is an object of keyword parameters."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"task must be a non-empty str, got {text!r}")
        head, _, rest = text.strip().partition(":")
        # After the first ':' comes a class name (an identifier) or the JSON parameters.
        if rest and (rest[0].isalpha() or rest[0] == "_"):
            attr, _, rest = rest.partition(":")
            head = f"{head}:{attr}"
            if not _PATH.match(head):
                raise ValueError(f"task {text!r}: expected module:Class[:json-kwargs] with a "
                                 "dotted module and a class name")
        params: dict[str, Any] = {}
        if rest:
            try:
                params = json.loads(rest)
            except json.JSONDecodeError as exc:
                raise ValueError(f"task {text!r}: the keyword parameters {rest!r} are not "
                                 f"valid JSON ({exc})") from None
            if not isinstance(params, dict):
                raise ValueError(f"task {text!r}: the keyword parameters must be a JSON "
                                 f"object such as {{\"n_rays\": 8}}, got {rest!r}")
        return cls.of(head, **params)

    def build(self, **extra: Any) -> Task:
        """``make_task(name, **params, **extra)`` (``extra`` overrides, e.g. a suite's
        ``action_scale``)."""
        return make_task(self.name, **{**dict(self.params), **extra})

    @property
    def label(self) -> str:
        """``name`` and ``key=value`` parameters: how tables and check names show it."""
        shown = " ".join(f"{k}={json.dumps(v) if isinstance(v, str) else v}"
                         for k, v in self.params)
        return f"{self.name} {shown}" if shown else self.name


__all__ = ["ENTRY_POINT_GROUP", "TASKS", "Demonstrations", "Task", "TaskSpec", "make_task",
           "register_task", "task_factory", "task_names", "task_path"]

"""Where the runs of a sweep execute: in this process (`LocalBackend`) or on Ray (`RayBackend`).

A sweep is a list of independent runs, each a frozen dataclass that is also its cache key
(`validation.cache`), and a pure function ``run_one(run) -> dict``. A backend maps the
function over the runs with one method,

    map_runs(name, runs, run_one, cache_dir, progress) -> list[dict]

and returns what ``[run_cached(name, r, run_one, cache_dir) for r in runs]`` returns: the
results after their JSON round trip, in the order of ``runs``. Both backends skip every
run already in the cache and write each new result there atomically as soon as it is
done, so a sweep killed at any point resumes where it stopped. Since a run is a pure
function of its dataclass, the results do not depend on the backend (on CPU, at equal
torch threads per run: `tests/validation/test_backends.py` checks it on the quick suite).

`RayBackend` runs every uncached run as one Ray task declaring ``cpus_per_run`` CPUs (and
``gpus_per_run`` GPUs on a CUDA device), with that many torch/BLAS threads
(`validation.threads.limit_threads`), retried ``max_retries`` times when its worker dies.
The task writes its result into the cache itself, so the cache must be storage that every
node of the cluster sees at the same path (docs/distributed.md). Ray is an optional
dependency (``pip install 'modebound[ray]'``): this module imports it only inside
`RayBackend`'s methods, and `LocalBackend` never does.

Reference: Moritz et al., "Ray: A Distributed Framework for Emerging AI Applications",
OSDI 2018 (tasks, resources, lineage-based retries).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import itertools
import json
import logging
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from theory import _args
from validation.cache import cache_path, is_cached, run_cached, write_json_atomic

RAY_EXTRA = "pip install 'modebound[ray]'"
BACKENDS = ("local", "ray")


class Backend(Protocol):
    """What `validation.experiments.sweep` needs of a backend."""

    def map_runs(self, name: str, runs: Sequence[Any], run_one: Callable[[Any], dict],
                 cache_dir: Path, progress: bool = False) -> list[dict]: ...

    def resolve_device(self, device: str) -> str: ...

    def connect(self) -> None: ...

    def describe(self) -> dict[str, Any]: ...


def _progress_bar(name: str, total: int, progress: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=name, disable=not progress or total == 0, leave=False)


@dataclass(frozen=True)
class LocalBackend:
    """Every run in this process, one after another (the default; never imports Ray).

    Examples:
        >>> import tempfile
        >>> from dataclasses import dataclass
        >>> @dataclass(frozen=True)
        ... class Square:
        ...     x: int
        >>> def square(r):
        ...     return {"y": r.x ** 2}
        >>> with tempfile.TemporaryDirectory() as cache:
        ...     LocalBackend().map_runs("square", [Square(2), Square(3)], square, cache)
        [{'y': 4}, {'y': 9}]
    """

    def map_runs(self, name: str, runs: Sequence[Any], run_one: Callable[[Any], dict],
                 cache_dir: Path, progress: bool = False) -> list[dict]:
        """``[run_cached(name, r, run_one, cache_dir) for r in runs]``, with a progress bar
        over the runs still to do.

        Args:
            name: the run family (cache file prefix). runs: frozen dataclasses (the keys).
            run_one: ``run -> dict``, JSON-ready. cache_dir: the cache folder.
            progress: show a progress bar.
        Returns:
            One result dict per run, in order.
        """
        todo = sum(not is_cached(name, r, cache_dir) for r in runs)
        results = []
        with _progress_bar(name, todo, progress) as bar:
            for r in runs:
                cached = is_cached(name, r, cache_dir)
                results.append(run_cached(name, r, run_one, cache_dir))
                if not cached:
                    bar.update(1)
        return results

    def connect(self) -> None:
        """Nothing to connect to."""

    def resolve_device(self, device: str) -> str:
        """`validation.devices.resolve_device`: this machine's devices."""
        from validation.devices import resolve_device

        return resolve_device(device)

    def describe(self) -> dict[str, Any]:
        """``{"kind": "local", "cpus": ..., "torch_threads": ...}`` for the report."""
        import torch

        from validation.threads import available_cpus

        return {"kind": "local", "cpus": available_cpus(),
                "torch_threads": torch.get_num_threads()}


def _run_task(name: str, run: Any, run_one: Callable[[Any], dict], cache_dir: str,
              threads: int) -> dict:
    """The body of one Ray task: threads set for the CPUs it holds, then the cached run.

    Top level (not a closure) so that workers import it by name.
    """
    from validation.threads import limit_threads

    limit_threads(threads)
    return run_cached(name, run, run_one, Path(cache_dir))


def _ray_installed() -> bool:
    # Without importing it: `import validation.backends` must stay free of Ray.
    return importlib.util.find_spec("ray") is not None


def _import_ray():
    try:
        import ray
    except ImportError as exc:
        raise ImportError(f"the ray backend needs the ray extra: {RAY_EXTRA}") from exc
    return ray


@dataclass(frozen=True)
class RayBackend:
    """Every uncached run as a Ray task; the driver waits, counts and collects.

    Attributes:
        address: the cluster to join (``"auto"``: the one ``ray start`` made on this
            node; ``"HOST:PORT"``: its head; ``"ray://HOST:10001"``: Ray Client), or
            ``None`` to start a local cluster of ``max_parallel`` (default: every
            available) CPUs for this process.
        max_parallel: at most this many runs at once (``>= 1``); default: as many as
            the cluster's resources admit.
        cpus_per_run: CPUs each task declares (``>= 1``); it runs with as many threads.
        gpus_per_run: GPUs each task declares when the runs' device is CUDA (``> 0``;
            fractions share a GPU between runs, e.g. 0.25 puts four on one GPU).
        max_retries: how often a task whose worker died (killed, out of memory, node
            lost) is restarted. An exception raised by the run itself is a bug and is
            not retried: it stops the sweep (finished runs stay cached).

    Examples:
        >>> RayBackend(cpus_per_run=0)
        Traceback (most recent call last):
        ...
        ValueError: cpus_per_run must be an integer >= 1, got 0
    """

    address: str | None = None
    max_parallel: int | None = None
    cpus_per_run: int = 1
    gpus_per_run: float = 1.0
    max_retries: int = 3

    def __post_init__(self):
        if self.address is not None and (not isinstance(self.address, str)
                                         or not self.address):
            raise ValueError(f"address must be None, 'auto' or 'HOST:PORT', got "
                             f"{self.address!r}")
        if self.max_parallel is not None:
            _args.integer_at_least(self.max_parallel, "max_parallel", 1)
        _args.integer_at_least(self.cpus_per_run, "cpus_per_run", 1)
        _args.positive(self.gpus_per_run, "gpus_per_run")
        _args.integer_at_least(self.max_retries, "max_retries", 0)
        if not _ray_installed():
            raise ImportError(f"the ray backend needs the ray extra: {RAY_EXTRA}")

    def connect(self) -> None:
        """Join ``address`` (or start the local cluster) once per process.

        Raises:
            ConnectionError: no cluster at ``address`` (the message says how to start one).
        """
        ray = _import_ray()
        if ray.is_initialized():
            return
        from validation.threads import available_cpus

        kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING}
        if self.address is None:
            kwargs["num_cpus"] = self.max_parallel or available_cpus()
        try:
            ray.init(address=self.address, **kwargs)
        except ConnectionError as exc:
            raise ConnectionError(
                f"no Ray cluster at address {self.address!r} ({exc}); start one with "
                "`ray start --head` (and `ray start --address HEAD:6379` on the other "
                "nodes), or leave the address out to start a local one") from None

    def map_runs(self, name: str, runs: Sequence[Any], run_one: Callable[[Any], dict],
                 cache_dir: Path, progress: bool = False) -> list[dict]:
        """Run the uncached ``runs`` as Ray tasks; the results of all, in order.

        Args:
            name, runs, cache_dir, progress: as `LocalBackend.map_runs`. run_one: a
                top-level function (or a `functools.partial` of one) so that workers
                can unpickle it; it must be a pure function of the run.
        Returns:
            One result dict per run, in order, each as the cache stores it.
        Raises:
            the run's own exception if one raised (after cancelling the runs not yet
            finished); ``ray.exceptions.WorkerCrashedError`` & co. once a task has
            died ``max_retries + 1`` times.
        """
        ray = _import_ray()
        # Absolute, since workers do not run in this process's folder; not resolved,
        # since a symbolic link may point elsewhere on another node.
        cache_dir = Path(os.path.abspath(cache_dir))
        # Equal runs share one file: submit each missing file once.
        todo = {cache_path(name, r, cache_dir): r for r in runs
                if not is_cached(name, r, cache_dir)}
        if todo:
            self.connect()
            self._execute(ray, name, todo, run_one, cache_dir, progress)
        return [run_cached(name, r, _not_in_cache, cache_dir) for r in runs]

    def _execute(self, ray, name: str, todo: dict[Path, Any], run_one, cache_dir: Path,
                 progress: bool) -> None:
        options: dict[str, Any] = {"num_cpus": self.cpus_per_run,
                                   "max_retries": self.max_retries}
        devices = {getattr(r, "device", "cpu") for r in todo.values()}
        if any(str(d).startswith("cuda") for d in devices):
            options["num_gpus"] = self.gpus_per_run
        task = ray.remote(_run_task).options(**options)
        window = self.max_parallel or len(todo)
        waiting = iter(todo.items())
        running: dict[Any, Path] = {}
        warned = False
        with _progress_bar(name, len(todo), progress) as bar:
            while True:
                for path, r in itertools.islice(waiting, window - len(running)):
                    running[task.remote(name, r, run_one, str(cache_dir),
                                        self.cpus_per_run)] = path
                if not running:
                    break
                done, _ = ray.wait(list(running), num_returns=1)
                path = running.pop(done[0])
                try:
                    result = ray.get(done[0])
                except BaseException:
                    for ref in running:
                        ray.cancel(ref, force=True)
                    raise
                if not path.exists():
                    # The task wrote to a disk the driver does not see (a cache that is
                    # not shared) or the file system's attribute cache lags: keep the
                    # result anyway; a resumed sweep needs shared storage.
                    write_json_atomic(result, path)
                    if not warned:
                        warnings.warn(f"{path} was written by a Ray worker but is not "
                                      f"visible here: is the cache {cache_dir} on storage "
                                      "every node shares (docs/distributed.md)?",
                                      stacklevel=3)
                        warned = True
                bar.update(1)

    def resolve_device(self, device: str) -> str:
        """The device of the runs on the cluster: "cpu", or "cuda" where the cluster
        has GPUs ("auto" picks). Ray gives each task its own GPU(s) through
        ``CUDA_VISIBLE_DEVICES``, so an index ("cuda:1") is refused."""
        from validation.devices import DEVICES

        if not isinstance(device, str):
            raise TypeError(f"device must be a str, got {type(device).__name__}")
        if device.startswith("cuda:"):
            raise ValueError(f"device {device!r}: with the ray backend use 'cuda' (Ray "
                             "assigns every run its GPU)")
        if device not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
        if device == "cpu":
            return device
        self.connect()
        gpus = _import_ray().cluster_resources().get("GPU", 0)
        if gpus == 0 and device == "cuda":
            raise ValueError("device is 'cuda' but the Ray cluster has no GPUs; start its "
                             "nodes with `ray start ... --num-gpus N`, or use cpu or auto")
        return "cuda" if gpus > 0 else "cpu"

    def describe(self) -> dict[str, Any]:
        """The backend and, once connected, the cluster's resources (for the report)."""
        out: dict[str, Any] = {"kind": "ray", **dataclasses.asdict(self)}
        ray = _import_ray()
        if ray.is_initialized():
            resources = ray.cluster_resources()
            out["ray_version"] = ray.__version__
            out["nodes"] = sum(n["Alive"] for n in ray.nodes())
            out["cluster"] = {k: resources[k] for k in ("CPU", "GPU", "memory")
                              if k in resources}
        return out


def _not_in_cache(run: Any) -> dict:
    raise RuntimeError(f"the result of {run} is missing from the cache after its Ray task "
                       "finished (was the cache folder deleted during the sweep?)")


def make_backend(kind: str = "local", *, address: str | None = None,
                 max_parallel: int | None = None) -> Backend:
    """The backend named ``kind`` ("local" or "ray").

    Args:
        kind: "local" (this process, one run at a time) or "ray". address,
            max_parallel: `RayBackend`'s (only with "ray").
    Raises:
        ValueError: an unknown kind, or an address or max_parallel without "ray".
            ImportError: "ray" without Ray installed (the message names the extra).

    Examples:
        >>> make_backend("local")
        LocalBackend()
        >>> make_backend("dask")
        Traceback (most recent call last):
        ...
        ValueError: backend must be one of ('local', 'ray'), got 'dask'
    """
    if kind not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {kind!r}")
    if kind == "local":
        if address is not None or max_parallel is not None:
            raise ValueError("address and max_parallel need the ray backend")
        return LocalBackend()
    return RayBackend(address=address, max_parallel=max_parallel)


def for_suite(config: Any) -> Backend:
    """The backend a `validation.suites.SuiteConfig` asks for (its ``backend``,
    ``address`` and ``max_parallel`` fields; "local" when it has none)."""
    return make_backend(getattr(config, "backend", "local"),
                        address=getattr(config, "address", None),
                        max_parallel=getattr(config, "max_parallel", None))


def note(description: dict[str, Any]) -> str:
    """One line for the report's notes from a `describe` dict.

    Examples:
        >>> note({"kind": "local", "cpus": 2, "torch_threads": 1})
        'Backend: local (in-process, one run at a time; 2 CPUs, 1 torch threads).'
    """
    if description.get("kind") == "local":
        return (f"Backend: local (in-process, one run at a time; {description['cpus']} CPUs, "
                f"{description['torch_threads']} torch threads).")
    cluster = description.get("cluster")
    where = ("cluster not started: every run was cached" if cluster is None else
             f"{description['nodes']} node(s), resources {json.dumps(cluster)}, "
             f"Ray {description['ray_version']}")
    return (f"Backend: ray at {description.get('address') or 'a local cluster'} ({where}); "
            f"each run a task of {description['cpus_per_run']} CPU(s) and as many torch "
            f"threads, at most {description.get('max_parallel') or 'unlimited'} at once, "
            f"{description['max_retries']} retries.")


__all__ = ["BACKENDS", "Backend", "LocalBackend", "RayBackend", "for_suite", "make_backend",
           "note"]


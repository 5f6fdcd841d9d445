"""Suites of experiments: the unit the CLI runs (`modebound validate --suite NAME`).

A suite is a pair of functions in one module of `validation.experiments`:

- ``run_suite(config: SuiteConfig) -> dict``: runs the experiments (cached and
  resumable) and returns the JSON-ready results (see `docs/architecture.md`);
- ``plot_suite(results: dict, out_dir: Path) -> list[Path]``: draws every figure of
  the suite from the results alone (so `modebound plot` can redraw them).

Suites are looked up lazily so that `modebound --help` does not import torch or MuJoCo.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Size = Literal["smoke", "reduced", "full"]

# suite name -> (module, size the suite runs at, one line for --help)
SUITES: dict[str, tuple[str, Size, str]] = {
    "quick": ("validation.experiments.synthetic_suite", "reduced",
              "synthetic tasks, every policy and bound, CPU, under 10 minutes"),
    "full": ("validation.experiments.synthetic_suite", "full",
             "the synthetic sweeps at full size (GPU recommended)"),
    "robot": ("validation.experiments.robot_suite", "reduced",
              "MuJoCo tasks and ALOHA transfer-cube, closed-loop rollouts"),
    "paper": ("validation.experiments.paper_suite", "reduced",
              "the paper's unit-square benchmark and metrics"),
}


@dataclass(frozen=True)
class SuiteConfig:
    """What every suite is run with.

    Attributes:
        out: the run's output folder (results.json, report.md, figures/ go there).
        size: "smoke" (tests: every code path, seconds), "reduced" (CPU, minutes),
            "full" (the complete sweep).
        seed: the base seed; every run's seed derives from it and is reported.
        device: "cpu", "cuda" or "auto" (cuda when available).
        render: render videos/frames where a suite can (robot suite).
        progress: show progress bars.
        cache_dir: where finished runs are cached (default: ``out/../cache``).
        plant_wrong_bound: replace every bound of every check by a deliberately wrong
            one (`validation.checks.plant_bound`): the report must then say FAIL, the
            demonstration that the checks can fail. Never part of a run's cache key:
            measurements are the same, only the verdicts change.
        backend: where the runs execute, "local" (this process) or "ray"
            (`validation.backends`; docs/distributed.md). address: the Ray cluster to
            join ("auto", "HOST:PORT"; None starts a local one). max_parallel: at most
            this many runs at once on Ray (and the local cluster's CPUs). None of the
            three changes a result: they are not part of any run's cache key.
        task: run the suite on this task instead of its own (``--task``): a registered
            name or ``module:Class``, optionally ``:{json-kwargs}``
            (`validation.tasks.TaskSpec.parse`); the suites that take one say which
            experiments use it (docs/bring-your-own-task.md). It enters the run keys by
            its import path and parameters.
    """

    out: Path
    size: Size = "reduced"
    seed: int = 0
    device: str = "cpu"
    render: bool = False
    progress: bool = True
    cache_dir: Path | None = None
    plant_wrong_bound: bool = False
    backend: str = "local"
    address: str | None = None
    max_parallel: int | None = None
    task: str | None = None

    @property
    def cache(self) -> Path:
        return self.cache_dir if self.cache_dir is not None else Path(self.out).parent / "cache"


def suite_functions(name: str) -> tuple[Callable[[SuiteConfig], dict[str, Any]],
                                        Callable[[dict[str, Any], Path], list[Path]]]:
    """The (run_suite, plot_suite) pair of a suite; ValueError for an unknown name."""
    if name not in SUITES:
        raise ValueError(f"suite must be one of {sorted(SUITES)}, got {name!r}")
    module = importlib.import_module(SUITES[name][0])
    return module.run_suite, module.plot_suite


def default_size(name: str) -> Size:
    """The size a suite runs at when the CLI is not told otherwise."""
    if name not in SUITES:
        raise ValueError(f"suite must be one of {sorted(SUITES)}, got {name!r}")
    return SUITES[name][1]

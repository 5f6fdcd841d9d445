"""The backend seam without Ray: the local backend, argument checks, the missing-extra
error, that nothing imports Ray by default, and that every suite's sweep could be shipped
to Ray workers (its run function and runs pickle by reference).

The Ray backend itself: `test_backends_ray.py` (skipped where Ray is not installed).
"""

from __future__ import annotations

import dataclasses
import doctest
import json
import pickle
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from validation import backends, cli
from validation.backends import LocalBackend, RayBackend, make_backend

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Affine:
    a: int
    b: float


def affine(r: Affine) -> dict:
    return {"y": r.a * 3 + r.b, "pair": (r.a, r.b)}


def test_doctests():
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    tests = finder.find(backends)
    assert sum(len(t.examples) for t in tests) >= 4
    for t in tests:
        runner.run(t)
    assert runner.failures == 0


@given(st.lists(st.tuples(st.integers(-5, 5), st.sampled_from([0.5, -1.25, 2.0])),
                max_size=8), st.integers(0, 8))
def test_local_map_runs_is_cached_map_in_order(tmp_path_factory, pairs, n_cached):
    # Independent check: the plain list comprehension, JSON round trip applied by hand;
    # runs already cached (the first n_cached) and repeated runs are not executed again.
    cache = tmp_path_factory.mktemp("cache")
    runs = [Affine(a, b) for a, b in pairs]
    calls: list[Affine] = []

    def counted(r):
        calls.append(r)
        return affine(r)

    LocalBackend().map_runs("affine", runs[:n_cached], affine, cache)
    got = LocalBackend().map_runs("affine", runs, counted, cache)
    assert got == [json.loads(json.dumps(affine(r))) for r in runs]
    assert sorted(calls, key=repr) == sorted(set(runs) - set(runs[:n_cached]), key=repr)


def test_make_backend_checks_its_arguments():
    assert make_backend() == LocalBackend()
    with pytest.raises(ValueError, match="backend must be one of"):
        make_backend("slurm")
    with pytest.raises(ValueError, match="need the ray backend"):
        make_backend("local", address="auto")
    with pytest.raises(ValueError, match="need the ray backend"):
        make_backend("local", max_parallel=2)
    for bad, message in (({"max_parallel": 0}, "max_parallel"), ({"cpus_per_run": 0},
                         "cpus_per_run"), ({"gpus_per_run": 0.0}, "gpus_per_run"),
                         ({"max_retries": -1}, "max_retries"), ({"address": ""}, "address")):
        with pytest.raises(ValueError, match=message):
            RayBackend(**bad)


def test_import_and_local_backend_never_import_ray(tmp_path):
    # A fresh interpreter: import every module that builds or runs a sweep, run one
    # through the default backend and the CLI's parser; Ray must not have been loaded.
    code = f"""
import sys
import validation, validation.backends, validation.cli, validation.suites
import validation.experiments.synthetic_suite, validation.experiments.paper_suite
from validation.backends import for_suite, note
from validation.experiments import sweep
from validation.suites import SuiteConfig
from tests.validation.test_backends import Affine, affine
assert sweep("affine", [Affine(1, 0.5)], affine, {str(tmp_path)!r}) == [
    {{"y": 3.5, "pair": [1, 0.5]}}]
backend = for_suite(SuiteConfig(out={str(tmp_path)!r}))
note(backend.describe())
validation.cli.build_parser().parse_args(["validate", "--suite", "quick"])
assert "ray" not in sys.modules, "ray was imported"
print("ok")
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "ok"


def test_ray_backend_without_ray_is_a_one_line_config_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)   # as if not installed
    with pytest.raises(ImportError, match=r"pip install 'modebound\[ray\]'"):
        RayBackend()
    code = cli.main(["validate", "--suite", "quick", "--size", "smoke", "--out",
                     str(tmp_path / "run"), "--backend", "ray"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_CONFIG
    assert err == ("modebound: error: --backend ray needs the ray extra: "
                   "pip install 'modebound[ray]'\n")


class _Shipped(Exception):
    pass


@dataclass(frozen=True)
class _PickleCheck:
    """A backend that checks what Ray would need (the run function and the runs pickle by
    reference with the standard library's pickle) and then stops the suite."""

    seen: list

    def map_runs(self, name, runs, run_one, cache_dir, progress=False):
        pickle.loads(pickle.dumps((run_one, list(runs))))
        self.seen.append(name)
        raise _Shipped(name)

    def resolve_device(self, device):
        return LocalBackend().resolve_device(device)

    def connect(self):
        pass

    def describe(self):
        return {"kind": "check"}


def test_every_suite_sweep_ships_to_workers(monkeypatch, tmp_path):
    from validation.experiments import (
        beta_sweep,
        chunk_sweep,
        gallery,
        lipschitz_sweep,
        paper_suite,
        robot_suite,
        sized,
        synthetic_suite,
    )
    from validation.suites import SuiteConfig

    seen: list[str] = []
    check = _PickleCheck(seen)
    for module in (gallery, lipschitz_sweep, beta_sweep, chunk_sweep):
        with pytest.raises(_Shipped):
            module.run(sized(module.SIZES, "smoke", cache_dir=tmp_path, backend=check))
    with pytest.raises(_Shipped):
        robot_suite.run(dataclasses.replace(robot_suite.SIZES["smoke"], cache_dir=tmp_path,
                                            backend=check))
    for suite in (synthetic_suite, paper_suite, robot_suite):
        monkeypatch.setattr(suite, "for_suite", lambda config: check)
        with pytest.raises(_Shipped):
            suite.run_suite(SuiteConfig(out=tmp_path / "out", size="smoke", progress=False,
                                        cache_dir=tmp_path))
    assert seen == ["gallery", "lipschitz_sweep", "beta_sweep", "chunk_sweep", "robot",
                    "gallery", "paper", "robot"]

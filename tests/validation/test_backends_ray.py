"""The Ray backend on a local cluster of 2 CPUs: same results as in-process, retries of
killed workers, and a driver killed with SIGKILL that resumes from the cache.

Skipped where Ray is not installed (``pip install 'modebound[ray]'``; the dev extra has it).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="ray is not installed: pip install 'modebound[ray]'")

from validation import cli  # noqa: E402
from validation.backends import LocalBackend, RayBackend  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SMOKE_RUNS = 14   # gallery 5, lipschitz 4, local forms 1, beta 2, chunk 2 (quick, smoke)


@pytest.fixture(scope="module")
def cluster():
    """One local cluster for the module (2 CPUs, as CI has); its address for the CLI.

    Its workers inherit OMP_NUM_THREADS=1, so a task's thread count is its own doing."""
    saved = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"
    RayBackend(max_parallel=2).connect()
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()
    if saved is None:
        del os.environ["OMP_NUM_THREADS"]
    else:
        os.environ["OMP_NUM_THREADS"] = saved


@dataclass(frozen=True)
class Job:
    x: int
    log: str   # a folder: every execution of the run leaves a file there


def record(r: Job) -> dict:
    """Executions are counted through files (they happen in other processes)."""
    Path(r.log, f"{r.x}-{time.monotonic_ns()}").touch()
    return {"x": r.x, "square": r.x * r.x}


def threads(r: Job) -> dict:
    import torch
    from threadpoolctl import threadpool_info

    return {"torch": torch.get_num_threads(),
            "blas": sorted({p["num_threads"] for p in threadpool_info()})}


def crash_first(r: Job) -> dict:
    """The worker process dies (no exception: ``os._exit``) on the run's first attempt."""
    marker = Path(r.log, f"crashed-{r.x}")
    if not marker.exists():
        marker.touch()
        os._exit(1)
    return record(r)


def fail(r: Job) -> dict:
    raise ValueError(f"run {r.x} is broken")


def executions(log: Path) -> list[int]:
    return sorted(int(p.name.split("-")[0]) for p in log.iterdir()
                  if not p.name.startswith("crashed"))


def test_map_runs_equals_local_with_repeats_and_cached_runs(cluster, tmp_path):
    log = tmp_path / "log"
    log.mkdir()
    runs = [Job(x, str(log)) for x in (3, 1, 4, 1, 5, 9, 2, 6, 5, 3)]
    LocalBackend().map_runs("job", runs[:2], record, tmp_path / "cache")   # 3, 1 cached
    got = RayBackend(max_parallel=2).map_runs("job", runs, record, tmp_path / "cache")
    assert got == LocalBackend().map_runs("job", runs, record, tmp_path / "cache")
    assert [g["x"] for g in got] == [r.x for r in runs]
    # 3 and 1 by the local backend, then each other distinct run once on Ray.
    assert executions(log) == sorted([3, 1, 4, 5, 9, 2, 6])


def test_a_relative_cache_folder_is_the_drivers(cluster, tmp_path, monkeypatch):
    # The workers were started in another folder: a relative path must not reach them.
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")    # the "not visible here" warning
        got = RayBackend().map_runs("job", [Job(2, str(tmp_path))], record, Path("cache"))
    assert got == [{"x": 2, "square": 4}]
    assert len(list((tmp_path / "cache").glob("job-*.json"))) == 1


def test_killed_worker_is_retried_and_nothing_is_lost(cluster, tmp_path):
    log = tmp_path / "log"
    log.mkdir()
    runs = [Job(x, str(log)) for x in range(2)]
    got = RayBackend(max_retries=1).map_runs("crash", runs, crash_first, tmp_path / "cache")
    assert got == [{"x": x, "square": x * x} for x in range(2)]
    assert sorted(p.name for p in log.glob("crashed-*")) == ["crashed-0", "crashed-1"]
    assert executions(log) == [0, 1]
    assert len(list((tmp_path / "cache").glob("crash-*.json"))) == 2


def test_without_retries_a_killed_worker_stops_the_sweep(cluster, tmp_path):
    (tmp_path / "log").mkdir()
    with pytest.raises(ray.exceptions.RayError):
        RayBackend(max_retries=0).map_runs("crash", [Job(0, str(tmp_path / "log"))],
                                           crash_first, tmp_path / "cache")


def test_a_task_runs_one_thread_per_cpu_it_holds(cluster, tmp_path):
    # The driver's environment says OMP_NUM_THREADS=1: the task must set its own count.
    got = RayBackend(cpus_per_run=2).map_runs("threads", [Job(0, "")], threads, tmp_path)
    assert got == [{"torch": 2, "blas": [2]}]


def test_an_exception_in_a_run_is_raised_as_itself(cluster, tmp_path):
    with pytest.raises(ValueError, match="run 7 is broken"):
        RayBackend().map_runs("fail", [Job(7, str(tmp_path))], fail, tmp_path / "cache")


def test_devices_on_the_cluster(cluster):
    backend = RayBackend()
    assert backend.resolve_device("cpu") == "cpu"
    assert backend.resolve_device("auto") == "cpu"      # the local cluster has no GPU
    with pytest.raises(ValueError, match="no GPUs"):
        backend.resolve_device("cuda")
    with pytest.raises(ValueError, match="use 'cuda'"):
        backend.resolve_device("cuda:1")
    described = backend.describe()
    assert described["cluster"]["CPU"] == 2 and described["nodes"] == 1


def _comparable(results: dict) -> dict:
    """results.json without what legitimately differs between two runs (times, dates,
    the backend's own description)."""
    volatile = ("seconds", "created", "per_s", "backend", "threads", "notes")

    def strip(x):
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if not any(w in k for w in volatile)}
        return [strip(v) for v in x] if isinstance(x, list) else x

    return strip(results)


def _cli(out: Path, cache: Path, address: str) -> list[str]:
    return [sys.executable, "-m", "validation.cli", "validate", "--suite", "quick",
            "--size", "smoke", "--out", str(out), "--cache", str(cache), "--no-progress",
            "--seed", "0", "--backend", "ray", "--address", address]


def test_quick_suite_on_ray_equals_local_and_resumes_after_sigkill(cluster, tmp_path):
    # In-process at one torch thread, as each Ray task (1 CPU) runs.
    assert cli.main(["validate", "--suite", "quick", "--size", "smoke", "--out",
                     str(tmp_path / "local"), "--cache", str(tmp_path / "local-cache"),
                     "--no-progress", "--seed", "0", "--threads", "1"]) == cli.EXIT_OK
    local = json.loads((tmp_path / "local" / "results.json").read_text())

    cache = tmp_path / "ray-cache"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with open(tmp_path / "first.log", "w") as log:
        driver = subprocess.Popen(_cli(tmp_path / "ray", cache, cluster), cwd=ROOT, env=env,
                                  stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 600
        while len(list(cache.glob("*.json"))) < 3 and driver.poll() is None:
            assert time.monotonic() < deadline, "no run finished in 600 s"
            time.sleep(0.2)
        driver.send_signal(signal.SIGKILL)
        driver.wait()
    assert driver.returncode == -signal.SIGKILL, (tmp_path / "first.log").read_text()[-3000:]
    time.sleep(2)   # the killed job's workers are stopped by the cluster
    before = {p.name: p.stat().st_ino for p in cache.glob("*.json")}
    assert 3 <= len(before) < SMOKE_RUNS

    second = subprocess.run(_cli(tmp_path / "ray", cache, cluster), cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=900)
    assert second.returncode == cli.EXIT_OK, second.stdout[-2000:] + second.stderr[-3000:]
    after = {p.name: p.stat().st_ino for p in cache.glob("*.json")}
    assert len(after) == SMOKE_RUNS
    # Resumed: the runs cached before the kill were not redone (same files), only the rest.
    assert {k: after[k] for k in before} == before

    resumed = json.loads((tmp_path / "ray" / "results.json").read_text())
    assert resumed["backend"]["kind"] == "ray" and resumed["backend"]["cluster"]["CPU"] == 2
    assert any(n.startswith("Backend: ray") for n in resumed["notes"])
    assert [c["verdict"] for c in resumed["checks"]] == [c["verdict"] for c in local["checks"]]
    assert _comparable(resumed) == _comparable(local)

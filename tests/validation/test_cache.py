"""validation.cache: hashing, atomic writes, resume after a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from validation import cache


@dataclass(frozen=True)
class Cfg:
    a: int
    b: tuple[float, ...] = (1.0, 2.0)


def test_hash_is_stable_and_field_sensitive():
    assert cache.config_hash(Cfg(1)) == cache.config_hash(Cfg(1))
    assert cache.config_hash(Cfg(1)) != cache.config_hash(Cfg(2))
    assert cache.config_hash(Cfg(1)) != cache.config_hash(Cfg(1, (1.0, 2.5)))
    with pytest.raises(TypeError, match="config must be a dataclass"):
        cache.config_hash({"a": 1})
    with pytest.raises(ValueError, match="name"):
        cache.cache_path("a/b", Cfg(1), Path("."))


def test_run_cached_runs_once_and_round_trips(tmp_path):
    calls = []

    def fn(c):
        calls.append(c)
        return {"x": np.arange(3), "y": np.float32(0.5), "inf": float("inf")}

    first = cache.run_cached("t", Cfg(1), fn, tmp_path)
    second = cache.run_cached("t", Cfg(1), fn, tmp_path)
    assert len(calls) == 1
    assert first == second == {"x": [0, 1, 2], "y": 0.5, "inf": float("inf")}
    with pytest.raises(TypeError, match="fn must return a dict"):
        cache.run_cached("t", Cfg(5), lambda c: [1], tmp_path)


def test_failed_write_leaves_no_file(tmp_path, monkeypatch):
    def boom(src, dst):
        raise KeyboardInterrupt  # killed between writing and renaming

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        cache.run_cached("t", Cfg(1), lambda c: {"v": 1}, tmp_path)
    assert list(tmp_path.iterdir()) == []          # neither a result nor a temporary file


def test_truncated_file_is_redone(tmp_path):
    path = cache.cache_path("t", Cfg(3), tmp_path)
    path.write_text('{"v": ')                      # e.g. written by a foreign tool
    assert cache.run_cached("t", Cfg(3), lambda c: {"v": 3}, tmp_path) == {"v": 3}


SWEEP_SCRIPT = textwrap.dedent("""
    import json, sys, time
    from dataclasses import dataclass
    from pathlib import Path
    from validation.experiments import sweep

    @dataclass(frozen=True)
    class C:
        i: int

    log = Path(sys.argv[2])
    def run(c):
        with open(log, "a") as f:
            f.write(f"{c.i}\\n")
        time.sleep(float(sys.argv[3]))
        return {"square": c.i * c.i}

    out = sweep("kill", [C(i) for i in range(6)], run, Path(sys.argv[1]))
    print(json.dumps([r["square"] for r in out]))
""")


def test_killed_sweep_resumes_without_redoing(tmp_path):
    """SIGKILL a real sweep mid-way; the rerun executes exactly the missing runs."""
    script = tmp_path / "sweep.py"
    script.write_text(SWEEP_SCRIPT)
    cache_dir, log = tmp_path / "cache", tmp_path / "log.txt"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen([sys.executable, str(script), str(cache_dir), str(log), "0.3"],
                            env=env)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(cache_dir.glob("kill-*.json"))) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = {json.loads(p.read_text())["square"] for p in cache_dir.glob("kill-*.json")}
    assert 2 <= len(done) < 6, "the kill must land mid-sweep"
    for p in cache_dir.glob("kill-*.json"):
        json.loads(p.read_text())                        # every finished file is complete
    started_before = log.read_text().split()
    res = subprocess.run([sys.executable, str(script), str(cache_dir), str(log), "0"],
                         env=env, capture_output=True, text=True, check=True)
    assert json.loads(res.stdout) == [i * i for i in range(6)]
    rerun = log.read_text().split()[len(started_before):]
    assert sorted(int(i) for i in rerun) == sorted(i for i in range(6) if i * i not in done)


@pytest.mark.parametrize("content", [b"\xff\xfe not utf-8", b"{}", b"null", b"[1, 2]", b"{\"a\""])
def test_malformed_cached_file_is_recomputed(tmp_path, content):
    calls = []

    def fn(c):
        calls.append(c)
        return {"x": c.a}

    path = cache.cache_path("run", Cfg(3), tmp_path)
    path.write_bytes(content)
    assert not cache.is_cached("run", Cfg(3), tmp_path)
    with pytest.warns(UserWarning, match="recomputing"):
        assert cache.run_cached("run", Cfg(3), fn, tmp_path) == {"x": 3}
    assert len(calls) == 1 and cache.is_cached("run", Cfg(3), tmp_path)
    assert cache.run_cached("run", Cfg(3), fn, tmp_path) == {"x": 3} and len(calls) == 1


def test_stale_temporaries_are_removed_fresh_ones_kept(tmp_path):
    old, fresh = tmp_path / ".a.json.x1.tmp", tmp_path / ".b.json.x2.tmp"
    old.write_text("{")
    fresh.write_text("{")
    past = time.time() - 7200
    os.utime(old, (past, past))
    assert cache.remove_stale_temporaries(tmp_path) == 1
    assert not old.exists() and fresh.exists()

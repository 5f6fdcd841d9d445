"""Benchmark of the suites' backends (`--backend local|ray`) and of thread oversubscription.

    .venv/bin/python benchmarks/suites.py threads              # fast LipSDP, busy core
    .venv/bin/python benchmarks/suites.py quick                # smoke: ray == local
    .venv/bin/python benchmarks/suites.py paper --size reduced # wall time local vs ray

``quick`` and ``paper`` run `modebound validate` as subprocesses, each with a fresh
cache under ``--work``: ``local --threads 1``, ``local`` (the CLI's default threads: every
available CPU) and ``ray`` (a local cluster sized to the machine, one CPU and one thread
per run). For each it prints the wall time, the CPU time of the whole process tree
(the CLI, and Ray's raylet and workers: sampled from /proc with psutil every 0.2 s,
so a process living under 0.2 s is missed) and the load average before and after, and
whether verdicts and numbers equal those of ``local --threads 1`` (timings and dates
aside). Other jobs on the machine make wall times noisy: the CPU time and the load
average say how noisy.

``threads`` times the fast certified LipSDP solver on a random ReLU MLP
``[16, 256, 256, 4]`` in this process with one torch thread and with torch's default
count, while a busy-loop process holds one core (issue #14's bar: default threads
<= 2x the one-thread time), alternating the two settings over ``--repeats`` rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VOLATILE = ("seconds", "created", "per_s", "backend", "threads", "notes")


def comparable(results: dict) -> dict:
    """results.json without what legitimately differs between runs (times, dates, backend)."""
    def strip(x):
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if not any(w in k for w in VOLATILE)}
        return [strip(v) for v in x] if isinstance(x, list) else x

    return strip(results)


class TreeCPU:
    """CPU seconds (user + system) of a process and all its descendants, sampled."""

    def __init__(self, pid: int):
        import psutil

        self._root = psutil.Process(pid)
        self._seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        import psutil

        try:
            procs = [self._root, *self._root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        for p in procs:
            try:
                t = p.cpu_times()
                self._seen[p.pid] = max(self._seen.get(p.pid, 0.0), t.user + t.system)
            except psutil.NoSuchProcess:
                pass

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._sample()
            time.sleep(0.2)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return sum(self._seen.values())


def run_cli(suite: str, size: str, work: Path, label: str, extra: list[str]) -> dict:
    out, cache = work / label / "out", work / label / "cache"
    cmd = [sys.executable, "-m", "validation.cli", "validate", "--suite", suite, "--size",
           size, "--out", str(out), "--cache", str(cache), "--no-progress", "--seed", "0",
           *extra]
    load0 = os.getloadavg()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    tree = TreeCPU(proc.pid)
    log, _ = proc.communicate()
    wall = time.perf_counter() - start
    cpu = tree.stop()
    if proc.returncode not in (0, 3):
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{log[-3000:]}")
    results = json.loads((out / "results.json").read_text())
    return {"label": label, "command": " ".join(cmd[1:]), "wall": wall, "cpu": cpu,
            "load": (load0[0], os.getloadavg()[0]), "results": results,
            "suite_wall": results["wall_seconds"]}


def compare_backends(suite: str, size: str, work: Path, variants: list[str]) -> None:
    configs = {"local-1thread": ["--threads", "1"], "local": [],
               "ray": ["--backend", "ray"]}
    rows = [run_cli(suite, size, work, v, configs[v]) for v in variants]
    ref = rows[0]
    print(f"suite {suite}, size {size}; reference {ref['label']}; "
          f"{len(ref['results']['checks'])} checks")
    print(f"{'backend':<14} {'wall s':>8} {'suite s':>8} {'tree CPU s':>10} "
          f"{'load 1-min':>12} {'verdicts':>9} {'numbers':>8} {'speed-up':>8}")
    for r in rows:
        same_v = ([c["verdict"] for c in r["results"]["checks"]]
                  == [c["verdict"] for c in ref["results"]["checks"]])
        same_n = comparable(r["results"]) == comparable(ref["results"])
        print(f"{r['label']:<14} {r['wall']:8.1f} {r['suite_wall']:8.1f} {r['cpu']:10.1f} "
              f"{r['load'][0]:5.1f}->{r['load'][1]:<5.1f} {'same' if same_v else 'DIFFER':>9} "
              f"{'same' if same_n else 'DIFFER':>8} {ref['wall'] / r['wall']:8.2f}")
    for r in rows:
        print(f"  {r['label']}: {r['command']}")


def _busy() -> None:
    while True:
        pass


def threads_benchmark(repeats: int) -> None:
    import multiprocessing

    import torch
    from threadpoolctl import threadpool_limits
    from torch import nn

    from numerics.lipschitz import lipschitz_upper

    default = torch.get_num_threads()   # before anything sets it: torch's own default
    torch.manual_seed(0)
    widths = [16, 256, 256, 4]
    layers: list[nn.Module] = []
    for i in range(len(widths) - 1):
        layers += [nn.Linear(widths[i], widths[i + 1])] + ([nn.ReLU()] if i < 2 else [])
    model = nn.Sequential(*layers)

    def timed(n: int) -> tuple[float, float]:
        torch.set_num_threads(n)
        with threadpool_limits(limits=n):
            t = time.perf_counter()
            value = lipschitz_upper(model, "fast-certified").value
            return time.perf_counter() - t, value

    timed(1)   # warm-up
    quiet = timed(1)[0]
    busy = multiprocessing.get_context("spawn").Process(target=_busy, daemon=True)
    busy.start()
    try:
        one, many, values = [], [], set()
        for _ in range(repeats):
            for n, store in ((1, one), (default, many)):
                s, v = timed(n)
                store.append(s)
                values.add(round(v, 6))
    finally:
        busy.terminate()
        busy.join()
    print(f"fast-certified on {widths}, torch {torch.__version__}, default threads "
          f"{default}, CPUs {os.cpu_count()}, load {os.getloadavg()[0]:.1f}")
    print(f"  1 thread, no busy loop: {quiet:.2f} s")
    print(f"  busy loop on one core: 1 thread median {sorted(one)[len(one) // 2]:.2f} s "
          f"(all {', '.join(f'{x:.2f}' for x in one)}); {default} threads median "
          f"{sorted(many)[len(many) // 2]:.2f} s (all {', '.join(f'{x:.2f}' for x in many)})")
    ratio = sorted(many)[len(many) // 2] / sorted(one)[len(one) // 2]
    print(f"  ratio default / 1 thread: {ratio:.2f} (bar <= 2); bound(s) {sorted(values)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=("threads", "quick", "paper"))
    parser.add_argument("--size", default="smoke", help="suite size (quick, paper)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/modebound-bench"),
                        help="folder of the runs' outputs and fresh caches")
    parser.add_argument("--variants", nargs="+", default=["local-1thread", "local", "ray"],
                        help="backends to run, the first is the reference")
    parser.add_argument("--repeats", type=int, default=3, help="threads: rounds")
    args = parser.parse_args()
    if args.what == "threads":
        threads_benchmark(args.repeats)
        return
    work = args.work / f"{args.what}-{args.size}-{int(time.time())}"
    compare_backends("quick" if args.what == "quick" else "paper", args.size, work,
                     args.variants)


if __name__ == "__main__":
    main()

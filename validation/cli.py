"""``modebound``: run a validation suite, or redraw its figures from results.json.

    modebound validate --suite quick --out out/demo [--seed 0] [--device cpu|cuda|auto]
                       [--size smoke|reduced|full] [--render] [--no-progress]
                       [--cache DIR] [--threads N] [--plant-wrong-bound]
                       [--backend local|ray] [--address ADDRESS] [--max-parallel N]
                       [--task NAME|module:Class[:json-kwargs]]
    modebound plot out/demo

Exit codes: 0 every check passed (or was inconclusive); 1 a user error (bad option,
unusable path, missing or malformed results; one line ``modebound: error: ...`` on
stderr); 2 an internal error (a bug: its traceback and a line saying so); 3 at least one
check FAILED (the report lists which).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from pathlib import Path

from validation.suites import SUITES, SuiteConfig, default_size, suite_functions

EXIT_OK, EXIT_CONFIG, EXIT_INTERNAL, EXIT_FAILED_CHECK = 0, 1, 2, 3


class ConfigError(Exception):
    """A bad command line or configuration: exit code 1 with a one-line message."""


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are ConfigErrors (exit 1, one line), not exit 2."""

    def error(self, message: str):
        raise ConfigError(message)


def _integer_at_least(text: str, name: str, low: int) -> int:
    """``text`` as an integer ``>= low``, or an ArgumentTypeError naming ``name``."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name} must be an integer >= {low}, got {text!r}") \
            from None
    if value < low:
        raise argparse.ArgumentTypeError(f"{name} must be an integer >= {low}, got {value}")
    return value


def _seed(text: str) -> int:
    return _integer_at_least(text, "seed", 0)


def _threads(text: str) -> int:
    return _integer_at_least(text, "threads", 1)


def _max_parallel(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"max-parallel must be an integer >= 1, got {text!r}")
    return value


def _writable_folder(path: Path, option: str) -> Path:
    """``path`` as a folder this process can write into, created if missing; a ConfigError
    (before any work is done) if it is a file or cannot be written."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{option} {path} exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise ConfigError(f"{option} {path} is not writable ({exc.strerror or exc})") from None
    return path


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="modebound", description=(
        "Bounds on multimodal failure in action-chunking behavioral cloning: run the "
        "validation suites and draw their figures."), epilog=(
        "Exit codes: 0 all checks pass, 1 user error, 2 internal error (a bug), 3 a check "
        "FAILED."))
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    suites = "; ".join(f"{k}: {v[2]}" for k, v in SUITES.items())
    v = sub.add_parser("validate", help="run a suite; write results.json, report.md, figures",
                       description=f"Run a validation suite. Suites -- {suites}.",
                       epilog="Exit codes: 0 all checks pass, 1 user error, 2 internal error "
                              "(a bug), 3 a check FAILED.")
    v.add_argument("--suite", required=True, help=f"one of {sorted(SUITES)}")
    v.add_argument("--out", type=Path, default=None,
                   help="output folder (default out/<suite>)")
    v.add_argument("--seed", type=_seed, default=0, help="base seed (default 0)")
    v.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    v.add_argument("--size", default=None,
                   help="smoke, reduced or full (default: the suite's own size)")
    v.add_argument("--render", action="store_true", help="render frames (robot suite)")
    v.add_argument("--no-progress", action="store_true", help="no progress bars")
    v.add_argument("--cache", type=Path, default=None,
                   help="cache of finished runs (default <out>/../cache)")
    v.add_argument("--threads", type=_threads, default=None,
                   help="torch/BLAS threads of this process (default: the CPUs it may use)")
    v.add_argument("--plant-wrong-bound", action="store_true",
                   help="replace every bound by a wrong one (upper x0.1, lower x10): the "
                        "report must then say FAIL -- a demonstration that checks can fail")
    v.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="where the runs execute: local (this process, default) or ray "
                        "(one Ray task per run; docs/distributed.md)")
    v.add_argument("--address", default=None,
                   help="Ray cluster to join: auto (the one `ray start` made here) or "
                        "HOST:PORT (default: start a local cluster sized to this machine)")
    v.add_argument("--max-parallel", type=_max_parallel, default=None,
                   help="Ray: at most N runs at once (and the local cluster's CPUs)")
    v.add_argument("--task", default=None,
                   help="run the suite on your task: a registered name or module:Class, "
                        "optionally :{json keyword parameters} (suites paper, quick, full; "
                        "docs/bring-your-own-task.md)")
    p = sub.add_parser("plot", help="redraw every figure (and report.md) from results.json",
                       description="Redraw the figures and report of a finished run from its "
                                   "results.json alone.")
    p.add_argument("run", type=Path, help="the run's output folder (holds results.json)")
    return parser


def _check_task(suite: str, text: str) -> None:
    """Build ``--task`` as the suite will (its ``check_task``), so that a bad task is a
    one-line ConfigError before any work, not a traceback from inside the suite."""
    import importlib
    import os

    # `--task my_tasks:Zigzag` names a module in the working folder, which a console
    # script's sys.path lacks (``python -m`` has it); uvicorn's "module:app" does the same.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    check = getattr(importlib.import_module(SUITES[suite][0]), "check_task", None)
    if check is None:
        raise ConfigError(f"--task: the {suite} suite runs its own tasks only; --task "
                          "applies to the paper, quick and full suites")
    try:
        check(text)
    except Exception as exc:  # noqa: BLE001 -- the user's task code may raise anything
        raise ConfigError(f"--task {text}: {type(exc).__name__}: {exc}") from None


def _validate(args) -> int:
    from validation.backends import make_backend, note
    from validation.cache import remove_stale_temporaries
    from validation.report import summary_line, verdict_counts, write_report, write_results
    from validation.threads import limit_threads

    if args.suite not in SUITES:
        raise ConfigError(f"--suite must be one of {sorted(SUITES)}, got {args.suite!r}")
    size = args.size or default_size(args.suite)
    if size not in ("smoke", "reduced", "full"):
        raise ConfigError(f"--size must be smoke, reduced or full, got {size!r}")
    if args.device not in ("cpu", "cuda", "auto"):
        raise ConfigError(f"--device must be cpu, cuda or auto, got {args.device!r}")
    try:
        backend = make_backend(args.backend, address=args.address,
                               max_parallel=args.max_parallel)
    except ImportError:
        raise ConfigError("--backend ray needs the ray extra: pip install 'modebound[ray]'") \
            from None
    except ValueError:
        raise ConfigError("--address and --max-parallel need --backend ray") from None
    try:
        device = backend.resolve_device(args.device)
    except (ValueError, ConnectionError) as exc:
        raise ConfigError(f"--device {args.device}: {exc}") from None
    if args.task is not None:
        _check_task(args.suite, args.task)
    out = _writable_folder(args.out if args.out is not None else Path("out") / args.suite,
                           "--out")
    config = SuiteConfig(out=out, size=size, seed=args.seed, device=device,
                         render=args.render, progress=not args.no_progress,
                         cache_dir=args.cache, plant_wrong_bound=args.plant_wrong_bound,
                         backend=args.backend, address=args.address,
                         max_parallel=args.max_parallel, task=args.task)
    _writable_folder(config.cache, "--cache")
    remove_stale_temporaries(config.cache)
    try:
        backend.connect()
    except ConnectionError as exc:
        raise ConfigError(f"--address {args.address}: {exc}") from None
    threads = limit_threads(args.threads)
    run_suite, plot_suite = suite_functions(args.suite)
    start = time.perf_counter()
    # Configuration is validated above; an exception from here on is a bug (exit 2).
    results = run_suite(config)
    results["threads"] = threads
    if "backend" in results:
        results.setdefault("notes", []).append(note(results["backend"]))
    write_results(results, out)
    figures = plot_suite(results, out)
    report = write_report(results, out, figures)
    print(f"{summary_line(results['checks'])} in {time.perf_counter() - start:.1f} s")
    print(f"report: {report}")
    return EXIT_FAILED_CHECK if verdict_counts(results["checks"])["FAIL"] else EXIT_OK


def _plot(args) -> int:
    from validation.report import write_report

    run = Path(args.run)
    if not run.is_dir():
        raise ConfigError(f"{run} is not a folder: pass the run's output folder, the one "
                          "that holds results.json")
    path = run / "results.json"
    try:
        with open(path, encoding="utf-8") as f:
            results = json.load(f)
    except FileNotFoundError:
        raise ConfigError(f"no results.json in {run}; run `modebound validate` first") \
            from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path} cannot be read ({exc.strerror or exc})") from None
    if not isinstance(results, dict):
        raise ConfigError(f"{path} does not hold a results object (got a JSON "
                          f"{type(results).__name__})")
    missing = [k for k in ("suite", "checks") if k not in results]
    if missing:
        raise ConfigError(f"{path} lacks the keys {missing}: not a modebound results file")
    try:
        _, plot_suite = suite_functions(results["suite"])
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    _writable_folder(run, "the run folder")
    try:
        figures = plot_suite(results, run)
        report = write_report(results, run, figures)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{path} is malformed ({type(exc).__name__}: {exc}); rerun "
                          "`modebound validate` to recreate it") from None
    print(f"{len(figures)} figure files in {run / 'figures'}; report: {report}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``modebound`` console script; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
        return _validate(args) if args.command == "validate" else _plot(args)
    except ConfigError as exc:
        print(f"modebound: error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        print("modebound: interrupted; finished runs are cached, rerun to resume",
              file=sys.stderr)
        return 130
    except Exception:
        traceback.print_exc()
        print("modebound: internal error: this is a bug in modebound; please report it with "
              "the traceback above", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())

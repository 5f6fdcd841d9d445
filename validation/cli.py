"""``modebound``: run a validation suite, or redraw its figures from results.json.

    modebound validate --suite quick --out out/demo [--seed 0] [--device cpu|cuda|auto]
                       [--size smoke|reduced|full] [--render] [--no-progress]
                       [--cache DIR] [--plant-wrong-bound]
    modebound plot out/demo

Exit codes: 0 every check passed (or was inconclusive); 1 bad configuration (one-line
message on stderr); 3 at least one check FAILED (the report lists which).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from validation.suites import SUITES, SuiteConfig, default_size, suite_functions

EXIT_OK, EXIT_CONFIG, EXIT_FAILED_CHECK = 0, 1, 3


class ConfigError(Exception):
    """A bad command line or configuration: exit code 1 with a one-line message."""


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are ConfigErrors (exit 1, one line), not exit 2."""

    def error(self, message: str):
        raise ConfigError(message)


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seed must be an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"seed must be an integer >= 0, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="modebound", description=(
        "Bounds on multimodal failure in action-chunking behavioral cloning: run the "
        "validation suites and draw their figures."), epilog=(
        "Exit codes: 0 all checks pass, 1 bad configuration, 3 a check FAILED."))
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    suites = "; ".join(f"{k}: {v[2]}" for k, v in SUITES.items())
    v = sub.add_parser("validate", help="run a suite; write results.json, report.md, figures",
                       description=f"Run a validation suite. Suites -- {suites}.",
                       epilog="Exit codes: 0 all checks pass, 1 bad configuration, 3 a check "
                              "FAILED.")
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
    v.add_argument("--plant-wrong-bound", action="store_true",
                   help="replace every bound by a wrong one (upper x0.1, lower x10): the "
                        "report must then say FAIL -- a demonstration that checks can fail")
    p = sub.add_parser("plot", help="redraw every figure (and report.md) from results.json",
                       description="Redraw the figures and report of a finished run from its "
                                   "results.json alone.")
    p.add_argument("run", type=Path, help="the run's output folder (holds results.json)")
    return parser


def _validate(args) -> int:
    import torch

    from validation.checks import PLANT_ENV
    from validation.report import summary_line, verdict_counts, write_report, write_results

    if args.suite not in SUITES:
        raise ConfigError(f"--suite must be one of {sorted(SUITES)}, got {args.suite!r}")
    size = args.size or default_size(args.suite)
    if size not in ("smoke", "reduced", "full"):
        raise ConfigError(f"--size must be smoke, reduced or full, got {size!r}")
    if args.device not in ("cpu", "cuda", "auto"):
        raise ConfigError(f"--device must be cpu, cuda or auto, got {args.device!r}")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda, but CUDA is not available here; use --device cpu "
                          "or auto")
    device = args.device if args.device != "auto" else (
        "cuda" if torch.cuda.is_available() else "cpu")
    out = args.out if args.out is not None else Path("out") / args.suite
    config = SuiteConfig(out=out, size=size, seed=args.seed, device=device,
                         render=args.render, progress=not args.no_progress,
                         cache_dir=args.cache)
    run_suite, plot_suite = suite_functions(args.suite)
    start = time.perf_counter()
    previous = os.environ.get(PLANT_ENV)
    if args.plant_wrong_bound:
        os.environ[PLANT_ENV] = "1"
    try:
        # Configuration is validated above; an exception from here on is a bug, and its
        # traceback is what a bug report needs.
        results = run_suite(config)
    finally:
        # main() may be called in-process (tests, notebooks): do not leak the plant.
        if previous is None:
            os.environ.pop(PLANT_ENV, None)
        else:
            os.environ[PLANT_ENV] = previous
    if args.plant_wrong_bound and not any("PLANTED" in n for n in results.get("notes", [])):
        results.setdefault("notes", []).insert(
            0, f"A WRONG BOUND IS PLANTED ({PLANT_ENV}): FAIL verdicts are expected.")
    out.mkdir(parents=True, exist_ok=True)
    write_results(results, out)
    figures = plot_suite(results, out)
    report = write_report(results, out, figures)
    print(f"{summary_line(results['checks'])} in {time.perf_counter() - start:.1f} s")
    print(f"report: {report}")
    return EXIT_FAILED_CHECK if verdict_counts(results["checks"])["FAIL"] else EXIT_OK


def _plot(args) -> int:
    from validation.report import write_report

    path = Path(args.run) / "results.json"
    try:
        with open(path) as f:
            results = json.load(f)
    except FileNotFoundError:
        raise ConfigError(f"no results.json in {args.run}; run `modebound validate` first") \
            from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from None
    suite = results.get("suite") if isinstance(results, dict) else None
    try:
        _, plot_suite = suite_functions(suite)
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    figures = plot_suite(results, Path(args.run))
    report = write_report(results, Path(args.run), figures)
    print(f"{len(figures)} figure files in {Path(args.run) / 'figures'}; report: {report}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``modebound`` console script; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
        return _validate(args) if args.command == "validate" else _plot(args)
    except ConfigError as exc:
        print(f"modebound: error: {exc}", file=sys.stderr)
        return EXIT_CONFIG


if __name__ == "__main__":
    sys.exit(main())

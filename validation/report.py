"""``results.json`` and ``report.md`` of a suite run, from the results dict alone.

The report lists every check (proposition, quantity, measured value, interval, bound,
verdict, whether it could have failed and the most extreme bound the data could refute,
note) under a summary line with the verdict counts and the failable count, then the
suite's tables, notes and figures. Both files are written atomically.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from validation.cache import write_json_atomic

VERDICTS = ("PASS", "FAIL", "INCONCLUSIVE")


def write_results(results: dict, out_dir: Path) -> Path:
    """Write ``out_dir/results.json`` atomically; returns its path."""
    _check_results(results)
    return write_json_atomic(results, Path(out_dir) / "results.json")


def verdict_counts(checks: Sequence[dict]) -> dict[str, int]:
    """``{"PASS": n, "FAIL": n, "INCONCLUSIVE": n}`` over check dicts."""
    counts = Counter(c["verdict"] for c in checks)
    return {v: counts.get(v, 0) for v in VERDICTS}


def failable_count(checks: Sequence[dict]) -> int:
    """How many checks could have failed (some outcome at their ``n`` would FAIL them)."""
    return sum(bool(c.get("failable")) for c in checks)


def summary_line(checks: Sequence[dict]) -> str:
    """``"12 checks: 11 PASS, 0 FAIL, 1 INCONCLUSIVE; 9 failable"``."""
    c = verdict_counts(checks)
    return (f"{len(checks)} checks: {c['PASS']} PASS, {c['FAIL']} FAIL, "
            f"{c['INCONCLUSIVE']} INCONCLUSIVE; {failable_count(checks)} failable")


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return str(v).replace("|", "\\|").replace("\n", " ")


def _table(rows: Sequence[dict]) -> list[str]:
    """A markdown table of the scalar (and short-list) columns of ``rows``."""
    def shown(v: Any) -> bool:
        return not isinstance(v, (list, tuple, dict)) or (
            isinstance(v, (list, tuple)) and len(v) <= 4
            and all(not isinstance(x, (list, tuple, dict)) for x in v))

    cols = list(dict.fromkeys(k for r in rows for k, v in r.items() if shown(v)))
    if not cols:
        return ["(no scalar columns; see results.json)", ""]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_fmt(r.get(c)) for c in cols) + " |" for r in rows]
    return [*lines, ""]


def write_report(results: dict, out_dir: Path, figures: list[Path]) -> Path:
    """Write ``out_dir/report.md`` (checks, summary, tables, notes, figures); returns its path."""
    _check_results(results)
    out_dir = Path(out_dir)
    checks = results["checks"]
    lines = [
        f"# modebound validation: suite `{results['suite']}`", "",
        f"size `{results.get('size')}`, seed {results.get('seed')}, device "
        f"`{results.get('device')}`, created {results.get('created')}, wall time "
        f"{_fmt(results.get('wall_seconds'))} s", "",
        f"**{summary_line(checks)}**", "",
    ]
    failed = [c for c in checks if c["verdict"] == "FAIL"]
    if failed:
        lines += ["**FAILED checks:** " + "; ".join(
            f"{c['proposition']} {c['quantity']}" for c in failed), ""]
    lines += ["A check FAILs only when the interval lies entirely on the wrong side of the "
              "bound; INCONCLUSIVE marks an estimate dominated by sampling noise. "
              "*failable*: some outcome at this sample size and confidence would FAIL the "
              "check; *detectable*: the most extreme bound the data could refute (for "
              "`<=`, bounds below it; for `>=`, bounds above it). A PASS that was not "
              "failable says nothing about the bound.", ""]
    lines += _power_table(checks)
    lines += ["## Checks", "",
              "| proposition | quantity | estimate | interval | relation | bound | verdict | "
              "failable | detectable | note |", "|---|---|---|---|---|---|---|---|---|---|"]
    for c in checks:
        lines.append("| " + " | ".join(_fmt(x) for x in (
            c["proposition"], c["quantity"], c["estimate"], c["interval"], c["relation"],
            c["bound"], c["verdict"], "yes" if c.get("failable") else "no",
            c.get("detectable"), c.get("note", ""))) + " |")
    lines.append("")
    for name, rows in results.get("tables", {}).items():
        if rows:
            lines += [f"## Table `{name}`", "", *_table(rows)]
    if results.get("notes"):
        lines += ["## Notes", "", *(f"- {n}" for n in results["notes"]), ""]
    if figures:
        lines += ["## Figures", ""]
        for f in figures:
            rel = Path(f).relative_to(out_dir) if Path(f).is_relative_to(out_dir) else Path(f)
            lines.append(f"![{rel.stem}]({rel.as_posix()})" if rel.suffix == ".png"
                         else f"- [{rel.name}]({rel.as_posix()})")
        lines.append("")
    path = out_dir / "report.md"
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / ".report.md.tmp"
    tmp.write_text("\n".join(lines))
    tmp.replace(path)
    return path


def _power_table(checks: Sequence[dict]) -> list[str]:
    """Per proposition: checks, how many could fail, how many failed."""
    by: dict[str, list[dict]] = {}
    for c in checks:
        by.setdefault(str(c["proposition"]), []).append(c)
    if not by:
        return []
    lines = ["## Power by proposition", "", "| proposition | checks | failable | FAIL |",
             "|---|---|---|---|"]
    for prop in sorted(by):
        group = by[prop]
        lines.append(f"| {prop} | {len(group)} | {failable_count(group)} | "
                     f"{sum(c['verdict'] == 'FAIL' for c in group)} |")
    return [*lines, ""]


def _check_results(results: dict) -> None:
    if not isinstance(results, dict):
        raise TypeError(f"results must be a dict, got {type(results).__name__}")
    missing = [k for k in ("suite", "checks") if k not in results]
    if missing:
        raise ValueError(f"results must have the keys 'suite' and 'checks', missing {missing}")


__all__ = ["VERDICTS", "failable_count", "summary_line", "verdict_counts", "write_report",
           "write_results"]

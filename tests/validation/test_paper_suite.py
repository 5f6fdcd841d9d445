"""The paper suite end to end (smoke size in CI): runs, writes its table, checks, figures."""

import json
import re

import numpy as np
import pytest

from validation.experiments.paper_suite import (
    EXECUTIONS,
    SIZES,
    plot_suite,
    run_suite,
    settings_for,
)
from validation.paper_metrics import METRICS
from validation.report import write_report, write_results
from validation.suites import SuiteConfig

CELL = re.compile(r"^\d\.\d{3}( \[\d\.\d{3}, \d\.\d{3}\])?$")


@pytest.mark.slow
def test_paper_suite_end_to_end(tmp_path, test_size):
    size = "smoke" if test_size == "reduced" else "reduced"
    spec = SIZES[size]
    config = SuiteConfig(out=tmp_path / "out", size=size, seed=3, progress=False,
                         cache_dir=tmp_path / "cache")
    results = run_suite(config)
    assert results["suite"] == "paper" and results["size"] == size and results["seed"] == 3

    # The paper's table: one row per task, setting and execution (+ the CVAE at z = 0).
    rows = results["tables"]["paper_metrics"]
    expected = {(t, label, e) for t in spec.tasks for label, kind, _ in settings_for(t, spec)
                for e in (*EXECUTIONS, *(("chunk z=0",) if kind == "cvae" else ()))}
    assert {(r["task"], r["policy"], r["execution"]) for r in rows} == expected
    for r in rows:
        assert r["seeds"] == len(spec.seeds)
        for metric in METRICS:
            assert CELL.match(r[metric]), (metric, r[metric])
    for r in results["paper_metrics_raw"]:
        for metric in METRICS:
            assert 0.0 <= r[metric] <= 1.0
            assert r[f"{metric}_low"] <= r[metric] + 1e-12 <= r[f"{metric}_high"] + 2e-12

    # Bound checks: Part T for every transport policy off the control task, Part L for CVAEs.
    checks = results["checks"]
    assert checks and not [c for c in checks if c["verdict"] == "FAIL"]
    props = {c["proposition"] for c in checks}
    assert {"T2", "T3", "T4", "T5", "L1", "L2", "L5"} <= props
    assert not any(c["quantity"].startswith("conditional_circle") for c in checks)
    assert any(c["quantity"].startswith("radial-8 / flow") for c in checks)

    # Report and figures from the results alone (after a JSON round trip).
    write_results(results, config.out)
    loaded = json.loads((config.out / "results.json").read_text())
    figures = plot_suite(loaded, config.out)
    assert figures and all(f.exists() and f.stat().st_size > 0 for f in figures)
    assert {f.suffix for f in figures} == {".png", ".pdf"}
    report = write_report(loaded, config.out, figures).read_text()
    assert report.count(" | ") > len(rows)       # the paper's table is in the report
    assert "## Table `paper_metrics`" in report and "valid_mode_entropy_ratio" in report

    # A second run loads every run from the cache: same table.
    again = run_suite(config)
    assert again["tables"] == results["tables"]
    assert np.isclose(again["compute_seconds"], results["compute_seconds"])


def test_unknown_size_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="size"):
        run_suite(SuiteConfig(out=tmp_path, size="huge"))

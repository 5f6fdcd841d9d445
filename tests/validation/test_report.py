"""validation.report and validation.plots on hand-made results (no training)."""

from __future__ import annotations

import json

import pytest

from validation import plots, report
from validation.experiments import synthetic_figures

CHECKS = [
    {"proposition": "T2", "quantity": "min mode mass", "estimate": 0.3, "interval": [0.2, 0.4],
     "bound": 0.35, "relation": "<=", "n": 100, "confidence": 0.99, "verdict": "PASS",
     "detectable": 0.9, "failable": True, "note": "a | b"},
    {"proposition": "T5", "quantity": "W1", "estimate": 0.1, "interval": [0.05, 0.15],
     "bound": 0.3, "relation": ">=", "n": 50, "confidence": 0.99, "verdict": "FAIL",
     "detectable": 0.02, "failable": True, "note": ""},
    {"proposition": "L1", "quantity": "gap", "estimate": 0.0, "interval": [-1.0, 1.0],
     "bound": 0.0, "relation": ">=", "n": 50, "confidence": 0.99,
     "verdict": "INCONCLUSIVE", "detectable": 0.1, "failable": False, "note": ""},
]


def results():
    return {"suite": "quick", "size": "smoke", "seed": 0, "device": "cpu",
            "created": "2026-01-01T00:00:00+00:00", "wall_seconds": 1.5, "checks": CHECKS,
            "tables": {"t": [{"a": 1, "b": float("inf"), "c": [1, 2], "d": [[1, 2]] * 9}]},
            "notes": ["hello"]}


def test_report_lists_every_check_and_counts(tmp_path):
    path = report.write_report(results(), tmp_path, [tmp_path / "figures" / "x.png"])
    text = path.read_text()
    assert "3 checks: 1 PASS, 1 FAIL, 1 INCONCLUSIVE; 2 failable" in text
    assert "| L1 | 1 | 0 | 0 |" in text and "| T5 | 1 | 1 | 1 |" in text   # power table
    assert "FAILED checks:** T5 W1" in text
    assert text.count("| T2 | min mode mass") == 1 and "a \\| b" in text      # pipes escaped
    assert "| a | b | c |" in text and "inf" in text             # long nested list dropped
    assert "![x](figures/x.png)" in text and "- hello" in text


def test_results_json_round_trip(tmp_path):
    path = report.write_results(results(), tmp_path)
    assert json.loads(path.read_text())["checks"] == CHECKS
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_bad_results():
    with pytest.raises(ValueError, match="'suite' and 'checks'"):
        report.write_results({"suite": "x"}, ".")
    with pytest.raises(TypeError, match="results must be a dict"):
        report.write_report([], ".", [])


def test_figures_from_rows(tmp_path):
    rows = [{"policy": "flow", "ratio_upper": 0.5, "ratio_lower": 1.5, "min_mode_mass": 0.3,
             "lipschitz_upper": 2.0, "bridge_mass": 0.2, "effective_separation": 1.0,
             "w1": 0.5, "w1_low": 0.4, "w1_high": 0.6, "w1_bound_upper": 0.2},
            {"policy": "gmm", "ratio_upper": None, "min_mode_mass": 0.5}]
    with plots.publication_style():
        for fig, name in ((synthetic_figures.plot_mode_mass_vs_ratio(rows), "m"),
                          (synthetic_figures.plot_bridge_vs_lipschitz(rows), "b"),
                          (synthetic_figures.plot_w1_vs_bound(rows), "w"),
                          (plots.plot_check_power(CHECKS), "p"),
                          (plots.plot_sandwich([{**rows[0], "lipschitz_demanded": 0.5,
                                                 "lipschitz_lower": 1.0}]), "s")):
            paths = plots.save_figure(fig, tmp_path, name)
            assert [p.suffix for p in paths] == [".png", ".pdf"]
            assert all(p.stat().st_size > 1000 for p in paths)

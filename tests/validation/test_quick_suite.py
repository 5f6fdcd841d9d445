"""The quick suite exactly as `make demo` runs it (size "reduced"), checked in CI.

The CLI tests run the same code at smoke size in seconds; this one runs the real quick
suite once (a few minutes on one core) and checks its verdicts: no bound violated, every
proposition checked, and the CVAE's beta transition where L4 puts it.
"""

from __future__ import annotations

import json

import pytest

from validation import cli


@pytest.mark.slow
def test_quick_suite_at_demo_size_has_no_violated_bound(tmp_path, test_size):
    # CI ("reduced") runs the demo's own size; "full" runs the full synthetic sweep.
    suite = "quick" if test_size == "reduced" else "full"
    code = cli.main(["validate", "--suite", suite, "--out", str(tmp_path / "run"),
                     "--no-progress", "--cache", str(tmp_path / "cache"), "--seed", "0"])
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert code == cli.EXIT_OK
    assert results["size"] == ("reduced" if suite == "quick" else "full")
    verdicts = [c["verdict"] for c in results["checks"]]
    assert "FAIL" not in verdicts and verdicts.count("PASS") >= 0.75 * len(verdicts)
    props = {c["proposition"] for c in results["checks"]}
    assert {"T2", "T3", "T4", "T5", "T7", "L1", "L2", "L3", "L4", "L5"} <= props
    rows = results["tables"]["beta_sweep"]
    entropy = rows[0]["mode_entropy"]
    below = [r["mode_information"] for r in rows if r["multiple"] <= 0.25]
    above = [r["mode_information"] for r in rows if r["multiple"] >= 4]
    assert below and above
    assert min(below) > 0.5 * entropy and max(above) < 0.1 * entropy

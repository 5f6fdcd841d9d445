"""The `modebound` CLI: the smoke suite end to end, planted bound, errors, `plot`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from validation import cli


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """One smoke run of the quick suite (its cache is reused by the planted run)."""
    root = tmp_path_factory.mktemp("cli")
    code = cli.main(["validate", "--suite", "quick", "--size", "smoke", "--out",
                     str(root / "run"), "--no-progress", "--cache", str(root / "cache")])
    return root, code


def test_smoke_suite_verdicts(smoke_run):
    root, code = smoke_run
    results = json.loads((root / "run" / "results.json").read_text())
    assert code == cli.EXIT_OK
    assert results["suite"] == "quick" and results["size"] == "smoke"
    verdicts = {c["verdict"] for c in results["checks"]}
    assert "FAIL" not in verdicts
    props = {c["proposition"] for c in results["checks"]}
    assert {"T2", "T3", "T4", "T5", "T7", "L1", "L2", "L3", "L4", "L5"} <= props
    # the beta transition: informative well below beta*, collapsed well above
    rows = results["tables"]["beta_sweep"]
    below = [r for r in rows if r["multiple"] <= 0.25]
    above = [r for r in rows if r["multiple"] >= 4]
    assert below and above
    assert min(r["mode_information"] for r in below) > 0.5 * rows[0]["mode_entropy"]
    assert max(r["mode_information"] for r in above) < 0.1 * rows[0]["mode_entropy"]
    report = (root / "run" / "report.md").read_text()
    assert f"{len(results['checks'])} checks:" in report and "0 FAIL" in report
    for name in ("mode_mass_vs_ratio", "beta_sweep", "w1_vs_bound", "bridge_vs_lipschitz",
                 "chunk_sweep", "policy_samples"):
        for ext in ("png", "pdf"):
            assert (root / "run" / "figures" / f"{name}.{ext}").stat().st_size > 1000


def test_planted_wrong_bound_reports_fail(smoke_run, capsys):
    root, _ = smoke_run
    code = cli.main(["validate", "--suite", "quick", "--size", "smoke", "--out",
                     str(root / "planted"), "--no-progress", "--cache", str(root / "cache"),
                     "--plant-wrong-bound"])
    assert code == cli.EXIT_FAILED_CHECK == 3
    report = (root / "planted" / "report.md").read_text()
    assert "FAILED checks" in report and "| FAIL |" in report and "PLANTED" in report
    assert "report:" in capsys.readouterr().out


def test_plot_regenerates_figures_from_json(smoke_run, tmp_path):
    root, _ = smoke_run
    target = tmp_path / "copy"
    target.mkdir()
    (target / "results.json").write_text((root / "run" / "results.json").read_text())
    assert cli.main(["plot", str(target)]) == cli.EXIT_OK
    made = sorted(p.name for p in (target / "figures").iterdir())
    assert made == sorted(p.name for p in (root / "run" / "figures").iterdir())
    assert (target / "report.md").exists()


@pytest.mark.parametrize("argv, message", [
    (["validate", "--suite", "nope", "--out", "x"], "--suite must be one of"),
    (["validate", "--suite", "quick", "--seed", "-3"], "seed must be an integer >= 0"),
    (["validate", "--suite", "quick", "--seed", "abc"], "seed must be an integer >= 0"),
    (["validate", "--suite", "quick", "--device", "tpu"], "--device must be cpu, cuda or auto"),
    (["validate", "--suite", "quick", "--size", "huge"], "--size must be smoke, reduced or full"),
    (["validate"], "required: --suite"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_config_exits_1_with_one_line(argv, message, capsys):
    assert cli.main(argv) == cli.EXIT_CONFIG
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_cuda_without_cuda(capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert cli.main(["validate", "--suite", "quick", "--device", "cuda"]) == cli.EXIT_CONFIG
    assert "CUDA is not available" in capsys.readouterr().err


def test_plot_without_results(tmp_path, capsys):
    assert cli.main(["plot", str(tmp_path)]) == cli.EXIT_CONFIG
    assert "no results.json" in capsys.readouterr().err


def test_help_everywhere():
    """`--help` of the console entry (python -m validation) and of both subcommands."""
    root = Path(__file__).resolve().parents[2]
    for argv in ([], ["validate"], ["plot"]):
        res = subprocess.run([sys.executable, "-m", "validation", *argv, "--help"], cwd=root,
                             capture_output=True, text=True, timeout=120)
        assert res.returncode == 0 and "usage: modebound" in res.stdout
    res = subprocess.run([sys.executable, "-m", "validation", "validate", "--help"], cwd=root,
                         capture_output=True, text=True, timeout=120)
    assert "quick" in res.stdout and "--plant-wrong-bound" in res.stdout
    assert "Exit codes" in res.stdout

"""The experiments at test size: verdicts, the beta transition, T7, resumability."""

from __future__ import annotations

import pytest

from validation.devices import resolve_device
from validation.experiments import beta_sweep, chunk_sweep, sized

pytestmark = pytest.mark.slow


def sweep_size(test_size: str) -> str:
    """CI ("reduced" tests) runs the sweeps at smoke size, `make test-full` at reduced."""
    return "smoke" if test_size == "reduced" else "reduced"


def test_beta_transition_where_predicted(test_size, tmp_path):
    """Seed 1 (the CLI test uses seed 0): I(M;Z) high well below beta*, ~0 well above,
    and no L1-L5 / L6 check fails."""
    cfg = sized(beta_sweep.SIZES, sweep_size(test_size), seed=1, cache_dir=tmp_path)
    out = beta_sweep.run(cfg)
    assert out["beta_star"] == pytest.approx(2.0)    # Delta = 2 (H = 4, clearance 0.5)
    assert not [c for c in out["checks"] if c["verdict"] == "FAIL"]
    l4 = [c for c in out["checks"] if c["proposition"] == "L4"]
    assert len(l4) >= 2 and all(c["verdict"] == "PASS" for c in l4)
    rows = sorted(out["rows"], key=lambda r: r["beta"])
    assert rows[0]["mode_information"] > rows[-1]["mode_information"] + 0.3
    assert rows[-1]["rate"] < 0.05 <= rows[0]["rate"]


def test_chunk_sweep_t7_and_resume(test_size, tmp_path, monkeypatch):
    cfg = sized(chunk_sweep.SIZES, sweep_size(test_size), seed=2, cache_dir=tmp_path)
    out = chunk_sweep.run(cfg)
    for row in out["rows"]:   # theory.chunk_separation agrees with the task's own distance
        assert row["chunk_separation"] == pytest.approx(row["task_separation"], rel=1e-9)
        assert row["chunk_separation"] == pytest.approx(row["horizon"] ** 0.5, rel=1e-9)
    bounds = [r["mass_bound_upper"] for r in sorted(out["rows"], key=lambda r: r["horizon"])]
    assert bounds == sorted(bounds, reverse=True)     # the limit falls with H at fixed cap
    assert {c["proposition"] for c in out["checks"]} == {"T7"}
    assert not [c for c in out["checks"] if c["verdict"] == "FAIL"]

    # Resume: lose one finished run; only that one executes again.
    files = sorted(tmp_path.glob("chunk_sweep-*.json"))
    assert len(files) == len(cfg.horizons)
    files[0].unlink()
    executed = []
    original = chunk_sweep.run_one
    monkeypatch.setattr(chunk_sweep, "run_one", lambda r: executed.append(r) or original(r))
    again = chunk_sweep.run(cfg)
    assert len(executed) == 1
    assert [r["horizon"] for r in again["rows"]] == [r["horizon"] for r in out["rows"]]
    changed = [a for a, b in zip(again["rows"], out["rows"], strict=True) if a != b]
    assert len(changed) <= 1       # the others are loaded from the cache, unchanged


def test_sizes_and_devices():
    with pytest.raises(ValueError, match="size must be one of"):
        sized(beta_sweep.SIZES, "tiny")
    with pytest.raises(ValueError, match="device must be one of"):
        resolve_device("tpu")
    assert resolve_device("auto") in ("cpu", "cuda")

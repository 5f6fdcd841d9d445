"""The runnable examples in examples/ still run and still print the right numbers.

Each example runs as a subprocess in a temporary directory (so figures land in
``tmp/out/examples``); every test asserts exit status 0 and checks printed numbers
against values recomputed here independently (SciPy closed forms, THEORY.md's measured
values), so an example cannot rot silently.
"""

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from scipy import special, stats

ROOT = Path(__file__).resolve().parents[1]


def run_example(name: str, cwd: Path) -> str:
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT),
           "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / name)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{name} exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    return proc.stdout


def number(pattern: str, text: str) -> float:
    match = re.search(pattern, text)
    assert match, f"no line matching {pattern!r} in:\n{text}"
    return float(match.group(1))


def test_bounds_tour(tmp_path):
    out = run_example("01_bounds_tour.py", tmp_path)
    assert number(r"T2 max_mode_mass\(L=1.0, Delta=2.0\) = ([\d.]+)", out) == \
        pytest.approx(stats.norm.cdf(-1.0), abs=1e-6)
    # Frontier at m1 = 0.5: Phi(-0 - 2) = Phi(-2).
    assert number(r"m1 = 0.5 -> m2 <= ([\d.]+)", out) == pytest.approx(stats.norm.cdf(-2),
                                                                      abs=1e-6)
    # Balanced T4: erf(Delta / (2 sqrt 2 L)).
    assert number(r"T4 min_bridge_mass\(L=1.0, Delta=2.0\) = ([\d.]+)", out) == \
        pytest.approx(math.erf(1 / math.sqrt(2)), abs=1e-6)
    # THEORY.md's measured T5 value (0.305) and T3 bracket at Delta/L = 1, 2, 4.
    assert number(r"T5 wasserstein_lower_bound\(L=1.0, Delta=2.0\) = ([\d.]+)", out) == \
        pytest.approx(0.305, abs=1e-3)
    for r, lo, hi in ((1, 0.163, 0.176), (2, 0.063, 0.076), (4, 0.0040, 0.0075)):
        got_lo = number(rf"Delta/L={r}: achievable ([\d.]+)", out)
        got_hi = number(rf"Delta/L={r}: achievable [\d.]+ <= best min mass <= ([\d.]+)", out)
        assert got_lo == pytest.approx(lo, abs=1.5e-3) and got_hi == pytest.approx(hi, abs=1e-3)
    # T7 at H = 16: separation 4, so Phi(-2).
    assert number(r"H=16: chunk separation ([\d.]+)", out) == pytest.approx(4.0, abs=1e-6)
    assert "T2 in LaTeX: \\frac{\\operatorname{erfc}" in out
    assert len(re.findall(r"^registry [TL]\d: ", out, flags=re.M)) == 14
    # Monte Carlo of the clip map: within 4 standard errors of Phi(-1).
    p = stats.norm.cdf(-1.0)
    mc = number(r"mass on \+Delta/2 = ([\d.]+)", out)
    assert abs(mc - p) < 4 * math.sqrt(p * (1 - p) / 1e6)


def test_certify_a_trained_policy(tmp_path):
    out = run_example("02_certify_a_trained_policy.py", tmp_path)
    lower = number(r"lower ([\d.]+) <= L", out)
    upper = number(r"<= upper ([\d.]+)", out)
    assert 0 < lower <= upper
    masses = [number(rf"mode {k}: mass ([\d.]+)", out) for k in (0, 1)]
    bridge = number(r"bridge: mass ([\d.]+)", out)
    assert sum(masses) + bridge == pytest.approx(1.0, abs=2e-4)
    # T2's printed bound is Phi(-(Delta - 2 rho) / (2 L_upper)), recomputed from the
    # printed Delta, rho and L_upper (printed to 4 decimals: loose tolerance).
    delta, rho = number(r"Delta=([\d.]+)", out), number(r"rho=([\d.]+)", out)
    assert number(r"T2 verdict: \w+ .*bound ([\d.]+)", out) == pytest.approx(
        stats.norm.cdf(-(delta - 2 * rho) / (2 * upper)), abs=1e-3)
    # Seeded run: both bounds hold with a wide margin, so these verdicts are stable.
    assert re.search(r"^T2 verdict: PASS", out, flags=re.M)
    assert re.search(r"^T4 verdict: PASS", out, flags=re.M)


def test_property_test_your_map(tmp_path):
    out = run_example("03_property_test_your_map.py", tmp_path)
    assert "my_map (L = 1.5): T2 holds on 30 drawn mode pairs" in out
    assert "lipschitz_maps: T2 holds on 30 drawn maps" in out
    assert "hypothesis found a T2 violation (as it should)" in out


def test_latent_collapse(tmp_path):
    out = run_example("04_latent_collapse.py", tmp_path)
    # beta* = Delta^2 / (4 sigma^2) = 4 / 0.4.
    assert number(r"collapse_threshold\(Delta=2.0, sigma\^2=0.1\) = ([\d.]+)", out) == \
        pytest.approx(10.0, abs=1e-6)
    assert number(r"first beta with u\* = 0 is ([\d.]+)", out) == 10.0
    assert number(r"loss='l2'\) = ([\d.]+)", out) == pytest.approx(10.0, rel=1e-3)
    assert "loss='l1') = inf" in out
    assert number(r"ACT effective KL weight .* = ([\d.]+)", out) == 14000.0
    # Fano, two equal modes: H(w) - h(delta) = log 2 - h(0.05) nats.
    h = -special.xlogy(0.05, 0.05) - special.xlogy(0.95, 0.95)
    assert number(r"fano_min_rate\(K=2 .* = ([\d.]+)", out) == pytest.approx(
        math.log(2) - h, abs=1e-4)
    # L3 at eps = 0.01: 2 min(sqrt(eps/2), sqrt(1 - e^-eps)); L5: sqrt(eps/2).
    assert number(r"KL= 0.01: L3 tau = ([\d.]+)", out) == pytest.approx(
        2 * min(math.sqrt(0.005), math.sqrt(1 - math.exp(-0.01))), abs=1e-4)
    assert number(r"KL= 0.01: .*TV\(p, qbar\) <= ([\d.]+)", out) == pytest.approx(
        math.sqrt(0.005), abs=1e-4)
    assert (tmp_path / "out" / "examples" / "latent_collapse.png").stat().st_size > 0

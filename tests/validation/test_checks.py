"""validation.checks against maps whose masses are known in closed form.

The T2 clip map ``T_o(eps) = mid(o) + u(o) clip(L eps_1, -Delta/2, Delta/2)`` (THEORY T2:
equality in every dimension) is L-Lipschitz and puts exactly
``Phi(-(Delta - 2 rho)/(2L))`` on each rho-ball of the fork's two modes: the checks must
pass at the true ``L`` and must fail when told a smaller ``L`` than the map has.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

from validation import checks
from validation.tasks import make_task


class ClipMap:
    """The T2 extremal map on a task's two point modes, Lipschitz constant ``L``."""

    kind = "clip"
    device = torch.device("cpu")

    def __init__(self, task, L: float):
        self.task, self.L = task, L

    @torch.no_grad()
    def sample(self, obs, n, generator=None):
        c = torch.as_tensor(self.task.mode_centres(np.asarray(obs)), dtype=torch.float64)
        mid, diff = (c[:, 0] + c[:, 1]) / 2, c[:, 0] - c[:, 1]
        delta = diff.norm(dim=-1, keepdim=True)
        eps = torch.randn(c.shape[0], n, generator=generator, dtype=torch.float64)
        s = torch.clamp(self.L * eps, -delta / 2, delta / 2)
        return mid[:, None] + s[..., None] * (diff / delta)[:, None]


def verdicts(found) -> dict[str, str]:
    return {c.proposition + ":" + c.quantity.split(",")[0]: c.verdict for c in found}


def test_clip_map_attains_t2_and_passes():
    task = make_task("fork", horizon=4, clearance=0.5)
    L = 1.0
    obs = task.observations(4, seed=0)
    m = checks.measure_transport(ClipMap(task, L), task, obs, 4000, seed=1, lipschitz=L,
                                 empirical=False)
    expected = special.ndtr(-(task.mode_separation - 2 * task.rho) / (2 * L))
    np.testing.assert_allclose(m.masses[:, :2], expected, atol=0.04)  # tight in every o
    found = checks.transport_checks_from(m)
    assert {c.proposition for c in found} == {"T2", "T3", "T4", "T5"}
    assert all(c.verdict != "FAIL" for c in found), [c for c in found if c.verdict == "FAIL"]


def test_understated_lipschitz_constant_fails():
    task = make_task("fork", horizon=4, clearance=0.5)
    obs = task.observations(4, seed=0)
    found = checks.transport_checks(ClipMap(task, 2.0), task, obs, 2000, seed=1,
                                    lipschitz=0.5, empirical=False)
    v = verdicts(found)
    assert v["T2:min mode mass"] == "FAIL"
    assert v["T4:bridge mass given m_1"] == "FAIL"


@settings(max_examples=12, deadline=None)
@given(L=st.floats(0.3, 3.0), clearance=st.floats(0.3, 1.0), horizon=st.integers(1, 4),
       seed=st.integers(0, 1000))
def test_true_lipschitz_never_fails(L, clearance, horizon, seed):
    """At the map's true L no check may fail (confidence 1 - 1e-6: a false alarm is
    practically impossible), while the tight T2 bound is within 0.05 of the mass."""
    task = make_task("fork", horizon=horizon, clearance=clearance)
    obs = task.observations(3, seed=seed)
    m = checks.measure_transport(ClipMap(task, L), task, obs, 1500, seed=seed, lipschitz=L,
                                 empirical=False, max_w1_samples=200)
    found = checks.transport_checks_from(m, confidence=1 - 1e-6)
    assert all(c.verdict != "FAIL" for c in found), [c for c in found if c.verdict == "FAIL"]
    t2 = next(c for c in found if c.proposition == "T2")
    assert abs(t2.estimate - t2.bound) < 0.05


def test_pooling_over_observations_is_not_used():
    """A policy that picks one mode per observation (different ones for different o)
    covers both modes when pooled; the per-observation check sees min mass 0."""
    task = make_task("fork", horizon=2)

    class OneModeEach(ClipMap):
        @torch.no_grad()
        def sample(self, obs, n, generator=None):
            c = torch.as_tensor(self.task.mode_centres(np.asarray(obs)))
            k = torch.arange(c.shape[0]) % 2
            return c[torch.arange(c.shape[0]), k][:, None].expand(-1, n, -1).clone()

    obs = task.observations(4, seed=0)
    m = checks.measure_transport(OneModeEach(task, 1.0), task, obs, 200, seed=0,
                                 lipschitz=1e-3, empirical=False)
    assert m.masses[:, :2].sum(0).min() > 0          # pooled: both modes covered
    assert all(c.verdict != "FAIL" for c in checks.transport_checks_from(m))


def test_planted_wrong_bound_fails(monkeypatch):
    task = make_task("fork", horizon=4, clearance=0.5)
    obs = task.observations(4, seed=0)
    m = checks.measure_transport(ClipMap(task, 1.0), task, obs, 2000, seed=1, lipschitz=1.0,
                                 empirical=False)
    monkeypatch.setenv(checks.PLANT_ENV, "1")
    found = checks.transport_checks_from(m)
    assert any(c.verdict == "FAIL" for c in found)
    assert all("PLANTED" in c.note for c in found)
    monkeypatch.setenv(checks.PLANT_ENV, "0")
    assert all(c.verdict != "FAIL" for c in checks.transport_checks_from(m))


def test_measurement_round_trips_json():
    import json

    task = make_task("kway", n_modes=3, separation=2.0)
    obs = task.observations(2, seed=0)

    class Centres:
        kind, device = "centres", torch.device("cpu")

        def sample(self, o, n, generator=None):
            c = torch.as_tensor(task.mode_centres(np.asarray(o)))
            return c[:, torch.arange(n) % 3]

    m = checks.measure_transport(Centres(), task, obs, 300, seed=0, lipschitz=1.0,
                                 empirical=False)
    assert m.masses[:, :3].tolist() == [[1 / 3] * 3] * 2
    again = checks.TransportMeasurement.from_dict(json.loads(json.dumps(m.to_dict())))
    assert [c.verdict for c in checks.transport_checks_from(again)] == \
        [c.verdict for c in checks.transport_checks_from(m)]
    # a third per mode exceeds the K = 3 bound Phi(Phi^-1(1/3) - 1/2) = 0.18: T3 must fail
    assert any(c.proposition == "T3" and c.verdict == "FAIL"
               for c in checks.transport_checks_from(m))


def test_bad_arguments():
    task = make_task("fork")
    with pytest.raises(ValueError, match="obs must have shape"):
        checks.measure_transport(ClipMap(task, 1.0), task, np.zeros((2, 3)), 10, 0,
                                 lipschitz=1.0, empirical=False)
    with pytest.raises(ValueError, match="n_samples"):
        checks.measure_transport(ClipMap(task, 1.0), task, task.observations(2, 0), 1, 0,
                                 lipschitz=1.0, empirical=False)
    with pytest.raises(ValueError, match="lipschitz must be positive"):
        checks.measure_transport(ClipMap(task, 1.0), task, task.observations(2, 0), 10, 0,
                                 lipschitz=-1.0, empirical=False)
    with pytest.raises(TypeError, match="certified_lipschitz"):
        checks.transport_checks(ClipMap(task, 1.0), task, task.observations(2, 0), 10, 0)


def test_latent_checks_on_trained_cvae():
    """L1-L5 hold on a small trained CVAE; a collapsed CVAE carries no mode information."""
    from validation.experiments import train_policy

    task = make_task("fork", horizon=2, clearance=0.5)
    held = checks.conditional_demonstrations(task, task.observations(6, seed=5), 64, seed=5)
    assert len(held) == 384 and np.all(held.obs[:64] == held.obs[0])
    labels = task.mode_labels(held.obs, held.actions[:, None, :])[:, 0]
    assert np.array_equal(labels, held.modes)          # every chunk lies in its mode
    for beta, informative in ((0.02, True), (50.0, False)):
        cvae, _, _ = train_policy(task, "cvae", {"beta": beta, "latent_dim": 2,
                                                 "hidden": (32, 32)},
                                  steps=500, n_demos=1024, seed=0, device="cpu")
        m = checks.measure_latent(cvae, task, held, seed=0)
        found = checks.latent_checks_from(m)
        assert {c.proposition for c in found} == {"L1", "L2", "L3", "L5"}
        assert all(c.verdict != "FAIL" for c in found), [c for c in found
                                                          if c.verdict == "FAIL"]
        if informative:
            assert m.mode_information > 0.4 and m.errors / m.n < 0.1
        else:
            assert abs(m.mode_information) < 0.05 and m.rate < 0.05

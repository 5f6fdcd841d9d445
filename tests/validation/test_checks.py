"""validation.checks against maps whose masses are known in closed form.

The T2 clip map ``T_o(eps) = mid(o) + u(o) clip(L eps_1, -Delta/2, Delta/2)`` (THEORY T2:
equality in every dimension) is L-Lipschitz and puts exactly
``Phi(-(Delta - 2 rho)/(2L))`` on each rho-ball of the fork's two modes: the checks must
pass at the true ``L`` and must fail when told a smaller ``L`` than the map has.
"""

from __future__ import annotations

import dataclasses

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
    assert {c.proposition for c in found} == {"T2", "T3", "T4", "T5", "SANDWICH"}
    assert all(c.verdict != "FAIL" for c in found), [c for c in found if c.verdict == "FAIL"]
    # The clip map is extremal: the constant its masses demand is close to its own L.
    sandwich = next(c for c in found if c.proposition == "SANDWICH")
    assert 0.7 * L < sandwich.interval[0] <= L and sandwich.failable


def test_certificate_divided_by_ten_fails_the_sandwich():
    """A wrong certificate (the true L / 10) is caught from the samples alone."""
    task = make_task("fork", horizon=4, clearance=0.5)
    obs = task.observations(4, seed=0)
    m = checks.measure_transport(ClipMap(task, 1.0), task, obs, 10_000, seed=2,
                                 lipschitz=0.1, empirical=False)
    sandwich = next(c for c in checks.transport_checks_from(m) if c.proposition == "SANDWICH")
    assert sandwich.verdict == "FAIL" and sandwich.failable


def test_bracket_fails_when_the_lower_bound_exceeds_the_certificate():
    task = make_task("fork", horizon=4, clearance=0.5)
    obs = task.observations(2, seed=0)
    m = checks.measure_transport(ClipMap(task, 1.0), task, obs, 1000, seed=2,
                                 lipschitz=1.0, empirical=1.5)
    bracket = next(c for c in checks.transport_checks_from(m) if c.proposition == "BRACKET")
    assert bracket.verdict == "FAIL"


@pytest.mark.parametrize("n, L", [(400, 1.0), (10_000, 1.0), (10_000, 30.0)])
def test_a_failable_check_really_fails_on_a_violating_sample(n, L):
    """Every check marked failable at the clip map's true L FAILs once the samples are
    replaced by the most extreme outcome its power analysis assumed (both modes exactly
    at their centres in the weights' proportions, no bridge): `failable` is not a claim
    without an outcome behind it."""
    task = make_task("fork", horizon=4, clearance=0.5)
    obs = task.observations(4, seed=0)

    class OnTheModes(ClipMap):
        @torch.no_grad()
        def sample(self, obs, n, generator=None):
            c = torch.as_tensor(self.task.mode_centres(np.asarray(obs)), dtype=torch.float64)
            k = torch.arange(n) % 2
            return c[:, k]

    extreme = checks.measure_transport(OnTheModes(task, L), task, obs, n, seed=3,
                                       lipschitz=L, empirical=False)
    honest = checks.measure_transport(ClipMap(task, L), task, obs, n, seed=3, lipschitz=L,
                                      empirical=False)
    for c, e in zip(checks.transport_checks_from(honest), checks.transport_checks_from(extreme),
                    strict=True):
        assert c.proposition == e.proposition
        if c.failable and c.proposition in ("T2", "T3", "T4", "SANDWICH"):
            assert e.verdict == "FAIL", (c.proposition, e)
        if not c.failable:
            assert e.verdict != "FAIL", (c.proposition, e)


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
                                 empirical=False)
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
            k = (torch.as_tensor(np.asarray(obs))[:, 0] > 0).long()   # a function of o
            return c[torch.arange(c.shape[0]), k][:, None].expand(-1, n, -1).clone()

    obs = task.observations(4, seed=0)
    m = checks.measure_transport(OneModeEach(task, 1.0), task, obs, 200, seed=0,
                                 lipschitz=1e-3, empirical=False)
    assert m.masses[:, :2].sum(0).min() > 0          # pooled: both modes covered
    assert all(c.verdict != "FAIL" for c in checks.transport_checks_from(m))


def test_planted_wrong_bound_fails():
    task = make_task("fork", horizon=4, clearance=0.5)
    obs = task.observations(4, seed=0)
    m = checks.measure_transport(ClipMap(task, 1.0), task, obs, 2000, seed=1, lipschitz=1.0,
                                 empirical=False)
    found = checks.transport_checks_from(m, plant=True)
    assert any(c.verdict == "FAIL" for c in found)
    assert all("PLANTED" in c.note for c in found)
    assert all(c.verdict != "FAIL" for c in checks.transport_checks_from(m))


class Centres:
    """Samples exactly on a task's mode centres, cycling through them (equal masses)."""

    kind, device = "centres", torch.device("cpu")

    def __init__(self, task):
        self.task = task

    def sample(self, o, n, generator=None):
        c = torch.as_tensor(self.task.mode_centres(np.asarray(o)))
        return c[:, torch.arange(n) % self.task.n_modes]


def test_measurement_round_trips_json():
    import json

    task = make_task("kway", n_modes=3, separation=2.0)
    obs = task.observations(2, seed=0)
    m = checks.measure_transport(Centres(task), task, obs, 300, seed=0, lipschitz=1.0,
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
    from validation.experiments import Training, train_policy

    task = make_task("fork", horizon=2, clearance=0.5)
    held = checks.conditional_demonstrations(task, task.observations(6, seed=5), 64, seed=5)
    assert len(held) == 384 and np.all(held.obs[:64] == held.obs[0])
    labels = task.mode_labels(held.obs, held.actions[:, None, :])[:, 0]
    assert np.array_equal(labels, held.modes)          # every chunk lies in its mode
    for beta, informative in ((0.02, True), (50.0, False)):
        cvae, _, _ = train_policy(task, "cvae", {"beta": beta, "latent_dim": 2},
                                  Training(steps=500, n_demos=1024, hidden=(32, 32)), seed=0,
                                  device="cpu")
        m = checks.measure_latent(cvae, task, held, seed=0)
        found = checks.latent_checks_from(m)
        assert {c.proposition for c in found} == {"L1", "L2", "L3", "L5"}
        assert all(c.verdict != "FAIL" for c in found), [c for c in found
                                                          if c.verdict == "FAIL"]
        if informative:
            assert m.mode_information > 0.4 and m.errors / m.n < 0.1
        else:
            assert abs(m.mode_information) < 0.05 and m.rate < 0.05


def test_power_analysis_raises_n_until_t2_can_fail_and_then_it_fails():
    """A map claimed ``L``-Lipschitz that puts half its mass on each mode of the fork (it
    is not: it jumps between the centres) violates T2 whenever ``max_mode_mass(L) < 1/2``.
    At n = 300 the claimed ``L`` is too large for the check to fail (a PASS that says
    nothing); `measure_transport(max_samples=...)` raises n until it can, and the check
    then FAILs, with the raise said in the note."""
    import theory

    task = make_task("fork")
    obs = task.observations(2, seed=0)

    def even(n):   # the lower end of a perfectly balanced sample, as the check computes it
        return float(checks.numerics.clopper_pearson(n // 2, n, 1 - 0.01 / 2)[0])

    eff = np.asarray(task.separation(obs)) - 2 * task.rho
    L = float(theory.min_lipschitz((even(300) + even(3000)) / 2, float(eff.min()), 2))
    fixed = checks.measure_transport(Centres(task), task, obs, 300, 0, lipschitz=L,
                                     empirical=False)
    t2 = next(c for c in checks.transport_checks_from(fixed) if c.proposition == "T2")
    assert not t2.failable and t2.verdict == "PASS" and fixed.n_samples_base is None
    raised = checks.measure_transport(Centres(task), task, obs, 300, 0, lipschitz=L,
                                      empirical=False, max_samples=3000)
    assert 300 < raised.n_samples <= 3000 and raised.n_samples_base == 300
    t2 = next(c for c in checks.transport_checks_from(raised) if c.proposition == "T2")
    assert t2.failable and t2.verdict == "FAIL" and "raised from 300" in t2.note
    # a certificate no affordable n can test keeps the n asked for
    assert checks.samples_for_power([1e6, 1e6], eff, 2, 300, 3000) == 300


class BallClipMap:
    """The T2 clip map of ``eps_1`` on the noise ball ``|eps| <= R`` in ``R^2`` (there it is
    ``L_B``-Lipschitz), every noise outside the ball sent to the centre of mode 0: a map
    Lipschitz only on the ball, which the local forms allow at outside mass
    ``p = gamma_2(|eps| > R)`` and the global forms at ``L_B`` do not. Its
    ``certified_lipschitz(method="local")`` reports ``claim`` as ``L_B``."""

    kind = "ball-clip"
    device = torch.device("cpu")

    def __init__(self, task, L: float, radius: float, claim: float | None = None):
        self.task, self.L, self.R = task, L, radius
        self.claim = L if claim is None else claim

    @torch.no_grad()
    def sample(self, obs, n, generator=None):
        c = torch.as_tensor(self.task.mode_centres(np.asarray(obs)), dtype=torch.float64)
        mid, diff = (c[:, 0] + c[:, 1]) / 2, c[:, 0] - c[:, 1]
        delta = diff.norm(dim=-1, keepdim=True)
        eps = torch.randn(c.shape[0], n, 2, generator=generator, dtype=torch.float64)
        s = torch.clamp(self.L * eps[..., 0], -delta / 2, delta / 2)
        inside = mid[:, None] + s[..., None] * (diff / delta)[:, None]
        return torch.where((eps.norm(dim=-1) <= self.R)[..., None], inside, c[:, :1])

    def certified_lipschitz(self, method: str = "joint", obs=None, **options):
        import theory
        from numerics import LipschitzEstimate

        assert method == "local" and obs is not None and options == {"radius": self.R}
        p = float(theory.outside_ball_mass(self.R, 2))
        return LipschitzEstimate(value=self.claim, kind="upper", method="given-local",
                                 seconds=0.0, details={"lower": self.claim, "radius": self.R,
                                                       "outside_mass": p})


def test_local_forms_hold_on_the_ball_and_catch_an_understated_constant():
    """At the true ``L_B`` and ``p`` no local check fails, while T2 and T4 in their local
    forms are near-tight (the clip map attains T2 on the ball); claiming ``L_B / 3`` FAILs
    T2-local and T4-local: the local checks can fail."""
    import theory

    task = make_task("kway", n_modes=2, horizon=1)
    obs = task.observations(2, seed=0)
    R = 2.5          # p = exp(-R^2 / 2) = 0.044 in R^2
    honest = checks.measure_transport(BallClipMap(task, 0.5, R), task, obs, 100_000, seed=4,
                                      lipschitz=1e6, empirical=False, local={"radius": R})
    assert honest.outside_mass == pytest.approx(np.exp(-R**2 / 2), rel=1e-9)
    assert honest.local_lipschitz == (0.5, 0.5) and honest.local_method == "given-local"
    found = {c.proposition: c for c in checks.transport_checks_from(honest)}
    assert {"T2-local", "T3-local", "T4-local", "T5-local"} <= set(found)
    assert all(c.verdict != "FAIL" for c in found.values()), found
    t4 = found["T4-local"]
    assert t4.failable and t4.bound > 0.5 * t4.estimate            # near-tight
    # ... and the bound is theory's local form at the observed m_1's interval ends
    eff = honest.effective_separation[0]
    assert t4.bound <= float(theory.min_bridge_mass_local(0.5, eff, honest.outside_mass,
                                                          m1=honest.masses[0, 0])) + 1e-12

    # the outside mass is needed: read as if p were 0 (the global form at L_B), this map,
    # Lipschitz only on the ball, violates T4 (its bridge 0.670 is below the bound 0.679)
    ignored = dataclasses.replace(honest, outside_mass=0.0)
    v = {c.proposition: c.verdict for c in checks.transport_checks_from(ignored)}
    assert v["T4-local"] == "FAIL", v

    wrong = checks.measure_transport(BallClipMap(task, 0.5, R, claim=0.5 / 3), task, obs,
                                     100_000, seed=4, lipschitz=1e6, empirical=False,
                                     local={"radius": R})
    v = {c.proposition: c.verdict for c in checks.transport_checks_from(wrong)}
    assert v["T2-local"] == "FAIL" and v["T4-local"] == "FAIL", v


def test_local_needs_a_policy_that_certifies_on_a_ball():
    task = make_task("kway", n_modes=2, horizon=1)
    obs = task.observations(1, seed=0)
    with pytest.raises(ValueError, match="method='local'"):
        checks.measure_transport(ClipMap(task, 1.0), task, obs, 100, seed=0, lipschitz=1.0,
                                 empirical=False, local={"radius": 2.0})
    with pytest.raises(TypeError, match="local must be a dict"):
        checks.measure_transport(BallClipMap(task, 1.0, 2.0), task, obs, 100, seed=0,
                                 lipschitz=1.0, empirical=False, local=2.0)

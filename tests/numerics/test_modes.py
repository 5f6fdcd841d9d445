"""Tests of numerics/modes.py: intervals against scipy.stats, assignments against
constructed samples, verdict logic, and the statistics of the verdicts (seeds fixed)."""

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from numerics.modes import (
    assign_modes,
    binomial_pvalue,
    check_interval_bound,
    check_proportion_bound,
    clopper_pearson,
    detectable_proportion,
    holm_adjusted,
    mode_distances,
    mode_masses,
    modes_from_demonstrations,
)

# ------------------------------------------------------------------ Clopper-Pearson


@given(n=st.integers(1, 2000), frac=st.floats(0, 1),
       confidence=st.floats(0.5, 0.999))
def test_clopper_pearson_matches_scipy_binomtest(n, frac, confidence):
    c = int(round(frac * n))
    ref = stats.binomtest(c, n).proportion_ci(confidence_level=confidence, method="exact")
    lo, hi = clopper_pearson(c, n, confidence)
    assert lo == pytest.approx(ref.low, abs=1e-10)
    assert hi == pytest.approx(ref.high, abs=1e-10)


def test_clopper_pearson_vectorised_shape():
    ci = clopper_pearson(np.array([[0, 3], [5, 10]]), 10, 0.9)
    assert ci.shape == (2, 2, 2)
    assert ci[0, 0, 0] == 0.0 and ci[1, 1, 1] == 1.0
    assert tuple(ci[0, 1]) == clopper_pearson(3, 10, 0.9)


@pytest.mark.parametrize("n", [10, 37, 200])
def test_clopper_pearson_exact_coverage_at_least_nominal(n):
    # Exact coverage: sum of the binomial pmf over the counts whose interval covers p.
    ci = clopper_pearson(np.arange(n + 1), n, 0.9)
    for p in np.linspace(0.001, 0.999, 301):
        covers = (ci[:, 0] <= p) & (p <= ci[:, 1])
        assert stats.binom.pmf(np.arange(n + 1), n, p)[covers].sum() >= 0.9 - 1e-12


@pytest.mark.parametrize("p", [0.02, 0.3, 0.5, 0.93])
def test_clopper_pearson_simulated_coverage(p):
    rng = np.random.default_rng(1)   # seed 1, 4000 binomial draws of n = 50
    counts = rng.binomial(50, p, size=4000)
    ci = clopper_pearson(counts, 50, 0.95)
    covered = int(np.sum((ci[:, 0] <= p) & (p <= ci[:, 1])))
    # fails only if the coverage is clearly (at 99.9%) below the nominal 95%
    assert clopper_pearson(covered, 4000, 0.998)[1] >= 0.95


@pytest.mark.parametrize("bad, match", [
    (dict(count=11, n=10), "count"), (dict(count=-1, n=10), "count"),
    (dict(count=1.5, n=10), "count"), (dict(count=1, n=0), "n must"),
    (dict(count=1, n=10, confidence=1.0), "confidence"),
])
def test_clopper_pearson_rejects_bad_input(bad, match):
    with pytest.raises(ValueError, match=match):
        clopper_pearson(**bad)


# ------------------------------------------------------------------ assignments


@st.composite
def separated_centres(draw):
    k = draw(st.integers(2, 5))
    d = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**31 - 1))
    c = np.random.default_rng(seed).normal(scale=3.0, size=(k, d))
    dist = np.linalg.norm(c[:, None] - c[None], axis=-1) + np.diag(np.full(k, np.inf))
    if dist.min() < 1e-3:
        c[1] += 1.0
        dist = np.linalg.norm(c[:, None] - c[None], axis=-1) + np.diag(np.full(k, np.inf))
    return c, dist, seed


@given(separated_centres(), st.floats(0.05, 0.49))
def test_assign_modes_on_constructed_samples(data, frac):
    c, dist, seed = data
    k, d = c.shape
    delta = dist.min()
    rho = frac * delta
    rng = np.random.default_rng(seed + 1)
    u = rng.normal(size=(k, 20, d))
    u /= np.linalg.norm(u, axis=-1, keepdims=True)
    r = rho * rng.uniform(0, 0.999, size=(k, 20, 1))
    inside = (c[:, None, :] + r * u).reshape(-1, d)
    i, j = np.unravel_index(np.argmin(dist), dist.shape)
    # the midpoint of the closest pair is >= Delta/2 > rho from every centre
    midpoint = (c[i] + c[j]) / 2
    labels = assign_modes(np.vstack([inside, midpoint]), c, rho=rho)
    assert labels.tolist() == np.repeat(np.arange(k), 20).tolist() + [-1]
    # without rho: nearest centre, no bridge
    assert assign_modes(midpoint[None], c)[0] in (i, j)


def test_assign_modes_batched_equals_per_observation_and_accepts_torch():
    rng = np.random.default_rng(2)
    c = rng.normal(size=(3, 2, 4)) * 4
    x = c[:, :1, :] + rng.normal(size=(3, 50, 4))
    batched = assign_modes(torch.from_numpy(x), torch.from_numpy(c), rho=1.5)
    assert batched.shape == (3, 50)
    for b in range(3):
        assert np.array_equal(batched[b], assign_modes(x[b], c[b], rho=1.5))


def test_assign_modes_point_sets():
    segment = np.stack([np.linspace(0, 1, 101), np.zeros(101)], axis=1)   # y = 0, 0 <= x <= 1
    point = np.array([[0.5, 3.0]])
    x = np.array([[0.3, 0.05], [0.5, 2.9], [0.5, 1.5], [1.2, 0.0]])
    labels = assign_modes(x, [segment, point], rho=0.15)
    assert labels.tolist() == [0, 1, -1, -1]
    # a one-point set is a point mode
    c = np.array([[0.0, 0.0], [2.0, 0.0]])
    y = np.random.default_rng(3).normal(size=(200, 2))
    assert np.array_equal(assign_modes(y, [c[:1], c[1:]], rho=0.7), assign_modes(y, c, rho=0.7))


def test_assign_modes_rejects_bad_input():
    c = np.zeros((2, 3))
    with pytest.raises(ValueError, match="modes"):
        assign_modes(np.zeros((5, 2)), c, rho=0.1)
    with pytest.raises(ValueError, match="rho"):
        assign_modes(np.zeros((5, 3)), c, rho=-1.0)
    with pytest.raises(ValueError, match="rho is required"):
        assign_modes(np.zeros((5, 3)), [c], rho=None)
    with pytest.raises(ValueError, match="finite"):
        assign_modes(np.full((5, 3), np.nan), c, rho=0.1)


def test_modes_from_demonstrations_recovers_clusters():
    rng = np.random.default_rng(4)
    true = np.array([[-5.0, 0.0], [0.0, 5.0], [5.0, 0.0]])
    x = true[rng.integers(0, 3, 600)] + 0.3 * rng.normal(size=(600, 2))
    centres = modes_from_demonstrations(x, 3, seed=0)
    assert np.allclose(centres, true, atol=0.1)
    labels = assign_modes(x, centres, rho=1.5)
    assert (labels >= 0).all()


# ------------------------------------------------------------------ masses


def test_mode_masses_counts_and_summaries():
    labels = np.array([0] * 30 + [1] * 30 + [-1] * 40)
    m = mode_masses(labels, 2, confidence=0.95)
    assert m.n == 100 and m.counts.tolist() == [30, 30]
    assert m.masses.tolist() == [0.3, 0.3] and m.bridge_mass == 0.4
    assert m.masses.sum() + m.bridge_mass == pytest.approx(1.0)
    assert tuple(m.intervals[0]) == clopper_pearson(30, 100, 0.95)
    assert m.bridge_interval == clopper_pearson(40, 100, 0.95)
    assert m.entropy() == pytest.approx(math.log(2))
    assert m.mode_count() == 2 and m.mode_count(0.31) == 0
    assert m.mode_count(0.2, certified=True) == 2   # lower ends ~0.21
    one = mode_masses(np.array([2, 2, 2, -1]), 3)
    assert one.entropy() == 0.0 and one.mode_count() == 1
    assert mode_masses(np.array([-1, -1]), 2).entropy() == 0.0


def test_mode_masses_of_samples_counts_by_distance():
    """mode_masses(samples, centres, rho): counts recomputed by hand from distances."""
    rng = np.random.default_rng(3)
    centres = np.array([[-1.0, 0.0], [1.0, 0.0]])
    x = rng.normal(scale=0.7, size=(500, 2))
    m = mode_masses(x, centres, 0.5, confidence=0.9)
    d = np.linalg.norm(x[:, None, :] - centres[None], axis=-1)
    expected = [int(np.sum(d[:, k] <= 0.5)) for k in range(2)]  # balls are disjoint
    assert m.counts.tolist() == expected and m.n == 500
    assert m.bridge_mass == pytest.approx(1 - sum(expected) / 500)
    sets = mode_masses(x, [centres[:1], centres[1:]], 0.5, confidence=0.9)
    assert sets.counts.tolist() == expected
    with pytest.raises(ValueError, match="rho"):
        mode_masses(np.array([0, 1]), 2, 0.5)


def test_mode_masses_rejects_bad_labels():
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        mode_masses(np.array([0, 2]), 2)
    with pytest.raises(TypeError, match="integer"):
        mode_masses(np.array([0.0, 1.0]), 2)


# ------------------------------------------------------------------ verdicts


@given(lo=st.floats(-10, 10), width=st.floats(0, 5), bound=st.floats(-20, 20),
       relation=st.sampled_from(["<=", ">="]), inconclusive=st.booleans())
def test_verdict_fails_iff_interval_excludes_bound(lo, width, bound, relation, inconclusive):
    hi = lo + width
    check = check_interval_bound((lo + hi) / 2, (lo, hi), bound, relation, proposition="T2",
                                 quantity="q", n=10, confidence=0.9,
                                 inconclusive=inconclusive, detectable=lo if relation == "<="
                                 else hi)
    # the interval excludes the bound iff no value in it satisfies the relation
    some_value_satisfies = (lo <= bound) if relation == "<=" else (hi >= bound)
    if not some_value_satisfies:
        assert check.verdict == "FAIL"
    else:
        assert check.verdict == ("INCONCLUSIVE" if inconclusive else "PASS")


def test_check_proportion_bound_examples_and_json():
    fail = check_proportion_bound(90, 100, 0.5, "<=", proposition="T2", quantity="m_1")
    assert fail.verdict == "FAIL" and fail.interval[0] > 0.5
    ok = check_proportion_bound(55, 100, 0.5, "<=", proposition="T2", quantity="m_1")
    assert ok.verdict == "PASS" and ok.estimate == 0.55 and ok.n == 100
    lower = check_proportion_bound(5, 100, 0.3, ">=", proposition="T4", quantity="b")
    assert lower.verdict == "FAIL"
    d = check_interval_bound(1.0, (0.5, math.inf), -math.inf, ">=", proposition="T5",
                             quantity="W1", n=5, confidence=0.9, detectable=0.0).to_dict()
    assert json.loads(json.dumps(d, allow_nan=False))["bound"] == "-inf"
    assert json.loads(json.dumps(ok.to_dict(), allow_nan=False))["interval"] == list(ok.interval)


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_true_bound_fails_at_most_at_the_nominal_rate(p):
    # A bound equal to the true mass FAILs with probability <= (1 - confidence)/2 = 0.025.
    rng = np.random.default_rng(5)   # seed 5, 2000 experiments of n = 40
    counts = rng.binomial(40, p, size=2000)
    fails = sum(check_proportion_bound(int(c), 40, p, proposition="T2", quantity="m",
                                       confidence=0.95).verdict == "FAIL" for c in counts)
    assert clopper_pearson(fails, 2000, 0.998)[0] <= 0.025


@pytest.mark.parametrize("kwargs, err, match", [
    (dict(relation="<"), ValueError, "relation"),
    (dict(interval=(1.0, 0.0)), ValueError, "low <= high"),
    (dict(bound=math.nan), ValueError, "bound"),
    (dict(n=0), ValueError, "n must"),
    (dict(confidence=0.0), ValueError, "confidence"),
    (dict(estimate="x"), TypeError, "estimate"),
    (dict(detectable=math.nan), ValueError, "detectable"),
    (dict(estimate=True), TypeError, "estimate"),
])
def test_check_interval_bound_rejects_bad_input(kwargs, err, match):
    args = dict(estimate=0.5, interval=(0.4, 0.6), bound=0.5, relation="<=",
                proposition="T2", quantity="q", n=10, confidence=0.9, detectable=1.0) | kwargs
    with pytest.raises(err, match=match):
        check_interval_bound(**args)


# ------------------------------------------------------------------ power of a check


@given(n=st.integers(1, 400), bound=st.floats(0.0, 1.0), relation=st.sampled_from(["<=", ">="]),
       confidence=st.sampled_from([0.9, 0.99, 0.999]))
def test_failable_iff_some_count_fails(n, bound, relation, confidence):
    """`failable` is exactly "some count in 0..n would FAIL", by brute force over counts."""
    check = check_proportion_bound(n // 2, n, bound, relation, proposition="T2", quantity="m",
                                   confidence=confidence)
    some_fail = any(check_proportion_bound(c, n, bound, relation, proposition="T2",
                                           quantity="m", confidence=confidence).verdict == "FAIL"
                    for c in range(n + 1))
    assert check.failable == some_fail


def test_detectable_matches_closed_form():
    # CP lower end at count = n is (alpha/2)^(1/n); upper end at 0 is 1 - (alpha/2)^(1/n).
    for n in (1, 10, 400, 10_000):
        assert detectable_proportion(n, "<=", 0.99) == pytest.approx(0.005 ** (1 / n), rel=1e-9)
        assert detectable_proportion(n, ">=", 0.99) == pytest.approx(1 - 0.005 ** (1 / n),
                                                                     rel=1e-6)


def test_binomial_pvalue_agrees_with_the_interval():
    """The two-sided CP interval at 1 - alpha excludes the bound iff the one-sided exact
    p-value is below alpha / 2 (scipy.stats.binomtest as the independent reference)."""
    from scipy.stats import binomtest

    rng = np.random.default_rng(3)
    for _ in range(200):
        n = int(rng.integers(1, 300))
        c = int(rng.integers(0, n + 1))
        b = float(rng.uniform(0.01, 0.99))
        p = binomial_pvalue(c, n, b, "<=")
        assert p == pytest.approx(binomtest(c, n, b, alternative="greater").pvalue, rel=1e-9)
        lo, _ = clopper_pearson(c, n, 0.98)
        if abs(p - 0.01) > 1e-9:
            assert (lo > b) == (p < 0.01)


def test_holm_against_brute_force_definition():
    rng = np.random.default_rng(4)
    for m in (1, 2, 5, 12):
        p = rng.uniform(0, 0.2, m)
        adj = holm_adjusted(p)
        order = np.argsort(p)
        expected = np.empty(m)
        for rank, i in enumerate(order):
            expected[i] = min(1.0, max((m - j) * p[order[j]] for j in range(rank + 1)))
        np.testing.assert_allclose(adj, expected)
        # Holm rejects everything Bonferroni rejects
        assert np.all((adj <= 0.05) >= (np.minimum(1, m * p) <= 0.05))


def test_mode_distances_mean_step_against_a_loop():
    rng = np.random.default_rng(6)
    x, c = rng.normal(size=(7, 10)), rng.normal(size=(3, 10))
    d = mode_distances(x, c, step_dim=2)
    for i in range(7):
        for k in range(3):
            steps = (x[i] - c[k]).reshape(5, 2)
            assert d[i, k] == pytest.approx(np.mean([np.hypot(*s) for s in steps]))
    np.testing.assert_allclose(mode_distances(x, c), np.linalg.norm(x[:, None] - c[None], axis=-1))
    with pytest.raises(ValueError, match="step_dim"):
        mode_distances(x, c, step_dim=3)

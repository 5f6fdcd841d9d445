"""Property-based tests of Part T with random Lipschitz maps (theory.strategies).

Each Monte Carlo check pushes Gaussian samples through a map with a known Lipschitz
upper bound and estimates mode masses with Clopper-Pearson intervals at confidence
``1 - 1e-6`` per check; a bound check fails only when the interval lies entirely on the
wrong side of the bound. Sets are chosen from an independent pilot sample (no
selection on the data that is tested). Seeds come from hypothesis (derandomized in CI)
and are printed on failure.
"""

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import stats

from theory import strategies
from theory import transport as T

CONF = 1 - 1e-6
N, N_PILOT = 20_000, 2_000
seeds = st.integers(0, 2**32 - 1)


def cp_interval(k: int, n: int) -> tuple[float, float]:
    ci = stats.binomtest(int(k), int(n)).proportion_ci(confidence_level=CONF, method="exact")
    return ci.low, ci.high


def _projected(Tmap, seed):
    """Pilot and main projections of ``T(eps)`` on a random unit direction."""
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(Tmap.dim_out)
    u /= np.linalg.norm(u)
    pilot = Tmap(rng.standard_normal((N_PILOT, Tmap.dim_in))) @ u
    x = rng.standard_normal((N, Tmap.dim_in))
    return pilot, x, Tmap(x) @ u


@given(strategies.lipschitz_maps(), st.floats(0.05, 4.0), seeds)
def test_two_mode_bounds_hold_for_random_lipschitz_maps(Tmap, ratio, seed):
    # M_1 = {<u, y> <= c - D/2}, M_2 = {<u, y> >= c + D/2}: half-spaces D apart.
    L = Tmap.lipschitz
    delta = ratio * L
    pilot, _, y = _projected(Tmap, seed)
    c = float(np.median(pilot))
    k1, k2 = np.sum(y <= c - delta / 2), np.sum(y >= c + delta / 2)
    (lo1, hi1), (lo2, _) = cp_interval(k1, N), cp_interval(k2, N)
    assert min(lo1, lo2) <= T.max_mode_mass(L, delta)                       # T2
    assert lo2 <= T.mode_mass_frontier(lo1, L, delta)                       # T2 frontier
    _, hi_bridge = cp_interval(N - k1 - k2, N)                              # T4 (b >= ...)
    assert hi_bridge >= min(T.min_bridge_mass(L, delta, m1=lo1),
                            T.min_bridge_mass(L, delta, m1=hi1))


@given(strategies.lipschitz_maps(), st.floats(0.05, 4.0), seeds)
def test_preimages_are_separated(Tmap, ratio, seed):
    # T1 is a pointwise fact: any two noise samples mapped into M_1 and M_2 are at
    # least D/L apart, no statistics involved.
    L = Tmap.lipschitz
    delta = ratio * L
    pilot, x, y = _projected(Tmap, seed)
    c = float(np.median(pilot))
    a, b = x[y <= c - delta / 2][:300], x[y >= c + delta / 2][:300]
    if len(a) and len(b):
        gap = np.min(np.linalg.norm(a[:, None] - b[None], axis=-1))
        assert gap >= T.preimage_separation(L, delta) * (1 - 1e-9)


@given(st.integers(1, 8), st.floats(0.1, 5.0), st.floats(0.05, 4.0), seeds)
def test_clip_map_attains_the_two_mode_limit(d, L, ratio, seed):
    rng = np.random.default_rng(seed)
    e = rng.standard_normal(d)
    e /= np.linalg.norm(e)
    delta = ratio * L
    y = np.clip(L * (rng.standard_normal((N, d)) @ e), -delta / 2, delta / 2)
    bound = T.max_mode_mass(L, delta)
    for count in (np.sum(y <= -delta / 2), np.sum(y >= delta / 2)):
        lo, hi = cp_interval(count, N)
        assert lo <= bound <= hi
    lo, hi = cp_interval(np.sum(np.abs(y) < delta / 2), N)
    assert lo <= T.min_bridge_mass(L, delta) <= hi


@given(strategies.lipschitz_maps(), strategies.mode_configurations(max_modes=5), seeds)
def test_k_mode_bounds_hold_on_slabs(Tmap, config, seed):
    # K slabs along a direction, cut at the pilot's weight quantiles and shrunk by D/2 on
    # each side: pairwise distances are exact, so both the min-mass bound and the
    # weighted-coverage bound (matrix separation) apply.
    K, w = config.n_modes, np.asarray(config.weights)
    L = Tmap.lipschitz
    delta = config.separation / config.lipschitz * L      # keep D/L in the drawn range
    pilot, _, y = _projected(Tmap, seed)
    cuts = np.quantile(pilot, np.cumsum(w)[:-1])
    lower = np.concatenate([[-np.inf], cuts + delta / 2])
    upper = np.concatenate([cuts - delta / 2, [np.inf]])
    S = np.maximum(lower[None, :] - upper[:, None], lower[:, None] - upper[None, :])
    np.fill_diagonal(S, 0.0)
    counts = np.array([np.sum((y >= lo) & (y <= hi)) for lo, hi in zip(lower, upper,
                                                                       strict=True)])
    low = np.array([cp_interval(k, N)[0] for k in counts])
    assert low.min() <= T.max_mode_mass(L, delta, K)
    assert np.min(low / w) <= T.max_weighted_coverage(L, S, w) * (1 + 1e-9)


@given(strategies.lipschitz_maps(dim_out=1), st.floats(0.1, 4.0), st.floats(0.1, 0.9), seeds)
def test_wasserstein_bound_holds_for_random_maps(Tmap, ratio, w1, seed):
    # clip(T - c) is L-Lipschitz too and supported in [-D/2, D/2], so W1 of its empirical
    # law plus D * eps_DKW bounds its true W1 from above (DKW, level 1e-6): that must be
    # >= the T5 bound.
    L = Tmap.lipschitz
    delta = ratio * L
    rng = np.random.default_rng(seed)
    c = float(np.median(Tmap(rng.standard_normal((N_PILOT, Tmap.dim_in)))[:, 0]))
    y = np.clip(Tmap(rng.standard_normal((N, Tmap.dim_in)))[:, 0] - c, -delta / 2, delta / 2)
    w = (w1, 1 - w1)
    empirical = stats.wasserstein_distance(y, [-delta / 2, delta / 2], v_weights=w)
    dkw = math.sqrt(math.log(2 / (1 - CONF)) / (2 * N))
    assert empirical + delta * dkw >= T.wasserstein_lower_bound(L, delta, w)


@given(st.floats(0.05, 20.0), st.floats(0.05, 6.0), st.floats(0.05, 0.95),
       st.floats(-0.3, 0.3), st.sampled_from([1, 1.5, 2.0, 3.0]))
def test_wasserstein_bound_below_exact_clip_map_distance(L, ratio, w1, shift, p):
    # The shifted clip map y = clip(L x - s, -D/2, D/2) is L-Lipschitz; with its switch
    # near the w1-quantile (s ~ L Phi^{-1}(w1)) it is nearly extremal, so a bound that is
    # too large shows. Its W_p to w1 delta_{-D/2} + w2 delta_{D/2} is computed exactly,
    # without sampling: W_p^p = int_0^1 |F^{-1}(q) - G^{-1}(q)|^p dq.
    from scipy import integrate, special

    delta = ratio * L
    s = L * (float(special.ndtri(w1)) + shift)

    def gap(q):
        y = np.clip(L * special.ndtri(q) - s, -delta / 2, delta / 2)
        target = np.where(q < w1, -delta / 2, delta / 2)
        return np.abs(y - target) ** p

    brk = sorted({w1, float(special.ndtr((s - delta / 2) / L)),
                  float(special.ndtr((s + delta / 2) / L))} - {0.0, 1.0})
    value = integrate.quad(gap, 0, 1, points=brk, limit=200, epsabs=1e-13)[0] ** (1 / p)
    assert T.wasserstein_lower_bound(L, delta, (w1, 1 - w1), p) <= value * (1 + 1e-7) + 1e-12


@given(strategies.lipschitz_maps(dim_in=st.integers(1, 4), dim_out=st.integers(1, 4),
                                 max_lipschitz=3.0, kinds=("mlp",)),
       st.integers(1, 6), st.floats(0.01, 0.5), seeds)
def test_euler_bound_holds_for_random_velocity_fields(v, n_steps, h, seed):
    # Euler map x -> x + h v(x) repeated, v: R^d -> R^d with known Lipschitz bound: the
    # ratio |F(x) - F(y)| / |x - y| over random pairs never exceeds prod(1 + h l).
    d = v.dim_in
    if v.dim_out != d:
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((500, d))
    y = x + rng.standard_normal((500, d)) * 10 ** rng.uniform(-4, 0, (500, 1))
    fx, fy = x, y
    for _ in range(n_steps):
        fx, fy = fx + h * v(fx), fy + h * v(fy)
    ratio = np.linalg.norm(fx - fy, axis=1) / np.linalg.norm(x - y, axis=1)
    bound = T.flow_lipschitz_bound(np.full(n_steps, v.lipschitz), np.full(n_steps, h))
    assert ratio.max() <= bound * (1 + 1e-9)


# ------------------------------------------------ algebraic properties on random inputs

lipschitz = st.floats(1e-3, 1e3)
separation = st.floats(0.0, 50.0)


@given(lipschitz, separation, st.integers(2, 8))
def test_numeric_equals_symbolic(L, delta, K):
    import sympy

    Ls, Ds = sympy.symbols("L Delta", positive=True)
    f = sympy.lambdify((Ls, Ds), T.max_mode_mass(Ls, Ds, K), modules=["scipy", "numpy"])
    assert math.isclose(T.max_mode_mass(L, delta, K), float(f(L, delta)), rel_tol=1e-9,
                        abs_tol=1e-15)
    g = sympy.lambdify((Ls, Ds), T.min_bridge_mass(Ls, Ds), modules=["scipy", "numpy"])
    assert math.isclose(T.min_bridge_mass(L, delta), float(g(L, delta)), rel_tol=1e-9,
                        abs_tol=1e-15)


@given(st.floats(1e-12, 0.5), st.floats(1e-3, 20.0), st.integers(2, 8))
def test_min_lipschitz_round_trip(fraction, delta, K):
    mass = fraction * 2 / K * (1 - 1e-9)     # strictly inside [0, 1/K)
    L = T.min_lipschitz(mass, delta, K)
    assert math.isclose(T.max_mode_mass(L, delta, K), mass, rel_tol=1e-8)


@given(st.floats(1e-10, 1 - 1e-10), st.floats(1e-3, 20.0))
def test_bridge_round_trip(b, delta):
    L = T.min_lipschitz_for_bridge(b, delta)
    assert math.isclose(T.min_bridge_mass(L, delta), b, rel_tol=1e-8)


@given(lipschitz, separation, st.floats(1.01, 3.0), st.floats(0.01, 3.0), st.integers(2, 8))
def test_monotone_in_L_and_separation(L, delta, factor, extra, K):
    assert T.max_mode_mass(L * factor, delta, K) >= T.max_mode_mass(L, delta, K)
    assert T.max_mode_mass(L, delta + extra, K) <= T.max_mode_mass(L, delta, K)
    assert T.min_bridge_mass(L * factor, delta) <= T.min_bridge_mass(L, delta)
    assert T.wasserstein_lower_bound(L, delta + extra) >= T.wasserstein_lower_bound(L, delta)
    assert 0 <= T.max_mode_mass(L, delta, K) <= 1 / K * (1 + 1e-15)
    assert T.achievable_mode_mass(L, delta, K) <= T.max_mode_mass(L, delta, K) * (1 + 1e-9)


@given(hnp.arrays(np.float64, hnp.array_shapes(max_dims=2, max_side=5),
                  elements=st.floats(1e-2, 1e2)),
       hnp.arrays(np.float64, st.just((5,)), elements=st.floats(0.0, 30.0)))
def test_vectorised_equals_elementwise(Ls, deltas):
    Ls = Ls[..., None]
    out = T.max_mode_mass(Ls, deltas)
    log_out = T.log_max_mode_mass(Ls, deltas, 3)
    bridge = T.min_bridge_mass(Ls, deltas)
    for idx in np.ndindex(out.shape):
        L, D = float(Ls[idx[:-1]][0]), float(deltas[idx[-1]])
        # scalar path (math.erfc) and array path (ndtr) agree within the conditioning of
        # Phi at x = D/(2L): a relative change eps in x moves Phi(-x) by ~ x^2 eps; scipy's
        # ndtr itself is off by up to ~5 ulp (1e-15 at x = 1.31, against mpmath)
        tol = 1.2e-15 * (1 + (D / (2 * L)) ** 2)
        assert math.isclose(out[idx], T.max_mode_mass(L, D), rel_tol=tol, abs_tol=1e-300)
        assert math.isclose(log_out[idx], T.log_max_mode_mass(L, D, 3), rel_tol=1e-15)
        assert math.isclose(bridge[idx], T.min_bridge_mass(L, D), rel_tol=1e-15,
                            abs_tol=1e-300)


@given(st.floats(0.0, 1.0, allow_subnormal=False), lipschitz, separation)
def test_frontier_is_symmetric_and_a_probability(m1, L, delta):
    m2 = T.mode_mass_frontier(m1, L, delta)
    assert 0.0 <= m2 <= 1.0
    # the frontier is its own inverse: (m1, m2) on it means (m2, m1) is too (away from 1,
    # where a float m keeps only ~eps / (1 - m) of the distance 1 - m that matters)
    if 1e-200 < m2 < 1 - 1e-6 and 1e-200 < m1 < 1 - 1e-6:
        assert math.isclose(T.mode_mass_frontier(m2, L, delta), m1, rel_tol=1e-6)
    b = T.min_bridge_mass(L, delta, m1=m1)
    assert 0.0 <= b <= 1.0
    assert math.isclose(b, max(1 - m1 - m2, 0.0), abs_tol=1e-12)


def test_limits():
    assert T.max_mode_mass(1e-300, 1.0) == 0.0 and T.max_mode_mass(1e300, 1.0) == 0.5
    assert T.min_bridge_mass(1e300, 1.0) < 1e-299 and T.min_bridge_mass(1e-300, 1.0) == 1.0
    # L -> 0: D(rho) -> Phi(0) = 1/2 on [0, Delta/2], so W1 >= Delta/4
    assert math.isclose(T.wasserstein_lower_bound(1e-9, 2.0), 0.5, rel_tol=1e-6)

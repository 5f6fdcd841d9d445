"""Property-test your own map against T2 with hypothesis and `theory.strategies`.

Run: .venv/bin/python examples/03_property_test_your_map.py   (a few seconds)

Replace `my_map` with your generator (NumPy in, NumPy out) and `MY_LIPSCHITZ` with a
certified upper bound on its Lipschitz constant (e.g. `numerics.lipschitz_upper`).
hypothesis then draws pairs of modes where the map puts mass; for each pair we measure
the map's mass within rho of each mode and assert T2 with a Clopper-Pearson interval,
so a pass is not luck and a failure is real. T2 is a necessary condition only: a map
far from T2-tight (like this one) can understate its constant undetected; a wrong
constant is caught when the map concentrates mass on two separated sets.
"""

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import numerics
import theory
from theory.strategies import lipschitz_maps

MY_LIPSCHITZ = 1.5


def my_map(eps: np.ndarray) -> np.ndarray:
    """A user map R^3 -> R^2: a 1.5-Lipschitz tanh ridge plus a 1-Lipschitz shear (scaled)."""
    ridge = np.tanh(eps[:, :1]) * np.array([[1.0, 0.0]])
    shear = np.sin(eps[:, 1:2]) * np.array([[0.0, 1.0]])
    # Lip <= 1.5 * Lip of x -> (tanh x0, sin x1), which is 1 (diagonal Jacobian, entries <= 1).
    return 1.5 * (ridge + shear)


def t2_holds(T, lipschitz: float, dim_in: int, seed: int) -> bool:
    """T2 on two point modes placed where T puts mass, judged with a 99.9 % interval.

    The modes are T's images of two drawn noise points (scaled by 2 so that they reach
    saturated regions, where maps pile up mass): modes away from T's mass would make
    the check vacuous, because then any constant passes.
    """
    rng = np.random.default_rng(seed)
    modes = T(2.0 * rng.standard_normal((2, dim_in)))
    delta = float(np.linalg.norm(modes[0] - modes[1]))
    assume(delta > 0.05)
    rho = delta / 8
    labels = numerics.assign_modes(T(rng.standard_normal((20_000, dim_in))), modes, rho=rho)
    counts = np.bincount(labels[labels >= 0], minlength=2)
    bound = theory.max_mode_mass(lipschitz, delta - 2 * rho)   # rho-balls: Delta - 2 rho apart
    check = numerics.check_proportion_bound(int(counts.min()), labels.size, bound, "<=",
                                            proposition="T2", quantity="min mode mass",
                                            confidence=0.999)
    return check.verdict != "FAIL"


@settings(max_examples=30, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1))
def test_my_map_obeys_t2(seed):
    assert t2_holds(my_map, MY_LIPSCHITZ, 3, seed)


# The library's own maps: each LipschitzMap carries a known bound `.lipschitz`.
@settings(max_examples=30, deadline=None, derandomize=True)
@given(T=lipschitz_maps(dim_in=4, dim_out=2, max_lipschitz=3.0), seed=st.integers(0, 1000))
def test_library_maps_obey_t2(T, seed):
    assert t2_holds(T, T.lipschitz, 4, seed)


# A planted bug: claiming my_map is 0.3-Lipschitz (it is not). The test must find a
# counterexample.
@settings(max_examples=60, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1))
def test_wrong_constant_is_caught(seed):
    assert t2_holds(my_map, 0.3, 3, seed)


if __name__ == "__main__":
    test_my_map_obeys_t2()
    print("my_map (L = 1.5): T2 holds on 30 drawn mode pairs")
    test_library_maps_obey_t2()
    print("theory.strategies.lipschitz_maps: T2 holds on 30 drawn maps")
    try:
        test_wrong_constant_is_caught()
    except AssertionError:
        print("claimed L = 0.3 for my_map: hypothesis found a T2 violation (as it should)")
    else:
        raise SystemExit("claimed L = 0.3 was not caught: the property test is too weak")

"""Property-test your own map against T2 with hypothesis and `theory.strategies`.

Run: .venv/bin/python examples/03_property_test_your_map.py   (a few seconds)

Replace `my_map` with your generator (NumPy in, NumPy out) and `MY_LIPSCHITZ` with a
certified upper bound on its Lipschitz constant (e.g. `numerics.lipschitz_upper`).
hypothesis then draws mode configurations; for each one we measure how much mass the
map puts within rho of each mode and assert T2 with a Clopper-Pearson interval, so a
pass is not luck and a failure is real.
"""

import numpy as np
from hypothesis import given, settings
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


def t2_holds(T, lipschitz: float, centre: np.ndarray, direction: np.ndarray, delta: float,
             dim_in: int, seed: int) -> bool:
    """T2 on two point modes centre +- direction * delta/2, judged with a 99.9 % interval."""
    eps = np.random.default_rng(seed).standard_normal((20_000, dim_in))
    modes = np.stack([centre + direction * delta / 2, centre - direction * delta / 2])
    rho = delta / 8
    labels = numerics.assign_modes(T(eps), modes, rho=rho)
    counts = np.bincount(labels[labels >= 0], minlength=2)
    bound = theory.max_mode_mass(lipschitz, delta - 2 * rho)   # rho-balls: Delta - 2 rho apart
    check = numerics.check_proportion_bound(int(counts.min()), labels.size, bound, "<=",
                                            proposition="T2", quantity="min mode mass",
                                            confidence=0.999)
    return check.verdict != "FAIL"


unit_vectors = st.floats(0.0, 2 * np.pi).map(lambda a: np.array([np.cos(a), np.sin(a)]))


@settings(max_examples=30, deadline=None, derandomize=True)
@given(centre=st.tuples(st.floats(-2, 2), st.floats(-2, 2)).map(np.array),
       direction=unit_vectors, delta=st.floats(0.2, 6.0), seed=st.integers(0, 1000))
def test_my_map_obeys_t2(centre, direction, delta, seed):
    assert t2_holds(my_map, MY_LIPSCHITZ, centre, direction, delta, 3, seed)


# The library's own maps: each LipschitzMap carries a known bound `.lipschitz`.
@settings(max_examples=30, deadline=None, derandomize=True)
@given(T=lipschitz_maps(dim_in=4, dim_out=2, max_lipschitz=3.0), delta=st.floats(0.2, 6.0),
       direction=unit_vectors)
def test_library_maps_obey_t2(T, delta, direction):
    assert t2_holds(T, T.lipschitz, np.zeros(2), direction, delta, 4, seed=0)


# A planted bug: claiming the map is 0.3-Lipschitz (it is not). The test must find a
# counterexample; the worst configuration puts the modes where the map's mass sits.
@settings(max_examples=60, deadline=None, derandomize=True)
@given(direction=unit_vectors, delta=st.floats(0.2, 3.0))
def test_wrong_constant_is_caught(direction, delta):
    assert t2_holds(my_map, 0.3, np.zeros(2), direction, delta, 3, seed=0)


if __name__ == "__main__":
    test_my_map_obeys_t2()
    print("my_map (L = 1.5): T2 holds on 30 drawn mode configurations")
    test_library_maps_obey_t2()
    print("theory.strategies.lipschitz_maps: T2 holds on 30 drawn maps")
    try:
        test_wrong_constant_is_caught()
    except AssertionError:
        print("claimed L = 0.3 for my_map: hypothesis found a T2 violation (as it should)")
    else:
        raise SystemExit("claimed L = 0.3 was not caught: the property test is too weak")

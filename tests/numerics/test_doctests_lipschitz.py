"""The ``Examples`` sections of `numerics.lipschitz` and `numerics.flow` run as doctests.

Each public function shows a short call with its exact output; this runs them all, so an
example that drifts from the code fails here.
"""

import doctest
import importlib

import pytest

MODULES = [
    "numerics.lipschitz.certificate", "numerics.lipschitz.compositional",
    "numerics.lipschitz.fast", "numerics.lipschitz.lipsdp", "numerics.lipschitz.lower",
    "numerics.lipschitz.local", "numerics.lipschitz.network", "numerics.lipschitz.one_sided",
    "numerics.lipschitz.sampler", "numerics.lipschitz.transitions",
    "numerics.lipschitz.upper", "numerics.flow",
]


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name):
    module = importlib.import_module(name)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(module, optionflags=flags, verbose=False)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0, f"{result.failed} example(s) of {name} failed (see output)"

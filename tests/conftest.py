"""Shared test configuration: hypothesis profiles, fixed seeds, experiment size.

Property tests run derandomized in CI (fixed seed, reported by hypothesis on failure);
experiment tests read MODEBOUND_TEST_SIZE ("reduced" by default and in CI, "full" for
`make test-full`) so that CI runs every experiment at reduced size, never zero of them.
"""

import os

import pytest
import torch
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=40, deadline=None, derandomize=True, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev", max_examples=100, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Two pytest-xdist workers on two cores: one torch thread each avoids oversubscription,
# also in the suites the tests run through the CLI (`validation.threads.limit_threads`
# reads MODEBOUND_THREADS; with its default of every CPU, the quick suite's test ran with
# two OpenMP threads beside the other worker and took 712 s instead of 430 s).
os.environ.setdefault("MODEBOUND_THREADS", "1")
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def test_size() -> str:
    """'reduced' (default, CI) or 'full' (make test-full)."""
    size = os.environ.get("MODEBOUND_TEST_SIZE", "reduced")
    if size not in ("reduced", "full"):
        raise ValueError(f"MODEBOUND_TEST_SIZE must be 'reduced' or 'full', got {size!r}")
    return size


"""`validation.threads.limit_threads`: explicit counts, the MODEBOUND_THREADS default."""

import pytest
import torch

from validation.threads import available_cpus, limit_threads


def test_default_reads_modebound_threads_and_explicit_counts_win(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("MODEBOUND_THREADS", "1")
        assert limit_threads() == 1 and torch.get_num_threads() == 1
        assert limit_threads(2) == 2 and torch.get_num_threads() == 2
        monkeypatch.delenv("MODEBOUND_THREADS")
        assert limit_threads() == available_cpus()
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("text", ["two", "0", "-1", "1.5"])
def test_bad_modebound_threads_names_the_variable(monkeypatch, text):
    monkeypatch.setenv("MODEBOUND_THREADS", text)
    with pytest.raises(ValueError, match="MODEBOUND_THREADS"):
        limit_threads()

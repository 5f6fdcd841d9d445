"""The README's API tour is executed as a doctest, so its printed output stays true."""

import doctest
from pathlib import Path

import torch

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_tour_output_is_what_the_code_prints():
    torch.manual_seed(0)  # the tour's network is drawn after seeding, as the README says
    parser = doctest.DocTestParser()
    # A closing code fence ends the expected output of the example above it.
    text = README.read_text().replace("\n```", "\n\n```")
    test = parser.get_doctest(text, {}, "README.md", str(README), 0)
    assert test.examples, "the README lost its >>> tour"
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} README examples print something else"

"""Every docstring example of `theory` runs and prints what it shows (numpydoc Examples).

The examples are part of the documentation; this test keeps them true. It collects the
doctests of each module of the package (the public functions, the `*_expr` helpers, the
registry) and fails on the first example that prints something else.
"""

import doctest
import importlib

import pytest

MODULES = ["theory", "theory.gaussian", "theory.transport", "theory.latent",
           "theory.registry", "theory.strategies", "theory._args"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} fail"


def test_every_public_function_has_an_example():
    import theory

    missing = [n for n in theory.__all__
               if callable(getattr(theory, n)) and n != "Proposition"
               and ">>>" not in (getattr(theory, n).__doc__ or "")]
    assert not missing, f"public functions without a runnable Examples section: {missing}"


@pytest.mark.parametrize("section", ["Parameters", "Returns", "Examples", "References"])
def test_public_docstrings_are_numpydoc(section):
    import theory

    lacking = [n for n in theory.__all__
               if callable(getattr(theory, n)) and n not in ("Proposition",)
               and not n.startswith("normal_")
               and f"{section}\n    ---" not in (getattr(theory, n).__doc__ or "")]
    assert not lacking, f"public functions without a {section} section: {lacking}"


def test_docs_theory_examples():
    # docs/theory.md's ``>>>`` examples print what the page shows (a closing code fence ends
    # the expected output of the example above it, as for the README).
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "docs" / "theory.md"
    text = path.read_text().replace("\n```", "\n\n```")
    test = doctest.DocTestParser().get_doctest(text, {}, "theory.md", str(path), 0)
    assert test.examples
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0

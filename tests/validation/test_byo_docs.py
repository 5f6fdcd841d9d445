"""The bring-your-own pages run as written: their python blocks in order (a block whose
first line is ``# name.py`` is saved as that module instead), their ``$ modebound ...``
console lines through the CLI, all from an empty working folder."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest

from validation import cli

DOCS = Path(__file__).resolve().parents[2] / "docs"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)
MODULE = re.compile(r"^# (\w+)\.py\n")


def blocks(page: str) -> list[tuple[str, str]]:
    return BLOCK.findall((DOCS / page).read_text())


def run_page(page: str, folder: Path, monkeypatch) -> dict:
    monkeypatch.chdir(folder)
    monkeypatch.syspath_prepend(str(folder))
    namespace: dict = {"__name__": f"docs_{page.replace('-', '_')}"}
    saved = []
    try:
        for i, (lang, code) in enumerate(blocks(page)):
            if lang == "python" and (m := MODULE.match(code)):
                (folder / f"{m[1]}.py").write_text(code)
                saved.append(m[1])
            elif lang == "python":
                exec(compile(code, f"{page} block {i}", "exec"), namespace)
            elif lang == "console":
                for line in code.splitlines():
                    if line.startswith("$ modebound "):
                        code_ = cli.main(shlex.split(line)[2:])
                        assert code_ == cli.EXIT_OK, f"{page}: `{line[2:]}` exited {code_}"
    finally:
        for name in saved:
            sys.modules.pop(name, None)
    return namespace


def test_pages_are_linked_from_the_index_and_have_code():
    index = (DOCS / "index.md").read_text()
    for page in ("bring-your-own-task.md", "bring-your-own-policy.md"):
        assert f"({page})" in index, f"docs/index.md does not link {page}"
        langs = [lang for lang, _ in blocks(page)]
        assert langs.count("python") >= 4


@pytest.mark.slow
def test_bring_your_own_task_page_runs(tmp_path, monkeypatch):
    """Includes the bar of the issue: a task written outside the package (the page's
    ``my_tasks.py``) runs through ``modebound validate --suite paper --task``."""
    assert any(lang == "console" and "--task my_tasks:Detour" in code
               for lang, code in blocks("bring-your-own-task.md"))
    ns = run_page("bring-your-own-task.md", tmp_path, monkeypatch)
    assert ns["results"]["suite"] == "paper"
    assert ns["regression"]["tube_mode_coverage"] == 0.0


@pytest.mark.slow
def test_bring_your_own_policy_page_runs(tmp_path, monkeypatch):
    for module in ("diffusers", "eclipse_nn"):
        pytest.importorskip(module, reason=f"{module} is not installed: pip install "
                                           "'modebound[test]' to run this page")
    ns = run_page("bring-your-own-policy.md", tmp_path, monkeypatch)
    assert ns["policy"].agreement(ns["obs"]) < 1e-5
    assert not [c for c in ns["checks"] if c.verdict == "FAIL"]

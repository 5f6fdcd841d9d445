"""docs/architecture.md is the contract: every module is named there, and the layering
``validation -> numerics -> theory`` holds in the code (no upward import, lazy ones
included; ``theory`` never imports torch; optional heavy packages stay off the import
path of ``theory`` and ``numerics``)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("theory", "numerics", "validation")
# what each package may import from the project (itself included)
ALLOWED = {"theory": {"theory"}, "numerics": {"theory", "numerics"},
           "validation": {"theory", "numerics", "validation"}}
# never imported anywhere by theory / numerics, not even lazily inside a function
FORBIDDEN = {"theory": {"torch", "ot", "cvxpy", "mujoco", "ray", "diffusers", "eclipse_nn"},
             "numerics": {"mujoco", "ray", "diffusers", "eclipse_nn", "gymnasium", "gym_aloha",
                          "dm_control"}}


def modules() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_upward_or_forbidden_import(path):
    package = path.relative_to(ROOT).parts[0]
    roots = imported_roots(path)
    upward = (roots & set(PACKAGES)) - ALLOWED[package]
    assert not upward, f"{path.relative_to(ROOT)} imports {sorted(upward)} (layering)"
    bad = roots & FORBIDDEN.get(package, set())
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_every_module_is_in_the_architecture_contract():
    text = (ROOT / "docs" / "architecture.md").read_text()
    named = set(re.findall(r"`((?:theory|numerics|validation)/[\w/]+\.py)`", text))
    folders = set(re.findall(r"`((?:theory|numerics|validation)/[\w/]+)/`", text))
    missing = []
    for path in modules():
        rel = path.relative_to(ROOT).as_posix()
        if path.name == "__main__.py":
            continue
        if rel in named or (path.name == "__init__.py" and rel.rsplit("/", 1)[0] in folders):
            continue
        missing.append(rel)
    assert not missing, f"modules not named in docs/architecture.md: {missing}"
    stale = [m for m in named if not (ROOT / m).exists()]
    assert not stale, f"docs/architecture.md names modules that do not exist: {stale}"


def test_the_checker_sees_a_planted_upward_import(tmp_path):
    """The layering test can fail: a theory module importing numerics is caught."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from numerics import modes\n    import torch\n")
    roots = imported_roots(bad)
    assert "numerics" in roots - ALLOWED["theory"] and "torch" in FORBIDDEN["theory"] & roots


@pytest.mark.parametrize("package, submodules", [
    ("theory", ("gaussian", "latent", "transport")),
    ("numerics", ("flow", "information", "lipschitz", "modes", "transport")),
])
def test_public_api_is_re_exported_by_name(package, submodules):
    """Explicit re-exports (``from theory.gaussian import f as f``), no star imports: the
    names a package's ``__init__`` imports from each submodule are exactly that
    submodule's ``__all__``, so a name added to a module and not re-exported (or the
    other way round) fails here rather than at ``from theory import *``."""
    import importlib

    tree = ast.parse((ROOT / package / "__init__.py").read_text())
    imported: dict[str, set[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.count(".") == 1:
            assert all(a.name != "*" for a in node.names), f"star import of {node.module}"
            assert all(a.asname in (None, a.name) for a in node.names), node.module
            imported.setdefault(node.module.split(".")[1], set()).update(
                a.name for a in node.names)
    for sub in submodules:
        names = set(importlib.import_module(f"{package}.{sub}").__all__)
        assert imported.get(sub) == names, (
            f"{package}/__init__.py re-exports {sorted(imported.get(sub, set()) ^ names)} "
            f"differently from {package}.{sub}.__all__")
    pkg = importlib.import_module(package)
    assert all(hasattr(pkg, n) for n in pkg.__all__)

"""The package works on a machine that has only its declared dependencies.

A module that imports a third-party package which no dependency or extra of pyproject.toml declares passes on
the machine where someone installed it by hand and fails on every new one (defusedxml was such a case). So:
every module imports in the test environment (built from the lock only), and every third-party import in
gates/ belongs to a declared distribution.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
import sys
from importlib.metadata import packages_distributions, requires
from pathlib import Path

import pytest

import gates

ROOT = Path(__file__).resolve().parents[1]


def _modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(gates.__path__, prefix="gates."))


@pytest.mark.parametrize("module", _modules())
def test_every_module_imports(module: str) -> None:
    importlib.import_module(module)


def _declared() -> set[str]:
    requirements = requires("mlgate") or []  # the installed metadata: dependencies and every extra
    return {_normal(re.split(r"[\s<>=!~\[;(]", r.strip(), maxsplit=1)[0]) for r in requirements}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _top_level_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_every_third_party_import_is_declared() -> None:
    declared = _declared()
    distributions = packages_distributions()
    undeclared = []
    for path in sorted((ROOT / "gates").rglob("*.py")):
        for name in sorted(_top_level_imports(path)):
            if name in sys.stdlib_module_names or name == "gates":
                continue
            owners = {_normal(d) for d in distributions.get(name, [name])}
            if not owners & declared:
                undeclared.append(f"{name} (imported in {path.relative_to(ROOT)})")
    assert not undeclared, "imported but declared nowhere in pyproject.toml: " + ", ".join(undeclared)

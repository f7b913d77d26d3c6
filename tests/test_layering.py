"""The packages depend one way: orchestrator <- agents <- cluster <- workflows.

A package may import the packages below it, never one above, anywhere in its files
(module level or inside a function), and may not name one above it in an import string
either (`importlib.import_module("workflows.cli")`, a `"workflows.cli:demo"` table). The
root CLI finds the commands of the packages above it through the `slmflow.commands`
entry points instead.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["orchestrator", "agents", "cluster", "workflows"]


def _upward(package: str, tree: ast.AST) -> list[tuple[int, str]]:
    above = LAYERS[LAYERS.index(package) + 1 :]
    ref = re.compile(rf"^({'|'.join(above)})([.:][\w.:]*)?$") if above else None
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and ref is not None:
            # A dotted or "module:attr" string naming a package above: an import by name.
            if ref.match(node.value) and ("." in node.value or ":" in node.value):
                found.append((node.lineno, f"string {node.value!r}"))
            continue
        for name in names:
            if name.split(".")[0] in above:
                found.append((node.lineno, f"import {name}"))
    return found


def _violations() -> list[str]:
    out = []
    for package in LAYERS:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            out += [f"{path.relative_to(ROOT)}:{line}: {what}" for line, what in _upward(package, tree)]
    return out


def test_no_package_imports_a_package_above_it() -> None:
    assert _violations() == [], "upward dependencies (order: " + " <- ".join(LAYERS) + ")"


@pytest.mark.parametrize(
    ("package", "source"),
    [
        ("agents", "def f():\n    from cluster.connect import connect\n"),
        ("cluster", "import workflows.cli\n"),
        ("orchestrator", "from agents import agent\n"),
        ("cluster", "COMMANDS = [('workflows.cli', 'demo')]\n"),
        ("cluster", "import importlib\nimportlib.import_module('workflows.specialize')\n"),
    ],
)
def test_the_check_catches_upward_imports(package: str, source: str) -> None:
    assert _upward(package, ast.parse(source))


def test_downward_imports_and_prose_pass() -> None:
    src = 'from orchestrator import step\nimport agents.client\n"""the workflows package."""\n'
    assert _upward("cluster", ast.parse(src)) == []


def test_every_registered_command_is_on_the_root_cli() -> None:
    """The installed entry points are this checkout's (refresh with `pip install --no-deps -e .`)."""
    from cluster.cli import main

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["slmflow.commands"]
    assert set(declared) <= set(main.commands), set(declared) - set(main.commands)


# The engine runs a compiled plan (orchestrator._plan), not a Workflow: none of its modules may
# import orchestrator.workflow, which imports the engine (a cycle the plan ended).
ENGINE_MODULES = ["_engine", "_attempt", "_persist", "_plan", "_state", "executor", "watchdog"]


def _imports_of(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def test_the_engine_does_not_import_the_workflow_module() -> None:
    found = {
        module: sorted(n for n in _imports_of(ast.parse((ROOT / "orchestrator" / f"{module}.py").read_text()))
                       if n == "orchestrator.workflow" or n.startswith("orchestrator.workflow."))
        for module in ENGINE_MODULES
    }  # fmt: skip
    assert {m: names for m, names in found.items() if names} == {}


def test_the_engine_check_sees_a_workflow_import() -> None:
    src = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from orchestrator.workflow import Workflow\n"
    assert "orchestrator.workflow" in _imports_of(ast.parse(src))

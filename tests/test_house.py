"""The house: the package's wings and the one direction its imports run.

Every module's imports (module level and inside functions alike) are read from its `ast`;
an import from a lower wing up to a higher one, or a circle between modules, fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

PACKAGE = REPO / "resnet_dsl"
WINGS = ("language", "network", "analysis", "review", "backends", "codegen", "integrations", "cli")
"""Lowest first: each wing may import the wings before it, never one after it."""
MAX_LINES = 500


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that `name` imports, anywhere in its text."""
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets.add(node.module)
            targets.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {target for target in targets if target in modules and target != name}


def _wing(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in WINGS else None


def test_every_module_lives_in_a_wing() -> None:
    loose = [m for m in _modules() if _wing(m) is None and m not in ("resnet_dsl", "resnet_dsl.__main__")]
    assert loose == [], "modules outside the wings"
    for wing in WINGS:
        doc = ast.get_docstring(ast.parse((PACKAGE / wing / "__init__.py").read_text(encoding="utf-8")))
        assert doc, f"resnet_dsl/{wing}/__init__.py says in one line what the wing is"


def test_imports_run_one_way() -> None:
    modules = _modules()
    upward = []
    for name, path in modules.items():
        wing = _wing(name)
        for target in _imports(name, path, modules):
            other = _wing(target)
            if wing and other and WINGS.index(other) > WINGS.index(wing):
                upward.append(f"{name} -> {target}")
    assert upward == [], "imports from a lower wing up to a higher one"


def test_no_import_circle() -> None:
    modules = _modules()
    edges = {name: _imports(name, path, modules) - {"resnet_dsl"} for name, path in modules.items()}
    circles = []
    for start in edges:
        stack, seen = [(start, (start,))], set()
        while stack:
            node, trail = stack.pop()
            for target in edges[node]:
                if target == start:
                    circles.append(" -> ".join((*trail, start)))
                elif target not in seen:
                    seen.add(target)
                    stack.append((target, (*trail, target)))
    assert circles == []


def test_every_module_is_one_a_reader_can_hold() -> None:
    long = {
        name: n
        for name, path in _modules().items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}, f"modules over {MAX_LINES} lines: split them along a seam"


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    """The walk above finds imports inside functions too, where a lazy upward import would hide."""
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from resnet_dsl.cli.app import main\n", encoding="utf-8")
    assert _imports("resnet_dsl.language.m", module, {"resnet_dsl.cli.app": module}) == {"resnet_dsl.cli.app"}

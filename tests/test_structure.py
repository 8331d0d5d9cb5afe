"""The package's structure, as its import statements show it: floors that only import
downwards, no import circle, modules of a readable size, and nothing outside the platform
registry and the publishers that branches on a platform's name."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from chatbot.platforms import PLATFORM_NAMES
from tests.conftest import ROOT

PACKAGE = ROOT / "chatbot"
# Each top-level module or package of chatbot, by floor: imports go to lower floors only.
FLOORS: dict[str, int] = {
    "errors": 0,
    "timeutil": 0,
    "kinds": 0,
    "files": 0,
    "yamlmarks": 1,
    "configpath": 1,
    "counting": 1,
    "settings": 2,
    "db": 2,
    "publishers": 3,
    "platforms": 4,
    "config": 5,
    "text": 5,
    "content": 6,
    "cards": 7,
    "vision": 8,
    "queue": 9,
    "answers": 10,
    "engine": 11,
    "connect": 12,
    "web": 13,
    "cli": 14,
    "__main__": 15,
}
MAX_LINES = 500


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(module: str, path: Path) -> set[str]:
    """Every chatbot module ``module`` imports, at the top or inside a function."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            names = [f"{base}.{alias.name}" for alias in node.names] or [base]
        else:
            continue
        for name in names:
            while name and name not in MODULES:
                name = name.rsplit(".", 1)[0] if "." in name else ""
            if name and name != module:
                out.add(name)
    return out


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}


def _floor(module: str) -> int:
    parts = module.split(".")
    return FLOORS[parts[1]] if len(parts) > 1 else 0


def test_every_top_level_module_has_a_floor() -> None:
    tops = {m.split(".")[1] for m in MODULES if "." in m}
    assert tops <= set(FLOORS), f"give these a floor: {sorted(tops - set(FLOORS))}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_only_go_down_a_floor(module: str) -> None:
    top = module.split(".")[1] if "." in module else ""
    upward = [
        target
        for target in GRAPH[module]
        if target.split(".")[1:2] != [top] and _floor(target) >= _floor(module)
    ]
    assert upward == [], f"{module} (floor {_floor(module)}) imports upwards: {upward}"


def test_there_is_no_import_circle() -> None:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in GRAPH.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    assert circles == []


def test_the_engine_does_not_import_connect() -> None:
    engine = [m for m in GRAPH if m.startswith("chatbot.engine")]
    assert not [t for m in engine for t in GRAPH[m] if t.startswith("chatbot.connect")]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_over_500_lines(module: str) -> None:
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines; split it by job"


def _branches_on_a_platform_name(path: Path) -> list[int]:
    """Lines comparing something with a platform's name (``== "x"``, ``in ("x", ...)``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Compare):
            continue
        for side in (node.left, *node.comparators):
            values = side.elts if isinstance(side, (ast.Tuple, ast.List, ast.Set)) else [side]
            if any(isinstance(v, ast.Constant) and v.value in PLATFORM_NAMES for v in values):
                found.append(node.lineno)
    return found


@pytest.mark.parametrize(
    "module",
    sorted(m for m in MODULES if not m.startswith(("chatbot.platforms", "chatbot.publishers"))),
)
def test_only_the_registry_and_the_publishers_branch_on_a_platform_name(module: str) -> None:
    lines = _branches_on_a_platform_name(MODULES[module])
    assert lines == [], f"{module} branches on a platform's name at lines {lines}"


def test_the_branch_check_finds_a_branch() -> None:
    """The check above can fail: it finds the comparisons it is about."""
    sample = PACKAGE.parent / "tests" / "data" / "branches_on_x.py.txt"
    assert _branches_on_a_platform_name(sample) == [2, 4]

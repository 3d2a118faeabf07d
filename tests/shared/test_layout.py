"""The shape of the product code, read from its source: what it imports, and what it must not.

Every import counts, also those inside functions (imported on first use), since each is an edge
a reader follows and a module the deployed app must carry.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support import APP_ROOT

PRODUCT_PACKAGES = ("shared", "negotiate", "publish", "actions", "events")
DEV_ONLY = ("emulator", "devhost", "devtools", "bench", "tests")


def product_modules() -> dict[str, Path]:
    modules = {}
    for package in PRODUCT_PACKAGES:
        for path in sorted((APP_ROOT / package).rglob("*.py")):
            parts = path.relative_to(APP_ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


def imports_of(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


MODULES = product_modules()


def test_the_product_is_the_packages_expected() -> None:
    assert {"shared.settings", "shared.identity.bearer", "shared.idempotency.keys", "negotiate"} <= set(MODULES)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_product_code_never_imports_dev_tools_or_tests(module: str) -> None:
    forbidden = sorted(name for name in imports_of(MODULES[module]) if name.split(".")[0] in DEV_ONLY)
    assert not forbidden, f"{module} imports {forbidden}"


def test_product_code_has_no_import_cycle() -> None:
    graph = {
        module: {name for name in imports_of(path) if name in MODULES} - {module} for module, path in MODULES.items()
    }
    finished: set[str] = set()

    def visit(module: str, trail: list[str]) -> None:
        if module in trail:
            cycle = [*trail[trail.index(module) :], module]
            pytest.fail("import cycle: " + " -> ".join(cycle))
        if module in finished:
            return
        for imported in sorted(graph[module]):
            visit(imported, [*trail, module])
        finished.add(module)

    for module in sorted(graph):
        visit(module, [])


@pytest.mark.parametrize("path", sorted((APP_ROOT / "shared").rglob("__init__.py")), ids=str)
def test_package_inits_import_nothing(path: Path) -> None:
    """An import in a package's ``__init__`` runs on every cold start of every function."""
    tree = ast.parse(path.read_text())
    assert not [node for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)]

"""Who imports whom among the dev tools: read from the source, so a stray import fails here first.

Product code (``shared/`` and the function folders) never imports a dev tool; ``devtools/`` (code
more than one dev tool uses) imports no dev tool and no product code; ``devhost.stack`` builds on
the dev host's modules, not on its command line (``devhost.__main__``).
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.infra.package import function_folders
from tests.support import APP_ROOT

DEV_TOOLS = ("devtools", "devhost", "emulator", "bench", "tests")


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def imports_of(*folders: str) -> dict[str, set[str]]:
    return {
        path.relative_to(APP_ROOT).as_posix(): imported_modules(path)
        for folder in folders
        for path in sorted((APP_ROOT / folder).rglob("*.py"))
    }


def top_level(module: str) -> str:
    return module.split(".", 1)[0]


def test_product_code_imports_no_dev_tool() -> None:
    product = imports_of("shared", *sorted(function_folders(APP_ROOT)))
    assert product
    offending = {path: sorted(m for m in modules if top_level(m) in DEV_TOOLS) for path, modules in product.items()}
    assert {path: modules for path, modules in offending.items() if modules} == {}


def test_devtools_imports_no_dev_tool_and_no_product_code() -> None:
    forbidden = {*DEV_TOOLS, "shared"} - {"devtools"}
    found = imports_of("devtools")
    assert {"devtools/http_guard.py", "devtools/azurite.py"} <= set(found)
    offending = {path: sorted(m for m in modules if top_level(m) in forbidden) for path, modules in found.items()}
    assert {path: modules for path, modules in offending.items() if modules} == {}


def test_the_dev_tools_share_code_through_devtools_only() -> None:
    assert not (APP_ROOT / "emulator" / "http_guard.py").exists()
    assert not (APP_ROOT / "devhost" / "azurite.py").exists()
    stack = imported_modules(APP_ROOT / "devhost" / "stack.py")
    assert not {m for m in stack if m == "devhost.__main__" or m.startswith("devhost.__main__.")}

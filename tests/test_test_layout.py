"""The shape of the tests, read from their source: a test module is no library for another, and no
test reads what an official client keeps private.

A helper two test modules share lives in a support module (``tests/support.py``, or one beside
the tests that use it, such as ``tests/functions/clients.py``): a test module imported by another
runs, fixtures and all, whenever the other does, and an edit to one file's tests breaks the
other's. An SDK client's ``_config`` is private and may change in any release: a test that needs
the hub or the endpoint uses the values it gave the client (the ``hub`` fixture, the emulator's
``endpoint`` and ``connection_string``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support import APP_ROOT

TEST_SOURCES = sorted(path for path in (APP_ROOT / "tests").rglob("*.py") if "node_modules" not in path.parts)

# Known offenders, each to be fixed by moving its helpers into a support module (and its entry
# removed then). Any other import of a test module fails, and so does an entry no longer true.
ALLOWED_TEST_MODULE_IMPORTS: set[tuple[str, str]] = set()


def module_parts(path: Path) -> list[str]:
    parts = list(path.with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def imported_modules(source: str, package: list[str]) -> set[str]:
    """Every module ``source`` (a module of ``package``) imports, by absolute name; ``from x import
    y`` counts ``x.y`` too, since ``y`` may be a module, and relative imports are resolved."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def owning_test_module(name: str) -> str | None:
    """The test module an imported name is or lies in (``tests.x.test_y`` for ``tests.x.test_y.z``)."""
    parts = name.split(".")
    if parts[0] != "tests":
        return None
    test = next((i for i, part in enumerate(parts) if part.startswith("test_")), None)
    return None if test is None else ".".join(parts[: test + 1])


def imports_of_test_modules() -> set[tuple[str, str]]:
    """Every (importing file, imported test module) pair under tests/."""
    found = set()
    for path in TEST_SOURCES:
        relative = path.relative_to(APP_ROOT)
        parts = module_parts(relative)
        package = parts if path.name == "__init__.py" else parts[:-1]
        for name in imported_modules(path.read_text(), package):
            module = owning_test_module(name)
            if module and module != ".".join(parts):
                found.add((relative.as_posix(), module))
    return found


def test_the_sources_read_are_the_tests() -> None:
    names = {path.relative_to(APP_ROOT).as_posix() for path in TEST_SOURCES}
    assert {"tests/support.py", "tests/functions/test_negotiate.py", "tests/emulator/test_rest_sdk.py"} <= names


@pytest.mark.parametrize(
    "source",
    [
        "from tests.reliability.test_load import process_usage",
        "import tests.reliability.test_load",
        "from tests.reliability import test_load",
        "from .test_load import process_usage",
        "from . import test_load",
        "def later():\n    from tests.reliability.test_load import process_usage",
    ],
)
def test_every_spelling_of_an_import_is_seen(source: str) -> None:
    names = imported_modules(source, ["tests", "reliability"])
    assert "tests.reliability.test_load" in {owning_test_module(name) for name in names}


def test_support_modules_are_not_test_modules() -> None:
    assert owning_test_module("tests.support.free_port") is None
    assert owning_test_module("tests.functions.clients") is None
    assert owning_test_module("emulator.test_thing") is None
    assert owning_test_module("tests.test_shared_rules.RULES") == "tests.test_shared_rules"


def test_no_test_module_imports_another_test_module() -> None:
    new = sorted(imports_of_test_modules() - ALLOWED_TEST_MODULE_IMPORTS)
    assert not new, "move what is shared into a support module:\n" + "\n".join(f"{a} imports {b}" for a, b in new)


def test_the_allow_list_names_only_imports_still_there() -> None:
    fixed = sorted(ALLOWED_TEST_MODULE_IMPORTS - imports_of_test_modules())
    assert not fixed, f"fixed, so remove from ALLOWED_TEST_MODULE_IMPORTS: {fixed}"


def private_config_reads(source: str) -> list[int]:
    """The lines that read an attribute named ``_config`` (as in ``service._config.hub``)."""
    return sorted(
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute) and node.attr == "_config"
    )


def test_a_private_config_read_is_seen() -> None:
    assert private_config_reads("hub = service._config.hub\nok = '._config'\n") == [1]


def test_no_test_reads_the_private_config_of_a_client() -> None:
    found = [
        f"{path.relative_to(APP_ROOT)}:{line}"
        for path in TEST_SOURCES
        for line in private_config_reads(path.read_text())
    ]
    assert not found, "use the hub and endpoint the client was given, not its _config:\n" + "\n".join(found)

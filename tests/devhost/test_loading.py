"""A malformed app fails to load with a message naming the file and the problem."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from devhost.functions import FunctionLoadError, load_functions, read_host_json, route_prefix
from tests.devhost.sample_app import HTTP_OUT, RETURNS_NONE, trigger, write_function, write_host

OK_CODE = "def main(req):\n    return None\n"


def load(root: Path) -> list:
    return load_functions(root, route_prefix(read_host_json(root)))


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda r: (r / "f" / "function.json").write_text("{not json"), "not valid JSON"),
        (lambda r: (r / "f" / "function.json").write_text("[]"), "JSON object"),
        (lambda r: (r / "f" / "function.json").write_text('{"bindings": []}'), "At least one binding"),
        (lambda r: write_function(r, "f", OK_CODE, [HTTP_OUT]), "httpTrigger"),
        (
            lambda r: write_function(
                r, "f", OK_CODE, [trigger(), {"type": "queueTrigger", "direction": "in", "name": "q"}, HTTP_OUT]
            ),
            "httpTrigger",
        ),
        (lambda r: write_function(r, "f", OK_CODE, [trigger(authLevel="public"), HTTP_OUT]), "authLevel"),
        (lambda r: write_function(r, "f", OK_CODE, [trigger(methods=["fetch"]), HTTP_OUT]), "methods"),
        (lambda r: write_function(r, "f", OK_CODE, [trigger()]), '"$return"'),
        (lambda r: write_function(r, "f", OK_CODE, config={"scriptFile": "missing.py"}), "does not exist"),
        (lambda r: write_function(r, "f", OK_CODE, config={"entryPoint": "run"}), "run() is not present"),
        (lambda r: write_function(r, "f", "def main(request):\n    return None\n"), "request are declared in Python"),
        (lambda r: write_function(r, "f", "def main():\n    return None\n"), "req are declared in function.json"),
        (lambda r: write_function(r, "f", "import nonexistent_module\n"), "import failed: ModuleNotFoundError"),
        (lambda r: write_function(r, "f", OK_CODE, [trigger(route="admin/x"), HTTP_OUT]), "built in routes"),
        (lambda r: write_function(r, "f", OK_CODE, [trigger(route="a/{x"), HTTP_OUT]), "invalid route"),
        (lambda r: write_function(r, "host", OK_CODE), "not a valid function name"),
        (
            lambda r: (
                write_function(r, "a", OK_CODE, [trigger(route="same"), HTTP_OUT]),
                write_function(r, "b", OK_CODE, [trigger(route="same", methods=["get"]), HTTP_OUT]),
            ),
            "same route",
        ),
    ],
)
def test_malformed_apps_fail_clearly(tmp_path: Path, setup: object, message: str) -> None:
    write_host(tmp_path)
    (tmp_path / "f").mkdir()
    setup(tmp_path)  # type: ignore[operator]
    with pytest.raises(FunctionLoadError) as raised:
        load(tmp_path)
    assert message in str(raised.value)


def test_host_json_is_required_and_versioned(tmp_path: Path) -> None:
    with pytest.raises(FunctionLoadError, match=r"host\.json is missing"):
        read_host_json(tmp_path)
    (tmp_path / "host.json").write_text(json.dumps({"version": "1.0"}))
    with pytest.raises(FunctionLoadError, match=r'"version" must be "2\.0"'):
        read_host_json(tmp_path)


def test_same_route_with_different_methods_is_fine(tmp_path: Path) -> None:
    write_host(tmp_path, route_prefix="")
    write_function(tmp_path, "a", RETURNS_NONE, [trigger(route="same", methods=["get"]), HTTP_OUT])
    write_function(tmp_path, "b", RETURNS_NONE, [trigger(route="same", methods=["post"]), HTTP_OUT])
    functions = load(tmp_path)
    assert [f.route.text for f in functions] == ["/same", "/same"]
    assert functions[0].auth_level == "function"  # the default level


def test_this_repository_loads(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    functions = {f.name: f for f in load(root)}
    assert set(functions) == {"negotiate", "publish", "actions", "events"}
    assert functions["negotiate"].auth_level == "anonymous"
    assert functions["negotiate"].methods == {"GET", "POST"}
    assert functions["publish"].auth_level == "function"
    assert functions["publish"].methods == {"POST"}
    assert functions["publish"].is_async
    assert functions["actions"].auth_level == "function"
    assert functions["actions"].methods == {"POST"}
    assert functions["actions"].is_async
    assert functions["events"].auth_level == "anonymous"  # it checks the service's own proof
    assert functions["events"].methods == {"OPTIONS", "POST"}


def test_product_code_never_imports_dev_tools() -> None:
    root = Path(__file__).resolve().parents[2]
    for folder in ("negotiate", "publish", "shared"):
        for source in (root / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(source.read_text())):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                for name in names:
                    assert name.split(".")[0] not in ("devhost", "emulator", "tests"), f"{source} imports {name}"

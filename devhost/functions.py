"""Find and load the functions of a ``function.json`` app, as the host and Python worker do.

Each immediate sub-folder holding a ``function.json`` is a function named after the folder.
Its module is imported as ``__app__.<folder>`` from a namespace package rooted at the app,
and the app root is appended (last) to ``sys.path``, so ``from shared import ...`` works as on
Azure. Anything the real host would refuse to load raises :class:`FunctionLoadError` with
a message naming the file and the problem.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import inspect
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devhost.jsonfile import read_json_object
from devhost.routes import RouteTemplate, RouteTemplateError

FUNCTION_NAME = re.compile(r"[a-z][a-z0-9_\-]{0,127}", re.IGNORECASE)
AUTH_LEVELS = ("anonymous", "function", "admin")
HTTP_METHODS = ("get", "post", "put", "patch", "delete", "head", "options", "trace")
RESERVED_ROUTE_PREFIXES = ("admin", "runtime")
APP_PACKAGE = "__app__"


class FunctionLoadError(Exception):
    """The app cannot be served; the message says which file and what is wrong."""


@dataclass
class HttpFunction:
    name: str
    directory: Path
    auth_level: str
    methods: frozenset[str] | None  # upper-case verbs; None means every method
    route: RouteTemplate
    trigger_name: str
    entry: Callable[..., Any]
    wants_context: bool

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.entry)

    def allows(self, method: str) -> bool:
        return self.methods is None or method.upper() in self.methods


def read_host_json(app_root: Path) -> dict[str, Any]:
    path = app_root / "host.json"
    if not path.is_file():
        raise FunctionLoadError(f"{path}: host.json is missing.")
    host = read_json_object(path, FunctionLoadError)
    if host.get("version") != "2.0":
        raise FunctionLoadError(f'{path}: "version" must be "2.0".')
    return host


def route_prefix(host: dict[str, Any]) -> str:
    prefix = host.get("extensions", {}).get("http", {}).get("routePrefix", "api")
    if not isinstance(prefix, str):
        raise FunctionLoadError('host.json: "extensions.http.routePrefix" must be a string.')
    return prefix


def load_functions(app_root: Path, prefix: str) -> list[HttpFunction]:
    """Every function of the app, in folder-name order (the order routes are tried in)."""
    app_root = app_root.resolve()
    _install_app_package(app_root)
    functions = [
        _load_function(folder, prefix)
        for folder in sorted(app_root.iterdir())
        if folder.is_dir() and (folder / "function.json").is_file()
    ]
    _check_route_conflicts(functions)
    return functions


def _install_app_package(app_root: Path) -> None:
    root = str(app_root)
    if root not in sys.path:
        sys.path.append(root)  # last, as the worker appends it with the least priority
    for name in [n for n in sys.modules if n == APP_PACKAGE or n.startswith(APP_PACKAGE + ".")]:
        del sys.modules[name]  # a fresh load: never serve modules of a previously loaded app
    spec = importlib.machinery.ModuleSpec(APP_PACKAGE, None, is_package=True)
    package = importlib.util.module_from_spec(spec)
    package.__path__ = [root]  # type: ignore[attr-defined]
    sys.modules[APP_PACKAGE] = package


def _load_function(folder: Path, prefix: str) -> HttpFunction:
    name = folder.name
    config_path = folder / "function.json"
    if not FUNCTION_NAME.fullmatch(name) or name.lower() == "host":
        raise FunctionLoadError(f"{folder}: '{name}' is not a valid function name.")
    config = read_json_object(config_path, FunctionLoadError)
    bindings = config.get("bindings")
    if not isinstance(bindings, list) or not bindings:
        raise FunctionLoadError(f"{config_path}: At least one binding must be declared.")
    trigger = _http_trigger(config_path, bindings)
    _check_output(config_path, bindings)
    script = folder / config.get("scriptFile", "__init__.py")
    if not script.is_file() or script.suffix != ".py":
        raise FunctionLoadError(f"{config_path}: 'scriptFile' {script.name} does not exist or is not a .py file.")
    entry_point = config.get("entryPoint", "main")
    entry = _import_entry(folder, script, entry_point)
    wants_context = _check_parameters(config_path, entry, bindings)
    try:
        route = RouteTemplate(trigger.get("route") or name, prefix)
    except RouteTemplateError as error:
        raise FunctionLoadError(f"{config_path}: invalid route: {error}") from None
    if (trigger.get("route") or name).strip("/").lower().startswith(RESERVED_ROUTE_PREFIXES):
        raise FunctionLoadError(f"{config_path}: the route conflicts with one or more built in routes.")
    methods = trigger.get("methods")
    return HttpFunction(
        name=name,
        directory=folder,
        auth_level=trigger.get("authLevel", "function").lower(),
        methods=frozenset(m.upper() for m in methods) if methods else None,
        route=route,
        trigger_name=trigger["name"],
        entry=entry,
        wants_context=wants_context,
    )


def _http_trigger(path: Path, bindings: list[Any]) -> dict[str, Any]:
    triggers = [b for b in bindings if isinstance(b, dict) and str(b.get("type", "")).lower().endswith("trigger")]
    if len(triggers) != 1 or triggers[0].get("type") != "httpTrigger":
        raise FunctionLoadError(f"{path}: the dev host serves functions with exactly one httpTrigger binding.")
    trigger = triggers[0]
    if trigger.get("direction") != "in" or not isinstance(trigger.get("name"), str):
        raise FunctionLoadError(f'{path}: the httpTrigger binding needs "direction": "in" and a "name".')
    if str(trigger.get("authLevel", "function")).lower() not in AUTH_LEVELS:
        raise FunctionLoadError(f"{path}: authLevel must be one of {', '.join(AUTH_LEVELS)}.")
    methods = trigger.get("methods")
    if methods is not None and (
        not isinstance(methods, list) or not all(str(m).lower() in HTTP_METHODS for m in methods)
    ):
        raise FunctionLoadError(f"{path}: methods must be a list of {', '.join(HTTP_METHODS)}.")
    return trigger


def _check_output(path: Path, bindings: list[Any]) -> None:
    outputs = [b for b in bindings if isinstance(b, dict) and b.get("type") == "http"]
    if len(outputs) != 1 or outputs[0].get("name") != "$return" or outputs[0].get("direction") != "out":
        raise FunctionLoadError(f'{path}: declare one http output binding named "$return" with "direction": "out".')


def _import_entry(folder: Path, script: Path, entry_point: str) -> Callable[..., Any]:
    relative = script.relative_to(folder.parent).with_suffix("")
    parts = [part for part in relative.parts if part != "__init__"]
    module_name = ".".join((APP_PACKAGE, *parts))
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # noqa: BLE001 - any import failure is a load error for this function
        raise FunctionLoadError(f"{script}: import failed: {type(error).__name__}: {error}") from None
    entry = getattr(module, entry_point, None)
    if not callable(entry):
        raise FunctionLoadError(f"{script}: function {entry_point}() is not present in {module_name}.")
    return entry


def _check_parameters(path: Path, entry: Callable[..., Any], bindings: list[Any]) -> bool:
    declared = {b["name"] for b in bindings if isinstance(b, dict) and b.get("name") != "$return"}
    parameters = set(inspect.signature(entry).parameters)
    wants_context = "context" in parameters
    parameters.discard("context")
    if parameters - declared:
        names = ", ".join(sorted(parameters - declared))
        raise FunctionLoadError(f"{path}: parameters {names} are declared in Python but not in function.json.")
    if declared - parameters:
        names = ", ".join(sorted(declared - parameters))
        raise FunctionLoadError(f"{path}: bindings {names} are declared in function.json but not in Python.")
    return wants_context


def _check_route_conflicts(functions: list[HttpFunction]) -> None:
    seen: dict[str, list[HttpFunction]] = {}
    for function in functions:
        for other in seen.get(function.route.text.lower(), []):
            if function.methods is None or other.methods is None or function.methods & other.methods:
                raise FunctionLoadError(
                    f"Functions {other.name} and {function.name} have the same route and overlapping methods."
                )
        seen.setdefault(function.route.text.lower(), []).append(function)

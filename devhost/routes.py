"""ASP.NET Core route templates, as the Functions host matches ``function.json`` routes.

Supported: literal text (matched case-insensitively), ``{name}``, optional ``{name?}``,
defaults ``{name=value}``, catch-all ``{*name}`` and constraints ``{name:c1:c2(arg)}`` with
``int long bool alpha guid decimal double float datetime minlength maxlength length min max
range regex required``. A trailing slash on the request is ignored, as in ASP.NET routing.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import unquote


class RouteTemplateError(ValueError):
    pass


Constraint = Callable[[str], bool]


def _number(kind: type) -> Constraint:
    def check(value: str) -> bool:
        try:
            kind(value)
        except ValueError:
            return False
        return not (kind is int and not re.fullmatch(r"-?\d+", value))

    return check


def _datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _guid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


SIMPLE_CONSTRAINTS: dict[str, Constraint] = {
    "int": _number(int),
    "long": _number(int),
    "bool": lambda v: v.lower() in ("true", "false"),
    "alpha": lambda v: re.fullmatch(r"[A-Za-z]+", v) is not None,
    "guid": _guid,
    "decimal": _number(float),
    "double": _number(float),
    "float": _number(float),
    "datetime": _datetime,
    "required": lambda v: v != "",
}


def _argument_constraint(name: str, argument: str) -> Constraint:
    if name == "regex":
        pattern = re.compile(argument, re.IGNORECASE)
        return lambda v: pattern.search(v) is not None
    numbers = [int(part) for part in argument.split(",")]
    if name == "minlength":
        return lambda v: len(v) >= numbers[0]
    if name == "maxlength":
        return lambda v: len(v) <= numbers[0]
    if name == "length":
        low, high = (numbers[0], numbers[0]) if len(numbers) == 1 else numbers
        return lambda v: low <= len(v) <= high
    if name in ("min", "max", "range"):
        low, high = {"min": (numbers[0], None), "max": (None, numbers[0])}.get(name, tuple(numbers))  # type: ignore[assignment]

        def in_range(value: str) -> bool:
            if not re.fullmatch(r"-?\d+", value):
                return False
            number = int(value)
            return (low is None or number >= low) and (high is None or number <= high)

        return in_range
    raise RouteTemplateError(f"Unknown route constraint '{name}'.")


@dataclass
class Parameter:
    name: str
    constraints: list[Constraint] = field(default_factory=list)
    optional: bool = False
    default: str | None = None
    catch_all: bool = False


def _split_constraints(body: str) -> list[str]:
    """Split ``name:c1:regex(a:b)`` on colons outside parentheses."""
    parts, depth, current = [], 0, ""
    for char in body:
        if char == ":" and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += char == "("
        depth -= char == ")"
        current += char
    parts.append(current)
    return parts


def _parse_parameter(body: str) -> Parameter:
    catch_all = body.startswith("*")
    body = body.lstrip("*")
    default = None
    optional = False
    if body.endswith("?"):
        optional, body = True, body[:-1]
    name_and_constraints, sep, default_value = body.partition("=")
    if sep:
        default, optional = default_value, True
    name, *constraint_texts = _split_constraints(name_and_constraints)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise RouteTemplateError(f"Invalid route parameter name '{name}'.")
    constraints: list[Constraint] = []
    for text in constraint_texts:
        match = re.fullmatch(r"(\w+)(?:\((.*)\))?", text, re.DOTALL)
        if not match:
            raise RouteTemplateError(f"Invalid route constraint '{text}'.")
        kind, argument = match.group(1).lower(), match.group(2)
        if argument is None:
            if kind not in SIMPLE_CONSTRAINTS:
                raise RouteTemplateError(f"Unknown route constraint '{kind}'.")
            constraints.append(SIMPLE_CONSTRAINTS[kind])
        else:
            try:
                constraints.append(_argument_constraint(kind, argument))
            except (ValueError, re.error) as error:
                raise RouteTemplateError(f"Invalid route constraint '{text}': {error}") from None
    return Parameter(name, constraints, optional or catch_all, default, catch_all)


_TOKEN = re.compile(r"\{\{|\}\}|\{((?:[^{}]|\{\{|\}\})*)\}|[^{}]+|[{}]")


class RouteTemplate:
    """A compiled template; :meth:`match` returns the route values or ``None``."""

    def __init__(self, template: str, prefix: str = "") -> None:
        self.template = template
        self.parameters: list[Parameter] = []
        full = "/".join(part.strip("/") for part in (prefix, template) if part.strip("/"))
        pattern = "".join(self._segment(segment) for segment in full.split("/")) if full else ""
        self.regex = re.compile(f"^{pattern}/?$", re.IGNORECASE | re.DOTALL)
        self.text = "/" + full

    def _segment(self, segment: str) -> str:
        if not segment:
            raise RouteTemplateError("A route must not contain an empty segment ('//').")
        pieces: list[str] = []
        parameters: list[Parameter] = []
        for match in _TOKEN.finditer(segment):
            text = match.group(0)
            if match.group(1) is not None:
                parameter = _parse_parameter(match.group(1).replace("{{", "{").replace("}}", "}"))
                group = f"p{len(self.parameters)}"
                self.parameters.append(parameter)
                parameters.append(parameter)
                pieces.append(f"(?P<{group}>.*)" if parameter.catch_all else f"(?P<{group}>[^/]+)")
            elif text in ("{", "}"):
                raise RouteTemplateError(f"Unbalanced brace in route segment '{segment}'.")
            else:
                pieces.append(re.escape(text.replace("{{", "{").replace("}}", "}")))
        if len(pieces) == 1 and parameters and parameters[0].optional:
            return f"(?:/{pieces[0]})?"
        if any(parameter.optional for parameter in parameters):
            raise RouteTemplateError(f"An optional parameter must be alone in its segment: '{segment}'.")
        return "/" + "".join(pieces)

    def match(self, raw_path: str) -> dict[str, str] | None:
        found = self.regex.match(raw_path)
        if not found:
            return None
        values: dict[str, str] = {}
        for index, parameter in enumerate(self.parameters):
            raw = found.group(f"p{index}")
            if raw is None or raw == "":
                if parameter.default is not None:
                    values[parameter.name] = parameter.default
                continue
            value = unquote(raw.replace("%2F", "%252F").replace("%2f", "%252f"))
            if not all(check(value) for check in parameter.constraints):
                return None
            values[parameter.name] = value
        return values

"""The OData ``$filter`` subset Web PubSub accepts, parsed once and evaluated per connection.

Identifiers are ``userId``, ``connectionId`` (strings) and ``groups`` (a collection).
Operators: ``eq ne gt ge lt le and or not in``; functions ``tolower toupper trim length
substring indexof startswith endswith contains concat``; literals ``'text'`` (``''`` escapes a
quote), integers, ``true``, ``false`` and ``null``. Precedence: ``not`` over comparisons over
``and`` over ``or``. Types are checked when the filter is parsed (``userId gt 1`` or ``1 in userId`` is a
:class:`FilterError`), so evaluation never raises. An invalid filter raises :class:`FilterError`
(400 at the REST layer).

As the service's OData parser, syntax comes first: a filter that does not parse is a syntax
error at the position just past the token that broke it (``Syntax error at position 14 in
'invalid filter'``: ``filter`` ends at 14, where an operator was due), even when it also names
something unknown; names and types are checked only for a filter that parses. Messages end
without a period: the REST layer quotes them in the service's sentence.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

MAX_FILTER_LENGTH = 4096
MAX_DEPTH = 50


class FilterError(ValueError):
    """Why a filter cannot be used, without a final period."""


_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<number>-?\d+)|(?P<punct>[(),])|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))"
)

_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a is not None and b is not None and a > b,
    "ge": lambda a, b: a is not None and b is not None and a >= b,
    "lt": lambda a, b: a is not None and b is not None and a < b,
    "le": lambda a, b: a is not None and b is not None and a <= b,
}

# Static types: "string", "number", "bool", "null" (fits any), "collection" (``groups``) and
# "list" (a parenthesized literal list, only on the right of ``in``).
_FUNCTIONS: dict[str, tuple[tuple[str, ...], int, str, Callable[..., Any]]] = {
    # name: (argument types, how many are required, result type, implementation)
    "tolower": (("string",), 1, "string", lambda s: s.lower()),
    "toupper": (("string",), 1, "string", lambda s: s.upper()),
    "trim": (("string",), 1, "string", lambda s: s.strip()),
    "length": (("string",), 1, "number", len),
    "substring": (
        ("string", "number", "number"),
        2,
        "string",
        lambda s, i, n=None: s[i:] if n is None else s[i : i + n],
    ),
    "indexof": (("string", "string"), 2, "number", lambda s, t: s.find(t)),
    "startswith": (("string", "string"), 2, "bool", lambda s, t: s.startswith(t)),
    "endswith": (("string", "string"), 2, "bool", lambda s, t: s.endswith(t)),
    "contains": (("string", "string"), 2, "bool", lambda s, t: t in s),
    "concat": (("string", "string"), 2, "string", lambda s, t: s + t),
}

IDENTIFIERS = {"userId": "string", "connectionId": "string", "groups": "collection"}
ORDERED = ("string", "number")  # types gt/ge/lt/le compare

Node = Callable[[Mapping[str, Any]], Any]


@dataclass(frozen=True)
class _Typed:
    """A compiled expression and the type of what it yields, checked before any evaluation."""

    node: Node
    type: str


@dataclass
class _Token:
    kind: str
    text: str
    end: int  # the position just past the token


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    stripped = text.rstrip()
    while position < len(stripped):
        match = _TOKEN.match(stripped, position)
        if not match or match.end() == position:
            rest = stripped[position:]
            at = position + len(rest) - len(rest.lstrip())
            raise FilterError(f"Syntax error: character '{stripped[at]}' is not valid at position {at} in '{text}'")
        kind = match.lastgroup or ""
        tokens.append(_Token(kind, match.group(kind), match.end()))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str, tokens: list[_Token]) -> None:
        self.text = text
        self.tokens = tokens
        self.index = 0
        self.depth = 0
        self.problems: list[str] = []  # names and types, reported once the syntax is known good

    def syntax_error(self, token: _Token | None) -> FilterError:
        position = token.end if token is not None else len(self.text)
        return FilterError(f"Syntax error at position {position} in '{self.text}'")

    def problem(self, message: str) -> None:
        self.problems.append(message)

    def expect(self, typed: _Typed, *types: str, what: str) -> Node:
        """The node; a type outside ``types`` (``null`` always fits) is a problem for later."""
        if typed.type != "null" and typed.type not in types:
            self.problem(f"{what} needs {' or '.join(types)}, not {typed.type}")
        return typed.node

    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def peek_word(self) -> str | None:
        token = self.peek()
        return token.text if token and token.kind == "word" else None

    def take(self, text: str | None = None) -> _Token:
        token = self.peek()
        if token is None or (text is not None and token.text != text):
            raise self.syntax_error(token)
        self.index += 1
        return token

    def parse(self) -> Node:
        typed = self.or_expression()
        if self.peek() is not None:
            raise self.syntax_error(self.peek())
        node = self.expect(typed, "bool", what="A filter")
        if self.problems:
            raise FilterError(self.problems[0])
        return node

    def or_expression(self) -> _Typed:
        return self._chain("or", self.and_expression, lambda a, b: lambda ctx: bool(a(ctx)) or bool(b(ctx)))

    def and_expression(self) -> _Typed:
        return self._chain("and", self.unary, lambda a, b: lambda ctx: bool(a(ctx)) and bool(b(ctx)))

    def _chain(self, word: str, operand: Callable[[], _Typed], combine: Callable[[Node, Node], Node]) -> _Typed:
        """``operand (word operand)*``, combined left to right; every operand is a condition."""
        left = operand()
        while self.peek_word() == word:
            self.take()
            right = operand()
            left = _Typed(combine(self.expect(left, "bool", what=word), self.expect(right, "bool", what=word)), "bool")
        return left

    def unary(self) -> _Typed:
        if self.peek_word() == "not":
            self.take()
            operand = self.expect(self._nested(self.unary), "bool", what="not")
            return _Typed(lambda ctx: not operand(ctx), "bool")
        return self.comparison()

    def comparison(self) -> _Typed:
        left = self.primary()
        word = self.peek_word()
        if word in _COMPARISONS:
            self.take()
            right = self.primary()
            if word in ("eq", "ne"):
                if "null" not in (left.type, right.type) and left.type != right.type:
                    self.problem(f"{word} compares {left.type} with {right.type}")
                if left.type in ("collection", "list"):
                    self.problem(f"{word} cannot compare a {left.type}")
            elif left.type not in ORDERED or right.type not in (left.type, "null"):
                self.problem(f"{word} compares {left.type} with {right.type}")
            compare, first, second = _COMPARISONS[word], left.node, right.node
            return _Typed(lambda ctx: compare(first(ctx), second(ctx)), "bool")
        if word == "in":
            self.take()
            right = self.primary()
            item = self.expect(left, "string", "number", "bool", what="The left side of in")
            collection = self.expect(right, "collection", "list", what="The right side of in")

            def contained(ctx: Mapping[str, Any]) -> bool:
                values = collection(ctx)
                return values is not None and item(ctx) in values

            return _Typed(contained, "bool")
        return left

    def primary(self) -> _Typed:
        return self._nested(self._primary)

    def _nested(self, parse: Callable[[], _Typed]) -> _Typed:
        """Every level of nesting counts, so a hostile filter cannot exhaust the stack."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FilterError("The filter is nested too deeply")
        try:
            return parse()
        finally:
            self.depth -= 1

    def _primary(self) -> _Typed:
        token = self.take()
        if token.kind == "string":
            value = token.text[1:-1].replace("''", "'")
            return _Typed(lambda ctx: value, "string")
        if token.kind == "number":
            number = int(token.text)
            return _Typed(lambda ctx: number, "number")
        if token.text == "(":
            return self._parenthesized()
        if token.kind != "word":
            raise self.syntax_error(token)
        return self._word(token.text)

    def _comma_list(self) -> list[_Typed]:
        """Expressions up to the closing parenthesis, which is consumed."""
        items = [self.or_expression()]
        while self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
            self.take(",")
            items.append(self.or_expression())
        self.take(")")
        return items

    def _parenthesized(self) -> _Typed:
        items = self._comma_list()
        if len(items) == 1:
            return items[0]
        nodes = [self.expect(item, "string", "number", "bool", what="A list item") for item in items]
        return _Typed(lambda ctx: [node(ctx) for node in nodes], "list")

    def _word(self, word: str) -> _Typed:
        constants: dict[str, tuple[Any, str]] = {
            "true": (True, "bool"),
            "false": (False, "bool"),
            "null": (None, "null"),
        }
        if word in constants:
            constant, kind = constants[word]
            return _Typed(lambda ctx: constant, kind)
        if word in IDENTIFIERS:
            return _Typed(lambda ctx: ctx.get(word), IDENTIFIERS[word])
        if word in _FUNCTIONS:
            return self._call(word)
        self.problem(f"Unknown name '{word}'")
        return _Typed(lambda ctx: None, "null")

    def _call(self, name: str) -> _Typed:
        types, required, result, implementation = _FUNCTIONS[name]
        self.take("(")
        typed = self._comma_list()
        if not required <= len(typed) <= len(types):
            self.problem(f"{name}() takes {required} to {len(types)} arguments")
        args = [self.expect(arg, kind, what=f"{name}()") for arg, kind in zip(typed, types, strict=False)]

        def call(ctx: Mapping[str, Any]) -> Any:
            values = [arg(ctx) for arg in args]
            if any(value is None for value in values):
                return None
            return implementation(*values)

        return _Typed(call, result)


def compile_filter(text: str) -> Node:
    """Parse ``text`` into a predicate over ``{"userId", "connectionId", "groups"}``."""
    if len(text) > MAX_FILTER_LENGTH:
        raise FilterError(f"The filter is longer than {MAX_FILTER_LENGTH} characters")
    tokens = _tokenize(text)
    if not tokens:
        raise FilterError("The filter is empty")
    return _Parser(text, tokens).parse()

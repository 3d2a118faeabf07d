"""The OData ``$filter`` subset Web PubSub accepts, parsed once and evaluated per connection.

Identifiers are ``userId``, ``connectionId`` (strings) and ``groups`` (a collection).
Operators: ``eq ne gt ge lt le and or not in``; functions ``tolower toupper trim length
substring indexof startswith endswith contains concat``; literals ``'text'`` (``''`` escapes a
quote), integers, ``true``, ``false`` and ``null``. Precedence: ``not`` over comparisons over
``and`` over ``or``. An invalid filter raises :class:`FilterError` (400 at the REST layer).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

MAX_FILTER_LENGTH = 4096
MAX_DEPTH = 50


class FilterError(ValueError):
    pass


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

_FUNCTIONS: dict[str, tuple[int, int, Callable[..., Any]]] = {
    # name: (min args, max args, implementation); None propagates as None.
    "tolower": (1, 1, lambda s: s.lower()),
    "toupper": (1, 1, lambda s: s.upper()),
    "trim": (1, 1, lambda s: s.strip()),
    "length": (1, 1, len),
    "substring": (2, 3, lambda s, i, n=None: s[i:] if n is None else s[i : i + n]),
    "indexof": (2, 2, lambda s, t: s.find(t)),
    "startswith": (2, 2, lambda s, t: s.startswith(t)),
    "endswith": (2, 2, lambda s, t: s.endswith(t)),
    "contains": (2, 2, lambda s, t: t in s),
    "concat": (2, 2, lambda s, t: s + t),
}

IDENTIFIERS = ("userId", "connectionId", "groups")

Node = Callable[[Mapping[str, Any]], Any]


@dataclass
class _Token:
    kind: str
    text: str


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise FilterError(f"Unexpected character at position {position} of the filter.")
        kind = match.lastgroup or ""
        tokens.append(_Token(kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.index = 0
        self.depth = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def peek_word(self) -> str | None:
        token = self.peek()
        return token.text if token and token.kind == "word" else None

    def take(self, text: str | None = None) -> _Token:
        token = self.peek()
        if token is None or (text is not None and token.text != text):
            raise FilterError(f"Expected {text or 'more input'} in the filter.")
        self.index += 1
        return token

    def parse(self) -> Node:
        node = self.or_expression()
        if self.peek() is not None:
            raise FilterError(f"Unexpected '{self.peek().text}' in the filter.")  # type: ignore[union-attr]
        return node

    def or_expression(self) -> Node:
        return self._chain("or", self.and_expression, lambda a, b: lambda ctx: bool(a(ctx)) or bool(b(ctx)))

    def and_expression(self) -> Node:
        return self._chain("and", self.unary, lambda a, b: lambda ctx: bool(a(ctx)) and bool(b(ctx)))

    def _chain(self, word: str, operand: Callable[[], Node], combine: Callable[[Node, Node], Node]) -> Node:
        """``operand (word operand)*``, combined left to right."""
        left = operand()
        while self.peek_word() == word:
            self.take()
            left = combine(left, operand())
        return left

    def unary(self) -> Node:
        if self.peek_word() == "not":
            self.take()
            operand = self._nested(self.unary)
            return lambda ctx: not operand(ctx)
        return self.comparison()

    def comparison(self) -> Node:
        left = self.primary()
        word = self.peek_word()
        if word in _COMPARISONS:
            self.take()
            right = self.primary()
            compare = _COMPARISONS[word]
            return lambda ctx: compare(left(ctx), right(ctx))
        if word == "in":
            self.take()
            right = self.primary()

            def contained(ctx: Mapping[str, Any]) -> bool:
                collection = right(ctx)
                return collection is not None and left(ctx) in collection

            return contained
        return left

    def primary(self) -> Node:
        return self._nested(self._primary)

    def _nested(self, parse: Callable[[], Node]) -> Node:
        """Every level of nesting counts, so a hostile filter cannot exhaust the stack."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FilterError("The filter is nested too deeply.")
        try:
            return parse()
        finally:
            self.depth -= 1

    def _primary(self) -> Node:
        token = self.take()
        if token.kind == "string":
            value = token.text[1:-1].replace("''", "'")
            return lambda ctx: value
        if token.kind == "number":
            number = int(token.text)
            return lambda ctx: number
        if token.text == "(":
            return self._parenthesized()
        if token.kind != "word":
            raise FilterError(f"Unexpected '{token.text}' in the filter.")
        return self._word(token.text)

    def _comma_list(self) -> list[Node]:
        """Expressions up to the closing parenthesis, which is consumed."""
        items = [self.or_expression()]
        while self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
            self.take(",")
            items.append(self.or_expression())
        self.take(")")
        return items

    def _parenthesized(self) -> Node:
        items = self._comma_list()
        if len(items) == 1:
            return items[0]
        return lambda ctx: [item(ctx) for item in items]

    def _word(self, word: str) -> Node:
        constants = {"true": True, "false": False, "null": None}
        if word in constants:
            constant = constants[word]
            return lambda ctx: constant
        if word in IDENTIFIERS:
            return lambda ctx: ctx.get(word)
        if word in _FUNCTIONS:
            return self._call(word)
        raise FilterError(f"Unknown name '{word}' in the filter.")

    def _call(self, name: str) -> Node:
        low, high, implementation = _FUNCTIONS[name]
        self.take("(")
        args = self._comma_list()
        if not low <= len(args) <= high:
            raise FilterError(f"{name}() takes {low} to {high} arguments.")

        def call(ctx: Mapping[str, Any]) -> Any:
            values = [arg(ctx) for arg in args]
            if any(value is None for value in values):
                return None
            try:
                return implementation(*values)
            except (TypeError, ValueError):
                return None

        return call


def compile_filter(text: str) -> Node:
    """Parse ``text`` into a predicate over ``{"userId", "connectionId", "groups"}``."""
    if len(text) > MAX_FILTER_LENGTH:
        raise FilterError(f"The filter is longer than {MAX_FILTER_LENGTH} characters.")
    tokens = _tokenize(text)
    if not tokens:
        raise FilterError("The filter is empty.")
    return _Parser(tokens).parse()

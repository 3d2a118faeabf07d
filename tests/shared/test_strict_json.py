"""Strict JSON as a pure rule: what is refused, and that the refusal says where or why."""

import pytest

from shared.errors import BadRequest
from shared.strict_json import parse_json, parse_json_body


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("NaN", "NaN is not JSON"),
        ("[Infinity]", "Infinity is not JSON"),
        ("[1e999]", "number out of range"),
        ("-" + "9" * 400, "number out of range"),
        ('{"a": 1, "a": 2}', "a name appears twice in one object"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ],
)
def test_strict_rules_name_the_rule(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_json(text)
    with pytest.raises(BadRequest, match=reason):
        parse_json_body(text.encode())


def test_numbers_within_a_double_and_long_integers_that_fit_are_kept() -> None:
    assert parse_json('[1.5e308, -2, 12345678901234567890, "NaN"]') == [1.5e308, -2, 12345678901234567890, "NaN"]
    assert parse_json("9" * 308) == int("9" * 308)


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b'{"a": 1,}', "line 1, column 9"),
        (b'[\n  {"actionName": "sendToAll"\n  "data": "x"}\n]', "line 3, column 3"),
        (b"", "line 1, column 1"),
        (b"[1, 2", "line 1, column 6"),
    ],
)
def test_a_syntax_error_names_its_line_and_column(body: bytes, where: str) -> None:
    with pytest.raises(BadRequest) as raised:
        parse_json_body(body)
    assert raised.value.message.startswith("The body is not valid JSON: ")
    assert raised.value.message.endswith(f" at {where}.")


def test_bytes_that_are_not_utf8_name_the_first_bad_byte() -> None:
    with pytest.raises(BadRequest, match=r"^The body is not UTF-8 text \(byte 3 cannot be decoded\)\.$"):
        parse_json_body(b'["a\xff"]')

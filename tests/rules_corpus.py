"""Cases of the rules the app and the emulator both hold (see tests/test_shared_rules.py)."""

JSON_REFUSED = [
    "NaN",
    "[Infinity]",
    '{"n": -Infinity}',
    "1e999",
    "[-1e999]",
    "1" * 309 + "0" * 10,  # an integer beyond a double: JSON.parse makes it Infinity
    "-" + "9" * 400,
    '{"a": 1, "a": 2}',  # one reader keeps the first, another the last
    '[{"x": {"b": true, "b": true}}]',
    "[" * 100_000 + "]" * 100_000,
    "{",
    "",
    "[1,]",
    "'x'",
]
JSON_ACCEPTED = [
    "{}",
    '{"a": 1, "b": {"a": 2}}',  # the same name in two objects is fine
    "9" * 308,  # 308 digits still fit a double
    "1e308",
    "-0.0",
    '"\\u00e9"',
    "[" * 50 + "]" * 50,
]

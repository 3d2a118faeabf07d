"""Key fingerprints and scopes, as pure rules: what makes two requests "the same request"."""

import azure.functions as func
import pytest

from shared.errors import BadRequest
from shared.idempotency.keys import fingerprint, read_key, scoped_key


def request(
    url: str = "http://h/api/publish?group=g",
    body: bytes = b"x",
    content_type: str = "text/plain",
    method: str = "POST",
    key: str | None = "k",
) -> func.HttpRequest:
    headers = {"content-type": content_type}
    if key is not None:
        headers["idempotency-key"] = key
    return func.HttpRequest(method, url, headers=headers, body=body)


def test_the_function_key_is_not_part_of_the_fingerprint() -> None:
    plain = fingerprint(request())
    assert fingerprint(request("http://h/api/publish?group=g&code=secret")) == plain
    assert fingerprint(request("http://h/api/publish?CODE=other&group=g")) == plain


@pytest.mark.parametrize(
    "other",
    [
        request(body=b"y"),
        request(content_type="application/json"),
        request(method="PUT"),
        request("http://h/api/publish?group=h"),
        request("http://h/api/actions?group=g"),
    ],
)
def test_any_other_part_of_the_request_changes_the_fingerprint(other: func.HttpRequest) -> None:
    assert fingerprint(other) != fingerprint(request())


def test_length_prefixes_keep_parts_apart() -> None:
    """Without them, path "a" + query "bc" would equal path "ab" + query "c"."""
    assert fingerprint(request("http://h/a?bc")) != fingerprint(request("http://h/ab?c"))


def test_keys_are_scoped_per_function_and_hub_case_insensitively() -> None:
    assert scoped_key("publish", "Chat", "k") == scoped_key("publish", "chat", "k")
    assert scoped_key("publish", "chat", "k") != scoped_key("actions", "chat", "k")
    assert scoped_key("publish", "chat", "k") != scoped_key("publish", "other", "k")
    assert "k" not in scoped_key("publish", "chat", "k")  # hashed: no key is stored


@pytest.mark.parametrize("key", ["", "a" * 256, "é", "tab\there", "\x7f"])
def test_keys_are_1_to_255_printable_ascii_characters(key: str) -> None:
    with pytest.raises(BadRequest, match="Idempotency-Key"):
        read_key(request(key=key))
    assert read_key(request(key="a" * 255)) == "a" * 255

import pytest

from shared.errors import BadRequest, ConfigurationError, PayloadTooLarge, UnaddressableName, UnsupportedMediaType
from shared.validation import (
    MAX_MESSAGE_BYTES,
    check_message_size,
    parse_content_type,
    parse_ttl,
    validate_group,
    validate_hub,
    validate_identifier,
    validate_text,
)


@pytest.mark.parametrize("hub", ["a", "Chat", "hub_1", "x" * 128, "a`,.[]"])
def test_valid_hubs(hub: str) -> None:
    assert validate_hub(hub) == hub


@pytest.mark.parametrize("hub", ["", "1hub", "_hub", "x" * 129, "a-b", "a/b", "a b", "ü"])
def test_invalid_hubs(hub: str) -> None:
    with pytest.raises(BadRequest):
        validate_hub(hub)


def test_invalid_hub_in_a_setting_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="WebPubSubHub"):
        validate_hub("no way", setting="WebPubSubHub")


@pytest.mark.parametrize("group", ["g", "x" * 1024, "room 1", "ü%2F,", "%252F"])
def test_valid_groups(group: str) -> None:
    assert validate_group(group) == group


@pytest.mark.parametrize("group", ["", " ", "\t", "x" * 1025, "a\nb", "a\x00b"])
def test_invalid_groups(group: str) -> None:
    with pytest.raises(BadRequest):
        validate_group(group)


@pytest.mark.parametrize("name", ["/", "x/y", "ü/%2F,", "a//b", "x/"])
def test_a_slash_makes_a_name_unaddressable(name: str) -> None:
    """The service keeps an encoded '/' literal: x/y would be the user or group named x%2Fy."""
    with pytest.raises(UnaddressableName, match="cannot contain '/'"):
        validate_group(name)
    with pytest.raises(UnaddressableName, match="cannot contain '/'"):
        validate_identifier(name, "user id")
    with pytest.raises(ConfigurationError, match=r"^NegotiateAllowedGroups: "):
        validate_group(name, setting="NegotiateAllowedGroups")
    assert validate_text(name, "reason") == name


@pytest.mark.parametrize(("raw", "value"), [("0", 0), ("300", 300), ("42", 42)])
def test_ttl_range(raw: str, value: int) -> None:
    assert parse_ttl(raw) == value


@pytest.mark.parametrize("raw", ["-1", "301", "1.5", "abc", "", "¹", "٣", "²⁰"])
def test_ttl_out_of_range(raw: str) -> None:
    with pytest.raises(BadRequest):
        parse_ttl(raw)


def test_message_size_limits() -> None:
    check_message_size(b"x" * MAX_MESSAGE_BYTES)
    with pytest.raises(PayloadTooLarge):
        check_message_size(b"x" * (MAX_MESSAGE_BYTES + 1))
    with pytest.raises(BadRequest):
        check_message_size(b"")


@pytest.mark.parametrize(
    ("header", "media_type"),
    [
        ("text/plain", "text/plain"),
        ("Text/Plain; charset=utf-8", "text/plain"),
        ("application/json;charset=UTF-8", "application/json"),
        ("application/octet-stream", "application/octet-stream"),
    ],
)
def test_accepted_content_types(header: str, media_type: str) -> None:
    assert parse_content_type(header) == media_type


@pytest.mark.parametrize("header", [None, "", "text/html", "application/xml", "multipart/form-data; boundary=x"])
def test_other_content_types_are_refused_with_the_list(header: str | None) -> None:
    with pytest.raises(UnsupportedMediaType) as raised:
        parse_content_type(header)
    assert "application/octet-stream" in raised.value.message

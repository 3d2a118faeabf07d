"""Input rules of Web PubSub, checked before anything is sent to the service.

The rules mirror the service's REST API (api-version 2024-12-01): hub names, group names,
user and connection ids, message TTL, message size and content types (strict JSON is
:mod:`shared.strict_json`). A name that breaks a rule raises
:class:`BadRequest` for a caller's input, or :class:`ConfigurationError` when it comes from
the app setting named by ``setting``.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from shared.errors import (
    AppError,
    BadRequest,
    ConfigurationError,
    PayloadTooLarge,
    UnaddressableName,
    UnsupportedMediaType,
)

HUB_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_`,.\[\]]{0,127}")
MAX_GROUP_LENGTH = 1024
MAX_ID_LENGTH = 1024
MAX_TTL_SECONDS = 300
MAX_MESSAGE_BYTES = 1024 * 1024
ACCEPTED_CONTENT_TYPES = ("text/plain", "application/json", "application/octet-stream")

# Control characters (C0, DEL, C1) and lone surrogates: the dev host decodes odd header bytes
# into surrogates, which no JSON encoder or JWT library can encode back.
NOT_TEXT = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# Group, user and connection names become URL path segments of the REST API, where "." and ".."
# are dot-segments that HTTP clients and servers remove: a send to group ".." would reach
# ``/api/hubs/{hub}/:send``, the whole hub. Percent-encoding does not help (%2E is ".").
_DOT_SEGMENTS = (".", "..")
# A user id, group name or connection id with "/" is percent-encoded into one path segment
# (``users/x%2Fy``), and the service keeps an encoded "/" literal there, so ``x/y`` and the
# user literally named ``x%2Fy`` are one address (Azure/azure-webpubsub#847): a send to ``x/y``
# reached ``x%2Fy``. Such names are refused wherever the app takes them.
PATH_SEPARATOR = "/"


def _fail(message: str, setting: str | None) -> AppError:
    return ConfigurationError(f"{setting}: {message}") if setting else BadRequest(message)


def validate_hub(hub: str, *, setting: str | None = None) -> str:
    """Hubs start with a letter and hold up to 128 of ``A-Z a-z 0-9 _ ` , . [ ]``."""
    if not HUB_PATTERN.fullmatch(hub):
        raise _fail(
            "A hub name starts with a letter and has at most 128 letters, digits or _`,.[] characters.",
            setting,
        )
    return hub


def validate_group(group: str, *, setting: str | None = None) -> str:
    """Groups are 1 to 1024 characters, not only white space, with no control characters or lone surrogates.

    Nor ``.`` or ``..``, which no URL path can carry (see ``_DOT_SEGMENTS``), nor a ``/`` (see
    :data:`PATH_SEPARATOR`).
    """
    if not _is_name(group, MAX_GROUP_LENGTH):
        raise _fail(
            f"A group name has 1 to {MAX_GROUP_LENGTH} characters, not only white space, no control characters,"
            " and is not . or ..",
            setting,
        )
    if PATH_SEPARATOR in group:
        message = _unaddressable("group name")
        raise ConfigurationError(f"{setting}: {message}") if setting else UnaddressableName(message)
    return group


def validate_identifier(value: str, what: str) -> str:
    """User and connection ids: :func:`validate_text`, and no ``/`` (see :data:`PATH_SEPARATOR`)."""
    validate_text(value, what)
    if PATH_SEPARATOR in value:
        raise UnaddressableName(_unaddressable(what))
    return value


def validate_text(value: str, what: str) -> str:
    """1 to 1024 characters with no control characters or lone surrogates, not ``.``/``..``.

    For values that travel in a query string (a close's ``reason``), where ``/`` is harmless.
    """
    if not _is_name(value, MAX_ID_LENGTH):
        raise BadRequest(
            f"A {what} has 1 to {MAX_ID_LENGTH} characters, not only white space, no control characters,"
            " and is not . or .."
        )
    return value


def _unaddressable(what: str) -> str:
    return (
        f"A {what} cannot contain '/': Web PubSub keeps an encoded '/' literal in its URL paths, so such a"
        " name could never be addressed and could stand for another one."
    )


def _is_name(value: str, max_length: int) -> bool:
    return (
        0 < len(value) <= max_length
        and not value.isspace()
        and value not in _DOT_SEGMENTS
        and not NOT_TEXT.search(value)
    )


def is_whole_number(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also accepts ``¹`` (which ``int`` refuses) and ``٣``."""
    return text.isascii() and text.isdigit()


def parse_ttl(raw: str) -> int:
    """``ttl`` is a whole number of seconds from 0 (never expires) to 300."""
    if not is_whole_number(raw) or not 0 <= int(raw) <= MAX_TTL_SECONDS:
        raise BadRequest(f"ttl must be a whole number of seconds from 0 to {MAX_TTL_SECONDS}.")
    return int(raw)


def check_message_size(body: bytes) -> None:
    if not body:
        raise BadRequest("The message body is empty.")
    if len(body) > MAX_MESSAGE_BYTES:
        raise PayloadTooLarge(f"The message is larger than {MAX_MESSAGE_BYTES} bytes (1 MiB).")


UTF8_CHARSETS = ("utf-8", "utf8", "us-ascii")  # ASCII is UTF-8 too


def parse_content_type(header: str | None, accepted: tuple[str, ...] = ACCEPTED_CONTENT_TYPES) -> str:
    """The media type without parameters, if it is one of ``accepted``.

    Text travels to clients as UTF-8, so a ``charset`` other than UTF-8 is refused rather than
    delivered as replacement characters.
    """
    media_type, *parameters = (header or "").split(";")
    media_type = media_type.strip().lower()
    if media_type not in accepted:
        raise UnsupportedMediaType("Content-Type must be one of " + ", ".join(accepted) + ".")
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in UTF8_CHARSETS:
            raise UnsupportedMediaType("Send text as UTF-8 (charset=utf-8).")
    return media_type


def check_utf8(body: bytes) -> None:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("A text/plain body must be UTF-8 text.") from None


def is_secure_url(url: str) -> bool:
    """``https://``, or ``http://`` to this machine only (``localhost``, ``127.0.0.1``): development."""
    parts = urlsplit(url)
    if not parts.netloc or parts.username or parts.password:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in ("localhost", "127.0.0.1"))

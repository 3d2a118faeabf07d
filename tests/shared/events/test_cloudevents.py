"""CloudEvents headers and bodies → typed events, with no socket: what is read, what is refused."""

from __future__ import annotations

import json

import pytest

from shared.errors import BadRequest, UnsupportedMediaType
from shared.events.cloudevents import (
    MAX_ATTRIBUTE_CHARS,
    ConnectedEvent,
    ConnectEvent,
    DisconnectedEvent,
    GroupEvent,
    UserEvent,
    parse_event,
)


def headers(ce_type: str, **extra: str) -> dict[str, str]:
    base = {
        "ce-specversion": "1.0",
        "ce-type": ce_type,
        "ce-source": "/hubs/chat/client/c1",
        "ce-id": "7",
        "ce-hub": "chat",
        "ce-connectionid": "c1",
        "ce-eventname": ce_type.rsplit(".", 1)[-1],
        "ce-time": "2026-12-07T14:00:00Z",
    }
    return {**base, **extra}


def test_connect_reads_claims_query_headers_and_subprotocols() -> None:
    body = {
        "claims": {"sub": ["alice"], "role": ["a", "b"]},
        "query": {"room": ["1"]},
        "headers": {"Cookie": ["x=1"]},
        "subprotocols": ["json.webpubsub.azure.v1"],
        "clientCertificates": [],
    }
    event = parse_event(headers("azure.webpubsub.sys.connect", **{"ce-userid": "alice"}), json.dumps(body).encode())
    assert isinstance(event, ConnectEvent)
    assert event.claims == {"sub": ("alice",), "role": ("a", "b")}
    assert event.query == {"room": ("1",)} and event.headers == {"Cookie": ("x=1",)}
    assert event.subprotocols == ("json.webpubsub.azure.v1",)
    assert (event.context.hub, event.context.connection_id, event.context.user_id) == ("chat", "c1", "alice")
    assert event.context.event_id == "7"


def test_connected_disconnected_and_group_events() -> None:
    assert isinstance(parse_event(headers("azure.webpubsub.sys.connected"), b"{}"), ConnectedEvent)
    gone = parse_event(headers("azure.webpubsub.sys.disconnected"), b'{"reason": "bye"}')
    assert isinstance(gone, DisconnectedEvent) and gone.reason == "bye"
    joined = parse_event(headers("azure.webpubsub.gp.joined"), b'{"group": "lobby"}')
    left = parse_event(headers("azure.webpubsub.gp.left"), b'{"group": "lobby"}')
    assert isinstance(joined, GroupEvent) and (joined.group, joined.joined) == ("lobby", True)
    assert isinstance(left, GroupEvent) and not left.joined


@pytest.mark.parametrize(
    ("content_type", "data_type", "body"),
    [
        ("text/plain", "text", "h\u00e9".encode()),
        ("application/json; charset=utf-8", "json", b'{"a": [1]}'),
        ("application/octet-stream", "binary", bytes(range(256))),
    ],
)
def test_a_user_event_keeps_its_bytes(content_type: str, data_type: str, body: bytes) -> None:
    event = parse_event(headers("azure.webpubsub.user.order", **{"content-type": content_type}), body)
    assert isinstance(event, UserEvent)
    assert (event.name, event.data_type, event.data) == ("order", data_type, body)


@pytest.mark.parametrize(
    "broken",
    [
        {"ce-specversion": "0.3"},
        {"ce-specversion": "1.0,1.0"},
        {"ce-type": "azure.webpubsub.sys.connected,azure.webpubsub.sys.connected"},
        {"ce-hub": "chat,chat"},
        {"ce-source": "/hubs/chat/client/c2"},
        {"ce-id": "1,1"},
        {"ce-userid": "al\udcffice"},
        {"ce-userid": "a\r\nb"},
        {"ce-connectionstate": "x" * (MAX_ATTRIBUTE_CHARS + 1)},
        {"ce-eventname": "disconnected"},
        {"ce-type": "azure.webpubsub.sys.restart"},
        {"ce-type": "com.example.other"},
        {"ce-hub": "1chat"},
    ],
)
def test_malformed_attributes_are_bad_requests(broken: dict[str, str]) -> None:
    with pytest.raises(BadRequest):
        parse_event(headers("azure.webpubsub.sys.connected", **broken), b"{}")


@pytest.mark.parametrize("missing", ["ce-specversion", "ce-type", "ce-source", "ce-id", "ce-hub", "ce-eventname"])
def test_a_missing_attribute_is_named(missing: str) -> None:
    incomplete = {name: value for name, value in headers("azure.webpubsub.sys.connected").items() if name != missing}
    with pytest.raises(BadRequest) as raised:
        parse_event(incomplete, b"{}")
    assert missing.lower() in raised.value.message.lower()


@pytest.mark.parametrize(
    ("ce_type", "content_type", "body"),
    [
        ("azure.webpubsub.user.e", "text/plain", b"\xff"),
        ("azure.webpubsub.user.e", "application/json", b"{"),
        ("azure.webpubsub.user.e", "application/json", b'{"a":1,"a":2}'),
        ("azure.webpubsub.gp.joined", "application/json", b'{"group": ""}'),
        ("azure.webpubsub.gp.joined", "application/json", b'{"group": "a/b"}'),
        ("azure.webpubsub.gp.joined", "application/json", b"{}"),
        ("azure.webpubsub.sys.connect", "application/json", b'{"claims": {"sub": [1]}}'),
        ("azure.webpubsub.sys.connect", "application/json", b'{"subprotocols": "json"}'),
        ("azure.webpubsub.sys.disconnected", "application/json", b'{"reason": 5}'),
    ],
)
def test_a_body_that_does_not_fit_its_event_is_a_bad_request(ce_type: str, content_type: str, body: bytes) -> None:
    with pytest.raises(BadRequest):
        parse_event(headers(ce_type, **{"content-type": content_type}), body)


def test_a_user_event_of_another_content_type_is_415() -> None:
    with pytest.raises(UnsupportedMediaType):
        parse_event(headers("azure.webpubsub.user.e", **{"content-type": "image/png"}), b"x")

"""The emulator's core, with no sockets: groups, permissions, acks, queues and replay."""

from __future__ import annotations

import json

import pytest

from emulator.client_protocol import ProtocolViolation, handle_json_request
from emulator.frames import OPCODE_TEXT, decode_frame
from emulator.messages import JSON, PLAIN, RELIABLE, Message
from emulator.model import (
    MAX_OUTBOX_FRAMES,
    MAX_UNACKED,
    RECOVERY_SECONDS,
    Connection,
    Hub,
    Service,
)
from emulator.permissions import Roles


def connect(hub: Hub, protocol: str = JSON, user: str | None = None, roles: tuple[str, ...] = ()) -> Connection:
    connection = Connection(
        id=f"c{len(hub.connections)}",
        hub=hub.name,
        user_id=user,
        protocol=protocol,
        roles=Roles.parse(frozenset(roles)),
    )
    hub.add(connection)
    return connection


def payloads(frames: list[bytes], as_json: bool) -> list:
    """Decode wire frames: JSON objects for JSON clients, text or bytes for plain ones."""
    decoded = []
    for frame in frames:
        opcode, payload = decode_frame(frame)
        if opcode == OPCODE_TEXT:
            decoded.append(json.loads(payload) if as_json else payload.decode())
        else:
            decoded.append(payload)
    return decoded


def sent(connection: Connection) -> list:
    return payloads(connection.take_frames(), connection.is_json)


def request(hub: Hub, connection: Connection, **payload: object) -> list:
    """What the sender gets: frames sent to it while handling, then the reply (ack or pong)."""
    reply = handle_json_request(hub, connection, json.dumps(payload))
    return sent(connection) + payloads([reply] if reply else [], as_json=True)


def test_message_is_encoded_once_per_protocol() -> None:
    message = Message(b"hi", "text")
    assert message.frame_for(JSON) is message.frame_for(JSON)
    assert message.frame_for(PLAIN) is message.frame_for(PLAIN)
    reliable = payloads([message.frame_for(RELIABLE, 7)], as_json=True)[0]
    assert reliable == {"sequenceId": 7, "type": "message", "from": "server", "dataType": "text", "data": "hi"}


def test_group_envelope_names_group_and_sender() -> None:
    envelope = payloads([Message(b'{"a":1}', "json", group="g", from_user_id="u").frame_for(JSON)], as_json=True)[0]
    assert envelope == {
        "type": "message",
        "from": "group",
        "group": "g",
        "fromUserId": "u",
        "dataType": "json",
        "data": {"a": 1},
    }


def test_join_needs_a_role_and_is_acked() -> None:
    hub = Hub("h")
    stranger = connect(hub)
    assert request(hub, stranger, type="joinGroup", group="g", ackId=1) == [
        {
            "type": "ack",
            "ackId": 1,
            "success": False,
            "error": {"name": "Forbidden", "message": "The connection has no permission to join group 'g'."},
        }
    ]
    assert "g" not in hub.groups
    member = connect(hub, roles=("webpubsub.joinLeaveGroup.g",))
    assert request(hub, member, type="joinGroup", group="g", ackId=1) == [{"type": "ack", "ackId": 1, "success": True}]
    assert request(hub, member, type="joinGroup", group="other", ackId=2)[0]["error"]["name"] == "Forbidden"
    assert list(hub.group_members("g")) == [member]


def test_repeated_ack_id_is_a_duplicate_and_not_run_again() -> None:
    hub = Hub("h")
    sender = connect(hub, roles=("webpubsub.sendToGroup", "webpubsub.joinLeaveGroup"))
    listener = connect(hub, roles=("webpubsub.joinLeaveGroup",))
    request(hub, listener, type="joinGroup", group="g")
    first = request(hub, sender, type="sendToGroup", group="g", ackId=5, dataType="text", data="once")
    again = request(hub, sender, type="sendToGroup", group="g", ackId=5, dataType="text", data="once")
    assert first == [{"type": "ack", "ackId": 5, "success": True}]
    assert again[0]["error"]["name"] == "Duplicate"
    assert [m["data"] for m in sent(listener)] == ["once"]


def test_no_echo_skips_the_sender() -> None:
    hub = Hub("h")
    both = ("webpubsub.sendToGroup", "webpubsub.joinLeaveGroup")
    sender, other = connect(hub, roles=both, user="s"), connect(hub, roles=both)
    for connection in (sender, other):
        request(hub, connection, type="joinGroup", group="g")
    assert request(hub, sender, type="sendToGroup", group="g", noEcho=True, data={"x": 1}) == []
    assert sent(other) == [
        {"type": "message", "from": "group", "group": "g", "fromUserId": "s", "dataType": "json", "data": {"x": 1}}
    ]
    echoed = request(hub, sender, type="sendToGroup", group="g", dataType="binary", data="AAE=")
    assert echoed[0]["data"] == "AAE="


def test_event_without_handler_and_ping() -> None:
    hub = Hub("h")
    connection = connect(hub)
    assert request(hub, connection, type="event", event="e", ackId=1)[0]["error"]["name"] == "InternalServerError"
    assert request(hub, connection, type="ping") == [{"type": "pong"}]


@pytest.mark.parametrize(
    "text", ["not json", "[]", '{"no":"type"}', '{"type":"dance"}', '{"type":"joinGroup","ackId":-1}']
)
def test_malformed_requests_are_violations(text: str) -> None:
    hub = Hub("h")
    with pytest.raises(ProtocolViolation) as raised:
        handle_json_request(hub, connect(hub), text)
    assert raised.value.code == 1007


@pytest.mark.parametrize(
    ("data_type", "data"),
    [("text", 5), ("binary", "***"), ("json", None), ("xml", "x"), ("text", "\ud800")],
)
def test_send_data_that_does_not_fit_its_type_declines_the_client(data_type: str, data: object) -> None:
    hub = Hub("h")
    connection = connect(hub, roles=("webpubsub.sendToGroup",))
    payload = {"type": "sendToGroup", "group": "g", "ackId": 1, "dataType": data_type, "data": data}
    with pytest.raises(ProtocolViolation) as raised:
        handle_json_request(hub, connection, json.dumps(payload))
    assert raised.value.code == 1007


def test_granted_permissions() -> None:
    hub = Hub("h")
    connection = connect(hub)
    connection.granted.add(("joinLeaveGroup", "g"))
    assert connection.may("joinLeaveGroup", "g")
    assert not connection.may("joinLeaveGroup", "h")
    connection.granted.add(("sendToGroup", None))
    assert connection.may("sendToGroup", "anything")


def test_frames_go_straight_out_while_the_socket_keeps_up() -> None:
    hub = Hub("h")
    connection = connect(hub, protocol=PLAIN)
    written: list[bytes] = []
    socket_ready = True

    def transmit(frame: bytes) -> bool:
        if socket_ready:
            written.append(frame)
        return socket_ready

    connection.transmit = transmit
    hub.publish(Message(b"now", "text"), [connection])
    assert payloads(written, as_json=False) == ["now"] and not connection.outbox
    socket_ready = False
    hub.publish(Message(b"later", "text"), [connection])
    socket_ready = True
    hub.publish(Message(b"after", "text"), [connection])  # queued behind "later": order is kept
    assert sent(connection) == ["later", "after"]


def test_slow_consumer_is_closed_not_buffered_forever() -> None:
    hub = Hub("h")
    slow, fast = connect(hub, protocol=PLAIN), connect(hub, protocol=PLAIN)
    for index in range(MAX_OUTBOX_FRAMES + 10):
        hub.publish(Message(str(index).encode(), "text"), [slow, fast])
        fast.take_frames()
    assert slow.close_request is not None
    assert slow.close_request[0] == 1008
    assert len(slow.outbox) <= MAX_OUTBOX_FRAMES
    assert fast.close_request is None


def test_reliable_replay_after_detach() -> None:
    hub = Hub("h")
    connection = connect(hub, protocol=RELIABLE)
    for text in (b"one", b"two", b"three"):
        connection.deliver(Message(text, "text"))
    assert [m["sequenceId"] for m in sent(connection)] == [1, 2, 3]
    request(hub, connection, type="sequenceAck", sequenceId=1)
    connection.detach()
    connection.deliver(Message(b"four", "text"))  # arrives while the socket is gone
    assert connection.outbox == type(connection.outbox)()
    token = connection.reconnection_token
    assert token is not None
    assert not connection.recoverable("wrong", connection.detached_since)  # type: ignore[arg-type]
    assert connection.recoverable(token, connection.detached_since + RECOVERY_SECONDS - 1)  # type: ignore[operator]
    assert not connection.recoverable(token, connection.detached_since + RECOVERY_SECONDS + 1)  # type: ignore[operator]
    connection.reattach(lambda frame: False, lambda: None)
    assert [(m["sequenceId"], m["data"]) for m in sent(connection)] == [(2, "two"), (3, "three"), (4, "four")]


def test_too_many_unacked_messages_end_the_session() -> None:
    hub = Hub("h")
    connection = connect(hub, protocol=RELIABLE)
    for _ in range(MAX_UNACKED + 1):
        connection.deliver(Message(b"x", "text"))
        connection.take_frames()
    assert connection.close_request is not None
    assert connection.reconnection_token is None


def test_detached_connections_expire() -> None:
    service = Service()
    hub = service.hub("H")
    connection = connect(hub, protocol=RELIABLE, user="u")
    hub.join(connection, "g")
    connection.detach()
    service.expire_detached(connection.detached_since + 1)  # type: ignore[operator]
    assert connection.id in hub.connections
    service.expire_detached(connection.detached_since + RECOVERY_SECONDS + 1)  # type: ignore[operator]
    assert connection.id not in hub.connections
    assert hub.groups == {} and hub.users == {}
    assert service.hub("h") is hub


def test_a_connection_is_told_it_ended_once_whoever_removes_it() -> None:
    service = Service()
    hub = service.hub("h")
    connection = connect(hub, protocol=RELIABLE, user="u")
    told: list[str] = []
    connection.ended = told.append
    connection.detach()
    hub.remove(connection, "closed over REST")  # while it waits for recovery
    hub.remove(connection, "the socket closed")  # its reader, later
    service.expire_detached(connection.detached_since + RECOVERY_SECONDS + 1)  # type: ignore[operator]
    assert told == ["closed over REST"]

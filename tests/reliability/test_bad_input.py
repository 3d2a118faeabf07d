"""Bad input never crashes anything: no 5xx from our code, always the JSON error shape."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from emulator import DEFAULT_ACCESS_KEY, Emulator
from emulator.proto.webpubsub_v1_pb2 import DownstreamMessage, MessageData, UpstreamMessage
from tests.conftest import Stack
from tests.reliability.conftest import Sizes
from tests.reliability.corpus import (
    ACTION_NAMES,
    Case,
    actions_cases,
    emulator_rest_cases,
    negotiate_cases,
    publish_cases,
)
from tests.reliability.rawhttp import RawResponse, raw_request
from tests.reliability.support import fuzz_settings, is_error_shape
from tests.support import TEST_KEY

FUNCTION_CASES = negotiate_cases() + publish_cases() + actions_cases()


def judge_function_response(case: Case, response: RawResponse) -> str | None:
    """None when the answer is acceptable, else what is wrong with it."""
    if response.status >= 500:
        return f"{response.status} {response.body[:200]!r}"
    if case.host_level:
        return None if response.status < 500 else "host error"
    if response.status in (200, 202):
        return None
    if response.status == 207:  # actions: some items failed; none of them with a 5xx
        failed = [r for r in response.json()["results"] if r["status"] >= 500]  # type: ignore[index]
        return f"207 with item errors {failed}" if failed else None
    if not is_error_shape(response):
        return f"{response.status} without the error shape: {response.body[:200]!r}"
    return None


def test_corpus_has_at_least_200_cases() -> None:
    assert len(FUNCTION_CASES) >= 200
    assert len(actions_cases()) >= 100


def test_hand_written_corpus_against_the_functions(stack: Stack, figures: dict[str, Any]) -> None:
    problems = []
    statuses: dict[int, int] = {}
    for case in FUNCTION_CASES:
        headers = dict(case.headers)
        if case.path.startswith(("/api/publish", "/api/actions")):
            headers["x-functions-key"] = TEST_KEY
        response = raw_request(stack.host.port, case.method, case.path, headers, case.body)
        statuses[response.status] = statuses.get(response.status, 0) + 1
        problem = judge_function_response(case, response)
        if problem:
            problems.append(f"{case.name}: {problem}")
    figures["bad input: function cases tried"] = len(FUNCTION_CASES)
    figures["bad input: function 5xx"] = sum(n for status, n in statuses.items() if status >= 500)
    figures["bad input: function statuses"] = dict(sorted(statuses.items()))
    assert not problems, "\n".join(problems)
    assert raw_request(stack.host.port, "GET", "/api/negotiate").status == 200  # still up


def signed(emulator: Emulator, path: str) -> dict[str, str]:
    audience = f"http://127.0.0.1:{emulator.port}{path}"
    token = jwt.encode({"aud": audience, "exp": int(time.time()) + 300}, DEFAULT_ACCESS_KEY, algorithm="HS256")
    return {"Authorization": f"Bearer {token}"}


def test_hand_written_corpus_against_the_emulator_rest_api(shared_emulator: Emulator, hub: str, figures: dict) -> None:
    problems = []
    cases = emulator_rest_cases(hub)
    for case in cases:
        response = raw_request(
            shared_emulator.port,
            case.method,
            case.path,
            {**case.headers, **signed(shared_emulator, case.path)},
            case.body,
        )
        if response.status >= 500:
            problems.append(f"{case.name}: {response.status}")
        elif response.status >= 400 and response.status != 401 and case.method != "HEAD" and not case.host_level:
            try:
                body = response.json()
            except ValueError:
                body = None
            if not (isinstance(body, dict) and {"code", "message"} <= set(body)):
                problems.append(f"{case.name}: {response.status} {response.body[:100]!r}")
    figures["bad input: emulator REST cases tried"] = len(cases)
    assert not problems, "\n".join(problems)
    assert raw_request(shared_emulator.port, "GET", "/api/health").status == 200


PARAMETER_NAMES = st.sampled_from(
    ["hub", "group", "user", "userId", "connectionId", "excluded", "filter", "ttl", "protocol", "code", "x"]
)
QUERY = st.lists(st.tuples(PARAMETER_NAMES, st.text(max_size=60)), max_size=6)
CONTENT_TYPE = st.sampled_from(["text/plain", "application/json", "application/octet-stream", "text/html", ""])


@pytest.mark.parametrize("function", ["negotiate", "publish"])
def test_property_based_fuzzing_of_the_functions(stack: Stack, sizes: Sizes, function: str, figures: dict) -> None:
    tried = 0

    @fuzz_settings(sizes, sizes.fuzz_examples)
    @given(query=QUERY, body=st.binary(max_size=300), content_type=CONTENT_TYPE)
    def check(query: list[tuple[str, str]], body: bytes, content_type: str) -> None:
        nonlocal tried
        tried += 1
        method = "GET" if function == "negotiate" else "POST"
        path = f"/api/{function}?{urlencode(query)}"
        headers = {"x-functions-key": TEST_KEY, "Content-Type": content_type} if function == "publish" else {}
        response = raw_request(stack.host.port, method, path, headers, body)
        problem = judge_function_response(Case("fuzz", method, path, body, headers), response)
        assert problem is None, f"{path}: {problem}"

    check()
    figures[f"bad input: fuzzed {function} requests"] = tried


TYPES = ["joinGroup", "leaveGroup", "sendToGroup", "event", "ping", "sequenceAck", "nope", "JOINGROUP", "SendToGroup"]
GROUP_TEXT = st.one_of(st.text(max_size=30), st.sampled_from(["\ud800", "a\udfffb", " ", "g\n", "g", "G"]))
JSON_REQUEST = st.fixed_dictionaries(
    {"type": st.sampled_from(TYPES)},
    optional={
        "group": st.one_of(GROUP_TEXT, st.integers(), st.none()),
        "ackId": st.one_of(st.integers(min_value=-5, max_value=2**70), st.text(max_size=5), st.booleans()),
        "dataType": st.sampled_from(["json", "text", "binary", "protobuf", "", "JSON"]),
        "data": st.one_of(st.text(max_size=40), st.integers(), st.none(), st.lists(st.integers(), max_size=3)),
        "event": st.text(max_size=20),
        "noEcho": st.one_of(st.booleans(), st.text(max_size=3)),
        "sequenceId": st.one_of(st.integers(min_value=-1, max_value=2**70), st.text(max_size=3)),
    },
)
# Numbers JSON parsers turn into NaN or Infinity, which must never be forwarded as such.
RAW_JSON = st.sampled_from(
    [
        '{"type":"sendToGroup","group":"g","data":NaN}',
        '{"type":"sendToGroup","group":"g","data":[1e999]}',
        '{"type":"sendToGroup","group":"g","data":-Infinity,"ackId":1}',
        '{"type":"joinGroup","group":"\\ud800","ackId":2}',
        '{"type":"sendToGroup","group":"g","dataType":"text","data":"\\udfff"}',
        '{"type":"JoinGroup","group":"g","ackId":3}',
    ]
)
FRAME = st.one_of(JSON_REQUEST.map(json.dumps), RAW_JSON, st.text(max_size=80), st.binary(max_size=80))


@st.composite
def _protobuf_request(draw: st.DrawFn) -> bytes:
    """An ``UpstreamMessage`` of any kind, with hostile groups, ack ids, payloads and ``Any`` values."""
    group = draw(st.text(max_size=12))
    ack_id = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=2**64 - 1)))
    data = MessageData()
    kind = draw(st.sampled_from(["text", "binary", "json", "any", "none"]))
    if kind == "text":
        data.text_data = draw(st.text(max_size=20))  # st.text() has no lone surrogates: proto strings are UTF-8
    elif kind == "binary":
        data.binary_data = draw(st.binary(max_size=20))
    elif kind == "json":
        data.json_data = draw(st.sampled_from(["1", '{"a":[1]}', "NaN", "[1e999]", "", "{", '"\\ud800"']))
    elif kind == "any":
        data.protobuf_data.type_url = draw(st.text(max_size=20).filter(str.isprintable))
        data.protobuf_data.value = draw(st.binary(max_size=20))
    message = UpstreamMessage()
    which = draw(st.sampled_from(["send", "event", "join", "leave", "ack", "ping", "invoke", "none"]))
    if which == "send":
        message.send_to_group_message.group = group
        message.send_to_group_message.no_echo = draw(st.booleans())
        if kind != "none":
            message.send_to_group_message.data.CopyFrom(data)
        if ack_id is not None:
            message.send_to_group_message.ack_id = ack_id
    elif which == "event":
        message.event_message.event = draw(st.text(max_size=10))
        if kind != "none":
            message.event_message.data.CopyFrom(data)
        if ack_id is not None:
            message.event_message.ack_id = ack_id
    elif which in ("join", "leave"):
        request = message.join_group_message if which == "join" else message.leave_group_message
        request.group = group
        if ack_id is not None:
            request.ack_id = ack_id
    elif which == "ack":
        message.sequence_ack_message.sequence_id = draw(st.integers(min_value=0, max_value=2**64 - 1))
    elif which == "ping":
        message.ping_message.SetInParent()
    elif which == "invoke":
        message.invoke_event_message.event = group
    return message.SerializeToString()


PROTOBUF_FRAME = st.one_of(_protobuf_request(), st.binary(max_size=80), st.text(max_size=20))
# Offered subprotocols: known ones in any case, unknown ones (a plain client), or none.
OFFER = st.sampled_from(
    [
        ["json.webpubsub.azure.v1"],
        ["JSON.WebPubSub.Azure.V1"],
        ["json.reliable.webpubsub.azure.v1"],
        ["protobuf.webpubsub.azure.v1"],
        ["Protobuf.Reliable.WebPubSub.Azure.V1"],
        ["custom", "Json.Reliable.WebPubSub.Azure.V1"],
        [],
    ]
)
PLAIN_QUERY = st.sampled_from(["", "&webpubsub_mode=sendToGroup&group=g", "&webpubsub_mode=SENDTOGROUP&group=g"])
ALLOWED_CLOSES = (1003, 1007, 1008, 1009, 1011)


def _strict_json(text: str) -> Any:
    """What a strict parser (a browser's JSON.parse) accepts: no NaN or Infinity."""

    def refuse(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_property_based_fuzzing_of_the_client_protocol(
    shared_emulator: Emulator, hub: str, sizes: Sizes, figures: dict, log_lines: list[str]
) -> None:
    now = int(time.time())
    token = jwt.encode(
        {
            "aud": f"{shared_emulator.endpoint}/client/hubs/{hub}",
            "exp": now + 600,
            "role": ["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"],
            "webpubsub.group": ["g"],
        },
        DEFAULT_ACCESS_KEY,
    )
    url = f"ws://localhost:{shared_emulator.port}/client/hubs/{hub}?access_token={token}"
    tried = 0

    @fuzz_settings(sizes, sizes.ws_fuzz_examples)
    @given(
        offer=OFFER,
        query=PLAIN_QUERY,
        frames=st.lists(FRAME, min_size=1, max_size=5),
        protobuf_frames=st.lists(PROTOBUF_FRAME, min_size=1, max_size=5),
    )
    def check(offer: list[str], query: str, frames: list[str | bytes], protobuf_frames: list[str | bytes]) -> None:
        nonlocal tried
        tried += 1
        with connect(url + query, subprotocols=offer or None, open_timeout=5, max_size=None) as socket:
            if socket.subprotocol is None:
                _plain_session(socket, frames)
            elif socket.subprotocol.lower().startswith("protobuf"):
                _protobuf_session(socket, protobuf_frames)
            else:
                _json_session(socket, frames)

    check()
    figures["bad input: fuzzed client-protocol sessions"] = tried
    assert raw_request(shared_emulator.port, "GET", "/api/health").status == 200
    crashes = [line for line in log_lines if "Error handling request" in line or "Traceback" in line]
    assert not crashes, crashes[:3]
    hub_state = shared_emulator.service.hub(hub)
    assert all(len(c.groups) <= 1000 and len(c.unacked) <= 1000 for c in hub_state.connections.values())


def _json_session(socket: Any, frames: list[str | bytes]) -> None:
    assert _strict_json(socket.recv(timeout=5))["event"] == "connected"
    try:
        for frame in frames:
            socket.send(frame)
        socket.send(json.dumps({"type": "ping"}))
        while True:
            reply = _strict_json(socket.recv(timeout=5))  # nothing a subscriber gets is invalid JSON
            if reply == {"type": "pong"}:
                return  # every frame was handled and the connection still answers
            assert reply.get("type") in ("ack", "message", "system"), reply
            if reply.get("type") == "ack" and not reply["success"]:
                assert reply["error"]["name"] in ("Forbidden", "Duplicate", "BadRequest", "InternalServerError")
    except ConnectionClosed:
        assert socket.close_code in ALLOWED_CLOSES, f"closed with {socket.close_code}"


def _downstream(frame: str | bytes) -> DownstreamMessage:
    assert isinstance(frame, bytes), "a protobuf client only ever gets binary frames"
    message = DownstreamMessage()
    message.ParseFromString(frame)  # nothing a protobuf client gets fails to parse
    return message


def _protobuf_session(socket: Any, frames: list[str | bytes]) -> None:
    assert _downstream(socket.recv(timeout=5)).system_message.HasField("connected_message")
    try:
        for frame in frames:
            socket.send(frame)
        socket.send(UpstreamMessage(ping_message=UpstreamMessage.PingMessage()).SerializeToString())
        while True:
            reply = _downstream(socket.recv(timeout=5))
            kind = reply.WhichOneof("message")
            if kind == "pong_message":
                return  # every frame was handled and the connection still answers
            assert kind in ("ack_message", "data_message", "system_message"), reply
            if kind == "ack_message" and not reply.ack_message.success:
                assert reply.ack_message.error.name in ("Forbidden", "Duplicate", "BadRequest", "InternalServerError")
    except ConnectionClosed:
        assert socket.close_code in ALLOWED_CLOSES, f"closed with {socket.close_code}"


def _plain_session(socket: Any, frames: list[str | bytes]) -> None:
    """A plain client: in sendToGroup mode its frames reach group ``g`` (it is a member), as sent."""
    try:
        for frame in frames:
            socket.send(frame)
            assert socket.recv(timeout=5) == frame
    except ConnectionClosed:
        assert socket.close_code in ALLOWED_CLOSES, f"closed with {socket.close_code}"


@pytest.mark.parametrize("path", ["/client/hubs/9bad", "/client/?hub=", "/client/hubs/" + "h" * 300])
def test_bad_client_handshakes_are_4xx(shared_emulator: Emulator, path: str) -> None:
    with pytest.raises(InvalidStatus) as raised:
        connect(f"ws://localhost:{shared_emulator.port}{path}", open_timeout=5)
    assert 400 <= raised.value.response.status_code < 500


FIELD_VALUE = st.one_of(
    st.text(max_size=40),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
    st.lists(st.text(max_size=10), max_size=4),
)
ACTION_ITEM = st.fixed_dictionaries(
    {"actionName": st.one_of(st.sampled_from(ACTION_NAMES), st.text(max_size=20))},
    optional={
        name: FIELD_VALUE
        for name in (
            "data",
            "dataType",
            "group",
            "userId",
            "connectionId",
            "excluded",
            "groups",
            "filter",
            "ttl",
            "reason",
            "permission",
            "targetName",
            "top",
        )
    },
)
HEADER_TEXT = st.characters(exclude_categories=("Cc", "Cs"))  # control characters: the HTTP parser refuses them
ACTIONS_BODY = st.one_of(
    ACTION_ITEM.map(json.dumps),
    st.lists(ACTION_ITEM, max_size=6).map(json.dumps),
    st.text(max_size=200),
)


def test_property_based_fuzzing_of_actions(stack: Stack, sizes: Sizes, figures: dict) -> None:
    """Random action batches: every answer is 200/207 with no 5xx item, or a JSON 4xx."""
    tried = 0

    @fuzz_settings(sizes, sizes.fuzz_examples)
    @given(body=ACTIONS_BODY, key=st.one_of(st.none(), st.text(HEADER_TEXT, max_size=300)))
    def check(body: str, key: str | None) -> None:
        nonlocal tried
        tried += 1
        headers = {"x-functions-key": TEST_KEY, "Content-Type": "application/json"}
        if key is not None:
            headers["Idempotency-Key"] = key
        raw = body.encode("utf-8", "surrogatepass")
        response = raw_request(stack.host.port, "POST", "/api/actions", headers, raw)
        problem = judge_function_response(Case("fuzz", "POST", "/api/actions", raw, headers), response)
        assert problem is None, f"{body[:200]!r}: {problem}"

    check()
    figures["bad input: fuzzed actions requests"] = tried

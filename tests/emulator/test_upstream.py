"""CloudEvents requests and answers, and the hub settings file, without sockets."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from multidict import CIMultiDict

from emulator.hub_settings import EventHandlerSettings, HubSettingsError, load_hub_settings, parse_hub_settings
from emulator.upstream import (
    ConnectionFacts,
    connect_decision,
    event_answer,
    event_request,
    sign,
    user_event,
    validation_allows,
    validation_request,
)
from tests.support import read_lines

KEYS = ("primary-key-with-at-least-32-bytes!!", "secondary-key-with-at-least-32-bytes")
HANDLER = EventHandlerSettings("https://example.test/{hub}/{event}?code=k", "*", frozenset({"connect"}))


def test_the_signature_is_one_hmac_sha256_of_the_connection_id_per_key() -> None:
    expected = [hmac.new(key.encode(), b"conn-1", hashlib.sha256).hexdigest() for key in KEYS]
    assert sign("conn-1", KEYS) == f"sha256={expected[0]},sha256={expected[1]}"
    assert sign("conn-1", KEYS[:1]) == f"sha256={expected[0]}"


def test_a_user_event_request_has_the_binary_mode_headers_and_the_data_as_body() -> None:
    facts = ConnectionFacts("chat", "conn-1", "alice", "json.webpubsub.azure.v1", "c3RhdGU=")
    moment = datetime(2026, 12, 1, 3, 4, 5, tzinfo=UTC)
    request = event_request(
        HANDLER, user_event("my event", b"\x00\x01", "binary"), facts, event_id=7, origin="localhost",
        access_keys=KEYS, now=moment,
    )  # fmt: skip
    assert request.method == "POST"
    assert request.url == "https://example.test/chat/my%20event?code=k"
    assert request.body == b"\x00\x01"
    assert request.headers == {
        "WebHook-Request-Origin": "localhost",
        "Content-Type": "application/octet-stream",
        "ce-specversion": "1.0",
        "ce-type": "azure.webpubsub.user.my event",
        "ce-source": "/hubs/chat/client/conn-1",
        "ce-id": "7",
        "ce-time": "2026-12-01T03:04:05Z",
        "ce-signature": sign("conn-1", KEYS),
        "ce-connectionId": "conn-1",
        "ce-hub": "chat",
        "ce-eventName": "my event",
        "ce-awpsversion": "1.0",
        "ce-userId": "alice",
        "ce-subprotocol": "json.webpubsub.azure.v1",
        "ce-connectionState": "c3RhdGU=",
    }


def test_event_names_cannot_leave_their_path_segment() -> None:
    facts = ConnectionFacts("chat", "c", None, None)
    request = event_request(HANDLER, user_event("../../admin?x=1#", b"", "text"), facts, event_id=1, origin="o",
                            access_keys=KEYS)  # fmt: skip
    assert request.url == "https://example.test/chat/..%2F..%2Fadmin%3Fx%3D1%23?code=k"
    assert "ce-userId" not in request.headers and "ce-subprotocol" not in request.headers


def test_the_validation_request_and_what_allows_delivery() -> None:
    request = validation_request(HANDLER, "chat", "localhost")
    assert (request.method, request.url) == ("OPTIONS", "https://example.test/chat/validate?code=k")
    assert request.headers == {"WebHook-Request-Origin": "localhost", "ce-awpsversion": "1.0"}
    assert validation_allows(200, ["*"], "localhost")
    assert validation_allows(200, ["LocalHost"], "localhost")
    assert validation_allows(204, ["a.example, localhost"], "localhost")
    assert validation_allows(200, ["a.example", "localhost"], "localhost")
    assert not validation_allows(200, [], "localhost")
    assert not validation_allows(200, ["other.webpubsub.azure.com"], "localhost")
    assert not validation_allows(404, ["*"], "localhost")


@pytest.mark.parametrize(
    ("status", "body", "accepted", "refusal"),
    [
        (204, b"", True, None),
        (200, b"", True, None),
        (200, b'{"userId": "u", "groups": ["g"], "roles": ["r"], "subprotocol": "p"}', True, None),
        (401, b"", False, 401),
        (403, b"nope", False, 403),
        (500, b"", False, 500),
        (302, b"", False, 500),
        (200, b"[]", False, 500),
        (200, b"not json", False, 500),
        (200, b'{"groups": "g"}', False, 500),
        (200, b'{"userId": 1}', False, 500),
        (200, b'{"groups": [" "]}', False, 500),
        (200, b'{"userId": "a\\r\\nce-userId: admin"}', False, 500),  # it could not be sent in ce-userId
    ],
)
def test_connect_answers(status: int, body: bytes, accepted: bool, refusal: int | None) -> None:
    decision = connect_decision(status, CIMultiDict({"ce-connectionState": "s"}), body)
    assert decision.accepted is accepted
    if refusal is not None:
        assert decision.status == refusal
    elif body:
        assert (decision.user_id, decision.groups, decision.roles, decision.subprotocol) == ("u", ("g",), ("r",), "p")
        assert decision.state == "s"


def test_a_repeated_connection_state_keeps_the_last_and_one_that_cannot_be_a_header_fails() -> None:
    repeated = CIMultiDict([("ce-connectionState", "first"), ("CE-CONNECTIONSTATE", "last")])
    assert connect_decision(204, repeated, b"").state == "last"
    assert event_answer(204, repeated, b"").state == "last"
    for bad in ("tab\there", "surrogate\udcff"):  # what a parser can hand over, but no header can carry back
        headers = CIMultiDict({"ce-connectionState": bad})
        assert connect_decision(204, headers, b"").status == 500
        assert "ce-connectionState" in (event_answer(204, headers, b"").error or "")


@pytest.mark.parametrize(
    ("status", "content_type", "body", "error", "data_type"),
    [
        (200, "text/plain; charset=utf-8", b"hi", False, "text"),
        (200, "application/json", b'{"a": 1}', False, "json"),
        (200, "application/octet-stream", b"\x00", False, "binary"),
        (200, "image/png", b"\x89", True, None),  # as Microsoft's emulator: only the three types
        (200, "", b"\x89", True, None),
        (204, "text/plain", b"", False, None),
        (200, "text/plain", b"", False, None),
        (200, "application/json", b"{nope", True, None),
        (200, "application/json", b"NaN", True, None),
        (200, "application/json", b"[1e999]", True, None),  # would reach JSON clients as Infinity
        (200, "application/json", b"\xff\xfe{}", True, None),
        (500, "text/plain", b"boom", True, None),
        (404, "text/plain", b"", True, None),
        (200, "text/plain", b"x" * (1024 * 1024 + 1), True, None),
    ],
)
def test_user_event_answers(status: int, content_type: str, body: bytes, error: bool, data_type: str | None) -> None:
    answer = event_answer(status, CIMultiDict({"Content-Type": content_type}), body)
    assert (answer.error is not None) is error
    if data_type is not None:
        assert (answer.data, answer.data_type) == (body, data_type)
    elif not error:
        assert answer.data is None


def test_an_answer_without_content_type_is_text() -> None:
    answer = event_answer(200, CIMultiDict(), b"hi")
    assert (answer.error, answer.data, answer.data_type) == (None, b"hi", "text")


def test_a_complete_settings_file_is_read_into_hubs() -> None:
    hubs = parse_hub_settings(
        {"hubs": {"Chat": {"anonymousConnectPolicy": "allow", "eventHandlers": [
            {"urlTemplate": "http://localhost:7071/api/{event}", "userEventPattern": "a, b"},
            {"urlTemplate": "http://localhost:7072/{hub}/{event}", "userEventPattern": "*",
             "systemEvents": ["connect", "disconnected"]},
        ]}}}
    )  # fmt: skip
    chat = hubs["chat"]
    assert chat.allow_anonymous
    first, second = chat.event_handlers
    assert chat.handler_for("B", system=False) is first  # the first handler whose pattern matches
    assert chat.handler_for("c", system=False) is second
    assert chat.handler_for("connect", system=True) is second
    assert chat.handler_for("connected", system=True) is None


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "must be a JSON object"),
        ({"hubs": {}, "extra": 1}, "must be a JSON object"),
        ({"hubs": {"1bad": {}}}, "hubs.1bad: not a valid hub name"),
        ({"hubs": {"a": {}, "A": {}}}, "listed twice"),
        ({"hubs": {"a": {"anonymousConnectPolicy": "maybe"}}}, "anonymousConnectPolicy"),
        ({"hubs": {"a": {"eventHandler": []}}}, "unknown field 'eventHandler'"),
        ({"hubs": {"a": {"eventHandlers": {}}}}, "eventHandlers: must be a list"),
        ({"hubs": {"a": {"eventHandlers": [{}]}}}, "eventHandlers[0].urlTemplate: required"),
        ({"hubs": {"a": {"eventHandlers": [{"urlTemplate": "/api/{event}"}]}}}, "absolute http or https"),
        ({"hubs": {"a": {"eventHandlers": [{"urlTemplate": "ftp://h/{event}"}]}}}, "absolute http or https"),
        ({"hubs": {"a": {"eventHandlers": [{"urlTemplate": "http://{event}.h/"}]}}}, "not allowed in the host"),
        ({"hubs": {"a": {"eventHandlers": [{"urlTemplate": "http://h/{Event}"}]}}}, "only {hub} and {event}"),
        ({"hubs": {"a": {"eventHandlers": [{"urlTemplate": "http://u:p@h/"}]}}}, "credentials"),
        ({"hubs": {"a": {"eventHandlers": [{"urlTemplate": "http://h:99999/"}]}}}, "port"),
        ({"hubs": {"a": {"eventHandlers": [{"urlTemplate": "http://h/", "userEventPattern": "a,,b"}]}}}, "comma"),
        (
            {"hubs": {"a": {"eventHandlers": [{"urlTemplate": "http://h/", "systemEvents": ["joined"]}]}}},
            "systemEvents",
        ),
        ({"hubs": {"a": {"eventHandlers": [{"urlTemplate": "http://h/", "auth": {}}]}}}, "unknown field 'auth'"),
        ({"hubs": {"a": {"eventHandlers": [{"urlTemplate": "http://[::1/{event}"}]}}}, "not a URL"),
        ({"hubs": {"a": {"eventHandlers": [{"urlTemplate": "http://h/a\r\nX: y/{event}"}]}}}, "control characters"),
        ({"hubs": {"a": {"eventHandlers": [{"urlTemplate": "http://h/a b/{event}"}]}}}, "white space"),
        ({"hubs": {"a": {"eventHandlers": [{"urlTemplate": "http://h\x00/{event}"}]}}}, "control characters"),
    ],
)
def test_bad_settings_are_refused_with_a_message_that_names_the_field(document: object, message: str) -> None:
    with pytest.raises(HubSettingsError, match=re.escape(message)):
        parse_hub_settings(document)


def test_the_command_line_refuses_a_bad_file_at_start(tmp_path: Path) -> None:
    bad = tmp_path / "hubs.json"
    bad.write_text(json.dumps({"hubs": {"chat": {"eventHandlers": [{"urlTemplate": "localhost/{event}"}]}}}))
    result = subprocess.run(
        [sys.executable, "-m", "emulator", "--port", "0", "--hub-settings", str(bad)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "hubs.chat.eventHandlers[0].urlTemplate: must be an absolute http or https URL" in result.stderr
    with pytest.raises(HubSettingsError, match="not valid JSON"):
        bad.write_text("{")
        load_hub_settings(bad)
    with pytest.raises(HubSettingsError, match="cannot read"):
        load_hub_settings(tmp_path / "missing.json")


@pytest.mark.parametrize("key", ["short", "x" * 31, "A" * 40 + ";Port=1", " " + "A" * 40])
def test_the_command_line_refuses_a_bad_access_key_with_one_line_and_no_traceback(key: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "emulator", "--port", "0", "--access-key", key],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "python -m emulator: error: --access-key: "
        "The access key needs at least 32 bytes, no ';' and no edge white space."
    )
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_the_command_line_starts_with_a_good_file_and_names_its_handlers(tmp_path: Path) -> None:
    good = tmp_path / "hubs.json"
    template = "http://localhost:7071/api/events/{event}?code=secret-function-key"
    good.write_text(json.dumps({"hubs": {"Chat": {"eventHandlers": [{"urlTemplate": template}]}}}))
    process = subprocess.Popen(
        [sys.executable, "-m", "emulator", "--port", "0", "--hub-settings", str(good)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        lines = read_lines(process.stdout.fileno(), 3, timeout=30)  # type: ignore[union-attr]
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert len(lines) >= 3, lines
    assert lines[2].strip() == "Hub chat: event handler http://localhost:7071/api/events/{event}"
    assert not any("secret-function-key" in line for line in lines)

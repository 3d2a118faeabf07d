"""Hostile requests to the events function: only the service gets in, malformed events are 400s,
and a connection state the function did not write changes nothing. Each gets its clear status,
and nothing is queued or published (a queue and a presence group watch every case)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import jwt
import pytest
import websockets
from azure.storage.queue import QueueClient

from shared.events.state import ConnectionState, state_keys, write_state
from tests.events import support as events_fixtures
from tests.events.support import EMULATOR_KEY, ROTATION_KEY, EventsStack, cloud_event, queued_count
from tests.fakes.oidc_issuer import AUDIENCE, FakeIssuer
from tests.reliability.rawhttp import raw_request
from tests.support import BackgroundLoop, http_call

# The events tests' fixtures, used here too.
events_stack = events_fixtures.events_stack
queue = events_fixtures.queue
queue_azurite = events_fixtures.queue_azurite

USER_EVENT = "azure.webpubsub.user.order"
OBJECT_ID = "11111111-2222-3333-4444-555555555555"


@pytest.fixture
async def watched(events_stack: EventsStack, queue: QueueClient) -> AsyncIterator[tuple[EventsStack, QueueClient]]:
    """Every part on, and a member of the group 'g' listening: nothing may reach either."""
    events_stack.set(EventsQueueEvents="*", EventsPresenceGroups="*")
    member = await websockets.connect(
        events_stack.client_url(user_id="member", groups=["g"]),
        subprotocols=["json.webpubsub.azure.v1"],  # type: ignore[list-item]
        open_timeout=10,
    )
    assert json.loads(await member.recv())["event"] == "connected"
    yield events_stack, queue
    try:
        extra = await asyncio.wait_for(member.recv(), 0.3)
    except TimeoutError:
        extra = None
    await member.close()
    assert extra is None, f"something was published: {extra!r}"
    assert queued_count(queue) == 0, "something was queued"


def user_event(stack: EventsStack, connection_id: str = "conn-a", **options: Any) -> dict[str, str]:
    return cloud_event(stack.hub, connection_id, USER_EVENT, content_type="text/plain", **options)


def group_event(stack: EventsStack, **options: Any) -> dict[str, str]:
    return cloud_event(stack.hub, "conn-a", "azure.webpubsub.gp.joined", **options)


async def expect(stack: EventsStack, headers: dict[str, str], body: bytes, status: int, code: str) -> str:
    answer = await stack.post(headers, body)
    assert answer[0] == status, answer
    assert answer[1]["error"]["code"] == code
    return str(answer[1]["error"]["message"])


# -- only the service gets in ---------------------------------------------------------------------


async def test_no_signature_wrong_signature_or_another_connections_signature_is_401(watched: Any) -> None:
    stack, _ = watched
    for headers in (user_event(stack, key=None), group_event(stack, key=None)):
        message = await expect(stack, headers, b'{"group": "g"}', 401, "Unauthorized")
        assert "neither ce-signature nor" in message
    wrong = user_event(stack, key="X" * 44)
    assert "does not match" in await expect(stack, wrong, b"hi", 401, "Unauthorized")
    foreign = user_event(stack, "conn-b")
    foreign["ce-signature"] = user_event(stack, "conn-a")["ce-signature"]
    await expect(stack, foreign, b"hi", 401, "Unauthorized")
    # A function key is no way in either: the function is anonymous and checks the service's proof.
    keyed = {**user_event(stack, key=None), "x-functions-key": "test-function-key"}
    await expect(stack, keyed, b"hi", 401, "Unauthorized")
    # A signature whose hex is cut or padded, or many entries: still 401, never a 500.
    cut = {**user_event(stack), "ce-signature": user_event(stack)["ce-signature"][:-1]}
    await expect(stack, cut, b"hi", 401, "Unauthorized")
    many = {**user_event(stack), "ce-signature": ",".join(["sha256=00"] * 50 + [user_event(stack)["ce-signature"]])}
    await expect(stack, many, b"hi", 401, "Unauthorized")


async def test_the_rotation_key_is_accepted_and_only_it(events_stack: EventsStack, queue: QueueClient) -> None:
    events_stack.set(EventsQueueEvents="*", EventsSecondaryAccessKey=ROTATION_KEY)
    signed = user_event(events_stack, key=ROTATION_KEY)
    assert (await events_stack.post(signed, b"rotated"))[0] == 204
    assert queued_count(queue) == 1


@pytest.fixture
def issuer(background: BackgroundLoop, events_stack: EventsStack) -> Iterator[FakeIssuer]:
    running = background.run(FakeIssuer().start())
    running.add_key("RSA")
    events_stack.set(
        EventsIdentityIssuer=running.issuer, EventsIdentityAudience=AUDIENCE, EventsIdentityObjectId=OBJECT_ID
    )
    yield running
    background.run(running.stop())


async def test_a_bearer_token_must_be_the_web_pubsub_identitys(watched: Any, issuer: FakeIssuer) -> None:
    stack, queue_client = watched
    kid = issuer.published[0]
    now = int(time.time())
    bad_tokens = {
        "audience": issuer.sign(kid, oid=OBJECT_ID, aud="api://another-app"),
        "issuer": issuer.sign(kid, oid=OBJECT_ID, iss="http://127.0.0.1:1/other-tenant"),
        "identity": issuer.sign(kid, oid="99999999-2222-3333-4444-555555555555"),
        "no oid": issuer.sign(kid),
        "expired": issuer.sign(kid, oid=OBJECT_ID, iat=now - 7200, nbf=now - 7200, exp=now - 3600),
        "alg none": jwt.encode(issuer.claims(oid=OBJECT_ID), None, algorithm="none"),
        "HS256 with the public key": issuer.sign(kid, oid=OBJECT_ID, algorithm="HS256", signing_key="secret" * 8),
        "unknown key": issuer.sign(issuer.add_key("RSA", publish=False), oid=OBJECT_ID),
        "not a JWT": "abc.def",
    }
    for why, token in bad_tokens.items():
        headers = {**user_event(stack, key=None), "Authorization": f"Bearer {token}"}
        answer = await stack.post(headers, b"hi")
        assert answer[0] == 401, (why, answer)
        assert token not in json.dumps(answer[1])
    # The service's own token gets in (and then the event is queued: drained so nothing is left over).
    good = {**user_event(stack, key=None), "Authorization": f"Bearer {issuer.sign(kid, oid=OBJECT_ID)}"}
    assert (await stack.post(good, b"hi"))[0] == 204
    assert queued_count(queue_client) == 1
    queue_client.clear_messages()


# -- malformed events ---------------------------------------------------------------------------------


REQUIRED = ("ce-specversion", "ce-type", "ce-source", "ce-id", "ce-hub", "ce-eventName")


@pytest.mark.parametrize("missing", REQUIRED)
async def test_a_missing_ce_header_is_400(watched: Any, missing: str) -> None:
    stack, _ = watched
    headers = {name: value for name, value in user_event(stack).items() if name != missing}
    assert missing in await expect(stack, headers, b"hi", 400, "BadRequest")


async def test_a_missing_connection_id_cannot_be_verified_and_is_401(watched: Any) -> None:
    stack, _ = watched
    headers = {name: value for name, value in user_event(stack).items() if name != "ce-connectionId"}
    await expect(stack, headers, b"hi", 401, "Unauthorized")


@pytest.mark.parametrize("repeated", ["ce-specversion", "ce-type", "ce-id", "ce-hub", "ce-eventName", "ce-source"])
async def test_a_repeated_ce_header_is_400(watched: Any, repeated: str) -> None:
    stack, _ = watched
    headers = user_event(stack)
    head = {name: value for name, value in headers.items() if name != repeated}
    lines = "".join(f"{name}: {value}\r\n" for name, value in head.items())
    lines += f"{repeated}: {headers[repeated]}\r\n{repeated}: {headers[repeated]}\r\n"
    answer = raw_request(stack.port, "POST", "/api/events", headers=_parse_lines(lines), body=b"hi")
    assert answer.status == 400, answer
    assert answer.json()["error"]["code"] == "BadRequest"  # type: ignore[index]


def _parse_lines(lines: str) -> Any:
    """raw_request takes a dict; a repeated name is kept by giving it a different case."""
    fields: dict[str, str] = {}
    for line in lines.strip().split("\r\n"):
        name, _, value = line.partition(": ")
        while name in fields:
            name = name.upper() if name != name.upper() else name.lower()
        fields[name] = value
    return fields


@pytest.mark.parametrize("name", ["ce-userId", "ce-eventName", "ce-connectionState", "ce-id"])
async def test_an_oversized_ce_header_is_400(watched: Any, name: str) -> None:
    stack, _ = watched
    headers = user_event(stack, user_id="u")
    headers[name] = "x" * 5000
    if name == "ce-eventName":
        headers["ce-type"] = USER_EVENT.rsplit(".", 1)[0] + "." + "x" * 5000
    answer = await stack.post(headers, b"hi")
    assert answer[0] == 400 and answer[1]["error"]["code"] == "BadRequest"


@pytest.mark.parametrize("value", [b"al\xffice", b"\xed\xa0\x80", b"a\xc3"])
async def test_a_ce_value_that_is_not_utf8_is_400(watched: Any, value: bytes) -> None:
    stack, _ = watched
    headers = user_event(stack)
    headers["ce-userId"] = value.decode("utf-8", "surrogateescape")
    answer = raw_request(stack.port, "POST", "/api/events", headers=headers, body=b"hi")
    assert answer.status == 400, answer
    assert "not UTF-8" in answer.json()["error"]["message"]  # type: ignore[index]


@pytest.mark.parametrize("name", ["ce-signature", "ce-connectionId", "Authorization"])
async def test_proof_headers_that_are_not_utf8_are_401_not_500(watched: Any, name: str) -> None:
    stack, _ = watched
    headers = user_event(stack)
    headers[name] = headers.get(name, "Bearer a.b.c") + b"\xff\xfe".decode("utf-8", "surrogateescape")
    if name == "Authorization":
        del headers["ce-signature"]
    answer = raw_request(stack.port, "POST", "/api/events", headers=headers, body=b"hi")
    assert answer.status == 401, answer
    assert answer.json()["error"]["code"] == "Unauthorized"  # type: ignore[index]


async def test_surrogates_and_bodies_that_do_not_fit_their_type_are_400(watched: Any) -> None:
    stack, _ = watched
    await expect(stack, group_event(stack), b'{"group": "\\ud800"}', 400, "BadRequest")
    await expect(stack, group_event(stack), b'{"group": 1}', 400, "BadRequest")
    await expect(stack, group_event(stack), b'["g"]', 400, "BadRequest")
    await expect(stack, group_event(stack), b'{"group": "g", "group": "h"}', 400, "BadRequest")
    await expect(stack, user_event(stack), b"\xff\xfe", 400, "BadRequest")
    as_json = cloud_event(stack.hub, "conn-a", USER_EVENT, content_type="application/json")
    await expect(stack, as_json, b"{not json", 400, "BadRequest")
    await expect(stack, as_json, b"NaN", 400, "BadRequest")
    other_type = cloud_event(stack.hub, "conn-a", USER_EVENT, content_type="image/png")
    await expect(stack, other_type, b"x", 415, "UnsupportedMediaType")
    unknown = cloud_event(stack.hub, "conn-a", "azure.webpubsub.sys.reboot")
    await expect(stack, unknown, b"{}", 400, "BadRequest")
    mismatch = cloud_event(stack.hub, "conn-a", USER_EVENT, event_name="other", content_type="text/plain")
    await expect(stack, mismatch, b"x", 400, "BadRequest")
    another_hub = cloud_event("elsewhere", "conn-a", USER_EVENT, content_type="text/plain")
    await expect(stack, another_hub, b"x", 404, "NotFound")


# -- the connection state -----------------------------------------------------------------------------


def state_for(connection_id: str, user_id: str | None, tokens: float = 3.0) -> str:
    key = state_keys(None, (EMULATOR_KEY,))[0]
    return write_state(ConnectionState(user_id, tokens, time.time()), connection_id, key)


async def test_a_state_the_function_did_not_write_for_this_connection_is_refused(watched: Any) -> None:
    stack, _ = watched
    stack.set(EventsPerMinute="3")
    own = state_for("conn-a", "alice", tokens=0.0)  # an empty bucket
    payload = own.split(".")[1]
    full = state_for("conn-a", "alice", tokens=1000.0).split(".")[1]
    cases = {
        "another connection's": state_for("conn-b", "alice", tokens=1000.0),
        "another user's": state_for("conn-a", "bob", tokens=1000.0),
        "a refilled payload under the old MAC": own.replace(payload, full),
        "a forged MAC": own[:-4] + "AAAA",
        "a made-up value": "v1.e30.AAAA",
        "an express-style state": "eyJ0b2tlbnMiOjEwMDB9",
    }
    for why, state in cases.items():
        answer = await stack.post(user_event(stack, user_id="alice", state=state), b"hi")
        assert answer[0] == 400, (why, answer)
        assert "ce-connectionState" in answer[1]["error"]["message"]
    # Its own, empty bucket: the rate limit holds.
    limited = await stack.post(user_event(stack, user_id="alice", state=own), b"hi")
    assert limited[0] == 429 and limited[1]["error"]["code"] == "TooManyRequests"


# -- abuse protection -----------------------------------------------------------------------------------


async def test_abuse_protection_from_another_origin_or_none_is_refused(events_stack: EventsStack) -> None:
    for origin, status in (("evil.example", 403), ("localhost.evil.example", 403), ("*", 403), ("", 400)):
        headers = {"WebHook-Request-Origin": origin} if origin else {}
        answer = await http_call(events_stack.base_url, "OPTIONS", "/api/events", headers=headers)
        assert answer[0] == status, (origin, answer)
        assert "WebHook-Allowed-Origin" not in answer[2]


@pytest.mark.parametrize("query", ["?hub=a&hub=b", "?hub=unknown", "?hub=%zz", "?hub=" + "x" * 200])
async def test_the_query_is_not_read_before_the_caller_is_proven(events_stack: EventsStack, query: str) -> None:
    """An anonymous request learns nothing from its query (no 400 or 404 before the 401)."""
    status, body, _ = await http_call(events_stack.base_url, "POST", "/api/events" + query, b"{}", {})
    assert status == 401, body

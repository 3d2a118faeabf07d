"""A '/' in a user id or group name never reaches someone else (issue 19).

Names are percent-encoded into the service's URL paths, and Web PubSub keeps an encoded '/'
literal in a path segment: ``users/x%2Fy`` is the user named ``x%2Fy``. So a send to ``x/y``
used to reach the user literally named ``x%2Fy``. Here that user and their group are real
WebSocket clients of the emulator, and every way the app takes a name is tried with '/' in its
plain, percent-encoded and mixed forms: each is refused before anything runs, and the client
receives nothing. Names that merely look encoded (``x%2Fy``, ``x%252Fy``) stay addressable and
reach exactly their owner.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote, unquote

import pytest
import websockets

from tests.conftest import Stack
from tests.support import TEST_KEY, http_call

JSON_PROTOCOL = "json.webpubsub.azure.v1"
# Users whose names look like an encoded "/" (each connects and must receive only its own messages).
LOOKALIKES = ["x%2Fy", "x%2fy", "x%252Fy", "%2F", "a%2F%2Fb"]
# What a caller may send, in the query's own encoding, for the name "x/y" and friends.
SLASHED = ["x/y", "/", "x//y", "/x", "x/", "x/%2Fy", "x%2F/y"]


def q(value: str) -> str:
    return quote(value, safe="")


class Listener:
    def __init__(self, socket: websockets.ClientConnection) -> None:
        self.socket = socket

    async def quiet(self) -> bool:
        try:
            frame = await asyncio.wait_for(self.socket.recv(), 0.3)
        except TimeoutError:
            return True
        raise AssertionError(f"unexpected frame: {frame!r}")

    async def next_message(self) -> dict[str, Any]:
        return json.loads(await asyncio.wait_for(self.socket.recv(), 5))


@asynccontextmanager
async def signed_in(stack: Stack, user: str) -> AsyncIterator[Listener]:
    """A browser of ``user`` in the group ``lobby-<user>``, through negotiate."""
    status, body, _ = await http_call(stack.base_url, "GET", f"/api/negotiate?userId={q(user)}&group=lobby-{q(user)}")
    assert status == 200, body
    async with websockets.connect(body["url"], subprotocols=[JSON_PROTOCOL]) as socket:
        connected = json.loads(await socket.recv())
        assert connected["userId"] == user
        yield Listener(socket)


async def publish(stack: Stack, query: str, body: bytes = b"hello") -> tuple[int, Any]:
    headers = {"x-functions-key": TEST_KEY, "Content-Type": "text/plain"}
    status, answer, _ = await http_call(stack.base_url, "POST", f"/api/publish?{query}", body, headers)
    return status, answer


async def actions(stack: Stack, batch: list[dict[str, Any]]) -> tuple[int, Any]:
    headers = {"x-functions-key": TEST_KEY, "Content-Type": "application/json"}
    status, answer, _ = await http_call(stack.base_url, "POST", "/api/actions", json.dumps(batch).encode(), headers)
    return status, answer


def refused(status: int, answer: Any) -> bool:
    return status == 400 and "cannot contain '/'" in answer["error"]["message"]


@pytest.mark.parametrize("lookalike", LOOKALIKES)
async def test_a_slash_never_reaches_the_user_whose_name_looks_encoded(stack: Stack, lookalike: str) -> None:
    slashed = unquote(unquote(lookalike))  # every encoded '/' decoded: the name a '/' would impersonate
    assert "/" in slashed
    async with signed_in(stack, lookalike) as owner:
        # The lookalike's own address works, byte for byte.
        payload = f"for {lookalike} \u00e9".encode()
        assert (await publish(stack, f"user={q(lookalike)}", payload))[0] == 202
        message = await owner.next_message()
        assert (message["from"], message["data"].encode()) == ("server", payload)
        assert (await publish(stack, f"group=lobby-{q(lookalike)}", payload))[0] == 202
        assert (await owner.next_message())["data"].encode() == payload

        # Every way of naming the slashed twin is refused, and nothing arrives.
        status, answer, _ = await http_call(stack.base_url, "GET", f"/api/negotiate?userId={q(slashed)}")
        assert refused(status, answer), answer
        status, answer, _ = await http_call(stack.base_url, "GET", f"/api/negotiate?group=lobby-{q(slashed)}")
        assert refused(status, answer), answer
        for query in (f"user={q(slashed)}", f"group=lobby-{q(slashed)}", f"connectionId={q(slashed)}"):
            assert refused(*await publish(stack, query)), query
        await owner.quiet()


ACTIONS_NAMING_A_USER = [
    {"actionName": "sendToUser", "userId": "{name}", "data": "x"},
    {"actionName": "userExists", "userId": "{name}"},
    {"actionName": "closeUserConnections", "userId": "{name}", "reason": "bye {name}"},
    {"actionName": "addUserToGroup", "userId": "{name}", "group": "lobby-z"},
    {"actionName": "removeUserFromGroup", "userId": "{name}", "group": "lobby-z"},
    {"actionName": "removeUserFromAllGroups", "userId": "{name}"},
    {"actionName": "sendToGroup", "group": "lobby-{name}", "data": "x"},
    {"actionName": "groupExists", "group": "lobby-{name}"},
    {"actionName": "closeGroupConnections", "group": "lobby-{name}"},
    {"actionName": "listConnectionsInGroup", "group": "lobby-{name}"},
    {"actionName": "addConnectionsToGroups", "groups": ["ok", "lobby-{name}"]},
    {"actionName": "removeConnectionsFromGroups", "groups": ["lobby-{name}"]},
    {"actionName": "sendToConnection", "connectionId": "{name}", "data": "x"},
    {"actionName": "connectionExists", "connectionId": "{name}"},
    {"actionName": "closeClientConnection", "connectionId": "{name}"},
    {"actionName": "grantPermission", "connectionId": "c", "permission": "sendToGroup", "targetName": "lobby-{name}"},
    {"actionName": "sendToAll", "data": "x", "excluded": ["{name}"]},
]


def filled(template: dict[str, Any], name: str) -> dict[str, Any]:
    return json.loads(json.dumps(template).replace("{name}", json.dumps(name)[1:-1]))


@pytest.mark.parametrize("template", ACTIONS_NAMING_A_USER, ids=lambda t: t["actionName"])
async def test_an_action_naming_a_slash_runs_nothing(stack: Stack, template: dict[str, Any]) -> None:
    """The first item would reach the lookalike: it must not run, since the batch is refused whole."""
    async with signed_in(stack, "x%2Fy") as owner:
        for name in SLASHED:
            batch = [{"actionName": "sendToUser", "userId": "x%2Fy", "data": "first"}, filled(template, name)]
            status, answer = await actions(stack, batch)
            assert refused(status, answer), (name, answer)
            assert answer["error"]["message"].startswith("Action 1"), answer
        await owner.quiet()


async def test_a_close_reason_may_hold_a_slash(stack: Stack) -> None:
    """``reason`` travels in the query string, where '/' is harmless; only names are refused."""
    async with signed_in(stack, "closer") as owner:
        status, answer = await actions(
            stack, [{"actionName": "closeUserConnections", "userId": "closer", "reason": "a/b"}]
        )
        assert status == 200, answer
        frame = await owner.next_message()
        assert (frame["type"], frame["event"], frame["message"]) == ("system", "disconnected", "a/b")

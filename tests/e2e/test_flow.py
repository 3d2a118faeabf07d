"""negotiate → WebSocket → publish → delivery, all through real sockets."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
import websockets

from tests.conftest import Stack
from tests.support import TEST_KEY

JSON_PROTOCOL = "json.webpubsub.azure.v1"


async def negotiate(http: aiohttp.ClientSession, stack: Stack, query: str = "") -> dict:
    async with http.get(f"{stack.base_url}/api/negotiate{query}") as response:
        assert response.status == 200, await response.text()
        assert response.headers["Cache-Control"] == "no-store"
        return await response.json()


async def publish(
    http: aiohttp.ClientSession, stack: Stack, query: str, body: bytes, key: str | None = TEST_KEY
) -> tuple[int, bytes]:
    headers = {"Content-Type": "text/plain"}
    if key:
        headers["x-functions-key"] = key
    async with http.post(f"{stack.base_url}/api/publish{query}", data=body, headers=headers) as response:
        return response.status, await response.read()


async def next_data(socket: websockets.ClientConnection) -> object:
    return json.loads(await asyncio.wait_for(socket.recv(), 5))["data"]


async def quiet(socket: websockets.ClientConnection) -> bool:
    try:
        await asyncio.wait_for(socket.recv(), 0.3)
    except TimeoutError:
        return True
    return False


async def test_every_target_reaches_the_right_clients(stack: Stack) -> None:
    async with aiohttp.ClientSession() as http:
        ann = await negotiate(http, stack, "?userId=ann&group=lobby")
        bob = await negotiate(http, stack, "?userId=bob")
        plain = await negotiate(http, stack)
        async with (
            websockets.connect(ann["url"], subprotocols=[JSON_PROTOCOL]) as ann_socket,
            websockets.connect(bob["url"], subprotocols=[JSON_PROTOCOL]) as bob_socket,
            websockets.connect(plain["url"]) as plain_socket,
        ):
            await ann_socket.recv()
            bob_id = json.loads(await bob_socket.recv())["connectionId"]

            status, body = await publish(http, stack, "", b"to everyone")
            assert status == 202
            assert json.loads(body)["target"] == {"type": "all", "name": None}
            assert await next_data(ann_socket) == "to everyone"
            assert await next_data(bob_socket) == "to everyone"
            assert await asyncio.wait_for(plain_socket.recv(), 5) == "to everyone"

            assert (await publish(http, stack, "?group=lobby", b"to the lobby"))[0] == 202
            assert await next_data(ann_socket) == "to the lobby"
            assert await quiet(bob_socket) and await quiet(plain_socket)

            assert (await publish(http, stack, "?user=bob", b"to bob"))[0] == 202
            assert await next_data(bob_socket) == "to bob"
            assert await quiet(ann_socket)

            assert (await publish(http, stack, f"?connectionId={bob_id}", b"to bob's socket"))[0] == 202
            assert await next_data(bob_socket) == "to bob's socket"
            assert await quiet(ann_socket)


async def test_a_client_can_use_the_roles_negotiate_grants(stack: Stack) -> None:
    async with aiohttp.ClientSession() as http:
        body = await negotiate(http, stack, "?userId=carol")
        async with websockets.connect(body["url"], subprotocols=[JSON_PROTOCOL]) as socket:
            await socket.recv()
            await socket.send(json.dumps({"type": "joinGroup", "group": "lobby", "ackId": 1}))
            assert json.loads(await socket.recv())["success"] is True
            await socket.send(json.dumps({"type": "joinGroup", "group": "secret", "ackId": 2}))
            assert json.loads(await socket.recv())["error"]["name"] == "Forbidden"


@pytest.mark.parametrize("key", [None, "wrong-key"])
async def test_publish_without_the_key_is_an_empty_401(stack: Stack, key: str | None) -> None:
    async with aiohttp.ClientSession() as http:
        status, body = await publish(http, stack, "", b"x", key=key)
    assert (status, body) == (401, b"")


async def test_publish_key_in_the_query(stack: Stack) -> None:
    async with aiohttp.ClientSession() as http:
        status, _ = await publish(http, stack, f"?code={TEST_KEY}", b"x", key=None)
    assert status == 202


async def test_function_errors_keep_their_shape_through_the_host(stack: Stack) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{stack.base_url}/api/publish",
            data=b"x",
            headers={"x-functions-key": TEST_KEY, "Content-Type": "text/html"},
        ) as response:
            assert response.status == 415
            assert response.headers["Content-Type"] == "application/json"
            assert (await response.json())["error"]["code"] == "UnsupportedMediaType"
        async with http.get(f"{stack.base_url}/api/negotiate?group=elsewhere") as response:
            assert response.status == 403
            assert "NegotiateAllowedGroups" in (await response.json())["error"]["message"]

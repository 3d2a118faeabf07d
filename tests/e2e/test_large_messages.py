"""Large messages arrive whole: every size up to the 1 MiB limit, every data type, both paths.

Bodies over about 64 KiB once arrived cut short while the emulator still answered 202, and no
test noticed because none compared what arrived with what was sent. Here plain, JSON and
reliable JSON subscribers each compare the delivered bytes (for the JSON protocols, the decoded
``data``) with the published bytes, through ``/api/publish`` on the dev host and through the
SDK straight to the emulator.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
import websockets
from azure.core.exceptions import HttpResponseError
from azure.messaging.webpubsubservice.aio import WebPubSubServiceClient

from tests.conftest import Stack
from tests.support import TEST_KEY

MIB = 1024 * 1024
SIZES = (1024, 64 * 1024, 200_000, 700_000, MIB - 1, MIB)
CONTENT_TYPES = {"text": "text/plain", "json": "application/json", "binary": "application/octet-stream"}
JSON_PROTOCOL = "json.webpubsub.azure.v1"
RELIABLE_PROTOCOL = "json.reliable.webpubsub.azure.v1"


def payload(data_type: str, size: int) -> bytes:
    """Exactly ``size`` bytes of the given type, varied enough that a cut or a shift shows.

    A JSON payload is what ``json.dumps`` writes (as the SDK does), so that the SDK, given the
    parsed document, puts exactly these bytes on the wire.
    """
    rng = random.Random(size)
    if data_type == "binary":
        return rng.randbytes(size)
    text = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789 é€", k=size // 2))  # 1 to 3 UTF-8 bytes

    def encode(value: str) -> bytes:
        return json.dumps({"text": value}).encode() if data_type == "json" else value.encode()

    while (excess := len(encode(text)) - size) > 0:  # no character takes more than 6 bytes
        text = text[: -max(1, excess // 6)]
    return encode(text + "x" * (size - len(encode(text))))


@dataclass
class Subscribers:
    group: str
    plain: websockets.ClientConnection
    typed: websockets.ClientConnection
    reliable: websockets.ClientConnection

    async def assert_each_received(self, data_type: str, sent: bytes) -> None:
        plain = await asyncio.wait_for(self.plain.recv(), 10)
        assert (plain.encode() if isinstance(plain, str) else plain) == sent
        assert isinstance(plain, bytes) == (data_type == "binary")
        for socket in (self.typed, self.reliable):
            envelope = json.loads(await asyncio.wait_for(socket.recv(), 10))
            assert envelope["type"] == "message"
            assert envelope["dataType"] == data_type
            assert decoded(data_type, envelope["data"]) == decoded(data_type, sent_as_data(data_type, sent))


def sent_as_data(data_type: str, sent: bytes) -> object:
    if data_type == "binary":
        return base64.b64encode(sent).decode()
    if data_type == "json":
        return json.loads(sent)
    return sent.decode()


def decoded(data_type: str, data: object) -> bytes:
    """The JSON protocols' ``data`` as bytes: base64 decoded, or the JSON document re-encoded."""
    if data_type == "binary":
        assert isinstance(data, str)
        return base64.b64decode(data, validate=True)
    if data_type == "json":
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    assert isinstance(data, str)
    return data.encode()


@pytest.fixture
async def subscribers(stack: Stack) -> AsyncIterator[Subscribers]:
    group = "large-" + uuid.uuid4().hex[:8]
    connection_string = stack.emulator.connection_string
    async with WebPubSubServiceClient.from_connection_string(connection_string, hub=stack.hub) as service:
        url = (await service.get_client_access_token(groups=[group]))["url"]
    limits = {"max_size": None}
    plain = await websockets.connect(url, **limits)
    typed = await websockets.connect(url, subprotocols=[JSON_PROTOCOL], **limits)
    reliable = await websockets.connect(url, subprotocols=[RELIABLE_PROTOCOL], **limits)
    for socket in (typed, reliable):
        assert json.loads(await asyncio.wait_for(socket.recv(), 5))["event"] == "connected"
    yield Subscribers(group, plain, typed, reliable)
    for socket in (plain, typed, reliable):
        await socket.close()


def test_payloads_have_the_exact_size_and_type() -> None:
    for size in SIZES:
        for data_type in CONTENT_TYPES:
            body = payload(data_type, size)
            assert len(body) == size
            if data_type == "json":
                json.loads(body)
            if data_type == "text":
                body.decode("utf-8")


@pytest.mark.parametrize("data_type", list(CONTENT_TYPES))
@pytest.mark.parametrize("size", SIZES)
async def test_publish_function_delivers_every_byte(
    stack: Stack, subscribers: Subscribers, data_type: str, size: int
) -> None:
    sent = payload(data_type, size)
    headers = {"Content-Type": CONTENT_TYPES[data_type], "x-functions-key": TEST_KEY}
    url = f"{stack.base_url}/api/publish?group={subscribers.group}"
    async with aiohttp.ClientSession() as http, http.post(url, data=sent, headers=headers) as response:
        assert response.status == 202, await response.text()
        assert (await response.json())["bytes"] == size
    await subscribers.assert_each_received(data_type, sent)


@pytest.mark.parametrize("data_type", list(CONTENT_TYPES))
@pytest.mark.parametrize("size", SIZES)
async def test_sdk_send_to_group_delivers_every_byte(
    stack: Stack, subscribers: Subscribers, data_type: str, size: int
) -> None:
    sent = payload(data_type, size)
    connection_string = stack.emulator.connection_string
    async with WebPubSubServiceClient.from_connection_string(connection_string, hub=stack.hub) as service:
        message = json.loads(sent) if data_type == "json" else sent  # the SDK serialises JSON itself
        await service.send_to_group(subscribers.group, message, content_type=CONTENT_TYPES[data_type])
    await subscribers.assert_each_received(data_type, sent)


async def test_over_one_mib_is_413_and_nothing_is_delivered(stack: Stack, subscribers: Subscribers) -> None:
    connection_string = stack.emulator.connection_string
    async with WebPubSubServiceClient.from_connection_string(connection_string, hub=stack.hub) as service:
        with pytest.raises(HttpResponseError) as raised:
            await service.send_to_group(subscribers.group, b"x" * (MIB + 1), content_type="text/plain")
    assert raised.value.status_code == 413
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(subscribers.plain.recv(), 0.3)

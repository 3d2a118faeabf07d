"""WebSocket clients of the function tests: real JSON-subprotocol clients of the emulator, joined
through the official service SDK, that see what an action or a publish did."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import websockets
from azure.messaging.webpubsubservice.aio import WebPubSubServiceClient

from tests.conftest import Stack

JSON_PROTOCOL = "json.webpubsub.azure.v1"


class Client:
    """One JSON-subprotocol WebSocket client and its connection id."""

    def __init__(self, socket: websockets.ClientConnection, connection_id: str) -> None:
        self.socket = socket
        self.id = connection_id

    async def next(self, timeout: float = 5) -> dict[str, Any]:
        return json.loads(await asyncio.wait_for(self.socket.recv(), timeout))

    async def quiet(self) -> bool:
        try:
            await asyncio.wait_for(self.socket.recv(), 0.3)
        except TimeoutError:
            return True
        return False

    async def closed(self) -> bool:
        """True once the service closed the socket (after any frames still queued)."""
        try:
            while True:
                await asyncio.wait_for(self.socket.recv(), 5)
        except websockets.ConnectionClosed:
            return True
        except TimeoutError:
            return False

    async def request(self, frame: dict[str, Any]) -> dict[str, Any]:
        await self.socket.send(json.dumps(frame))
        while (reply := await self.next())["type"] != "ack":
            pass
        return reply


@asynccontextmanager
async def clients(stack: Stack, *users: str | None, groups: tuple[str, ...] = ()) -> AsyncIterator[list[Client]]:
    async with AsyncExitStack() as exits:
        service = await exits.enter_async_context(
            WebPubSubServiceClient.from_connection_string(stack.emulator.connection_string, hub=stack.hub)
        )
        connected = []
        for user in users:
            token = await service.get_client_access_token(user_id=user, groups=list(groups))
            socket = await exits.enter_async_context(websockets.connect(token["url"], subprotocols=[JSON_PROTOCOL]))
            connected.append(Client(socket, json.loads(await socket.recv())["connectionId"]))
        yield connected

"""messageTtlSeconds: a message still waiting in a slow client's send queue when its time is up is
dropped, not written late; messages without a TTL, or with time left, still arrive in order."""

from __future__ import annotations

import asyncio
import socket

from azure.core.rest import HttpRequest
from azure.messaging.webpubsubservice.aio import WebPubSubServiceClient

from bench.receivers import upgrade_request
from emulator import Emulator

HUB = "ttl"


async def stalled_plain_client(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A plain WebSocket client with a tiny receive window that reads nothing after its handshake."""
    host, port, request = upgrade_request(url)
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.setblocking(False)
    await asyncio.get_running_loop().sock_connect(raw, (host, port))
    reader, writer = await asyncio.open_connection(sock=raw, limit=2048)  # pauses reading past 4 KiB
    writer.write(request)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert head.startswith(b"HTTP/1.1 101")
    return reader, writer


async def test_a_message_that_waits_past_its_ttl_is_dropped(emulator: Emulator) -> None:
    async with WebPubSubServiceClient.from_connection_string(emulator.connection_string, hub=HUB) as service:
        url = (await service.get_client_access_token(user_id="slow"))["url"]
        reader, writer = await stalled_plain_client(url)
        (connection,) = emulator.service.hub(HUB).connections.values()

        async def send(text: bytes, ttl: int | None = None) -> None:
            query = f"?messageTtlSeconds={ttl}" if ttl is not None else ""
            headers = {"Content-Type": "text/plain"}
            response = await service.send_request(
                HttpRequest("POST", f"/api/hubs/{HUB}/:send{query}", content=text, headers=headers)
            )
            assert response.status_code == 202

        filler = b"f" * 65536
        for _ in range(400):  # until the socket and its buffers are full and frames wait in the queue
            await send(filler)
            if connection.outbox:
                break
        assert connection.outbox, "the client's buffers never filled"
        await send(b"EXPIRES", ttl=1)
        await send(b"KEEPS", ttl=300)
        await send(b"STAYS", ttl=0)  # 0: never expires
        await asyncio.sleep(1.2)  # the first one's second runs out while it waits
        data = b""
        async with asyncio.timeout(20):
            while b"STAYS" not in data:
                data += await reader.read(1 << 20)
        writer.close()
    assert b"EXPIRES" not in data
    assert data.index(b"KEEPS") < data.index(b"STAYS")
    assert connection.expired_frames == 1

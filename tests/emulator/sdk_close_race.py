"""Does the sync client notice a ``sock.close(1001)`` made behind its back? Against which server?

Microsoft's tests of ``azure-messaging-webpubsubclient`` 1.1.0 (``test_recovery``,
``test_auto_connect``, ``test_disable_recovery_and_autoconnect``) call
``client._ws.sock.close(1001)`` from the test's thread. websocket-client's ``WebSocket.close``
sends the close frame, then reads on the calling thread until the server's close frame arrives,
then shuts the socket down and closes its descriptor. The client's listener thread is meanwhile
blocked in ``selectors.select()`` on that same descriptor (``websocket._dispatcher.Dispatcher.read``,
no timeout). Both threads are woken when the server's close frame arrives; the listener only
learns of the close if the kernel lets it collect that readiness before the test's thread reads
the frame (level-triggered epoll re-checks readiness before returning an event). When the test's
thread reads first, the descriptor is closed microseconds later, epoll forgets it, and the
listener sleeps forever: no ``on_close``, so no recovery, no reconnect, and a send raises
``WebSocketConnectionClosedException`` instead of ``SendMessageError``.

Any server that answers the close handshake, as RFC 6455 §5.5.1 requires, meets the same race.
This script shows it with a plain ``websockets`` server that speaks just enough of
``json.webpubsub.azure.v1`` for the client (``connected``, acks), alternating with the emulator:
``python -m tests.emulator.sdk_close_race [TRIALS]``. It prints, per server, in how many trials
the listener thread was still blocked in ``select`` one second after the close.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import traceback
import uuid

import websockets
from azure.messaging.webpubsubclient import WebPubSubClient, WebPubSubClientCredential
from azure.messaging.webpubsubclient.models import WebPubSubProtocolType
from azure.messaging.webpubsubservice import WebPubSubServiceClient

from emulator import Emulator
from tests.support import BackgroundLoop

SUBPROTOCOL = "json.webpubsub.azure.v1"


async def plain_webpubsub_server(connection: websockets.ServerConnection) -> None:
    """Just enough of the JSON subprotocol: ``connected`` first, then an ack for each ``ackId``."""
    await connection.send(json.dumps({"type": "system", "event": "connected", "connectionId": uuid.uuid4().hex}))
    async for text in connection:
        request = json.loads(text)
        if "ackId" in request:
            await connection.send(json.dumps({"type": "ack", "ackId": request["ackId"], "success": True}))


async def _serve_plain() -> websockets.Server:
    return await websockets.serve(plain_webpubsub_server, "127.0.0.1", 0, subprotocols=[SUBPROTOCOL])


def listener_missed_the_close(url: str) -> bool:
    """One trial: open, join a group, close the socket as the SDK's tests do, look at the listener."""
    client = WebPubSubClient(
        credential=WebPubSubClientCredential(url),
        protocol_type=WebPubSubProtocolType.JSON,
        reconnect_retry_total=0,
        message_retry_total=0,
    )
    client.open()
    try:
        client.join_group("g")
        listener = client._thread  # private, as the SDK's own tests reach into the client
        client._ws.sock.close(1001)
        listener.join(1.0)
        if not listener.is_alive():
            return False
        stack = traceback.format_stack(sys._current_frames()[listener.ident])
        return any("selectors.py" in frame for frame in stack)
    finally:
        client.close()


def main(trials: int) -> None:
    loop = BackgroundLoop()
    emulator = Emulator(port=0)
    loop.run(emulator.start())
    plain = loop.run(_serve_plain())
    plain_url = f"ws://127.0.0.1:{plain.sockets[0].getsockname()[1]}/client/hubs/hub"
    service = WebPubSubServiceClient.from_connection_string(emulator.connection_string, hub="hub")
    emulator_url = service.get_client_access_token(roles=["webpubsub.joinLeaveGroup"])["url"]
    missed = {"emulator": 0, "websockets": 0}
    try:
        for _ in range(trials):  # alternately, so both see the same machine load
            missed["emulator"] += listener_missed_the_close(emulator_url)
            missed["websockets"] += listener_missed_the_close(plain_url)
    finally:
        plain.close()
        loop.run(plain.wait_closed())
        loop.run(emulator.stop())
        loop.close()
    for server, count in missed.items():
        print(f"{server}: the listener missed the close in {count} of {trials} trials")


if __name__ == "__main__":
    started = time.monotonic()
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
    print(f"{time.monotonic() - started:.0f} s; threads left: {threading.active_count()}")

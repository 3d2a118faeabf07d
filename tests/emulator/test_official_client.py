"""The official Python client library (azure-messaging-webpubsubclient) against the emulator."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from azure.messaging.webpubsubclient import WebPubSubClient
from azure.messaging.webpubsubclient.aio import WebPubSubClient as AsyncWebPubSubClient
from azure.messaging.webpubsubclient.aio import WebPubSubClientCredential as AsyncWebPubSubClientCredential
from azure.messaging.webpubsubclient.models import (
    CallbackType,
    SendMessageError,
    WebPubSubDataType,
    WebPubSubProtocolType,
)
from azure.messaging.webpubsubservice import WebPubSubServiceClient

from emulator import Emulator
from tests.emulator.official_clients import ROLES, client_maker, service_client, wait_until  # noqa: F401  (fixtures)
from tests.support import BackgroundLoop


def test_group_round_trip_with_acks(make_client: Callable[..., WebPubSubClient]) -> None:
    alice, bob = make_client("alice"), make_client("bob")
    received: list[tuple[str, object, str | None]] = []
    lock = threading.Lock()

    def on_group_message(event: object) -> None:
        with lock:
            received.append((event.group, event.data, event.from_user_id))  # type: ignore[attr-defined]

    bob.subscribe(CallbackType.GROUP_MESSAGE, on_group_message)
    alice.open()
    bob.open()
    alice.join_group("room")
    bob.join_group("room")
    alice.send_to_group("room", "hello", WebPubSubDataType.TEXT)
    alice.send_to_group("room", {"n": 1}, WebPubSubDataType.JSON)
    alice.send_to_group("room", "no echo", WebPubSubDataType.TEXT, no_echo=True)
    assert wait_until(lambda: len(received) == 3)
    assert received == [("room", "hello", "alice"), ("room", {"n": 1}, "alice"), ("room", "no echo", "alice")]


def test_missing_role_fails_the_send_with_forbidden(make_client: Callable[..., WebPubSubClient]) -> None:
    reader = make_client("reader", roles=[], message_retry_total=0)  # the client retries failed acks by default
    reader.open()
    with pytest.raises(SendMessageError) as raised:
        reader.send_to_group("room", "nope", WebPubSubDataType.TEXT)
    assert raised.value.error_detail.name == "Forbidden"  # type: ignore[union-attr]


def test_server_messages_reach_the_client(
    make_client: Callable[..., WebPubSubClient], service: WebPubSubServiceClient
) -> None:
    client = make_client("srv")
    got: list[object] = []
    client.subscribe(CallbackType.SERVER_MESSAGE, lambda event: got.append(event.data))
    client.open()
    service.send_to_user("srv", "direct", content_type="text/plain")
    service.send_to_all({"k": "v"})
    assert wait_until(lambda: len(got) == 2)
    assert got == ["direct", {"k": "v"}]


def test_recovery_after_the_socket_drops(
    make_client: Callable[..., WebPubSubClient],
    service: WebPubSubServiceClient,
    shared_emulator: Emulator,
    background: BackgroundLoop,
) -> None:
    client = make_client("recovering")
    got: list[object] = []
    connected: list[str] = []
    client.subscribe(CallbackType.GROUP_MESSAGE, lambda event: got.append(event.data))
    client.subscribe(CallbackType.CONNECTED, lambda event: connected.append(event.connection_id))
    client.open()
    client.join_group("g")
    service.send_to_group("g", "before", content_type="text/plain")
    assert wait_until(lambda: got == ["before"])
    connection_id = connected[0]

    assert background.call(shared_emulator.drop_connection, connection_id)
    service.send_to_group("g", "during", content_type="text/plain")  # buffered while the socket is gone
    client.send_to_group("g", "after", WebPubSubDataType.TEXT)  # acked once recovered

    assert wait_until(lambda: got == ["before", "during", "after"])
    assert connected == [connection_id]  # recovered, not reconnected: same connection, no second event
    assert service.connection_exists(connection_id)


def test_failed_recovery_is_closed_with_1008(shared_emulator: Emulator, hub: str) -> None:
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    url = f"ws://localhost:{shared_emulator.port}/client/hubs/{hub}?awps_connection_id=nope&awps_reconnection_token=x"
    with connect(url, subprotocols=["json.reliable.webpubsub.azure.v1"], open_timeout=5) as socket:
        with pytest.raises(ConnectionClosed):
            socket.recv(timeout=5)
        assert socket.close_code == 1008


async def test_async_client_round_trip(shared_emulator: Emulator, hub: str) -> None:
    from azure.messaging.webpubsubservice.aio import WebPubSubServiceClient as AsyncService

    async with AsyncService.from_connection_string(shared_emulator.connection_string, hub=hub) as service:

        async def url() -> str:
            return (await service.get_client_access_token(user_id="aio", roles=ROLES))["url"]

        client = AsyncWebPubSubClient(credential=AsyncWebPubSubClientCredential(url))
        got: list[object] = []

        async def on_group_message(event: object) -> None:
            got.append(event.data)  # type: ignore[attr-defined]

        await client.subscribe(CallbackType.GROUP_MESSAGE, on_group_message)
        async with client:
            await client.join_group("ag")
            await client.send_to_group("ag", "async hello", WebPubSubDataType.TEXT)
            import asyncio

            for _ in range(200):
                if got:
                    break
                await asyncio.sleep(0.02)
        assert got == ["async hello"]


# -- the app closes the client's connection; the client reconnects or stops as configured -----------
# Microsoft's own tests close the socket from the client side with ``client._ws.sock.close(1001)``;
# they run as shipped with ``make sdk-client-tests`` (see tests/emulator/azure_sdk_client_tests.py
# for why not here). A close the app asks for over REST reaches the client the way a service close
# does, read by the client's listener thread.


def _collect_group_messages(client: WebPubSubClient) -> tuple[list[object], list[str]]:
    got: list[object] = []
    connected: list[str] = []
    client.subscribe(CallbackType.GROUP_MESSAGE, lambda event: got.append(event.data))
    client.subscribe(CallbackType.CONNECTED, lambda event: connected.append(event.connection_id))
    return got, connected


def test_sync_json_client_reconnects_and_rejoins_after_the_app_closes_its_connection(
    make_client: Callable[..., WebPubSubClient], service: WebPubSubServiceClient
) -> None:
    client = make_client("json-closed", protocol_type=WebPubSubProtocolType.JSON)
    got, connected = _collect_group_messages(client)
    client.open()
    client.join_group("g")
    assert wait_until(lambda: len(connected) == 1)
    service.close_connection(connected[0], reason="maintenance")
    assert wait_until(lambda: len(connected) == 2)
    assert connected[0] != connected[1]

    def rejoined() -> bool:  # the client rejoins from a thread of its own, soon after connecting
        service.send_to_group("g", "probe", content_type="text/plain")
        time.sleep(0.05)
        return "probe" in got

    assert wait_until(rejoined)
    got.clear()
    client.send_to_group("g", "again", WebPubSubDataType.TEXT)
    assert wait_until(lambda: got == ["again"])


def test_sync_client_without_reconnect_stops_and_fails_the_send_after_the_app_closes_it(
    make_client: Callable[..., WebPubSubClient], service: WebPubSubServiceClient
) -> None:
    stopped = threading.Event()
    client = make_client(
        "no-retry", protocol_type=WebPubSubProtocolType.JSON, reconnect_retry_total=0, message_retry_total=0
    )
    _, connected = _collect_group_messages(client)
    client.subscribe(CallbackType.STOPPED, lambda *_: stopped.set())
    client.open()
    assert wait_until(lambda: len(connected) == 1)
    service.close_connection(connected[0])
    assert stopped.wait(10)
    with pytest.raises(SendMessageError):
        client.send_to_group("g", "lost", WebPubSubDataType.TEXT)

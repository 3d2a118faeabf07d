"""The official service SDK's client on a fresh hub of the shared emulator, and WebSocket clients
joined through it, for the REST tests (the ``service`` fixture is ``service_client``; import it and
``_sockets``, which closes what ``join`` opens).

``service`` talks to the test's ``hub`` fixture: a test that names the hub in a hand-built request
asks for ``hub`` too, and for ``shared_emulator.endpoint``, not for the client's private config."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import pytest
from azure.messaging.webpubsubservice import WebPubSubServiceClient
from websockets.sync.client import ClientConnection, connect

from emulator import Emulator

JSON_PROTOCOL = "json.webpubsub.azure.v1"


@pytest.fixture(name="service")  # a fixture name apart from the function's: no shadowed import
def service_client(shared_emulator: Emulator, hub: str) -> WebPubSubServiceClient:
    return WebPubSubServiceClient.from_connection_string(shared_emulator.connection_string, hub=hub)


@pytest.fixture(autouse=True)
def _sockets() -> Iterator[None]:
    """Every socket a test opens is closed when it ends."""
    with contextlib.ExitStack() as stack:
        _open.stack = stack
        yield


class _open:
    stack: contextlib.ExitStack


def join(
    service: WebPubSubServiceClient, protocol: str | None = JSON_PROTOCOL, **token: object
) -> tuple[ClientConnection, str]:
    url = service.get_client_access_token(**token)["url"]
    socket = _open.stack.enter_context(connect(url, subprotocols=[protocol] if protocol else None, open_timeout=5))
    if protocol is None:
        return socket, ""
    connected = json.loads(socket.recv(timeout=5))
    return socket, connected["connectionId"]

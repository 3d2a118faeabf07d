"""Fixtures for tests that drive the official Python client (azure-messaging-webpubsubclient):
``service`` (the service client for the test's hub) and ``make_client``; import ``service_client``
and ``client_maker`` to use them."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from azure.messaging.webpubsubclient import WebPubSubClient, WebPubSubClientCredential
from azure.messaging.webpubsubservice import WebPubSubServiceClient

from emulator import Emulator

ROLES = ["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"]


def wait_until(condition: Callable[[], bool], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


@pytest.fixture(name="service")  # a fixture name apart from the function's: no shadowed import
def service_client(shared_emulator: Emulator, hub: str) -> WebPubSubServiceClient:
    return WebPubSubServiceClient.from_connection_string(shared_emulator.connection_string, hub=hub)


@pytest.fixture(name="make_client")
def client_maker(service: WebPubSubServiceClient) -> Iterator[Callable[..., WebPubSubClient]]:
    clients: list[WebPubSubClient] = []

    def make(user_id: str, roles: list[str] | None = None, **options: object) -> WebPubSubClient:
        credential = WebPubSubClientCredential(
            lambda: service.get_client_access_token(user_id=user_id, roles=ROLES if roles is None else roles)["url"]
        )
        client = WebPubSubClient(credential=credential, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()

"""The whole flow on loopback: the emulator and the dev host serving this repository's app."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from devhost import DevHost, LocalSettings
from emulator import Emulator
from shared.service import close_clients
from tests.support import APP_ROOT, TEST_KEY, BackgroundLoop, unique_hub


@dataclass
class Stack:
    emulator: Emulator
    host: DevHost
    hub: str

    @property
    def base_url(self) -> str:
        return f"http://localhost:{self.host.port}"


@pytest.fixture(scope="session")
def stack(background: BackgroundLoop, shared_emulator: Emulator) -> Iterator[Stack]:
    hub = unique_hub()
    settings = {
        "WebPubSubConnectionString": shared_emulator.connection_string,
        "WebPubSubHub": hub,
        "NegotiateAllowClientUserId": "true",
        "NegotiateAllowedGroups": "lobby*",
        "NegotiateRoles": "webpubsub.joinLeaveGroup.lobby,webpubsub.sendToGroup.lobby",
    }
    saved = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    host = DevHost(APP_ROOT, LocalSettings(function_key=TEST_KEY, cors_origins=("*",)), port=0)
    background.run(host.start())
    yield Stack(shared_emulator, host, hub)
    background.run(host.stop())
    background.run(close_clients())  # the app's cached service clients live on this loop
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value

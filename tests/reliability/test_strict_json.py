"""Strict JSON in the emulator, applied to REST bodies and JSON-client frames; the rule itself is
pinned against the app's by tests/test_shared_rules.py."""

from __future__ import annotations

import json

import pytest
import websockets
from azure.core.rest import HttpRequest
from azure.messaging.webpubsubservice.aio import WebPubSubServiceClient
from websockets.exceptions import ConnectionClosed

from emulator import Emulator
from tests.rules_corpus import JSON_ACCEPTED, JSON_REFUSED

REFUSED = JSON_REFUSED
ACCEPTED = JSON_ACCEPTED


async def test_rest_bodies_outside_strict_json_are_400(emulator: Emulator) -> None:
    async with WebPubSubServiceClient.from_connection_string(emulator.connection_string, hub="strict") as service:
        for text in REFUSED + ACCEPTED:
            request = HttpRequest(
                "POST", "/api/hubs/strict/:send", content=text.encode(), headers={"Content-Type": "application/json"}
            )
            response = await service.send_request(request)
            expected = 202 if text in ACCEPTED else 400
            assert response.status_code == expected, text[:40]


@pytest.mark.parametrize("data", ['{"a": 1, "a": 2}', "1" * 320], ids=["repeated name", "integer beyond a double"])
async def test_a_json_client_frame_outside_strict_json_closes_with_1007(emulator: Emulator, data: str) -> None:
    async with WebPubSubServiceClient.from_connection_string(emulator.connection_string, hub="strict") as service:
        url = (await service.get_client_access_token(user_id="u", roles=["webpubsub.sendToGroup"]))["url"]
    async with websockets.connect(url, subprotocols=["json.webpubsub.azure.v1"]) as ws:  # type: ignore[list-item]
        assert json.loads(await ws.recv())["event"] == "connected"
        await ws.send('{"type": "sendToGroup", "group": "g", "dataType": "json", "data": ' + data + "}")
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1007

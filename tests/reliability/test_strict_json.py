"""Strict JSON in the emulator: the same rule as the app's, pinned by one corpus both must agree
on (they may not import each other), and applied to REST bodies and JSON-client frames."""

from __future__ import annotations

import json

import pytest
import websockets
from azure.core.rest import HttpRequest
from azure.messaging.webpubsubservice.aio import WebPubSubServiceClient
from websockets.exceptions import ConnectionClosed

from emulator import Emulator
from emulator.validation import parse_json as emulator_parse_json
from shared.validation import parse_json as app_parse_json

REFUSED = [
    "NaN",
    "[Infinity]",
    '{"n": -Infinity}',
    "1e999",
    "[-1e999]",
    "1" * 309 + "0" * 10,  # an integer beyond a double: JSON.parse makes it Infinity
    "-" + "9" * 400,
    '{"a": 1, "a": 2}',  # one reader keeps the first, another the last
    '[{"x": {"b": true, "b": true}}]',
    "[" * 100_000 + "]" * 100_000,
    "{",
    "",
]
ACCEPTED = [
    "{}",
    '{"a": 1, "b": {"a": 2}}',  # the same name in two objects is fine
    "9" * 308,  # 308 digits still fit a double
    "1e308",
    "-0.0",
    '"\\u00e9"',
    "[" * 50 + "]" * 50,
]


@pytest.mark.parametrize("text", REFUSED + ACCEPTED, ids=lambda t: t[:24])
def test_the_emulator_and_the_app_agree_on_strict_json(text: str) -> None:
    def verdict(parse: object) -> bool:
        try:
            parse(text)  # type: ignore[operator]
        except ValueError:
            return False
        return True

    expected = text in ACCEPTED
    assert verdict(emulator_parse_json) is expected
    assert verdict(app_parse_json) is expected


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

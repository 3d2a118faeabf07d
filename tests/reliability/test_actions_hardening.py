"""Batch items that used to run part of a batch, or answer 500, are refused whole (issue 19).

Each batch starts with a send to a listening client; the bad item comes after it. A refused
batch must be a 400 naming the item and field, and the listener must receive nothing: no item
ran before the refusal.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import websockets
from azure.messaging.webpubsubservice.aio import WebPubSubServiceClient

from tests.conftest import Stack
from tests.support import TEST_KEY, http_call

FIRST = {"actionName": "sendToUser", "userId": "listener", "data": "first"}


@asynccontextmanager
async def listener(stack: Stack) -> AsyncIterator[websockets.ClientConnection]:
    async with WebPubSubServiceClient.from_connection_string(
        stack.emulator.connection_string, hub=stack.hub
    ) as service:
        token = await service.get_client_access_token(user_id="listener")
    async with websockets.connect(token["url"], subprotocols=["json.webpubsub.azure.v1"]) as socket:
        assert json.loads(await socket.recv())["event"] == "connected"
        yield socket


async def refused_whole(stack: Stack, item: dict[str, Any] | bytes) -> str:
    """Post [FIRST, item]: the answer must be 400 for item 1, and nothing may arrive; returns the message."""
    body = item if isinstance(item, bytes) else json.dumps([FIRST, item]).encode()
    headers = {"x-functions-key": TEST_KEY, "Content-Type": "application/json"}
    async with listener(stack) as socket:
        status, answer, _ = await http_call(stack.base_url, "POST", "/api/actions", body, headers)
        assert status == 400, answer
        assert answer["error"]["code"] == "BadRequest"
        with pytest.raises(TimeoutError):
            frame = await asyncio.wait_for(socket.recv(), 0.3)
            pytest.fail(f"an item ran before the refusal: {frame!r}")
    return answer["error"]["message"]


@pytest.mark.parametrize("action", ["sendToAll", "sendToGroup", "sendToUser"])
@pytest.mark.parametrize("odata_filter", ["\ud800", "userId eq '\udfff'"])
async def test_a_lone_surrogate_in_a_filter_is_a_400_naming_it(stack: Stack, action: str, odata_filter: str) -> None:
    target = {"sendToAll": {}, "sendToGroup": {"group": "g"}, "sendToUser": {"userId": "u"}}[action]
    item = {"actionName": action, "data": "x", **target, "filter": odata_filter}
    message = await refused_whole(stack, item)
    assert message.startswith("Action 1, field filter:"), message


@pytest.mark.parametrize("action", ["addConnectionsToGroups", "removeConnectionsFromGroups"])
@pytest.mark.parametrize("character", ["\u00e9", "\U0001f642"], ids=["e-acute", "emoji"])
async def test_groups_too_large_once_escaped_are_refused_before_anything_runs(
    stack: Stack, action: str, character: str
) -> None:
    """1,000 bytes of UTF-8 here become 3,000 as the JSON escapes sent to the service: over its 1 MiB."""
    groups = [character * 1024] * (200 if character == "\u00e9" else 100)
    body = json.dumps([FIRST, {"actionName": action, "groups": groups}], ensure_ascii=False).encode()
    assert len(body) < 1024 * 1024  # the request itself fits
    message = await refused_whole(stack, body)
    assert message.startswith("Action 1, field groups:"), message
    assert "1 MiB" in message


async def test_groups_that_fit_once_escaped_still_run(stack: Stack) -> None:
    groups = ["\u00e9" * 1024] * 150  # 150 x 1024 x 6 bytes: just under 1 MiB as sent
    item = {"actionName": "addConnectionsToGroups", "groups": groups, "filter": "userId eq 'nobody'"}
    headers = {"x-functions-key": TEST_KEY, "Content-Type": "application/json"}
    status, answer, _ = await http_call(stack.base_url, "POST", "/api/actions", json.dumps([item]).encode(), headers)
    assert (status, answer["results"][0]["status"]) == (200, 200), answer


@pytest.mark.parametrize("name", ["chec\u212aPermission", "\u017fendToAll", "sendToAll\u0130"])
async def test_action_names_match_ascii_case_insensitively_only(stack: Stack, name: str) -> None:
    """str.lower() maps the Kelvin sign to 'k' (and U+017F long s upper-cases to 'S')."""
    message = await refused_whole(stack, {"actionName": name, "data": "x"})
    assert message.startswith("Action 1, field actionName:"), message


@pytest.mark.parametrize("field", ["dataType", "ttl", "filter", "excluded", "data"])
async def test_null_is_refused_not_taken_as_absent(stack: Stack, field: str) -> None:
    message = await refused_whole(stack, {"actionName": "sendToAll", "data": "x", field: None})
    assert message == f"Action 1, field {field}: {field} must not be null; leave it out instead."

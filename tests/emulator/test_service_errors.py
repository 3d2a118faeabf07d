"""Error bodies as the service sends them: the ASP.NET Core validation problem for a parameter
that fails validation, byte for byte as Microsoft's JS SDK tests recorded it, and what an app
using the official JS service client (``@azure/web-pubsub``) then sees."""

from __future__ import annotations

import asyncio
import json
import subprocess
from typing import Any

import pytest
from azure.core.rest import HttpRequest
from azure.messaging.webpubsubservice.aio import WebPubSubServiceClient

from emulator import Emulator
from tests.emulator.js_peers import installed_js_peers

FILTER_MESSAGE = (
    "Invalid syntax for 'invalid filter': Syntax error at position 14 in 'invalid filter'. (Parameter 'filter')"
)


def validation_problem(target: str, message: str = FILTER_MESSAGE) -> bytes:
    """The recorded body (sdk/web-pubsub/web-pubsub/recordings, 2022 and 2023), keys in its order."""
    return (
        '{"code":"Error.BadRequest","message":' + json.dumps(message) + ',"target":"' + target + '",'
        '"errors":{"' + target + '":[' + json.dumps(message) + ']},"type":null,'
        '"title":"One or more validation errors occurred.","status":400,"detail":null,"instance":null,"extensions":{}}'
    ).encode()


GROUPS_BODY = b'{"groups":["g"],"filter":"invalid filter"}'
REFUSED_FILTERS = {
    "sendToAll": ("/:send?filter=invalid%20filter", b"hello", "text/plain", "filter"),
    "sendToGroup": ("/groups/g/:send?filter=invalid%20filter", b"hello", "text/plain", "filter"),
    "sendToUser": ("/users/u/:send?filter=invalid%20filter", b"hello", "text/plain", "filter"),
    "addToGroups": ("/:addToGroups", GROUPS_BODY, "application/json", "Filter"),  # the filter is in the body
    "removeFromGroups": ("/:removeFromGroups", GROUPS_BODY, "application/json", "Filter"),
}


@pytest.mark.parametrize("operation", list(REFUSED_FILTERS))
async def test_an_invalid_filter_is_the_services_validation_problem_byte_for_byte(
    emulator: Emulator, operation: str
) -> None:
    path, body, content_type, target = REFUSED_FILTERS[operation]
    async with WebPubSubServiceClient.from_connection_string(emulator.connection_string, hub="chat") as service:
        request = HttpRequest("POST", f"/api/hubs/chat{path}", content=body, headers={"Content-Type": content_type})
        response = await service.send_request(request)
        await response.read()
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json; charset=utf-8"
    assert response.headers["x-ms-error-code"] == "Error.BadRequest"
    assert response.content == validation_problem(target)
    assert "api-supported-versions" not in response.headers  # the service sends it on success only


@pytest.mark.parametrize(
    ("path", "target", "message"),
    [
        ("/:send?messageTtlSeconds=301", "messageTtlSeconds", "messageTtlSeconds must be an integer from 0 to 300."),
        ("/groups/%20/:send", "group", "A group name has 1 to 1024 characters and is not only white space."),
        ("/groups/g/connections?maxpagesize=0", "maxpagesize", "maxpagesize must be an integer from 1 to 200."),
    ],
)
async def test_other_parameter_errors_have_the_same_shape(
    emulator: Emulator, path: str, target: str, message: str
) -> None:
    async with WebPubSubServiceClient.from_connection_string(emulator.connection_string, hub="chat") as service:
        method = "GET" if "connections" in path else "POST"
        request = HttpRequest(method, f"/api/hubs/chat{path}", content=b"x", headers={"Content-Type": "text/plain"})
        response = await service.send_request(request)
        await response.read()
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json; charset=utf-8"
    assert response.content == validation_problem(target, f"{message} (Parameter '{target}')")


async def test_a_js_app_reads_the_services_message_from_the_error(emulator: Emulator) -> None:
    """``@azure/core-client`` parses only ``application/json`` error bodies, so against the service an
    app's ``RestError.message`` is the problem body's text and ``JSON.parse(error.message).message``
    is how it reads the reason. Against an emulator that answered ``application/json``, that broke."""
    script = installed_js_peers() / "service_errors.mjs"
    process = await asyncio.create_subprocess_exec(
        "node", str(script), emulator.connection_string, "chat", stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()[-2000:]
    report: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    assert set(report) == {"sendToAll", "groupSendToAll", "sendToUser", "addConnectionsToGroups",
                           "removeConnectionsFromGroups"}  # fmt: skip
    for name, seen in report.items():
        target = "Filter" if "Groups" in name else "filter"
        assert seen["statusCode"] == 400, name
        assert seen["message"].encode() == validation_problem(target), name
        assert seen["parsed"] == FILTER_MESSAGE, name


SUPPORTED = "2021-10-01, 2022-11-01, 2023-07-01, 2024-01-01, 2024-12-01"


async def test_successful_answers_carry_api_supported_versions_as_the_services_do(emulator: Emulator) -> None:
    async with WebPubSubServiceClient.from_connection_string(emulator.connection_string, hub="chat") as service:
        calls = {
            "send (202)": HttpRequest(
                "POST", "/api/hubs/chat/:send", content=b"x", headers={"Content-Type": "text/plain"}
            ),
            "close (204)": HttpRequest("POST", "/api/hubs/chat/:closeConnections"),
            "token (200)": HttpRequest("POST", "/api/hubs/chat/:generateToken"),
            "exists, no (404)": HttpRequest("HEAD", "/api/hubs/chat/groups/none"),
            "bad ttl (400)": HttpRequest("POST", "/api/hubs/chat/:send?messageTtlSeconds=-1", content=b"x"),
        }
        seen = {}
        for name, request in calls.items():
            response = await service.send_request(request)
            seen[name] = (response.status_code, response.headers.get("api-supported-versions"))
    assert seen == {
        "send (202)": (202, SUPPORTED),
        "close (204)": (204, SUPPORTED),
        "token (200)": (200, SUPPORTED),
        "exists, no (404)": (404, None),
        "bad ttl (400)": (400, None),
    }

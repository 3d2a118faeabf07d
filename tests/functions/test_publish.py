"""publish through the dev host over HTTP, delivering through the real emulator."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
import websockets
from azure.messaging.webpubsubservice.aio import WebPubSubServiceClient

from emulator import Emulator
from tests.conftest import Stack
from tests.support import TEST_KEY, Answer, Call, http_call

KEY = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH"
JSON_PROTOCOL = "json.webpubsub.azure.v1"


@pytest.fixture
def call(stack: Stack, app_settings: dict[str, str]) -> Call:
    """publish through the dev host, with this test's app settings (overrides the negotiate ``call``)."""

    async def post(path: str, body: bytes, content_type: str | None = "text/plain") -> Answer:
        headers = {"x-functions-key": TEST_KEY, **({"Content-Type": content_type} if content_type else {})}
        return await http_call(stack.base_url, "POST", path, body, headers)

    return post


async def client_url(connection_string: str, hub: str, **options: object) -> str:
    async with WebPubSubServiceClient.from_connection_string(connection_string, hub=hub) as service:
        return (await service.get_client_access_token(**options))["url"]


async def receive(socket: websockets.ClientConnection, timeout: float = 5) -> str | bytes:
    return await asyncio.wait_for(socket.recv(), timeout)


async def nothing_arrives(socket: websockets.ClientConnection) -> bool:
    try:
        await asyncio.wait_for(socket.recv(), 0.3)
    except TimeoutError:
        return True
    return False


async def test_publish_to_all_reaches_plain_and_json_clients(call: Call, app_settings: dict, hub: str) -> None:
    url = await client_url(app_settings["WebPubSubConnectionString"], hub)
    async with websockets.connect(url) as plain, websockets.connect(url, subprotocols=[JSON_PROTOCOL]) as typed:
        await receive(typed)  # connected
        status, body, _ = await call("/api/publish", b"Hello World")
        assert status == 202
        assert body == {"hub": hub, "target": {"type": "all", "name": None}, "bytes": 11}
        assert await receive(plain) == "Hello World"
        envelope = json.loads(await receive(typed))
        assert envelope == {"type": "message", "from": "server", "dataType": "text", "data": "Hello World"}


@pytest.mark.parametrize(
    ("content_type", "payload", "plain_frame", "data_type", "data"),
    [
        ("application/json; charset=utf-8", b'{"a":[1,2]}', '{"a":[1,2]}', "json", {"a": [1, 2]}),
        (
            "application/octet-stream",
            b"\x00\xffbin",
            b"\x00\xffbin",
            "binary",
            base64.b64encode(b"\x00\xffbin").decode(),
        ),
        ("text/plain;charset=utf-8", "grüße".encode(), "grüße", "text", "grüße"),
    ],
)
async def test_content_types_are_forwarded_byte_for_byte(
    call: Call,
    app_settings: dict,
    hub: str,
    content_type: str,
    payload: bytes,
    plain_frame: object,
    data_type: str,
    data: object,
) -> None:
    url = await client_url(app_settings["WebPubSubConnectionString"], hub)
    async with websockets.connect(url) as plain, websockets.connect(url, subprotocols=[JSON_PROTOCOL]) as typed:
        await receive(typed)
        status, _, _ = await call("/api/publish", payload, content_type)
        assert status == 202
        assert await receive(plain) == plain_frame
        envelope = json.loads(await receive(typed))
        assert (envelope["dataType"], envelope["data"]) == (data_type, data)


async def test_publish_to_group_user_and_connection(call: Call, app_settings: dict, hub: str) -> None:
    connection_string = app_settings["WebPubSubConnectionString"]
    lobby_url = await client_url(connection_string, hub, user_id="ann", groups=["lobby"])
    other_url = await client_url(connection_string, hub, user_id="bob")
    async with (
        websockets.connect(lobby_url, subprotocols=[JSON_PROTOCOL]) as ann,
        websockets.connect(other_url, subprotocols=[JSON_PROTOCOL]) as bob,
    ):
        bob_id = json.loads(await receive(bob))["connectionId"]
        await receive(ann)

        assert (await call("/api/publish?group=lobby", b"to lobby"))[0] == 202
        message = json.loads(await receive(ann))
        assert (message["from"], message["group"], message["data"]) == ("group", "lobby", "to lobby")
        assert await nothing_arrives(bob)

        status, body, _ = await call("/api/publish?user=bob", b"to bob")
        assert status == 202
        assert body["target"] == {"type": "user", "name": "bob"}
        assert json.loads(await receive(bob))["data"] == "to bob"
        assert await nothing_arrives(ann)

        status, body, _ = await call(f"/api/publish?connectionId={bob_id}", b"to the connection")
        assert body["target"] == {"type": "connection", "name": bob_id}
        assert json.loads(await receive(bob))["data"] == "to the connection"
        assert await nothing_arrives(ann)


async def test_excluded_filter_and_ttl_are_forwarded(call: Call, app_settings: dict, hub: str) -> None:
    connection_string = app_settings["WebPubSubConnectionString"]
    async with (
        websockets.connect(await client_url(connection_string, hub, user_id="a"), subprotocols=[JSON_PROTOCOL]) as a,
        websockets.connect(await client_url(connection_string, hub, user_id="b"), subprotocols=[JSON_PROTOCOL]) as b,
    ):
        a_id = json.loads(await receive(a))["connectionId"]
        await receive(b)
        assert (await call(f"/api/publish?excluded={a_id}&ttl=30", b"not for a"))[0] == 202
        assert json.loads(await receive(b))["data"] == "not for a"
        assert await nothing_arrives(a)
        assert (await call("/api/publish?filter=userId%20eq%20%27a%27", b"only a"))[0] == 202
        assert json.loads(await receive(a))["data"] == "only a"
        assert await nothing_arrives(b)


@pytest.mark.parametrize(
    ("path", "body", "content_type", "status", "code"),
    [
        ("/api/publish?group=g&user=u", b"x", "text/plain", 400, "BadRequest"),
        ("/api/publish?group=a&group=b", b"x", "text/plain", 400, "BadRequest"),
        ("/api/publish", b"", "text/plain", 400, "BadRequest"),
        ("/api/publish?ttl=301", b"x", "text/plain", 400, "BadRequest"),
        ("/api/publish?ttl=-1", b"x", "text/plain", 400, "BadRequest"),
        ("/api/publish", b"{nope", "application/json", 400, "BadRequest"),
        ("/api/publish", b'{"a":NaN}', "application/json", 400, "BadRequest"),
        ("/api/publish", b"[Infinity]", "application/json", 400, "BadRequest"),
        ("/api/publish", b"-Infinity", "application/json", 400, "BadRequest"),
        ("/api/publish", b'{"a":1e999}', "application/json", 400, "BadRequest"),
        ("/api/publish", b'{"a":1,"a":2}', "application/json", 400, "BadRequest"),
        ("/api/publish", b'{"a":1' + b"0" * 400 + b"}", "application/json", 400, "BadRequest"),
        ("/api/publish", '"x"'.encode("utf-16"), "application/json", 400, "BadRequest"),
        ("/api/publish?group=" + "g" * 1025, b"x", "text/plain", 400, "BadRequest"),
        ("/api/publish?hub=9bad", b"x", "text/plain", 400, "BadRequest"),
        ("/api/publish?hub=unknown", b"x", "text/plain", 404, "NotFound"),
        ("/api/publish", b"x" * (1024 * 1024 + 1), "text/plain", 413, "PayloadTooLarge"),
        ("/api/publish", b"<p>x</p>", "text/html", 415, "UnsupportedMediaType"),
        ("/api/publish", "é".encode("latin-1"), "text/plain; charset=iso-8859-1", 415, "UnsupportedMediaType"),
        ("/api/publish", "é".encode("latin-1"), "text/plain", 400, "BadRequest"),
        ("/api/publish", b"x", None, 415, "UnsupportedMediaType"),
        ("/api/publish?user=u&excluded=c", b"x", "text/plain", 400, "BadRequest"),
        ("/api/publish?connectionId=c&filter=userId%20eq%20%27a%27", b"x", "text/plain", 400, "BadRequest"),
    ],
)
async def test_bad_requests_get_clear_errors(
    call: Call, app_settings: dict, path: str, body: bytes, content_type: str | None, status: int, code: str
) -> None:
    got_status, got_body, _ = await call(path, body, content_type)
    assert got_status == status
    assert set(got_body) == {"error"}
    assert got_body["error"]["code"] == code
    assert got_body["error"]["message"]


@pytest.mark.parametrize("content_type", ["text/plain; charset=utf-8", 'text/plain; charset="UTF-8"', "text/plain"])
async def test_utf8_text_is_accepted_however_its_charset_is_spelled(
    call: Call, app_settings: dict, content_type: str
) -> None:
    assert (await call("/api/publish", "é🙂".encode(), content_type))[0] == 202


async def test_415_lists_the_accepted_types(call: Call, app_settings: dict) -> None:
    _, body, _ = await call("/api/publish", b"x", "text/html")
    for accepted in ("text/plain", "application/json", "application/octet-stream"):
        assert accepted in body["error"]["message"]


async def test_invalid_filter_refused_by_the_service_is_a_400(call: Call, app_settings: dict) -> None:
    status, body, _ = await call("/api/publish?filter=userId%20eq", b"x")
    assert status == 400
    assert body["error"]["code"] == "BadRequest"
    assert "filter" in body["error"]["message"]


async def test_wrong_key_is_502_without_leaking_it(
    call: Call, app_settings: dict, monkeypatch: pytest.MonkeyPatch, shared_emulator: Emulator, log_lines: list[str]
) -> None:
    wrong_key = "WRONGKEYWRONGKEYWRONGKEYWRONGKEYWRONGKEY1234"
    monkeypatch.setenv(
        "WebPubSubConnectionString", f"Endpoint=http://localhost;Port={shared_emulator.port};AccessKey={wrong_key};"
    )
    status, body, _ = await call("/api/publish", b"x")
    assert status == 502
    assert body["error"]["code"] == "UpstreamRejected"
    text = json.dumps(body) + "\n".join(log_lines)
    assert wrong_key not in text
    assert "Bearer" not in text


async def test_unreachable_service_is_503_with_retry_after(
    call: Call, app_settings: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with Emulator(port=0) as doomed:
        port = doomed.port
    monkeypatch.setenv("WebPubSubConnectionString", f"Endpoint=http://127.0.0.1;Port={port};AccessKey={KEY};")
    loop = asyncio.get_running_loop()
    started = loop.time()
    status, body, headers = await call("/api/publish", b"x")
    assert loop.time() - started < 6
    assert status == 503
    assert body["error"]["code"] == "UpstreamUnavailable"
    assert int(headers["Retry-After"]) > 0


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:99999", "http://127.0.0.1:80x", "http://[::1"])
async def test_a_malformed_connection_string_is_a_configuration_error(
    call: Call, app_settings: dict, monkeypatch: pytest.MonkeyPatch, endpoint: str
) -> None:
    monkeypatch.setenv("WebPubSubConnectionString", f"Endpoint={endpoint};AccessKey={KEY};")
    status, body, _ = await call("/api/publish", b"x")
    assert (status, body["error"]["code"]) == (500, "ConfigurationError")
    assert "WebPubSubConnectionString" in body["error"]["message"] and KEY not in body["error"]["message"]

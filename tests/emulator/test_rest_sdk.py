"""Every REST operation through the official service SDK (sync and async), observed by clients."""

from __future__ import annotations

import json

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.core.rest import HttpRequest
from azure.messaging.webpubsubservice import WebPubSubServiceClient
from azure.messaging.webpubsubservice.aio import WebPubSubServiceClient as AsyncWebPubSubServiceClient
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from emulator import Emulator
from tests.emulator.sdk_clients import JSON_PROTOCOL, _sockets, join, service_client  # noqa: F401  (fixtures)


def data_of(socket: ClientConnection) -> object:
    return json.loads(socket.recv(timeout=5))["data"]


def silent(socket: ClientConnection) -> bool:
    try:
        socket.recv(timeout=0.3)
    except TimeoutError:
        return True
    return False


def test_tutorial_hello_world(service: WebPubSubServiceClient) -> None:
    """The service's own tutorial: a plain websockets subscriber gets what send_to_all sends."""
    subscriber, _ = join(service, protocol=None)
    with subscriber:
        service.send_to_all("Hello World", content_type="text/plain")
        assert subscriber.recv(timeout=5) == "Hello World"


def test_send_to_all_content_types(service: WebPubSubServiceClient) -> None:
    plain, _ = join(service, protocol=None)
    typed, _ = join(service)
    with plain, typed:
        service.send_to_all({"hello": "world"})
        assert plain.recv(timeout=5) == '{"hello": "world"}'
        assert data_of(typed) == {"hello": "world"}
        service.send_to_all(b"\x01\x02", content_type="application/octet-stream")
        assert plain.recv(timeout=5) == b"\x01\x02"
        assert data_of(typed) == "AQI="


def test_excluded_and_filter(service: WebPubSubServiceClient) -> None:
    a, a_id = join(service, user_id="a", groups=["g"])
    b, _ = join(service, user_id="b")
    with a, b:
        service.send_to_all("x", content_type="text/plain", excluded=[a_id])
        assert data_of(b) == "x" and silent(a)
        service.send_to_all("y", content_type="text/plain", filter="'g' in groups")
        assert data_of(a) == "y" and silent(b)
        service.send_to_group("g", "z", content_type="text/plain", excluded=[a_id])
        assert silent(a)
        with pytest.raises(HttpResponseError) as raised:
            service.send_to_all("x", content_type="text/plain", filter="userId eq")
        assert raised.value.status_code == 400


def test_user_and_connection_sends(service: WebPubSubServiceClient) -> None:
    first, first_id = join(service, user_id="u")
    second, _ = join(service, user_id="u")
    other, _ = join(service, user_id="v")
    with first, second, other:
        service.send_to_user("u", "for u", content_type="text/plain")
        assert data_of(first) == "for u" and data_of(second) == "for u" and silent(other)
        service.send_to_connection(first_id, "for one", content_type="text/plain")
        assert data_of(first) == "for one" and silent(second)
        service.send_to_user("nobody", "lost", content_type="text/plain")  # fire and forget: still 202
        service.send_to_connection("missing", "lost", content_type="text/plain")


@pytest.mark.parametrize(("ttl", "status"), [("0", 202), ("300", 202), ("301", 400), ("-1", 400), ("x", 400)])
def test_ttl_is_validated(service: WebPubSubServiceClient, hub: str, ttl: str, status: int) -> None:
    # The SDK's send_to_all drops message_ttl_seconds (1.3.0), so the request is built by hand.
    path = f"/api/hubs/{hub}/:send?messageTtlSeconds={ttl}"
    response = service.send_request(HttpRequest("POST", path, content=b"x", headers={"Content-Type": "text/plain"}))
    assert response.status_code == status


def test_group_membership_operations(service: WebPubSubServiceClient) -> None:
    socket, connection_id = join(service, user_id="u")
    with socket:
        assert not service.group_exists("g")
        service.add_connection_to_group("g", connection_id)
        assert service.group_exists("g")
        service.send_to_group("g", "in g", content_type="text/plain")
        message = json.loads(socket.recv(timeout=5))
        assert (message["from"], message["group"], message["data"]) == ("group", "g", "in g")
        service.remove_connection_from_group("g", connection_id)
        assert not service.group_exists("g")
        service.add_user_to_group("g2", "u")
        service.add_user_to_group("g3", "u")
        assert [m.connection_id for m in service.list_connections(group="g2")] == [connection_id]
        service.remove_user_from_group("g2", "u")
        assert not service.group_exists("g2")
        service.remove_user_from_all_groups("u")
        assert not service.group_exists("g3")
        service.add_connection_to_group("g4", connection_id)
        service.remove_connection_from_all_groups(connection_id)
        assert not service.group_exists("g4")
        with pytest.raises(ResourceNotFoundError):
            service.add_connection_to_group("g", "missing")
        with pytest.raises(ResourceNotFoundError):
            service.add_user_to_group("g", "nobody")


def test_existence_checks(service: WebPubSubServiceClient) -> None:
    socket, connection_id = join(service, user_id="present")
    with socket:
        assert service.connection_exists(connection_id)
        assert not service.connection_exists("missing")
        assert service.user_exists("present")
        assert not service.user_exists("absent")


def test_list_connections_pages(service: WebPubSubServiceClient, hub: str) -> None:
    sockets = [join(service, user_id=f"u{i}", groups=["many"]) for i in range(5)]
    try:
        listed = list(service.list_connections(group="many"))
        assert sorted(m.connection_id for m in listed) == sorted(cid for _, cid in sockets)
        pages = list(service.list_connections(group="many", top=3).by_page())
        assert sum(len(list(page)) for page in pages) == 3
        raw = service.send_request(HttpRequest("GET", f"/api/hubs/{hub}/groups/many/connections?maxpagesize=2"))
        assert raw.status_code == 200
        assert len(raw.json()["value"]) == 2 and "nextLink" in raw.json()
    finally:
        for socket, _ in sockets:
            socket.close()


def test_permissions(service: WebPubSubServiceClient) -> None:
    socket, connection_id = join(service)
    with socket:
        assert not service.has_permission("joinLeaveGroup", connection_id, target_name="g")
        socket.send(json.dumps({"type": "joinGroup", "group": "g", "ackId": 1}))
        assert json.loads(socket.recv(timeout=5))["error"]["name"] == "Forbidden"
        service.grant_permission("joinLeaveGroup", connection_id, target_name="g")
        assert service.has_permission("joinLeaveGroup", connection_id, target_name="g")
        socket.send(json.dumps({"type": "joinGroup", "group": "g", "ackId": 2}))
        assert json.loads(socket.recv(timeout=5))["success"] is True
        service.revoke_permission("joinLeaveGroup", connection_id, target_name="g")
        assert not service.has_permission("joinLeaveGroup", connection_id, target_name="g")
        assert service.group_exists("g")  # revoking does not remove membership
        with pytest.raises(ResourceNotFoundError):
            service.grant_permission("sendToGroup", "missing")


@pytest.mark.parametrize("scope", ["connection", "user", "group", "all"])
def test_close_operations(service: WebPubSubServiceClient, scope: str) -> None:
    target, target_id = join(service, user_id="closing", groups=["doomed"])
    bystander, bystander_id = join(service, user_id="stays")
    with target, bystander:
        if scope == "connection":
            service.close_connection(target_id, reason="bye")
        elif scope == "user":
            service.close_user_connections("closing", reason="bye")
        elif scope == "group":
            service.close_group_connections("doomed", reason="bye")
        else:
            service.close_all_connections(excluded=[bystander_id], reason="bye")
        assert json.loads(target.recv(timeout=5)) == {"type": "system", "event": "disconnected", "message": "bye"}
        with pytest.raises(ConnectionClosed):
            target.recv(timeout=5)
        assert target.close_code == 1000
        assert not service.connection_exists(target_id)
        assert service.connection_exists(bystander_id)


def test_add_and_remove_connections_to_groups_by_filter(service: WebPubSubServiceClient, hub: str) -> None:
    a, a_id = join(service, user_id="a")
    b, _ = join(service, user_id="b")
    with a, b:
        body = {"groups": ["x", "y"], "filter": "userId eq 'a'"}
        response = service.send_request(HttpRequest("POST", f"/api/hubs/{hub}/:addToGroups", json=body))
        assert response.status_code == 200
        assert [m.connection_id for m in service.list_connections(group="x")] == [a_id]
        response = service.send_request(
            HttpRequest("POST", f"/api/hubs/{hub}/:removeFromGroups", json={"groups": ["x"]})
        )
        assert response.status_code == 200
        assert not service.group_exists("x") and service.group_exists("y")


def test_generate_token_route(service: WebPubSubServiceClient, shared_emulator: Emulator, hub: str) -> None:
    response = service.send_request(
        HttpRequest(
            "POST", f"/api/hubs/{hub}/:generateToken?userId=gen&role=webpubsub.sendToGroup&group=g&minutesToExpire=5"
        )
    )
    assert response.status_code == 200
    url = shared_emulator.endpoint.replace("http", "ws") + f"/client/hubs/{hub}?access_token={response.json()['token']}"
    with connect(url, subprotocols=[JSON_PROTOCOL], open_timeout=5) as socket:
        assert json.loads(socket.recv(timeout=5))["userId"] == "gen"
        assert service.group_exists("g")


@pytest.mark.parametrize("version", ["2021-10-01", "2022-11-01", "2023-07-01", "2024-01-01", "2024-12-01"])
def test_older_api_versions_are_accepted(shared_emulator: Emulator, hub: str, version: str) -> None:
    client = WebPubSubServiceClient.from_connection_string(
        shared_emulator.connection_string, hub=hub, api_version=version
    )
    client.send_to_all("x", content_type="text/plain")


def test_errors_use_the_service_shape(service: WebPubSubServiceClient, shared_emulator: Emulator, hub: str) -> None:
    bad_version = service.send_request(
        HttpRequest(
            "POST",
            f"/api/hubs/{hub}/:send?api-version=1999-01-01",
            content=b"x",
            headers={"Content-Type": "text/plain"},
        )
    )
    assert bad_version.status_code == 400
    assert set(bad_version.json()) == {"code", "message"}
    assert bad_version.headers["x-ms-error-code"] == bad_version.json()["code"]
    bad_hub = service.send_request(
        HttpRequest("POST", "/api/hubs/9nope/:send", content=b"x", headers={"Content-Type": "text/plain"})
    )
    assert bad_hub.status_code == 400
    assert bad_hub.headers["Content-Type"] == "application/problem+json; charset=utf-8"
    assert bad_hub.json()["target"] == "hub" and bad_hub.json()["message"] == "Invalid hub name. (Parameter 'hub')"
    html = service.send_request(
        HttpRequest("POST", f"/api/hubs/{hub}/:send", content=b"x", headers={"Content-Type": "text/html"})
    )
    assert html.status_code == 415
    bad_json = service.send_request(
        HttpRequest("POST", f"/api/hubs/{hub}/:send", content=b"{", headers={"Content-Type": "application/json"})
    )
    assert bad_json.status_code == 400
    huge = service.send_request(
        HttpRequest(
            "POST", f"/api/hubs/{hub}/:send", content=b"x" * (1024 * 1024 + 1), headers={"Content-Type": "text/plain"}
        )
    )
    assert huge.status_code == 413
    assert service.send_request(HttpRequest("GET", "/api/nothing/here")).status_code == 404
    assert requests.head(f"http://127.0.0.1:{shared_emulator.port}/api/health", timeout=5).status_code == 200
    assert requests.get(f"http://127.0.0.1:{shared_emulator.port}/api/health", timeout=5).status_code == 200


def test_hub_names_are_case_insensitive(shared_emulator: Emulator, hub: str) -> None:
    upper = WebPubSubServiceClient.from_connection_string(shared_emulator.connection_string, hub=hub.upper())
    lower = WebPubSubServiceClient.from_connection_string(shared_emulator.connection_string, hub=hub)
    socket, connection_id = join(upper)
    with socket:
        assert lower.connection_exists(connection_id)
        lower.send_to_all("x", content_type="text/plain")
        assert data_of(socket) == "x"


async def test_async_client_operations(shared_emulator: Emulator, hub: str) -> None:
    async with AsyncWebPubSubServiceClient.from_connection_string(
        shared_emulator.connection_string, hub=hub
    ) as service:
        token = await service.get_client_access_token(user_id="async", groups=["ag"])
        import websockets

        async with websockets.connect(token["url"], subprotocols=[JSON_PROTOCOL]) as socket:
            connection_id = json.loads(await socket.recv())["connectionId"]
            assert await service.connection_exists(connection_id)
            assert await service.group_exists("ag")
            await service.send_to_group("ag", {"n": 1})
            assert json.loads(await socket.recv())["data"] == {"n": 1}
            await service.send_to_user("async", "hi", content_type="text/plain")
            assert json.loads(await socket.recv())["data"] == "hi"
            assert [m.user_id async for m in service.list_connections(group="ag")] == ["async"]
            await service.remove_connection_from_group("ag", connection_id)
            assert not await service.group_exists("ag")
            await service.close_connection(connection_id, reason="done")
            assert json.loads(await socket.recv())["event"] == "disconnected"

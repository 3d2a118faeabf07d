"""negotiate through the dev host over HTTP, against the real emulator."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import websockets

from tests.functions.support import KEY, claims_of
from tests.support import Call


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_returns_a_url_that_connects(call: Call, app_settings: dict, hub: str, method: str) -> None:
    status, body, headers = await call("/api/negotiate", method=method)
    assert status == 200
    assert headers["Cache-Control"] == "no-store"
    assert set(body) == {"baseUrl", "url", "token", "expiresOn"}
    assert body["baseUrl"].endswith(f"/client/hubs/{hub}")
    assert body["url"] == f"{body['baseUrl']}?access_token={body['token']}"
    expires = datetime.strptime(body["expiresOn"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert timedelta(minutes=59) < expires - datetime.now(tz=UTC) <= timedelta(minutes=60)
    async with websockets.connect(body["url"], subprotocols=["json.webpubsub.azure.v1"]) as socket:
        connected = json.loads(await socket.recv())
    assert connected["event"] == "connected"
    assert connected["userId"] is None


async def test_token_minutes_setting(call: Call, app_settings: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NegotiateTokenMinutes", "5")
    _, body, _ = await call("/api/negotiate")
    claims = claims_of(body)
    assert claims["exp"] - claims["iat"] == 300


async def test_user_id_is_refused_unless_allowed(
    call: Call, app_settings: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    status, body, _ = await call("/api/negotiate?userId=alice")
    assert status == 403
    assert "NegotiateAllowClientUserId" in body["error"]["message"]
    monkeypatch.setenv("NegotiateAllowClientUserId", "true")
    status, body, _ = await call("/api/negotiate?userId=alice")
    assert status == 200
    assert claims_of(body)["sub"] == "alice"
    async with websockets.connect(body["url"], subprotocols=["json.webpubsub.azure.v1"]) as socket:
        assert json.loads(await socket.recv())["userId"] == "alice"


async def test_app_service_headers_are_ignored_unless_trusted(
    call: Call, app_settings: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    forged = {"x-ms-client-principal-id": "admin", "x-ms-client-principal-name": "admin@contoso.com"}
    status, body, _ = await call("/api/negotiate", headers=forged)
    assert status == 200
    assert "sub" not in claims_of(body)
    monkeypatch.setenv("NegotiateTrustAppServiceAuth", "true")
    _, body, _ = await call("/api/negotiate", headers=forged)
    assert claims_of(body)["sub"] == "admin"
    _, body, _ = await call("/api/negotiate", headers={"x-ms-client-principal-name": "carol@contoso.com"})
    assert claims_of(body)["sub"] == "carol@contoso.com"


async def test_trusted_user_cannot_be_overridden_by_the_query(
    call: Call, app_settings: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NegotiateTrustAppServiceAuth", "true")
    monkeypatch.setenv("NegotiateAllowClientUserId", "true")
    status, body, _ = await call("/api/negotiate?userId=mallory", headers={"x-ms-client-principal-id": "alice"})
    assert status == 403
    assert body["error"]["code"] == "Forbidden"


async def test_require_user_answers_401_without_one(
    call: Call, app_settings: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NegotiateRequireUser", "true")
    status, body, _ = await call("/api/negotiate")
    assert status == 401
    assert body["error"]["code"] == "Unauthorized"
    assert "NegotiateRequireUser" in body["error"]["message"]


async def test_roles_setting_goes_into_every_token(
    call: Call, app_settings: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NegotiateRoles", "webpubsub.joinLeaveGroup.lobby, webpubsub.sendToGroup.lobby")
    _, body, _ = await call("/api/negotiate")
    assert claims_of(body)["role"] == ["webpubsub.joinLeaveGroup.lobby", "webpubsub.sendToGroup.lobby"]


async def test_groups_only_as_the_setting_allows(
    call: Call, app_settings: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    status, body, _ = await call("/api/negotiate?group=lobby")
    assert status == 403
    assert "NegotiateAllowedGroups" in body["error"]["message"]
    monkeypatch.setenv("NegotiateAllowedGroups", "lobby,room-*")
    status, body, _ = await call("/api/negotiate?group=lobby&group=room-7&group=lobby")
    assert status == 200
    assert claims_of(body)["webpubsub.group"] == ["lobby", "room-7"]
    status, body, _ = await call("/api/negotiate?group=lobby&group=admins")
    assert status == 403


async def test_hub_rules(call: Call, app_settings: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    status, body, _ = await call("/api/negotiate?hub=other")
    assert (status, body["error"]["code"]) == (404, "NotFound")
    status, body, _ = await call("/api/negotiate?hub=bad%20hub")
    assert (status, body["error"]["code"]) == (400, "BadRequest")
    monkeypatch.setenv("WebPubSubAllowedHubs", "other")
    status, body, _ = await call("/api/negotiate?hub=other")
    assert status == 200
    assert body["baseUrl"].endswith("/client/hubs/other")


async def test_mqtt_protocol_url(call: Call, app_settings: dict, hub: str) -> None:
    status, body, _ = await call("/api/negotiate?protocol=mqtt")
    assert status == 200
    assert body["baseUrl"].endswith(f"/clients/mqtt/hubs/{hub}")
    status, body, _ = await call("/api/negotiate?protocol=socketio")
    assert status == 400


async def test_repeated_single_parameters_are_refused(call: Call, app_settings: dict) -> None:
    status, body, _ = await call("/api/negotiate?hub=a&hub=b")
    assert status == 400
    assert "more than once" in body["error"]["message"]


async def test_missing_connection_settings_is_a_clear_500(
    call: Call, app_settings: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WebPubSubConnectionString")
    status, body, _ = await call("/api/negotiate")
    assert status == 500
    assert body["error"]["code"] == "ConfigurationError"
    assert "WebPubSubConnectionString" in body["error"]["message"]


async def test_malformed_connection_string_never_echoes_the_key(
    call: Call, app_settings: dict, monkeypatch: pytest.MonkeyPatch, log_lines: list[str]
) -> None:
    monkeypatch.setenv("WebPubSubConnectionString", f"Endpoint=nowhere;AccessKey={KEY}")
    status, body, _ = await call("/api/negotiate")
    assert status == 500
    assert KEY not in json.dumps(body)
    assert all(KEY not in line for line in log_lines)

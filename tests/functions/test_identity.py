"""Identity-based access: no key anywhere, DefaultAzureCredential via a managed identity."""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator

import jwt
import pytest
import websockets

from emulator import Emulator
from negotiate import main as negotiate
from publish import main as publish
from tests.fakes.managed_identity import FakeManagedIdentity
from tests.fakes.oidc_issuer import AUDIENCE, FakeIssuer
from tests.support import function_request, unique_hub


@pytest.fixture
async def identity() -> AsyncIterator[FakeManagedIdentity]:
    fake = FakeManagedIdentity()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def entra_emulator() -> AsyncIterator[Emulator]:
    async with Emulator(port=0, allow_unvalidated_entra_tokens=True) as running:
        yield running


def use_identity(monkeypatch: pytest.MonkeyPatch, identity: FakeManagedIdentity, emulator: Emulator) -> str:
    hub = unique_hub()
    for name in list(os.environ):
        if name.startswith(("WebPubSub", "Negotiate", "AZURE_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("WebPubSubEndpoint", emulator.endpoint)
    monkeypatch.setenv("WebPubSubHub", hub)
    monkeypatch.setenv("NegotiateAllowClientUserId", "true")
    monkeypatch.setenv("NegotiateRoles", "webpubsub.joinLeaveGroup")
    for name, value in identity.environment.items():
        monkeypatch.setenv(name, value)
    return hub


async def test_negotiate_and_publish_with_a_managed_identity(
    monkeypatch: pytest.MonkeyPatch, identity: FakeManagedIdentity, entra_emulator: Emulator
) -> None:
    hub = use_identity(monkeypatch, identity, entra_emulator)
    response = await negotiate(function_request("GET", "/api/negotiate?userId=idu"))
    assert f"/client/hubs/{hub}?access_token=" in json.loads(response.get_body())["url"]
    assert response.status_code == 200, response.get_body()
    body = json.loads(response.get_body())
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert claims["sub"] == "idu" and claims["role"] == ["webpubsub.joinLeaveGroup"]
    assert body["expiresOn"].endswith("Z")

    async with websockets.connect(body["url"], subprotocols=["json.webpubsub.azure.v1"]) as socket:
        assert json.loads(await socket.recv())["userId"] == "idu"
        published = await publish(
            function_request(
                "POST", "/api/publish?user=idu", body=b"via identity", headers={"Content-Type": "text/plain"}
            )
        )
        assert published.status_code == 202, published.get_body()
        assert json.loads(await socket.recv())["data"] == "via identity"
    assert {r.get("resource") for r in identity.requests} == {"https://webpubsub.azure.com"}


async def test_service_that_refuses_entra_tokens_is_a_502(
    monkeypatch: pytest.MonkeyPatch, identity: FakeManagedIdentity, emulator: Emulator
) -> None:
    use_identity(monkeypatch, identity, emulator)  # this emulator does not accept Entra tokens
    response = await publish(
        function_request("POST", "/api/publish", body=b"x", headers={"Content-Type": "text/plain"})
    )
    assert response.status_code == 502
    assert json.loads(response.get_body())["error"]["code"] == "UpstreamRejected"
    response = await negotiate(function_request("GET", "/api/negotiate"))
    assert response.status_code == 502


async def test_a_signed_in_user_through_generate_token(
    monkeypatch: pytest.MonkeyPatch, identity: FakeManagedIdentity, entra_emulator: Emulator
) -> None:
    issuer = await FakeIssuer().start()
    try:
        use_identity(monkeypatch, identity, entra_emulator)
        monkeypatch.setenv("NegotiateJwtIssuer", issuer.issuer)
        monkeypatch.setenv("NegotiateJwtAudience", AUDIENCE)
        monkeypatch.setenv("NegotiateAllowedGroups", "user-{userId}")
        monkeypatch.setenv("NegotiateRoles", "webpubsub.sendToGroup.user-{userId}")
        bearer_exp = int(time.time()) + 600  # ten minutes, less than NegotiateTokenMinutes
        token = issuer.sign(issuer.add_key(), sub="alice", exp=bearer_exp)
        response = await negotiate(
            function_request("GET", "/api/negotiate?group=user-alice", headers={"Authorization": f"Bearer {token}"})
        )
    finally:
        await issuer.stop()
    assert response.status_code == 200, response.get_body()
    body = json.loads(response.get_body())
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert claims["sub"] == "alice"
    assert claims["role"] == ["webpubsub.sendToGroup.user-alice"]
    assert claims["webpubsub.group"] == ["user-alice"]
    assert claims["exp"] <= bearer_exp
    async with websockets.connect(body["url"], subprotocols=["json.webpubsub.azure.v1"]) as socket:
        assert json.loads(await socket.recv())["userId"] == "alice"

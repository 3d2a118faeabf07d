"""Client tokens must carry exactly the claims the official SDK puts in them."""

from datetime import UTC, datetime, timedelta

import jwt
import pytest
from azure.messaging.webpubsubservice import WebPubSubServiceClient

from shared.tokens import client_base_url, mint_client_access

KEY = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH"
CONNECTION_STRING = f"Endpoint=https://Contoso.webpubsub.azure.com;AccessKey={KEY};Version=1.0;"


def _decode(token: str) -> dict:
    return jwt.decode(token, KEY, algorithms=["HS256"], options={"verify_aud": False})


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"user_id": "alice"},
        {"user_id": "bob", "roles": ["webpubsub.joinLeaveGroup.lobby", "webpubsub.sendToGroup"]},
        {"groups": ["lobby", "room,with,commas"], "minutes": 5},
        {"user_id": "ü-ñ", "roles": ["webpubsub.joinLeaveGroup"], "groups": ["g"], "minutes": 1440},
        {"protocol": "mqtt", "user_id": "device"},
    ],
)
def test_claims_equal_the_sdks(options: dict) -> None:
    hub = "Chat"
    sdk = WebPubSubServiceClient.from_connection_string(CONNECTION_STRING, hub=hub)
    sdk_result = sdk.get_client_access_token(
        user_id=options.get("user_id"),
        roles=options.get("roles", []),
        groups=options.get("groups", []),
        minutes_to_expire=options.get("minutes", 60),
        client_protocol="MQTT" if options.get("protocol") == "mqtt" else "Default",
    )
    ours = mint_client_access("https://Contoso.webpubsub.azure.com", hub, KEY, **options)

    sdk_claims, our_claims = _decode(sdk_result["token"]), _decode(ours.token)
    for timed in ("iat", "exp"):  # minted a moment apart: equal to the second, give or take one
        assert abs(sdk_claims.pop(timed) - our_claims.pop(timed)) <= 1
    assert our_claims == sdk_claims
    assert ours.base_url == sdk_result["baseUrl"]
    assert ours.url.split("?")[0] == sdk_result["url"].split("?")[0]
    assert jwt.get_unverified_header(ours.token) == jwt.get_unverified_header(sdk_result["token"])


def test_expiry_follows_minutes() -> None:
    before = datetime.now(tz=UTC)
    access = mint_client_access("http://localhost:8080", "h", KEY, minutes=7)
    assert before + timedelta(minutes=7) - timedelta(seconds=1) <= access.expires_on
    assert access.expires_on <= datetime.now(tz=UTC) + timedelta(minutes=7)
    claims = _decode(access.token)
    assert claims["exp"] - claims["iat"] == 7 * 60
    assert access.to_json()["expiresOn"].endswith("Z")


@pytest.mark.parametrize(
    ("endpoint", "protocol", "expected"),
    [
        ("https://x.webpubsub.azure.com", "default", "wss://x.webpubsub.azure.com/client/hubs/h"),
        ("http://localhost:8080/", "default", "ws://localhost:8080/client/hubs/h"),
        ("https://x.webpubsub.azure.com", "mqtt", "wss://x.webpubsub.azure.com/clients/mqtt/hubs/h"),
    ],
)
def test_client_urls_use_websocket_schemes(endpoint: str, protocol: str, expected: str) -> None:
    assert client_base_url(endpoint, "h", protocol) == expected

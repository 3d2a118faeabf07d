"""Client access tokens and URLs, built exactly as ``get_client_access_token`` builds them.

A token is an HS256 JWT signed with the AccessKey's UTF-8 bytes. Its claims are ``aud``
(``<endpoint>/client/hubs/<hub>``), ``iat``, ``exp`` and, when given, ``sub`` (the user id),
``role`` and ``webpubsub.group``; empty lists are left out, as the SDK leaves them out.
Minting needs no network call, so key-based negotiate keeps working while the service is down.
PyJWT (with ``cryptography`` behind it) is imported on first use: importing it costs about 45 ms,
which would otherwise be added to every cold start, publish's included.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

DEFAULT_PROTOCOL = "default"
CLIENT_PATHS = {"default": "/client/hubs/", "mqtt": "/clients/mqtt/hubs/"}


@dataclass(frozen=True)
class ClientAccess:
    """What negotiate hands a browser: where to connect, with which token, until when."""

    base_url: str
    token: str
    expires_on: datetime

    @property
    def url(self) -> str:
        return f"{self.base_url}?access_token={self.token}"

    def to_json(self) -> dict[str, str]:
        return {
            "baseUrl": self.base_url,
            "url": self.url,
            "token": self.token,
            "expiresOn": self.expires_on.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


def client_path(protocol: str) -> str:
    return CLIENT_PATHS[protocol.lower()]


def client_base_url(endpoint: str, hub: str, protocol: str = DEFAULT_PROTOCOL) -> str:
    """``http(s)://`` becomes ``ws(s)://``; the endpoint is lower-cased, the hub kept as given."""
    endpoint = endpoint.lower().rstrip("/")
    return "ws" + endpoint[len("http") :] + client_path(protocol) + hub


def client_token_claims(
    endpoint: str,
    hub: str,
    *,
    user_id: str | None = None,
    roles: Sequence[str] = (),
    groups: Sequence[str] = (),
    minutes: int = 60,
    protocol: str = DEFAULT_PROTOCOL,
    now: datetime | None = None,
    not_after: datetime | None = None,
) -> dict[str, Any]:
    """``not_after`` caps ``exp``: a token for a signed-in user never outlives the sign-in."""
    issued = now or datetime.now(tz=UTC)
    expires = issued + timedelta(minutes=minutes)
    claims: dict[str, Any] = {
        "aud": endpoint.lower().rstrip("/") + client_path(protocol) + hub,
        "iat": issued,
        "exp": min(expires, not_after) if not_after is not None else expires,
    }
    if user_id:
        claims["sub"] = user_id
    if roles:
        claims["role"] = list(roles)
    if groups:
        claims["webpubsub.group"] = list(groups)
    return claims


def mint_client_access(
    endpoint: str,
    hub: str,
    access_key: str,
    *,
    user_id: str | None = None,
    roles: Sequence[str] = (),
    groups: Sequence[str] = (),
    minutes: int = 60,
    protocol: str = DEFAULT_PROTOCOL,
    not_after: datetime | None = None,
) -> ClientAccess:
    import jwt

    claims = client_token_claims(
        endpoint,
        hub,
        user_id=user_id,
        roles=roles,
        groups=groups,
        minutes=minutes,
        protocol=protocol,
        not_after=not_after,
    )
    token = jwt.encode(claims, access_key, algorithm="HS256")
    return ClientAccess(client_base_url(endpoint, hub, protocol), token, claims["exp"])


def access_from_service_token(endpoint: str, hub: str, token: str, protocol: str) -> ClientAccess:
    """Wrap a token from ``:generateToken``; its expiry is read (not verified) from its claims."""
    import jwt

    claims = jwt.decode(token, options={"verify_signature": False})
    expires_on = datetime.fromtimestamp(int(claims["exp"]), tz=UTC)
    return ClientAccess(client_base_url(endpoint, hub, protocol), token, expires_on)

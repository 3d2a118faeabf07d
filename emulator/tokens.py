"""Client tokens the emulator signs itself, for ``:generateToken``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

CLIENT_PATHS = {"default": "/client/hubs/", "mqtt": "/clients/mqtt/hubs/"}


def issue_client_token(
    access_key: str,
    endpoint: str,
    hub: str,
    *,
    user_id: str | None,
    roles: Sequence[str],
    groups: Sequence[str],
    minutes: int,
    client_type: str = "default",
) -> str:
    now = datetime.now(tz=UTC)
    claims: dict[str, Any] = {
        "aud": endpoint.rstrip("/") + CLIENT_PATHS[client_type] + hub,
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(minutes=minutes),
        "iss": "https://webpubsub.azure.com",
    }
    if user_id:
        claims["sub"] = user_id
    if roles:
        claims["role"] = list(roles)
    if groups:
        claims["webpubsub.group"] = list(groups)
    return jwt.encode(claims, access_key, algorithm="HS256")

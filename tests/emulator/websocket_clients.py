"""Tokens, URLs and handshakes for the emulator's client endpoint tests, with no client library."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import websockets
from websockets.exceptions import InvalidStatus

from emulator import DEFAULT_ACCESS_KEY, Emulator

JSON_PROTOCOL = "json.webpubsub.azure.v1"
RELIABLE_PROTOCOL = "json.reliable.webpubsub.azure.v1"


def token_for(emulator: Emulator, hub: str, key: str = DEFAULT_ACCESS_KEY, **claims: object) -> str:
    now = datetime.now(tz=UTC)
    payload: dict[str, object] = {
        "aud": f"{emulator.endpoint}/client/hubs/{hub}",
        "iat": now,
        "exp": now + timedelta(hours=1),
    }
    payload.update(claims)
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, key, algorithm="HS256")


def url_for(emulator: Emulator, hub: str, token: str) -> str:
    return f"ws://localhost:{emulator.port}/client/hubs/{hub}?access_token={token}"


async def handshake_status(url: str, *, open_timeout: float = 5, **options: object) -> int:
    """101 when the handshake succeeds, else the status the server refused it with."""
    try:
        async with websockets.connect(url, open_timeout=open_timeout, **options):
            return 101
    except InvalidStatus as error:
        return error.response.status_code

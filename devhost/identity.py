"""A development identity provider, so that the signed-in flow runs on one machine (``--dev-identity``).

It is part of the dev host only and never deployed. Under :data:`PATH` it serves OIDC discovery,
a JWKS with one RSA key made at start-up, and a token endpoint that signs an RS256 access token
for any user name it is given: there is no password, because its only job is to stand in for
Entra ID, Auth0 or Keycloak during development. ``local.settings.example.json`` points
``NegotiateJwtIssuer`` at it.

``POST /dev-identity/token`` with ``username=<name>`` (form or JSON) answers
``{"access_token", "token_type": "Bearer", "expires_in"}``. The token carries ``sub`` and
``name`` (the user name) and ``groups`` (:data:`GROUPS`), for ``NegotiateGroupsClaim``.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

PATH = "/dev-identity"
AUDIENCE = "webpubsub-demo"
GROUPS = ("demo-signed-in",)
TOKEN_SECONDS = 3600
MAX_USER_NAME = 64


class DevIdentityProvider:
    def __init__(self, issuer: str = "") -> None:
        self.issuer = issuer  # the dev host's base URL + PATH (set by the host once it has a port)
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._kid = "dev-" + uuid.uuid4().hex[:8]

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(f"{PATH}/.well-known/openid-configuration", self._discovery)
        app.router.add_get(f"{PATH}/keys", self._keys)
        app.router.add_post(f"{PATH}/token", self._token)

    def issue(self, user_name: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": user_name,
            "name": user_name,
            "groups": list(GROUPS),
            "iat": now,
            "nbf": now,
            "exp": now + TOKEN_SECONDS,
        }
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self._kid})

    async def _discovery(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "issuer": self.issuer,
                "jwks_uri": f"{self.issuer}/keys",
                "token_endpoint": f"{self.issuer}/token",
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        )

    async def _keys(self, request: web.Request) -> web.Response:
        public = RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        return web.json_response({"keys": [{**public, "kid": self._kid, "use": "sig", "alg": "RS256"}]})

    async def _token(self, request: web.Request) -> web.Response:
        user_name = (await _user_name(request)).strip()
        if not user_name or len(user_name) > MAX_USER_NAME or not user_name.isprintable():
            description = f"username: 1 to {MAX_USER_NAME} printable characters"
            return web.json_response({"error": "invalid_request", "error_description": description}, status=400)
        return web.json_response(
            {"access_token": self.issue(user_name), "token_type": "Bearer", "expires_in": TOKEN_SECONDS},
            headers={"Cache-Control": "no-store"},
        )


async def _user_name(request: web.Request) -> str:
    """``username`` from a JSON object or a form; anything else is no name."""
    if request.content_type == "application/json":
        try:
            data: Any = await request.json()
        except ValueError:
            return ""
        value = data.get("username") if isinstance(data, dict) else None
    else:
        value = (await request.post()).get("username")
    return value if isinstance(value, str) else ""

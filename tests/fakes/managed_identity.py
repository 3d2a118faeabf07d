"""A fake App Service managed-identity endpoint: the edge (Entra ID) this app does not own.

``DefaultAzureCredential`` finds it through ``IDENTITY_ENDPOINT`` and ``IDENTITY_HEADER``,
exactly as on Azure Functions, so the product code runs its real identity path.
"""

from __future__ import annotations

import time
import uuid

import jwt
from aiohttp import web

from tests.fakes.loopback import serve_on_loopback

IDENTITY_HEADER = "fake-identity-header-" + uuid.uuid4().hex


class FakeManagedIdentity:
    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def environment(self) -> dict[str, str]:
        return {"IDENTITY_ENDPOINT": f"http://127.0.0.1:{self.port}/msi/token", "IDENTITY_HEADER": IDENTITY_HEADER}

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/msi/token", self._token)
        self._runner, self.port = await serve_on_loopback(app)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _token(self, request: web.Request) -> web.Response:
        self.requests.append(dict(request.query))
        if request.headers.get("X-IDENTITY-HEADER") != IDENTITY_HEADER:
            return web.json_response({"error": "bad header"}, status=401)
        resource = request.query.get("resource", "")
        expires_on = int(time.time()) + 3600
        token = jwt.encode(
            {"aud": resource, "exp": expires_on, "oid": str(uuid.uuid4()), "iss": "https://sts.fake.local/"},
            "an-unrelated-signing-key-the-emulator-cannot-know",
            algorithm="HS256",
        )
        return web.json_response(
            {"access_token": token, "expires_on": str(expires_on), "resource": resource, "token_type": "Bearer"}
        )

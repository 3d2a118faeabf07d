"""The data-plane REST API (api-version 2024-12-01) over aiohttp: dispatch and auth.

:mod:`emulator.routing` matches the path, :mod:`emulator.handlers` does the work, and
:mod:`emulator.errors` writes every error; an authentication failure is an empty 401. A
successful answer carries ``api-supported-versions``, as the service's do.
"""

from __future__ import annotations

import jwt
from aiohttp import web

from emulator.auth import TokenRejected, bearer_token, verify_rest_token
from emulator.errors import RestError, bad_request, error_response, invalid
from emulator.handlers import router
from emulator.model import Service, TooManyGroups
from emulator.routing import Call
from emulator.validation import API_VERSIONS, valid_hub

ENTRA_AUDIENCE = "https://webpubsub.azure.com"
# The service's ASP.NET API versioning reports the versions it serves, e.g. "2021-10-01, 2022-11-01,
# 2023-07-01" in Microsoft's JS SDK test recordings of 2023.
SUPPORTED_VERSIONS = ", ".join(API_VERSIONS)


class RestApi:
    def __init__(self, service: Service, access_key: str, *, allow_unvalidated_entra_tokens: bool = False) -> None:
        self.service = service
        self.access_key = access_key
        self.allow_unvalidated_entra_tokens = allow_unvalidated_entra_tokens

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._handle(request)
        except RestError as error:
            return error_response(error)
        except TooManyGroups as error:
            return error_response(bad_request(str(error)))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        handler, values = router.match(request.raw_path, request.method)
        version = request.query.get("api-version")
        if version is not None and version not in API_VERSIONS:
            raise bad_request(f"api-version must be one of {', '.join(API_VERSIONS)}.")  # versioning, not validation
        if not self._authenticated(request):
            return web.Response(status=401)
        hub = values.pop("hub")
        if not valid_hub(hub):
            raise invalid("hub", "Invalid hub name.")
        response = await handler(Call(request, self.service.hub(hub), values, self.access_key))
        if 200 <= response.status < 300:  # as the service: on success only (not on errors, nor a 404 "no")
            response.headers["api-supported-versions"] = SUPPORTED_VERSIONS
        return response

    def _authenticated(self, request: web.Request) -> bool:
        authorization = request.headers.get("Authorization")
        url = f"{request.scheme}://{request.host}{request.raw_path}"
        try:
            verify_rest_token(authorization, self.access_key, url)
            return True
        except TokenRejected:
            return self.allow_unvalidated_entra_tokens and _unvalidated_entra_token(authorization)


def _unvalidated_entra_token(authorization: str | None) -> bool:
    """Development only: accept any unexpired Entra token for Web PubSub, unverified."""
    token = bearer_token(authorization)
    if token is None:
        return False
    try:
        claims = jwt.decode(token, options={"verify_signature": False, "verify_exp": True, "require": ["exp"]})
    except jwt.PyJWTError:
        return False
    return str(claims.get("aud", "")).rstrip("/").lower() == ENTRA_AUDIENCE

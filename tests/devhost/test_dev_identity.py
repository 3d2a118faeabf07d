"""The development identity provider (``--dev-identity``): discovery, keys and tokens over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import jwt
import pytest

from devhost import DevHost, LocalSettings
from devhost.identity import AUDIENCE, GROUPS, PATH
from tests.devhost.sample_app import write_sample_app


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def start_host(app_root: Path, dev_identity: bool) -> DevHost:
    write_sample_app(app_root)
    host = DevHost(app_root, LocalSettings(), port=0, serve_demo=False, dev_identity=dev_identity)
    await host.start()
    return host


async def test_tokens_verify_against_the_published_keys(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    host = await start_host(tmp_path, dev_identity=True)
    try:
        issuer = f"{host.base_url}{PATH}"
        async with http.get(f"{issuer}/.well-known/openid-configuration") as response:
            discovery = await response.json()
        assert discovery["issuer"] == issuer
        async with http.post(f"{issuer}/token", data={"username": "Zoë"}) as response:
            assert response.status == 200
            assert response.headers["Cache-Control"] == "no-store"
            token = (await response.json())["access_token"]
        # PyJWT's own client, in a thread: the host answers on this test's loop.
        keys = jwt.PyJWKClient(discovery["jwks_uri"], timeout=5)
        signing_key = await asyncio.to_thread(keys.get_signing_key_from_jwt, token)
        claims = jwt.decode(token, signing_key, algorithms=["RS256"], audience=AUDIENCE, issuer=issuer)
        assert (claims["sub"], claims["groups"]) == ("Zoë", list(GROUPS))
    finally:
        await host.stop()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"username=", "application/x-www-form-urlencoded"),
        (b"username=" + b"u" * 65, "application/x-www-form-urlencoded"),
        (b"username=a%00b", "application/x-www-form-urlencoded"),
        (b"nothing=here", "application/x-www-form-urlencoded"),
        (b'{"username": 5}', "application/json"),
        (b'["alice"]', "application/json"),
        (b"{not json", "application/json"),
    ],
)
async def test_bad_user_names_are_400(
    tmp_path: Path, http: aiohttp.ClientSession, body: bytes, content_type: str
) -> None:
    host = await start_host(tmp_path, dev_identity=True)
    try:
        url = f"{host.base_url}{PATH}/token"
        async with http.post(url, data=body, headers={"Content-Type": content_type}) as response:
            assert response.status == 400
            assert (await response.json())["error"] == "invalid_request"
    finally:
        await host.stop()


async def test_absent_without_the_flag(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    host = await start_host(tmp_path, dev_identity=False)
    try:
        async with http.get(f"{host.base_url}{PATH}/.well-known/openid-configuration") as response:
            assert response.status == 404
        async with http.post(f"{host.base_url}{PATH}/token", data={"username": "a"}) as response:
            assert response.status == 404
    finally:
        await host.stop()

"""A fake OIDC issuer: the app's identity provider (Entra ID, Auth0, ...), an edge we do not own.

It serves OIDC discovery and a JWKS over real HTTP on loopback, with RSA and EC keys made at
test time, and signs whatever tokens a test needs. It counts the requests it answers, so that
tests can tell a cached key from a fetched one.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from tests.fakes.loopback import serve_on_loopback

AUDIENCE = "api://webpubsub-tests"
DEFAULT_ALGORITHMS = {"RSA": "RS256", "EC": "ES256"}


class FakeIssuer:
    def __init__(self) -> None:
        self.private_keys: dict[str, Any] = {}
        self.published: list[str] = []  # kids in the JWKS, in order
        self.requests: list[str] = []  # paths asked for
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}/tenant"

    @property
    def jwks_fetches(self) -> int:
        return self.requests.count("/tenant/keys")

    async def start(self) -> FakeIssuer:
        app = web.Application()
        app.router.add_get("/tenant/.well-known/openid-configuration", self._discovery)
        app.router.add_get("/tenant/keys", self._jwks)
        self._runner, self.port = await serve_on_loopback(app)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def add_key(self, kind: str = "RSA", *, publish: bool = True, kid: str | None = None) -> str:
        """Make a key pair now; publish its public half in the JWKS unless told not to."""
        kid = kid or f"{kind.lower()}-{uuid.uuid4().hex[:8]}"
        private = rsa.generate_private_key(65537, 2048) if kind == "RSA" else ec.generate_private_key(ec.SECP256R1())
        self.private_keys[kid] = private
        if publish:
            self.published.append(kid)
        return kid

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": AUDIENCE, "sub": "alice", "iat": now, "nbf": now, "exp": now + 600}
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not None}

    def sign(self, kid: str, *, algorithm: str | None = None, signing_key: Any = None, **overrides: Any) -> str:
        key = signing_key if signing_key is not None else self.private_keys[kid]
        algorithm = algorithm or DEFAULT_ALGORITHMS["RSA" if isinstance(key, rsa.RSAPrivateKey) else "EC"]
        return jwt.encode(self.claims(**overrides), key, algorithm=algorithm, headers={"kid": kid})

    def public_jwk(self, kid: str) -> dict[str, Any]:
        public = self.private_keys[kid].public_key()
        codec = RSAAlgorithm if isinstance(public, rsa.RSAPublicKey) else ECAlgorithm
        return {**codec.to_jwk(public, as_dict=True), "kid": kid, "use": "sig"}

    async def _discovery(self, request: web.Request) -> web.Response:
        self.requests.append(request.path)
        return web.json_response({"issuer": self.issuer, "jwks_uri": f"{self.issuer}/keys"})

    async def _jwks(self, request: web.Request) -> web.Response:
        self.requests.append(request.path)
        return web.json_response({"keys": [self.public_jwk(kid) for kid in self.published]})

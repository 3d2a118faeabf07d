"""Token checks: REST bearer tokens and client access tokens, as the service checks them.

Both are HS256 JWTs signed with the access key's UTF-8 bytes and must carry ``exp``; ``nbf``
and ``exp`` are honoured with five minutes of clock skew. Audiences:

* REST: the request URL, with or without its query, compared case-insensitively (also after
  one URL-decode), because the SDKs sign the full URL while the docs say the path;
* clients: ``<endpoint>/client/hubs/<hub>``; the scheme is ignored and host, path and hub are
  compared case-insensitively, as the live service does.

Every failure is :class:`TokenRejected`; the caller answers 401 without saying why.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, unquote_plus, urlsplit

import jwt

CLOCK_SKEW_SECONDS = 300
MAX_TOKEN_LENGTH = 16 * 1024
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "[::1]", "::1"}


class TokenRejected(Exception):
    pass


def decode_token(token: str, access_key: str) -> dict[str, Any]:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise TokenRejected("missing or oversized token")
    try:
        return jwt.decode(
            token,
            access_key,
            algorithms=["HS256"],
            options={"require": ["exp"], "verify_aud": False},
            leeway=CLOCK_SKEW_SECONDS,
        )
    except jwt.PyJWTError as error:
        raise TokenRejected(type(error).__name__) from None


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (scheme in any case), else None."""
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def verify_rest_token(authorization: str | None, access_key: str, request_url: str) -> dict[str, Any]:
    token = bearer_token(authorization)
    if token is None:
        raise TokenRejected("no bearer token")
    claims = decode_token(token, access_key)
    audience = claims.get("aud")
    if not isinstance(audience, str) or not _audience_matches_url(audience, request_url):
        raise TokenRejected("audience does not match the request")
    return claims


def _audience_matches_url(audience: str, request_url: str) -> bool:
    accepted = {_canonical(request_url), _canonical(request_url.split("?", 1)[0])}
    accepted |= {_canonical(unquote(url)) for url in accepted} | {_canonical(unquote_plus(request_url))}
    return _canonical(audience) in accepted or _canonical(unquote(audience)) in accepted


def _canonical(url: str) -> str:
    parts = urlsplit(url.lower())
    query = f"?{parts.query}" if parts.query else ""
    return f"{parts.scheme}://{_loopback_alias(parts.netloc)}{parts.path.rstrip('/')}{query}"


def verify_client_token(token: str, access_key: str, host: str, hub: str, path_prefix: str) -> dict[str, Any]:
    """Check a client token for ``hub`` on this host; ``path_prefix`` is e.g. ``/client/hubs/``."""
    claims = decode_token(token, access_key)
    audience = claims.get("aud")
    if not isinstance(audience, str):
        raise TokenRejected("no audience")
    parts = urlsplit(audience)
    expected_path = (path_prefix + hub).lower()
    if _loopback_alias(parts.netloc.lower()) != _loopback_alias(host.lower()):
        raise TokenRejected("audience names another host")
    if unquote(parts.path).lower().rstrip("/") != expected_path:
        raise TokenRejected("audience names another hub")
    return claims


def _loopback_alias(netloc: str) -> str:
    """``localhost:8080`` and ``127.0.0.1:8080`` name the same local emulator."""
    if netloc.startswith("["):
        host, _, port = netloc[1:].partition("]")
        port = port.lstrip(":")
    else:
        host, _, port = netloc.partition(":")
    if host in LOOPBACK_NAMES:
        host = "loopback"
    return f"{host}:{port}" if port else host


def claim_list(claims: dict[str, Any], name: str) -> list[str]:
    """A claim that may be a single string or a list of strings."""
    value = claims.get(name)
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    raise TokenRejected(f"claim {name} is malformed")

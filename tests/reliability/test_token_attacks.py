"""Token attacks on the emulator's REST API: each one is an empty 401.

(The client-endpoint attacks, rejected at the WebSocket handshake, are in
tests/emulator/test_websocket.py; negotiate's privilege rules in tests/functions.)
"""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from emulator import DEFAULT_ACCESS_KEY, Emulator
from tests.reliability.rawhttp import raw_request


def rest_path(hub: str) -> str:
    return f"/api/hubs/{hub}/:send?api-version=2024-12-01"


def url_of(emulator: Emulator, path: str) -> str:
    return f"http://127.0.0.1:{emulator.port}{path}"


def token(audience: str, key: str = DEFAULT_ACCESS_KEY, **claims: object) -> str:
    payload = {"aud": audience, "exp": int(time.time()) + 60, **claims}
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, key, algorithm="HS256")


def unsigned(audience: str) -> str:
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(json.dumps({"aud": audience, "exp": int(time.time()) + 60}).encode()).rstrip(b"=")
    return f"{header}.{body.decode()}."


def tampered(audience: str) -> str:
    header, _, signature = token(audience).split(".")
    body = base64.urlsafe_b64encode(json.dumps({"aud": audience, "exp": int(time.time()) + 3600}).encode()).rstrip(b"=")
    return f"{header}.{body.decode()}.{signature}"


ATTACKS = {
    "no header": lambda url: None,
    "not bearer": lambda url: "Basic " + base64.b64encode(b"a:b").decode(),
    "alg none": lambda url: "Bearer " + unsigned(url),
    "wrong key": lambda url: "Bearer " + token(url, key="K" * 44),
    "expired": lambda url: "Bearer " + token(url, exp=int(time.time()) - 600),
    "no exp": lambda url: "Bearer " + token(url, exp=None),
    "nbf in the future": lambda url: "Bearer " + token(url, nbf=int(time.time()) + 600),
    "other hub": lambda url: "Bearer " + token(url.replace("/hubs/attacked/", "/hubs/other/")),
    "other host": lambda url: "Bearer " + token(url.replace("127.0.0.1", "evil.example")),
    "other route": lambda url: "Bearer " + token(url.replace(":send", ":closeConnections")),
    "tampered payload": lambda url: "Bearer " + tampered(url),
    "64 KB token": lambda url: "Bearer " + token(url, padding="p" * 64 * 1024),
    "garbage": lambda url: "Bearer not.a.jwt",
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_rest_token_attacks_get_an_empty_401(shared_emulator: Emulator, attack: str) -> None:
    path = rest_path("attacked")
    authorization = ATTACKS[attack](url_of(shared_emulator, path))
    headers = {"Content-Type": "text/plain"}
    if authorization:
        headers["Authorization"] = authorization
    response = raw_request(shared_emulator.port, "POST", path, headers, b"x")
    assert (response.status, response.body) == (401, b"")


def test_the_genuine_token_is_accepted(shared_emulator: Emulator) -> None:
    path = rest_path("attacked")
    headers = {"Content-Type": "text/plain", "Authorization": "Bearer " + token(url_of(shared_emulator, path))}
    assert raw_request(shared_emulator.port, "POST", path, headers, b"x").status == 202


def test_unvalidated_entra_tokens_are_refused_unless_the_flag_is_on(shared_emulator: Emulator) -> None:
    path = rest_path("attacked")
    entra = jwt.encode(
        {"aud": "https://webpubsub.azure.com", "exp": int(time.time()) + 60},
        "some-other-issuer-key-of-sufficient-length!",
    )
    headers = {"Content-Type": "text/plain", "Authorization": f"Bearer {entra}"}
    assert raw_request(shared_emulator.port, "POST", path, headers, b"x").status == 401

"""Hostile bearer tokens for negotiate's sign-in: each builder takes the fake issuer and the kid of
one of its published keys; ``BAD_TOKENS`` pairs it with the reason the refusal must give."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.fakes.oidc_issuer import AUDIENCE, FakeIssuer


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(issuer: FakeIssuer, kid: str) -> str:
    header = b64(json.dumps({"alg": "none", "kid": kid, "typ": "JWT"}).encode())
    return f"{header}.{b64(json.dumps(issuer.claims()).encode())}."


def hs256_with_the_public_key(issuer: FakeIssuer, kid: str) -> str:
    """The classic confusion attack: HMAC keyed with the PEM text of the issuer's public key."""
    pem = (
        issuer.private_keys[kid]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    signing_input = (
        f"{b64(json.dumps({'alg': 'HS256', 'kid': kid}).encode())}.{b64(json.dumps(issuer.claims()).encode())}"
    )
    return f"{signing_input}.{b64(hmac.new(pem, signing_input.encode(), hashlib.sha256).digest())}"


def tampered(issuer: FakeIssuer, kid: str) -> str:
    header, _, signature = issuer.sign(kid, sub="alice").split(".")
    return f"{header}.{b64(json.dumps(issuer.claims(sub='admin')).encode())}.{signature}"


def another_key_same_kid(issuer: FakeIssuer, kid: str) -> str:
    return issuer.sign(kid, signing_key=rsa.generate_private_key(65537, 2048))


def attackers_key_in_the_header(issuer: FakeIssuer, kid: str) -> str:
    """Signed by the attacker, who names the real kid and offers their own key by value and by URL."""
    attacker = rsa.generate_private_key(65537, 2048)
    offered = {**RSAAlgorithm.to_jwk(attacker.public_key(), as_dict=True), "kid": kid}
    headers = {"kid": kid, "jwk": offered, "jku": f"{issuer.issuer}/attacker", "x5u": "https://evil.example/x5"}
    return jwt.encode(issuer.claims(), attacker, algorithm="RS256", headers=headers)


def kid_with_path_characters(issuer: FakeIssuer, kid: str) -> str:
    attacker = rsa.generate_private_key(65537, 2048)
    return jwt.encode(issuer.claims(), attacker, algorithm="RS256", headers={"kid": f"../../{kid}/../keys?*"})


BAD_TOKENS = {
    "alg none": (unsigned, "algorithm is not accepted"),
    "HS256 signed with the public key": (hs256_with_the_public_key, "algorithm is not accepted"),
    "another key under the same kid": (another_key_same_kid, "signature does not verify"),
    "expired": (lambda i, k: i.sign(k, exp=int(time.time()) - 120), "expired"),
    "expired within the leeway": (lambda i, k: i.sign(k, exp=int(time.time()) - 5), "expired"),
    "nbf ahead": (lambda i, k: i.sign(k, nbf=int(time.time()) + 600), "not valid yet"),
    "nbf 90 s ahead, beyond the 60 s leeway": (lambda i, k: i.sign(k, nbf=int(time.time()) + 90), "not valid yet"),
    "iat 90 s ahead, beyond the 60 s leeway": (lambda i, k: i.sign(k, iat=int(time.time()) + 90), "not valid yet"),
    "no exp": (lambda i, k: i.sign(k, exp=None), "'exp' claim"),
    "wrong issuer": (lambda i, k: i.sign(k, iss="https://evil.example/"), "another issuer"),
    "wrong audience": (lambda i, k: i.sign(k, aud="api://someone-else"), "another audience"),
    "tampered payload": (tampered, "signature does not verify"),
    "the attacker's key in jwk/jku/x5u": (attackers_key_in_the_header, "signature does not verify"),
    "kid with path characters": (kid_with_path_characters, "key id"),
    "iss only a prefix of the issuer": (lambda i, k: i.sign(k, iss=i.issuer[:-1]), "another issuer"),
    "aud only a prefix of ours": (lambda i, k: i.sign(k, aud=AUDIENCE[:-1]), "another audience"),
    "unknown kid": (lambda i, k: i.sign(i.add_key(publish=False)), "key id"),
    "not a JWT": (lambda i, k: "not-a-jwt", "well-formed"),
    "user id with a control character": (lambda i, k: i.sign(k, sub="ali\x1bce"), "'sub' claim"),
    "user id with a lone surrogate": (lambda i, k: i.sign(k, sub="ali\ud800ce"), "'sub' claim"),
    "user id not a string": (lambda i, k: i.sign(k, sub=42), "'sub' claim"),
}

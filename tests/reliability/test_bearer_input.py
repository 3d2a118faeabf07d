"""Hostile bearer tokens and identity headers against negotiate, over raw HTTP to the dev host.

The stack's negotiate trusts a fake OIDC issuer (discovery + JWKS on loopback) and App Service
headers for the length of each test. Every answer must be below 500, in the JSON error shape,
and no token text may appear in any error body or log line. `make test` tries the hand-written
cases and a derandomized fuzz; `make soak` adds fresh fuzz examples.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jwt import api_jws as jws

from tests.conftest import Stack
from tests.fakes.oidc_issuer import AUDIENCE, FakeIssuer
from tests.functions.bad_tokens import BAD_TOKENS
from tests.reliability.conftest import Sizes
from tests.reliability.rawhttp import RawResponse, raw_request
from tests.reliability.support import fuzz_settings, is_error_shape
from tests.support import BackgroundLoop


@pytest.fixture
def trusting_stack(stack: Stack, background: BackgroundLoop, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeIssuer]:
    issuer = background.run(FakeIssuer().start())
    issuer.add_key("RSA")
    issuer.add_key("EC")
    for name, value in {
        "NegotiateJwtIssuer": issuer.issuer,
        "NegotiateJwtAudience": AUDIENCE,
        "NegotiateGroupsClaim": "groups",
        "NegotiateTrustAppServiceAuth": "true",
        "NegotiateAllowedGroups": "lobby*,user-{userId}",
    }.items():
        monkeypatch.setenv(name, value)
    yield issuer
    background.run(issuer.stop())


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged(header: dict[str, Any], payload: Any, signature: bytes = b"sig") -> str:
    return ".".join([b64(json.dumps(header).encode()), b64(json.dumps(payload).encode()), b64(signature)])


def hand_written(issuer: FakeIssuer) -> dict[str, dict[str, str]]:
    """Header sets, by name; tokens are signed by the issuer's real keys unless the case is a forgery."""
    rsa_kid, ec_kid = issuer.published
    valid = issuer.sign(rsa_kid)
    claims = issuer.claims()
    cases: dict[str, str] = {name: make(issuer, rsa_kid) for name, (make, _) in BAD_TOKENS.items()}
    cases.update(
        {
            "ES256 header on the RSA key": forged({"alg": "ES256", "kid": rsa_kid}, claims),
            "RS256 header on the EC key": forged({"alg": "RS256", "kid": ec_kid}, claims),
            "EdDSA not allowed": forged({"alg": "EdDSA", "kid": ec_kid}, claims),
            "kid is a number": forged({"alg": "RS256", "kid": 7}, claims),
            "kid is 10 KB": forged({"alg": "RS256", "kid": "k" * 10_000}, claims),
            "no kid": forged({"alg": "RS256"}, claims),
            "jku and x5u in a forged header": forged(
                {"alg": "RS256", "kid": "other", "jku": "http://127.0.0.1:9/keys", "x5u": "file:///etc/passwd"}, claims
            ),
            "payload is a list": forged({"alg": "RS256", "kid": rsa_kid}, [1, 2]),
            "payload not JSON": ".".join([b64(b'{"alg":"RS256","kid":"x"}'), b64(b"\xff\xfe"), b64(b"s")]),
            "header not JSON": ".".join([b64(b"\x00\x01"), b64(b"{}"), b64(b"s")]),
            "header nested 5,000 deep": ".".join([b64(b"[" * 5_000), b64(b"{}"), b64(b"s")]),
            "two segments": valid.rsplit(".", 1)[0],
            "four segments": valid + ".extra",
            "signature stripped": valid.rsplit(".", 1)[0] + ".",
            "padding in base64": valid.replace(".", "==.", 1),
            "20 KB token": issuer.sign(rsa_kid, padding="p" * 20_000),
            "groups claim a dict": issuer.sign(rsa_kid, groups={"a": 1}),
            "groups claim with a surrogate": issuer.sign(rsa_kid, groups=["ok", "bad\udfff"]),
            "groups claim with a newline": issuer.sign(rsa_kid, groups=["a\nb"]),
            "user id 2000 chars": issuer.sign(rsa_kid, sub="u" * 2000),
            "user id blank": issuer.sign(rsa_kid, sub="   "),
            "exp a string": issuer.sign(rsa_kid, exp="tomorrow"),
            "exp far future": issuer.sign(rsa_kid, exp=2**62),
            "exp infinity": issuer.sign(rsa_kid, exp=float("inf")),
            "exp a numeric string": issuer.sign(rsa_kid, exp=str(int(time.time()) + 60)),
            "aud a list without ours": issuer.sign(rsa_kid, aud=["a", "b"]),
            "iss with a trailing slash": issuer.sign(rsa_kid, iss=issuer.issuer + "/"),
        }
    )
    headers = {name: {"Authorization": f"Bearer {token}"} for name, token in cases.items()}
    headers.update(
        {
            "scheme only": {"Authorization": "Bearer"},
            "lower-case scheme, garbage": {"Authorization": "bearer a.b.c"},
            "two tokens": {"Authorization": f"Bearer {valid} {valid}"},
            "control bytes": {"Authorization": "Bearer a\x01b.c\x7fd.e"},
            "odd bytes": {"Authorization": "Bearer \udcff\udcfe.x.y"},
            "token over 16 KB": {"Authorization": "Bearer " + "a" * 17_000},
            "valid token, other userId": {"Authorization": f"Bearer {valid}", "_query": "userId=mallory"},
            "valid token, group not granted": {"Authorization": f"Bearer {valid}", "_query": "group=admins"},
            "principal id with a surrogate": {"x-ms-client-principal-id": "a\udcffb"},
            "principal id with a control char": {"x-ms-client-principal-id": "a\x1bb"},
            "principal blob not base64": {"x-ms-client-principal-id": "a", "x-ms-client-principal": "%%%"},
            "principal blob a list": {"x-ms-client-principal-id": "a", "x-ms-client-principal": "W10="},
            "principal blob nested 5,000 deep": {
                "x-ms-client-principal-id": "a",
                "x-ms-client-principal": base64.b64encode(b'{"claims":' + b"[" * 5_000).decode(),
            },
            "principal groups with odd values": {
                "x-ms-client-principal-id": "a",
                "x-ms-client-principal": base64.b64encode(
                    json.dumps({"claims": [{"typ": "groups", "val": 5}, {"typ": "groups"}]}).encode()
                ).decode(),
            },
            "no principal, posing userId": {"_query": "userId=alice"},
        }
    )
    return headers


def send(stack: Stack, headers: dict[str, str]) -> RawResponse:
    fields = dict(headers)
    query = fields.pop("_query", "")
    return raw_request(stack.host.port, "GET", "/api/negotiate" + (f"?{query}" if query else ""), fields)


def token_fragments(headers: dict[str, str]) -> list[str]:
    """Pieces of the presented token long enough to be recognised if they leaked."""
    value = headers.get("Authorization", "").partition(" ")[2]
    return [part for part in value.replace(" ", ".").split(".") if len(part) >= 12]


HOST_LEVEL = ("control bytes", "principal id with a control char")  # aiohttp's parser refuses them (empty 400)


def judge(response: RawResponse, headers: dict[str, str], logged: list[str], host_level: bool = False) -> str | None:
    if response.status >= 500:
        return f"{response.status} {response.body[:200]!r}"
    if response.status != 200 and not host_level and not is_error_shape(response):
        return f"{response.status} without the error shape: {response.body[:200]!r}"
    text = response.body.decode("utf-8", "replace") if response.status != 200 else ""
    for fragment in token_fragments(headers):
        if fragment in text:
            return "token text in the error body"
        if any(fragment in line for line in logged):
            return "token text in a log line"
    return None


def test_hand_written_bearer_cases(
    stack: Stack, trusting_stack: FakeIssuer, log_lines: list[str], figures: dict[str, Any]
) -> None:
    cases = hand_written(trusting_stack)
    problems, statuses = [], {}
    for name, headers in cases.items():
        response = send(stack, headers)
        statuses[response.status] = statuses.get(response.status, 0) + 1
        problem = judge(response, headers, log_lines, host_level=name in HOST_LEVEL)
        if problem:
            problems.append(f"{name}: {problem}")
        challenge = response.headers.get("www-authenticate")
        if "Authorization" in headers and response.status == 401 and challenge != 'Bearer error="invalid_token"':
            problems.append(f"{name}: 401 without the invalid_token challenge")
    figures["bad input: bearer cases tried"] = len(cases)
    figures["bad input: bearer 5xx"] = sum(n for status, n in statuses.items() if status >= 500)
    assert not problems, "\n".join(problems)
    assert statuses.get(200, 0) <= 2  # only the far-future and numeric-string exp pass (validly signed tokens)
    valid = {"Authorization": f"Bearer {trusting_stack.sign(trusting_stack.published[0], sub='still-up')}"}
    assert send(stack, valid).status == 200


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
CLAIMS = st.fixed_dictionaries(
    {},
    optional={
        name: JSON_VALUES | st.just(value)
        for name, value in {
            "iss": "ISSUER",
            "aud": AUDIENCE,
            "sub": "alice",
            "exp": int(time.time()) + 600,
            "nbf": 0,
            "groups": ["lobby"],
        }.items()
    },
)
# Header values as HTTP carries them: no control characters (the host refuses those itself).
RAW_TOKEN = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=60)
HEADERS = st.fixed_dictionaries(
    {"alg": st.sampled_from(["RS256", "ES256", "HS256", "none", "PS256", "EdDSA", "RS512", ""]) | JSON_VALUES},
    optional={"kid": JSON_VALUES | st.sampled_from(["KID0", "KID1"]), "typ": JSON_VALUES},
)


def test_property_based_fuzzing_of_bearer_tokens(
    stack: Stack, trusting_stack: FakeIssuer, sizes: Sizes, log_lines: list[str], figures: dict[str, Any]
) -> None:
    issuer = trusting_stack
    kids = issuer.published
    tried = 0

    @fuzz_settings(sizes, sizes.fuzz_examples)
    @given(header=HEADERS, claims=CLAIMS, sign_with=st.sampled_from([None, 0, 1]), raw=RAW_TOKEN)
    def check(header: dict[str, Any], claims: dict[str, Any], sign_with: int | None, raw: str) -> None:
        nonlocal tried
        tried += 1
        claims = {k: issuer.issuer if v == "ISSUER" else v for k, v in claims.items()}
        if isinstance(header.get("kid"), str) and header["kid"].startswith("KID"):
            header["kid"] = kids[int(header["kid"][3])]
        if sign_with is not None:
            kid = kids[sign_with]
            algorithm = "RS256" if sign_with == 0 else "ES256"
            payload = json.dumps(claims).encode()  # PyJWS signs any payload, even claims jwt.encode refuses
            token = jws.encode(payload, issuer.private_keys[kid], algorithm=algorithm, headers={"kid": kid})
        else:
            token = forged(header, claims) if raw == "" else raw
        headers = {"Authorization": f"Bearer {token}"}
        response = send(stack, headers)
        problem = judge(response, headers, log_lines)
        assert problem is None, problem

    check()
    figures["bad input: fuzzed bearer tokens"] = tried

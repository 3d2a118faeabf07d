"""negotiate with bearer tokens from the app's identity provider: a fake OIDC issuer on loopback
(discovery + JWKS over real HTTP, RSA and EC keys made now) and the real emulator."""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import socket
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import websockets

from tests.conftest import Stack
from tests.fakes.oidc_issuer import AUDIENCE, FakeIssuer
from tests.functions.bad_tokens import BAD_TOKENS, b64
from tests.functions.support import claims_of
from tests.reliability.rawhttp import raw_request
from tests.support import Call

SUBPROTOCOL = ["json.webpubsub.azure.v1"]


@pytest.fixture
async def issuer() -> AsyncIterator[FakeIssuer]:
    fake = await FakeIssuer().start()
    yield fake
    await fake.stop()


@pytest.fixture
def signin(app_settings: dict, issuer: FakeIssuer, monkeypatch: pytest.MonkeyPatch) -> FakeIssuer:
    monkeypatch.setenv("NegotiateJwtIssuer", issuer.issuer)
    monkeypatch.setenv("NegotiateJwtAudience", f"other-app, {AUDIENCE}")
    return issuer


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_invalid_token(status: int, body: dict, headers: dict, reason: str) -> None:
    assert status == 401, body
    assert headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert body["error"]["code"] == "Unauthorized"
    assert reason in body["error"]["message"]


# -- valid tokens ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["RSA", "EC"])
async def test_a_valid_token_names_the_user(call: Call, signin: FakeIssuer, kind: str) -> None:
    kid = signin.add_key(kind)
    status, body, _ = await call("/api/negotiate", headers=bearer(signin.sign(kid, sub="alice")))
    assert status == 200, body
    assert claims_of(body)["sub"] == "alice"
    async with websockets.connect(body["url"], subprotocols=SUBPROTOCOL) as ws:
        assert json.loads(await ws.recv())["userId"] == "alice"


async def test_keys_come_from_the_cache_after_the_first_fetch(call: Call, signin: FakeIssuer) -> None:
    kid = signin.add_key()
    for user in ("alice", "bob", "carol"):
        status, body, _ = await call("/api/negotiate", headers=bearer(signin.sign(kid, sub=user)))
        assert (status, claims_of(body)["sub"]) == (200, user)
    assert signin.requests == ["/tenant/.well-known/openid-configuration", "/tenant/keys"]


async def test_jwks_url_setting_skips_discovery(
    call: Call, signin: FakeIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NegotiateJwksUrl", f"{signin.issuer}/keys")
    kid = signin.add_key("EC")
    status, _, _ = await call("/api/negotiate", headers=bearer(signin.sign(kid)))
    assert status == 200
    assert signin.requests == ["/tenant/keys"]


async def test_the_user_id_claim_setting(call: Call, signin: FakeIssuer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NegotiateUserIdClaim", "oid")
    kid = signin.add_key()
    status, body, _ = await call("/api/negotiate", headers=bearer(signin.sign(kid, sub="s-1", oid="object-7")))
    assert (status, claims_of(body)["sub"]) == (200, "object-7")
    status, body, headers = await call("/api/negotiate", headers=bearer(signin.sign(kid, sub="s-1")))
    assert_invalid_token(status, body, headers, "'oid' claim")


async def test_user_groups_from_the_placeholder(
    call: Call, signin: FakeIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NegotiateAllowedGroups", "lobby,user-{userId}")
    kid = signin.add_key()
    alice = bearer(signin.sign(kid, sub="alice"))
    status, body, _ = await call("/api/negotiate?group=user-alice&group=lobby", headers=alice)
    assert (status, claims_of(body)["webpubsub.group"]) == (200, ["user-alice", "lobby"])
    status, body, _ = await call("/api/negotiate?group=user-bob", headers=alice)
    assert status == 403
    assert "NegotiateAllowedGroups" in body["error"]["message"]
    status, _, _ = await call("/api/negotiate?group=user-")  # anonymous: the placeholder matches nothing
    assert status == 403


async def test_groups_from_the_groups_claim(call: Call, signin: FakeIssuer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NegotiateGroupsClaim", "groups")
    kid = signin.add_key()
    token = bearer(signin.sign(kid, groups=["team-red", "ops"]))
    status, body, _ = await call("/api/negotiate?group=team-red&group=ops", headers=token)
    assert (status, claims_of(body)["webpubsub.group"]) == (200, ["team-red", "ops"])
    status, _, _ = await call("/api/negotiate?group=team-blue", headers=token)
    assert status == 403
    status, _, _ = await call("/api/negotiate?group=solo", headers=bearer(signin.sign(kid, groups="solo")))
    assert status == 200
    status, body, headers = await call("/api/negotiate", headers=bearer(signin.sign(kid, groups=[1, 2])))
    assert_invalid_token(status, body, headers, "'groups' claim")


async def test_roles_with_the_placeholder_and_wildcards(
    call: Call, signin: FakeIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    roles = "webpubsub.sendToGroup.user-{userId},webpubsub.joinLeaveGroups.demo-*,webpubsub.sendToGroups.demo-**"
    monkeypatch.setenv("NegotiateRoles", roles)
    kid = signin.add_key()
    _, body, _ = await call("/api/negotiate", headers=bearer(signin.sign(kid, sub="alice")))
    assert claims_of(body)["role"] == [
        "webpubsub.sendToGroup.user-alice",
        "webpubsub.joinLeaveGroups.demo-*",
        "webpubsub.sendToGroups.demo-**",
    ]
    _, body, _ = await call("/api/negotiate")
    assert claims_of(body)["role"] == ["webpubsub.joinLeaveGroups.demo-*", "webpubsub.sendToGroups.demo-**"]


async def test_a_user_named_star_gets_wildcard_roles_for_their_own_groups_only(
    call: Call, signin: FakeIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NegotiateRoles", "webpubsub.joinLeaveGroups.user-{userId}.*,webpubsub.sendToGroup.u-{userId}")
    kid = signin.add_key()
    _, body, _ = await call("/api/negotiate", headers=bearer(signin.sign(kid, sub="**")))
    assert claims_of(body)["role"] == [r"webpubsub.joinLeaveGroups.user-\*\*.*", "webpubsub.sendToGroup.u-**"]


async def test_the_client_token_never_outlives_the_sign_in(call: Call, signin: FakeIssuer) -> None:
    kid = signin.add_key()
    bearer_exp = int(time.time()) + 300  # NegotiateTokenMinutes is 60
    status, body, _ = await call("/api/negotiate", headers=bearer(signin.sign(kid, exp=bearer_exp)))
    assert status == 200
    assert claims_of(body)["exp"] <= bearer_exp
    expires_on = datetime.strptime(body["expiresOn"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert expires_on.timestamp() <= bearer_exp


async def test_a_remembered_token_still_expires(call: Call, signin: FakeIssuer) -> None:
    expires = int(time.time()) + 10  # room for the first call's discovery and key fetch on a slow machine
    token = bearer(signin.sign(signin.add_key(), exp=expires))
    assert (await call("/api/negotiate", headers=token))[0] == 200  # verified, then remembered
    while time.time() <= expires:  # waiting for the token's expiry, a time condition, not for the app
        await asyncio.sleep(max(0.05, expires - time.time() + 0.1))
    status, body, headers = await call("/api/negotiate", headers=token)
    assert_invalid_token(status, body, headers, "expired")


async def test_a_remembered_token_is_checked_again_under_new_settings(
    call: Call, signin: FakeIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = bearer(signin.sign(signin.add_key()))
    assert (await call("/api/negotiate", headers=token))[0] == 200
    monkeypatch.setenv("NegotiateJwtAudience", "another-app")
    status, body, headers = await call("/api/negotiate", headers=token)
    assert_invalid_token(status, body, headers, "another audience")


# -- tokens that must fail ----------------------------------------------------------------------------


@pytest.mark.parametrize("case", list(BAD_TOKENS))
async def test_bad_tokens_are_401_invalid_token(
    call: Call, signin: FakeIssuer, case: str, log_lines: list[str]
) -> None:
    kid = signin.add_key()
    make, reason = BAD_TOKENS[case]
    token = make(signin, kid)
    status, body, headers = await call("/api/negotiate", headers=bearer(token))
    assert_invalid_token(status, body, headers, reason)
    secret = token.split(".")[1] if "." in token else token
    assert secret not in json.dumps(body)
    assert all(secret not in line for line in log_lines)


async def test_a_token_only_in_the_query_string_is_not_a_sign_in(
    call: Call, signin: FakeIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = signin.sign(signin.add_key())
    status, body, _ = await call(f"/api/negotiate?access_token={token}&token={token}")
    assert status == 200
    assert "sub" not in claims_of(body)
    monkeypatch.setenv("NegotiateRequireUser", "true")
    status, body, headers = await call(f"/api/negotiate?access_token={token}")
    assert status == 401
    assert headers["WWW-Authenticate"] == "Bearer"


async def test_an_empty_bearer_is_refused_not_ignored(call: Call, signin: FakeIssuer) -> None:
    status, body, headers = await call("/api/negotiate", headers={"Authorization": "Bearer   "})
    assert_invalid_token(status, body, headers, "empty")


# -- key rotation and an unreachable issuer -------------------------------------------------------------


async def test_key_rotation_refetches_once(call: Call, signin: FakeIssuer) -> None:
    first = signin.add_key()
    assert (await call("/api/negotiate", headers=bearer(signin.sign(first))))[0] == 200
    assert signin.jwks_fetches == 1
    rotated = signin.add_key("EC")  # the issuer publishes a new key
    status, body, _ = await call("/api/negotiate", headers=bearer(signin.sign(rotated, sub="bob")))
    assert (status, claims_of(body)["sub"]) == (200, "bob")
    assert signin.jwks_fetches == 2
    later = signin.add_key()  # a second rotation within 30 s waits for the next refetch window
    status, body, headers = await call("/api/negotiate", headers=bearer(signin.sign(later)))
    assert_invalid_token(status, body, headers, "key id")
    assert signin.jwks_fetches == 2
    assert (await call("/api/negotiate", headers=bearer(signin.sign(first, sub="again"))))[0] == 200  # still cached


@pytest.mark.parametrize(
    "overrides",
    [
        {"issuer": "https://evil.example/tenant"},
        {"issuer": None},
        {"jwks_uri": "http://evil.example/keys"},
        {"jwks_uri": "http://localhost.evil.example/keys"},
        {"jwks_uri": "http://127.0.0.1@evil.example/keys"},
    ],
)
async def test_a_discovery_document_for_another_issuer_or_with_an_insecure_jwks_uri_gives_no_keys(
    call: Call, signin: FakeIssuer, overrides: dict
) -> None:
    """OpenID Connect Discovery 1.0, section 4.3: the document's issuer must be the configured one."""
    signin.discovery_overrides = overrides
    status, body, headers = await call("/api/negotiate", headers=bearer(signin.sign(signin.add_key())))
    assert (status, body["error"]["code"]) == (503, "IdentityProviderUnavailable")
    assert "Retry-After" in headers
    assert signin.jwks_fetches == 0


async def test_discovery_follows_no_redirect_to_plain_http_elsewhere(call: Call, signin: FakeIssuer) -> None:
    """A 302 from the issuer to plain http on another host (127.0.0.2: reachable here, yet not
    this machine's name for itself) would hand the keys to whoever sits on that path."""
    document = json.dumps({"issuer": signin.issuer, "jwks_uri": f"{signin.issuer}/keys"}).encode()
    served: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served.append(await reader.readuntil(b"\r\n\r\n"))
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(document)}\r\n"
        writer.write(head.encode() + b"Connection: close\r\n\r\n" + document)
        await writer.drain()
        writer.close()

    elsewhere = await asyncio.start_server(answer, "127.0.0.2", 0)
    kid = signin.add_key()
    try:
        signin.discovery_redirect = f"http://127.0.0.2:{elsewhere.sockets[0].getsockname()[1]}/openid-configuration"
        status, body, _ = await call("/api/negotiate", headers=bearer(signin.sign(kid)))
    finally:
        elsewhere.close()
    assert (status, body["error"]["code"]) == (503, "IdentityProviderUnavailable")
    assert served == []
    assert signin.jwks_fetches == 0


async def test_a_failing_issuer_is_not_asked_again_on_every_request(call: Call, signin: FakeIssuer) -> None:
    """Twenty sign-ins while the issuer answers 500: a pause after a failed fetch, not twenty fetches."""
    signin.failing = True
    token = bearer(signin.sign(signin.add_key()))
    for _ in range(20):
        status, body, headers = await call("/api/negotiate", headers=token)
        assert (status, body["error"]["code"]) == (503, "IdentityProviderUnavailable")
        assert int(headers["Retry-After"]) > 0
    assert 1 <= len(signin.requests) <= 2  # one fetch, two if the pause ran out mid-loop


async def test_a_flood_of_made_up_kids_fetches_the_keys_once(call: Call, signin: FakeIssuer) -> None:
    """Sixty concurrent tokens, each naming a key id of its own: one refetch, not sixty."""
    kid = signin.add_key()
    assert (await call("/api/negotiate", headers=bearer(signin.sign(kid))))[0] == 200
    made_up = [signin.sign(signin.add_key(publish=False)) for _ in range(60)]
    answers = await asyncio.gather(*(call("/api/negotiate", headers=bearer(token)) for token in made_up))
    assert {status for status, _, _ in answers} == {401}
    assert signin.jwks_fetches == 2  # the first sign-in's, and one for an unknown kid


UNVERIFIABLE = ".".join([b64(b'{"alg":"RS256","kid":"k1"}'), b64(b'{"sub":"x"}'), b64(b"signature")])


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_issuer_down_with_an_empty_cache_is_503(
    call: Call, app_settings: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NegotiateJwtIssuer", f"http://127.0.0.1:{closed_port()}/down")
    monkeypatch.setenv("NegotiateJwtAudience", AUDIENCE)
    status, body, headers = await call("/api/negotiate", headers=bearer(UNVERIFIABLE))
    assert status == 503
    assert body["error"]["code"] == "IdentityProviderUnavailable"
    assert int(headers["Retry-After"]) > 0
    status, _, _ = await call("/api/negotiate")  # anonymous callers are not held up
    assert status == 200


async def test_an_issuer_that_never_answers_is_503_not_a_hang(
    call: Call, app_settings: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # read nothing, answer nothing

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setenv("NegotiateJwtIssuer", f"http://127.0.0.1:{port}/silent")
    monkeypatch.setenv("NegotiateJwtAudience", AUDIENCE)
    try:
        status, body, headers = await asyncio.wait_for(call("/api/negotiate", headers=bearer(UNVERIFIABLE)), 10)
    finally:
        server.close()
        for writer in accepted:
            writer.close()
    assert (status, body["error"]["code"]) == (503, "IdentityProviderUnavailable")
    assert "Retry-After" in headers


async def test_many_sign_ins_against_a_dripping_issuer_share_one_fetch(
    call: Call, app_settings: dict, monkeypatch: pytest.MonkeyPatch, log_lines: list[str]
) -> None:
    """Forty concurrent sign-ins while the issuer drips its answer, a header line every half
    second for four seconds: each is a 503 after the 2 s bound, and the issuer sees one connection
    (one fetch on one thread), so no pool of threads fills up with waiting fetches. When that
    fetch fails at last, nobody waits for it any more: its failure must not be logged as an
    error with a stack trace ("Future exception was never retrieved")."""
    accepted: list[asyncio.StreamWriter] = []

    async def drip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)
        writer.write(b"HTTP/1.1 200 OK\r\n")
        for _ in range(8):
            await asyncio.sleep(0.5)
            writer.write(b"X-Slow: 1\r\n")
        writer.close()

    server = await asyncio.start_server(drip, "127.0.0.1", 0)
    monkeypatch.setenv("NegotiateJwtIssuer", f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/slow")
    monkeypatch.setenv("NegotiateJwtAudience", AUDIENCE)
    try:
        calls = [call("/api/negotiate", headers=bearer(UNVERIFIABLE)) for _ in range(40)]
        answers = await asyncio.wait_for(asyncio.gather(*calls), 30)
        await asyncio.sleep(3)  # the drip ends, and the fetch with it
        gc.collect()
        await asyncio.sleep(0)
    finally:
        server.close()
    assert {(status, body["error"]["code"]) for status, body, _ in answers} == {(503, "IdentityProviderUnavailable")}
    assert len(accepted) == 1
    assert not [line for line in log_lines if "never retrieved" in line or "Traceback" in line]


# -- precedence: no one poses as someone who signs in --------------------------------------------------


async def test_user_id_in_the_query_must_match_the_token(
    call: Call, signin: FakeIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NegotiateAllowClientUserId", "true")
    token = bearer(signin.sign(signin.add_key(), sub="alice"))
    status, body, _ = await call("/api/negotiate?userId=mallory", headers=token)
    assert (status, body["error"]["code"]) == (403, "Forbidden")
    status, body, _ = await call("/api/negotiate?userId=alice", headers=token)
    assert (status, claims_of(body)["sub"]) == (200, "alice")
    status, body, _ = await call("/api/negotiate?userId=alice")  # without the token: posing
    assert status == 403


async def test_the_token_wins_over_app_service_headers(
    call: Call, signin: FakeIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NegotiateTrustAppServiceAuth", "true")
    token = bearer(signin.sign(signin.add_key(), sub="alice"))
    status, body, _ = await call("/api/negotiate", headers={**token, "x-ms-client-principal-id": "bob"})
    assert (status, claims_of(body)["sub"]) == (200, "alice")


async def test_no_posing_as_an_app_service_user(
    call: Call, app_settings: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NegotiateTrustAppServiceAuth", "true")
    monkeypatch.setenv("NegotiateAllowClientUserId", "true")
    status, body, _ = await call("/api/negotiate?userId=alice")
    assert status == 403
    assert "signed-in user" in body["error"]["message"]
    status, body, _ = await call("/api/negotiate?userId=alice", headers={"x-ms-client-principal-id": "alice"})
    assert (status, claims_of(body)["sub"]) == (200, "alice")


def principal(*claims: tuple[str, str]) -> str:
    document = {"auth_typ": "aad", "claims": [{"typ": typ, "val": val} for typ, val in claims]}
    return base64.b64encode(json.dumps(document).encode()).decode()


async def test_app_service_principal_claims_give_groups(
    call: Call, app_settings: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NegotiateTrustAppServiceAuth", "true")
    monkeypatch.setenv("NegotiateGroupsClaim", "groups")
    headers = {
        "x-ms-client-principal-id": "alice",
        "x-ms-client-principal": principal(("groups", "team-red"), ("groups", "ops"), ("name", "Alice")),
    }
    status, body, _ = await call("/api/negotiate?group=team-red&group=ops", headers=headers)
    assert (status, claims_of(body)["webpubsub.group"]) == (200, ["team-red", "ops"])
    status, _, _ = await call("/api/negotiate?group=team-blue", headers=headers)
    assert status == 403
    status, body, _ = await call("/api/negotiate", headers={**headers, "x-ms-client-principal": "not base64 json!"})
    assert (status, body["error"]["code"]) == (400, "BadRequest")


@pytest.mark.parametrize(
    "raw",
    [b"ali\xed\xa0\x80ce", b"ali\xc2\x85ce", b"ali\x00ce"],
    ids=["lone surrogate (WTF-8)", "NEL", "NUL"],
)
async def test_odd_characters_in_ids_from_any_source_are_refused(
    call: Call, stack: Stack, app_settings: dict, monkeypatch: pytest.MonkeyPatch, raw: bytes
) -> None:
    """As bytes on the wire: a header cannot carry a str, and NUL never gets past the host."""
    monkeypatch.setenv("NegotiateTrustAppServiceAuth", "true")
    monkeypatch.setenv("NegotiateAllowedGroups", "*")
    header = {"x-ms-client-principal-id": raw.decode("utf-8", "surrogateescape")}  # rawhttp sends these bytes
    answer = await asyncio.to_thread(raw_request, stack.host.port, "GET", "/api/negotiate", header)
    assert answer.status == 400
    monkeypatch.setenv("NegotiateTrustAppServiceAuth", "false")
    monkeypatch.setenv("NegotiateAllowClientUserId", "true")
    from urllib.parse import quote

    encoded = quote(raw, safe="")
    for query in (f"userId={encoded}", f"group={encoded}"):
        status, _, _ = await call(f"/api/negotiate?{query}")
        assert status == 400, query


# -- settings ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"NegotiateJwtAudience": ""}, "NegotiateJwtAudience"),
        ({"NegotiateJwtAlgorithms": "RS256,HS256"}, "NegotiateJwtAlgorithms"),
        ({"NegotiateJwtAlgorithms": "none"}, "NegotiateJwtAlgorithms"),
        ({"NegotiateJwtIssuer": "http://login.example.com/tenant"}, "NegotiateJwtIssuer"),
        ({"NegotiateJwksUrl": "ftp://127.0.0.1/keys"}, "NegotiateJwksUrl"),
        ({"NegotiateAllowedGroups": "room-{userId}-*"}, "NegotiateAllowedGroups"),
    ],
)
async def test_bad_sign_in_settings_are_a_configuration_error(
    call: Call, signin: FakeIssuer, monkeypatch: pytest.MonkeyPatch, overrides: dict[str, str], named: str
) -> None:
    for name, value in overrides.items():
        monkeypatch.setenv(name, value)
    status, body, _ = await call("/api/negotiate")
    assert (status, body["error"]["code"]) == (500, "ConfigurationError")
    assert named in body["error"]["message"]


async def test_bearer_tokens_are_ignored_without_an_issuer(call: Call, app_settings: dict) -> None:
    status, body, _ = await call("/api/negotiate", headers={"Authorization": "Bearer whatever"})
    assert status == 200
    assert "sub" not in claims_of(body)


# -- names Web PubSub cannot address (issue 19) ------------------------------------------------------


def assert_unaddressable(status: int, body: dict, expected_status: int) -> None:
    assert status == expected_status, body
    assert "cannot contain '/'" in body["error"]["message"]


async def test_a_signed_in_user_id_or_group_with_a_slash_is_refused(
    call: Call, signin: FakeIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """x/y would be addressed as x%2Fy, someone else: a signed-in identity whose name holds a '/' is
    refused (403, the identity provider's name cannot be used here) and the answer says why."""
    monkeypatch.setenv("NegotiateGroupsClaim", "groups")
    kid = signin.add_key()
    status, body, _ = await call("/api/negotiate", headers=bearer(signin.sign(kid, sub="x/y")))
    assert_unaddressable(status, body, 403)
    status, body, _ = await call("/api/negotiate", headers=bearer(signin.sign(kid, sub="x", groups=["a", "t/b"])))
    assert_unaddressable(status, body, 403)
    status, body, _ = await call("/api/negotiate", headers=bearer(signin.sign(kid, sub="x%2Fy")))
    assert (status, claims_of(body)["sub"]) == (200, "x%2Fy")


async def test_an_app_service_user_id_or_group_with_a_slash_is_refused(
    call: Call, app_settings: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NegotiateTrustAppServiceAuth", "true")
    monkeypatch.setenv("NegotiateGroupsClaim", "groups")
    status, body, _ = await call("/api/negotiate", headers={"x-ms-client-principal-id": "x/y"})
    assert_unaddressable(status, body, 403)
    headers = {"x-ms-client-principal-id": "x", "x-ms-client-principal": principal(("groups", "t/b"))}
    status, body, _ = await call("/api/negotiate", headers=headers)
    assert_unaddressable(status, body, 403)

"""Rules the app and the emulator both hold, pinned by one corpus each side must agree on.

They never import each other (the app is deployed, the emulator never is), so each keeps its own
copy of a rule the service defines; these cases keep the copies from drifting apart.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from emulator import auth as emulator_auth
from emulator import tokens as emulator_tokens
from emulator import validation as emulator_rules
from shared import strict_json, tokens, validation
from shared.errors import BadRequest
from tests.rules_corpus import JSON_ACCEPTED, JSON_REFUSED

KEY = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH"

# -- strict JSON ---------------------------------------------------------------------------------


def accepts(parse: Callable[[str], Any], value: str) -> bool:
    try:
        parse(value)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("text", JSON_REFUSED + JSON_ACCEPTED, ids=lambda t: t[:24])
def test_strict_json(text: str) -> None:
    expected = text in JSON_ACCEPTED
    assert (accepts(strict_json.parse_json, text), accepts(emulator_rules.parse_json, text)) == (expected, expected)


# -- hub names -------------------------------------------------------------------------------------

HUBS_VALID = ["a", "Chat", "hub_1", "x" * 128, "a`,.[]", "A1"]
HUBS_INVALID = ["", "1hub", "_hub", "x" * 129, "a-b", "a/b", "a b", "ü", "a%2Fb", "hub\x00"]


def app_accepts_hub(hub: str) -> bool:
    try:
        validation.validate_hub(hub)
    except BadRequest:
        return False
    return True


@pytest.mark.parametrize("hub", HUBS_VALID + HUBS_INVALID)
def test_hub_names(hub: str) -> None:
    expected = hub in HUBS_VALID
    assert (app_accepts_hub(hub), emulator_rules.valid_hub(hub)) == (expected, expected)


# -- client paths and token claims -------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["default", "mqtt"])
def test_client_paths(protocol: str) -> None:
    assert tokens.CLIENT_PATHS[protocol] == emulator_tokens.CLIENT_PATHS[protocol]


@pytest.mark.parametrize("protocol", ["default", "mqtt"])
@pytest.mark.parametrize("hub", ["chat", "Chat_1"])
def test_a_token_the_app_mints_is_one_the_emulator_accepts_with_the_same_claims(protocol: str, hub: str) -> None:
    access = tokens.mint_client_access(
        "http://localhost:8080",
        hub,
        KEY,
        user_id="ann",
        roles=("webpubsub.joinLeaveGroup",),
        groups=("lobby",),
        protocol=protocol,
    )
    claims = emulator_auth.verify_client_token(
        access.token, KEY, "127.0.0.1:8080", hub, emulator_tokens.CLIENT_PATHS[protocol]
    )
    assert claims["sub"] == "ann"
    assert emulator_auth.claim_list(claims, "role") == ["webpubsub.joinLeaveGroup"]
    assert emulator_auth.claim_list(claims, "webpubsub.group") == ["lobby"]
    with pytest.raises(emulator_auth.TokenRejected):
        emulator_auth.verify_client_token(access.token, KEY, "127.0.0.1:8080", "other", "/client/hubs/")


def test_a_token_the_emulator_issues_reads_as_the_app_reads_a_service_token() -> None:
    token = emulator_tokens.issue_client_token(
        KEY, "http://localhost:8080", "chat", user_id="ann", roles=(), groups=(), minutes=5
    )
    access = tokens.access_from_service_token("http://localhost:8080", "chat", token, "default")
    assert access.base_url == "ws://localhost:8080/client/hubs/chat"

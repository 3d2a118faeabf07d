"""Wildcard group roles (``webpubsub.joinLeaveGroups.<pattern>``, ``webpubsub.sendToGroups.<pattern>``)
with the documented syntax, checked on the pattern rule and through the official clients."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from azure.messaging.webpubsubclient import WebPubSubClient
from azure.messaging.webpubsubclient.models import SendMessageError, WebPubSubDataType
from azure.messaging.webpubsubservice import WebPubSubServiceClient

from emulator.permissions import InvalidPattern, compile_pattern
from tests.emulator.official_clients import client_maker, service_client, wait_until  # noqa: F401  (fixtures)

# The examples of concept-wildcard-group-roles, plus the edges of the syntax.
EXAMPLES = [
    ("chat-*", ["chat-1", "chat-room", "chat-"], ["chat.1", "xchat-1"]),
    ("clientA.*", ["clientA.alpha", "clientA.1"], ["clientA.alpha.room1", "clientB.alpha"]),
    ("clientA.**", ["clientA.alpha", "clientA.alpha.room1"], ["clientB.anything"]),
    ("clientA.rooms.?1", ["clientA.rooms.a1", "clientA.rooms.11"], ["clientA.rooms.1", "clientA.rooms.a.1"]),
    ("literal\\*star", ["literal*star"], ["literalXstar"]),
    ("a\\?b\\\\c", ["a?b\\c"], ["axb\\c", "a?bc"]),
    ("a.b", ["a.b"], ["aXb"]),  # '.' is literal, not a regular-expression dot
    ("**", ["anything.at.all", ""], []),
]


@pytest.mark.parametrize(("pattern", "matches", "misses"), EXAMPLES)
def test_documented_pattern_syntax(pattern: str, matches: list[str], misses: list[str]) -> None:
    compiled = compile_pattern(pattern)
    assert [group for group in matches if compiled.fullmatch(group)] == matches
    assert [group for group in misses if compiled.fullmatch(group)] == []


@pytest.mark.parametrize("pattern", ["a*b*c*d*e*f*", "***.***", "dangling\\", "bad\\escape", ""])
def test_invalid_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(InvalidPattern):
        compile_pattern(pattern)


def test_wildcard_roles_through_the_official_client(
    make_client: Callable[..., WebPubSubClient],
    service: WebPubSubServiceClient,
) -> None:
    roles = [
        "webpubsub.joinLeaveGroups.team.*",
        "webpubsub.sendToGroups.team.**",
        "webpubsub.joinLeaveGroups.a*b*c*d*e*f*",
    ]
    client = make_client("wild", roles=roles, message_retry_total=0)
    client.open()
    client.join_group("team.red")
    client.send_to_group("team.red.sub", "deep send is allowed by **", WebPubSubDataType.TEXT)
    for refused in ("team.red.sub", "teams.red", "abcdef"):  # '*' stops at '.', and six '*' grant nothing
        with pytest.raises(SendMessageError) as raised:
            client.join_group(refused)
        assert raised.value.error_detail.name == "Forbidden"  # type: ignore[union-attr]
    assert wait_until(lambda: service.group_exists("team.red"))
    assert not service.group_exists("team.red.sub")

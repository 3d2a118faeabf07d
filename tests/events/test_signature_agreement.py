"""The emulator signs events and the app checks them: one corpus both must agree on, so that the
two copies of the ce-signature rule (they never import each other) cannot drift."""

from __future__ import annotations

import pytest

from emulator.upstream import sign
from shared.events.caller import signature_entries, signature_matches

KEYS = ["ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH", "k\u00e9y-with-non-ascii-\u2603-0123456789abcdef"]
CONNECTION_IDS = ["c1", "AbC-123_xyz", "\u00e9t\u00e9", "a" * 1024, "with space", "x,y"]


@pytest.mark.parametrize("connection_id", CONNECTION_IDS)
def test_the_app_accepts_what_the_emulator_signs_with_one_or_two_keys(connection_id: str) -> None:
    assert sign(connection_id, KEYS) == ",".join(signature_entries(connection_id, KEYS))
    assert signature_matches(sign(connection_id, KEYS), connection_id, KEYS[1:])
    assert signature_matches(sign(connection_id, KEYS[:1]), connection_id, KEYS)


@pytest.mark.parametrize("connection_id", CONNECTION_IDS)
def test_the_app_refuses_what_the_emulator_signs_for_another_connection_or_key(connection_id: str) -> None:
    assert not signature_matches(sign(connection_id + "x", KEYS), connection_id, KEYS)
    assert not signature_matches(sign(connection_id, KEYS[:1]), connection_id, KEYS[1:])

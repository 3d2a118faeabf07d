"""ce-signature as the service computes it: one HMAC-SHA256 per key over the connection id."""

from __future__ import annotations

import hashlib
import hmac

from shared.events.caller import signature_entries, signature_matches

KEY = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH"
OTHER = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210ZYXWVUTS"


def test_the_signature_is_the_documented_hmac() -> None:
    expected = "sha256=" + hmac.new(KEY.encode(), b"conn-1", hashlib.sha256).hexdigest()
    assert signature_entries("conn-1", [KEY]) == [expected]


def test_any_entry_may_match_any_configured_key() -> None:
    both = ",".join(signature_entries("conn-1", [OTHER, KEY]))
    assert signature_matches(both, "conn-1", [KEY])
    assert signature_matches(" " + both.replace(",", " , "), "conn-1", [OTHER])
    assert signature_matches(signature_entries("conn-1", [OTHER])[0], "conn-1", [KEY, OTHER])


def test_other_connections_keys_and_shapes_do_not_match() -> None:
    signature = signature_entries("conn-1", [KEY])[0]
    assert not signature_matches(signature, "conn-2", [KEY])
    assert not signature_matches(signature, "conn-1", [OTHER])
    assert not signature_matches(signature.upper(), "conn-1", [KEY])
    assert not signature_matches(signature.removeprefix("sha256="), "conn-1", [KEY])
    assert not signature_matches(signature, "conn-1", [])
    assert not signature_matches("sha256=\u00e9", "conn-1", [KEY])

"""Fuzzed CloudEvents: whatever the attribute values and body, the events function's parsing
either reads an event or raises one of the app's request errors (a 4xx), never anything else."""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.errors import RequestError
from shared.events.cloudevents import parse_event
from shared.events.state import read_state, state_keys
from tests.reliability.conftest import FAST

TYPES = st.sampled_from(
    [
        "azure.webpubsub.sys.connect",
        "azure.webpubsub.sys.connected",
        "azure.webpubsub.sys.disconnected",
        "azure.webpubsub.gp.joined",
        "azure.webpubsub.gp.left",
        "azure.webpubsub.user.e",
    ]
)
# Lone surrogates (bytes that were not UTF-8) and control characters too, beside ordinary text.
TEXT = st.text(st.characters(categories=["Cs", "Cc", "L", "N", "P", "S", "Z"]), max_size=40)
CONTENT_TYPES = st.sampled_from(["application/json", "text/plain", "application/octet-stream", "x/y", ""])
JSON_BODIES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=FAST.fuzz_examples * 5, deadline=None)
@given(
    ce_type=TYPES,
    overrides=st.dictionaries(
        st.sampled_from(["ce-hub", "ce-connectionid", "ce-eventname", "ce-userid", "ce-id", "ce-source"]), TEXT
    ),
    content_type=CONTENT_TYPES,
    body=st.binary(max_size=200) | JSON_BODIES.map(lambda value: repr(value).encode("utf-8", "surrogatepass")),
)
def test_parsing_any_event_is_an_event_or_a_request_error(
    ce_type: str, overrides: dict[str, str], content_type: str, body: bytes
) -> None:
    headers = {
        "ce-specversion": "1.0",
        "ce-type": ce_type,
        "ce-source": "/hubs/chat/client/c1",
        "ce-id": "1",
        "ce-hub": "chat",
        "ce-connectionid": "c1",
        "ce-eventname": ce_type.rsplit(".", 1)[-1],
        "content-type": content_type,
        **overrides,
    }
    with contextlib.suppress(RequestError):  # any other exception fails the test
        parse_event(headers, body)


@settings(max_examples=FAST.fuzz_examples * 5, deadline=None)
@given(value=TEXT, connection_id=TEXT, user_id=st.none() | TEXT)
def test_any_connection_state_is_read_or_refused_as_a_bad_request(
    value: str, connection_id: str, user_id: str | None
) -> None:
    with contextlib.suppress(RequestError):  # any other exception fails the test
        read_state("v1." + value, connection_id, user_id, state_keys(None, ("k" * 44,)))

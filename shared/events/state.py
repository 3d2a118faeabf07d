"""The connection state the ``events`` function keeps in ``ce-connectionState``: signed, no store.

What later events of a connection need (its user id, the rate limit's bucket) travels with the
connection: the function returns it in the ``ce-connectionState`` header and the service sends it
back with every later event of that connection. So it must not be forgeable or movable:

``v1.<payload>.<mac>``, base64url, where the payload is JSON ``{"u": user id or null, "t": tokens
left, "at": when they were counted}`` and the MAC is HMAC-SHA256 over the connection id and the
payload. A value changed in any byte, one written for another connection (or under another
user id), or one this app did not write is refused (:class:`BadRequest`): it can never refill a
bucket or lend one user's identity to another connection.

The key is ``EventsStateKey``; without it, a key derived from the access key (so rotating the
key ends old states: their connections get an error until they reconnect). The state is signed
with the first key and checked against each, so that a second key carries a rotation.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass

from shared.errors import BadRequest, TooManyRequests

VERSION = "v1"
DERIVATION_LABEL = b"webpubsub-functions/events/connection-state"


@dataclass(frozen=True)
class ConnectionState:
    user_id: str | None
    tokens: float
    counted_at: float


@functools.lru_cache(maxsize=16)
def state_keys(explicit: str | None, access_keys: tuple[str, ...]) -> tuple[bytes, ...]:
    """``EventsStateKey``, else one key derived from each access key (never the key itself)."""
    if explicit:
        return (explicit.encode("utf-8"),)
    return tuple(hmac.new(key.encode("utf-8"), DERIVATION_LABEL, hashlib.sha256).digest() for key in access_keys)


def write_state(state: ConnectionState, connection_id: str, key: bytes) -> str:
    payload = json.dumps(
        {"u": state.user_id, "t": round(state.tokens, 3), "at": round(state.counted_at, 3)}, separators=(",", ":")
    )
    encoded = _b64(payload.encode("utf-8"))
    return f"{VERSION}.{encoded}.{_b64(_mac(key, connection_id, encoded))}"


def read_state(value: str, connection_id: str, user_id: str | None, keys: Sequence[bytes]) -> ConnectionState:
    """The state, if this app wrote it for this connection and user; else :class:`BadRequest`."""
    version, _, rest = value.partition(".")
    encoded, _, mac = rest.partition(".")
    if version != VERSION or not any(
        hmac.compare_digest(_b64(_mac(key, connection_id, encoded)).encode(), mac.encode("utf-8", "replace"))
        for key in keys
    ):
        raise BadRequest("ce-connectionState was not written by this app for this connection.")
    try:
        payload = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
        state = ConnectionState(payload["u"], float(payload["t"]), float(payload["at"]))
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise BadRequest("ce-connectionState could not be read.") from None
    if state.user_id != user_id:
        raise BadRequest("ce-connectionState was written for another user id.")
    return state


def spend(state: ConnectionState, per_minute: int, now: float) -> ConnectionState:
    """Take one event from a token bucket of ``per_minute`` that refills evenly over a minute;
    :class:`TooManyRequests` when the bucket is empty (the state is then left as it was)."""
    elapsed = max(0.0, now - state.counted_at)  # a clock that stepped back refills nothing
    tokens = min(float(per_minute), state.tokens + elapsed * per_minute / 60.0)
    if tokens < 1.0:
        raise TooManyRequests(f"This connection sends more than {per_minute} events a minute; slow down.")
    return ConnectionState(state.user_id, tokens - 1.0, now)


def full_bucket(user_id: str | None, per_minute: int, now: float) -> ConnectionState:
    return ConnectionState(user_id, float(per_minute), now)


def _mac(key: bytes, connection_id: str, encoded: str) -> bytes:
    # surrogatepass: ids that were not UTF-8 never reach here from a request, and never fail if they do
    message = connection_id.encode("utf-8", "surrogatepass") + b"\n" + encoded.encode("ascii", "replace")
    return hmac.new(key, message, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")

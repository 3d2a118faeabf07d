"""A Web PubSub action as the REST call that performs it, ready before any I/O.

:mod:`shared.actions.vocabulary` builds actions from the JSON of a request (the vocabulary of
the Functions ``webPubSub`` output binding and more), :mod:`shared.endpoints.publish` builds the
one send of a publish, and :mod:`shared.service` only sends them. Paths follow the REST API of
api-version 2024-12-01, relative to ``/api/hubs/{hub}/``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from urllib.parse import quote, urlencode

# ASP.NET Core's default request-line limit (Kestrel MaxRequestLineSize) is 8 KiB; the service's
# own front end does not document one, so an action's path and query below the hub stay well
# inside it (the hub name and api-version take at most a few hundred more).
MAX_URL_CHARACTERS = 7 * 1024


def encode_query(pairs: tuple[tuple[str, str], ...]) -> str:
    """Percent-encoded as the SDK encodes it (space as ``%20``), since the signed audience includes it."""
    return urlencode(pairs, quote_via=quote, safe="")


class Read(enum.Enum):
    """What a call answers: nothing (a change), a yes/no (HEAD 200/404) or a list of connections."""

    NONE = "none"
    EXISTS = "exists"
    CONNECTIONS = "connections"


@dataclass(frozen=True)
class Action:
    """One service call, ready to send: method, path below the hub, query and body."""

    name: str  # the canonical action name, e.g. "sendToGroup"
    method: str
    path: str  # below /api/hubs/{hub}/, every segment already percent-encoded
    query: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    content_type: str | None = None
    read: Read = Read.NONE
    group: str | None = None  # the group listConnectionsInGroup lists
    top: int | None = None  # at most this many connections for listConnectionsInGroup

    @property
    def success_status(self) -> int:
        """As the service answers: a send is accepted (202); other changes and reads are done (200)."""
        return 202 if self.path.endswith(":send") else 200


def segment(value: str) -> str:
    return quote(value, safe="")


# -- sends (shared with publish) ----------------------------------------------------------------


def send_action(
    kind: str,
    name: str | None,
    body: bytes,
    content_type: str,
    *,
    excluded: tuple[str, ...] = (),
    odata_filter: str | None = None,
    ttl_seconds: int | None = None,
) -> Action:
    """A send to ``all``, or to the named ``group``, ``user`` or ``connection``; the body goes as is."""
    path = ":send" if kind == "all" else f"{kind}s/{segment(name or '')}/:send"
    action_name = {"all": "sendToAll", "group": "sendToGroup", "user": "sendToUser", "connection": "sendToConnection"}
    query = [("excluded", connection_id) for connection_id in excluded]
    if odata_filter is not None:
        query.append(("filter", odata_filter))
    if ttl_seconds is not None:
        query.append(("messageTtlSeconds", str(ttl_seconds)))
    return Action(action_name[kind], "POST", path, tuple(query), body, content_type)

"""Group presence: the service's ``joined``/``left`` events, published to the group as JSON.

For groups that ``EventsPresenceGroups`` names (exact names, trailing-``*`` prefixes and
``{userId}``, matched as negotiate's ``NegotiateAllowedGroups`` are, by
:meth:`shared.grants.GrantPolicy.group_allowed`), each join and leave becomes one message to that
group, so every member sees who comes and goes::

    {"type": "presence", "event": "joined", "group": "lobby", "userId": "alice",
     "connectionId": "...", "time": "2026-12-07T14:00:00Z"}

The message is sent with the official SDK (:mod:`shared.service`) as ``application/json``; other
groups' events are answered and dropped.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from shared.actions.call import send_action
from shared.events.cloudevents import GroupEvent
from shared.grants import GrantPolicy
from shared.service import perform
from shared.settings import ServiceAccess


def presence_message(event: GroupEvent, now: datetime) -> bytes:
    message = {
        "type": "presence",
        "event": "joined" if event.joined else "left",
        "group": event.group,
        "userId": event.context.user_id,
        "connectionId": event.context.connection_id,
        "time": event.context.time or now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def announces(patterns: tuple[str, ...], event: GroupEvent) -> bool:
    """Whether the group is one whose presence is published."""
    return GrantPolicy(allowed_groups=patterns).group_allowed(event.group, event.context.user_id)


async def publish_presence(access: ServiceAccess, hub: str, event: GroupEvent) -> None:
    body = presence_message(event, datetime.now(tz=UTC))
    await perform(access, hub, send_action("group", event.group, body, "application/json"))

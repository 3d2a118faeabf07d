"""Group presence helpers for the emulator's tests: a hub whose handler takes every join and leave,
and what such a handler got."""

from __future__ import annotations

import json
from typing import Any

from tests.emulator.event_handler import SYSTEM_EVENTS, EventHandlerApp

EVERY_PRESENCE = {"eventNames": ["joined", "left"]}
MAY_JOIN = ["webpubsub.joinLeaveGroup"]


def presence_settings(app: EventHandlerApp, presence: dict[str, Any] | None = None) -> dict[str, Any]:
    handler = {
        "urlTemplate": app.url,
        "userEventPattern": "*",
        "systemEvents": SYSTEM_EVENTS,
        "groupPresenceEvents": EVERY_PRESENCE if presence is None else presence,
    }
    return {"hubs": {"chat": {"eventHandlers": [handler]}}}


def presence(handler: EventHandlerApp) -> list[tuple[str, str]]:
    """The presence events the handler got, in order, as (event, group)."""
    return [(r.event or "", json.loads(r.body)["group"]) for r in handler.events() if r.event in ("joined", "left")]

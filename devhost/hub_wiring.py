"""The emulator's hub settings for ``make run``: the app's ``events`` function is every hub's handler.

On Azure the hub's event handler settings point at the ``events`` function; locally the stack
gives the emulator the same settings, in the service's own shape (:mod:`emulator.hub_settings`),
for each hub the app serves (``WebPubSubHub`` and ``WebPubSubAllowedHubs``)::

    {"urlTemplate": "http://localhost:7071/api/events", "userEventPattern": "*",
     "systemEvents": ["connect", "connected", "disconnected"],
     "groupPresenceEvents": {"eventNames": ["joined", "left"]}}

So a client's ``connect``, its events and every join and leave reach the function as they would
on Azure, and what the function does with them is up to its own settings (``EventsPresenceGroups``,
``EventsQueueEvents``, ...). An app without an ``events`` function gets no handler: the emulator
behaves as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from emulator.hub_settings import PRESENCE_EVENTS, SYSTEM_EVENTS, HubSettings, parse_hub_settings

EVENTS_FUNCTION = "events"
HUB = "WebPubSubHub"
ALLOWED_HUBS = "WebPubSubAllowedHubs"


def served_hubs(values: Mapping[str, str]) -> list[str]:
    """The hubs the app's settings name, default first, each once (hub names are case-insensitive)."""
    names = [values.get(HUB, ""), *values.get(ALLOWED_HUBS, "").split(",")]
    hubs: dict[str, str] = {}
    for name in (name.strip() for name in names):
        if name:
            hubs.setdefault(name.lower(), name)
    return list(hubs.values())


def event_handler(url: str) -> dict[str, Any]:
    return {
        "urlTemplate": url,
        "userEventPattern": "*",
        "systemEvents": list(SYSTEM_EVENTS),
        "groupPresenceEvents": {"eventNames": list(PRESENCE_EVENTS)},
    }


def hub_settings_for(hubs: Iterable[str], url: str) -> dict[str, HubSettings]:
    """Every hub sends all its events to ``url``; checked as a ``--hub-settings`` file would be
    (a hub name the app would refuse stops the stack with the settings error, naming it)."""
    return parse_hub_settings({"hubs": {hub: {"eventHandlers": [event_handler(url)]} for hub in hubs}})

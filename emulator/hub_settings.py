"""Hub settings in the service's own shape: event handlers and the anonymous connect policy.

The file given with ``python -m emulator --hub-settings FILE`` is JSON::

    {"hubs": {"chat": {"anonymousConnectPolicy": "deny",
                       "eventHandlers": [{"urlTemplate": "http://localhost:7071/api/{event}",
                                          "userEventPattern": "*",
                                          "systemEvents": ["connect", "connected", "disconnected"],
                                          "groupPresenceEvents": {"eventNames": ["joined", "left"],
                                                                  "groupFilters": ["lobby", "room-*"]}}]}}}

Each event handler has the fields of the service's hub settings (``urlTemplate`` with ``{hub}``
and ``{event}`` placeholders, ``userEventPattern`` as ``*``, a comma list or empty,
``systemEvents``, and the preview ``groupPresenceEvents``). As in the service, the first handler
whose pattern matches gets the event.

``groupPresenceEvents`` is the ARM preview shape (``GroupPresenceEventFilters`` in
``Microsoft.SignalRService/webPubSub/hubs``): ``eventNames`` lists ``joined`` and/or ``left``
(null or empty: no presence events); ``groupFilters`` lists the groups whose joins and leaves are
sent, each a name or a prefix ending in ``*`` (``*`` alone is every group; null or empty: every
group). Microsoft documents the filters only as "a pattern that may match multiple groups" (the
.NET and JS management SDKs' ``GroupPresenceEventFilters``); its hub sample sets
``["group1", "group2*"]``. A ``*`` anywhere but at the end is refused here rather than guessed at.
The events go out as ``azure.webpubsub.gp.joined`` / ``.left`` (:func:`emulator.upstream.presence_event`).
Hub names are case-insensitive. Everything is checked when the file is read, so a typo stops the
emulator at start with a message that names the field, not at the first client event.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from emulator.validation import valid_hub

SYSTEM_EVENTS = ("connect", "connected", "disconnected")
PRESENCE_EVENTS = ("joined", "left")
ANONYMOUS_POLICIES = ("deny", "allow")
PLACEHOLDERS = ("{hub}", "{event}")
HANDLER_FIELDS = ("urlTemplate", "userEventPattern", "systemEvents", "groupPresenceEvents")
PRESENCE_FIELDS = ("eventNames", "groupFilters")
HUB_FIELDS = ("eventHandlers", "anonymousConnectPolicy")
MAX_FILE_BYTES = 1024 * 1024  # far more than any real settings file; a wrong path is not read whole


class HubSettingsError(ValueError):
    """The settings file cannot be used; the message says where and why."""


@dataclass(frozen=True)
class GroupPresenceFilter:
    """Which joins and leaves a handler gets: by event name, then by group name or prefix."""

    event_names: frozenset[str] = frozenset()
    group_filters: tuple[str, ...] = ()  # empty: every group

    def matches(self, event: str, group: str) -> bool:
        """Group names are case-sensitive, as everywhere in the service."""
        return event in self.event_names and (
            not self.group_filters or any(_group_matches(pattern, group) for pattern in self.group_filters)
        )


def _group_matches(pattern: str, group: str) -> bool:
    return group.startswith(pattern[:-1]) if pattern.endswith("*") else group == pattern


@dataclass(frozen=True)
class EventHandlerSettings:
    url_template: str
    user_event_pattern: str = ""
    system_events: frozenset[str] = frozenset()
    group_presence: GroupPresenceFilter = GroupPresenceFilter()

    def handles(self, event: str, *, system: bool) -> bool:
        """System events by name; user events by ``*`` or a comma list (case-insensitive, as the service)."""
        if system:
            return event in self.system_events
        names = [name.strip().lower() for name in self.user_event_pattern.split(",")]
        return "*" in names or event.lower() in names

    def url(self, hub: str, event: str) -> str:
        """The handler URL for one event; names are percent-encoded, so a client's event name
        such as ``../admin`` stays one path segment (``.`` and ``..``, which no encoding keeps in
        place, are refused before: :func:`emulator.upstream.valid_event_name`)."""
        hub, event = quote(hub, safe="", errors="replace"), quote(event, safe="", errors="replace")
        return self.url_template.replace("{hub}", hub).replace("{event}", event)


@dataclass(frozen=True)
class HubSettings:
    event_handlers: tuple[EventHandlerSettings, ...] = ()
    allow_anonymous: bool = False

    def handler_for(self, event: str, *, system: bool) -> EventHandlerSettings | None:
        return next((h for h in self.event_handlers if h.handles(event, system=system)), None)

    def presence_handler_for(self, event: str, group: str) -> EventHandlerSettings | None:
        """The first handler whose ``groupPresenceEvents`` take ``joined``/``left`` for ``group``."""
        return next((h for h in self.event_handlers if h.group_presence.matches(event, group)), None)


NO_SETTINGS = HubSettings()


def load_hub_settings(path: str | Path) -> dict[str, HubSettings]:
    """Read and check the file; :class:`HubSettingsError` names what is wrong."""
    try:
        with Path(path).open("rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise HubSettingsError(f"cannot read {path}: {error}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise HubSettingsError(f"{path} is over {MAX_FILE_BYTES} bytes; is it the right file?")
    try:
        document = json.loads(text)
    except ValueError as error:
        raise HubSettingsError(f"{path} is not valid JSON: {error}") from None
    except RecursionError:
        raise HubSettingsError(f"{path} is nested too deeply") from None
    return parse_hub_settings(document)


def parse_hub_settings(document: Any) -> dict[str, HubSettings]:
    if not isinstance(document, dict) or set(document) != {"hubs"} or not isinstance(document["hubs"], dict):
        raise HubSettingsError('the file must be a JSON object {"hubs": {"<hub>": {...}}}')
    hubs: dict[str, HubSettings] = {}
    for name, hub in document["hubs"].items():
        if not valid_hub(name):
            raise HubSettingsError(f"hubs.{name}: not a valid hub name")
        if name.lower() in hubs:
            raise HubSettingsError(f"hubs.{name}: the hub is listed twice (hub names are case-insensitive)")
        hubs[name.lower()] = _hub(f"hubs.{name}", hub)
    return hubs


def _hub(where: str, hub: Any) -> HubSettings:
    if not isinstance(hub, dict):
        raise HubSettingsError(f"{where}: must be an object")
    _no_unknown_fields(where, hub, HUB_FIELDS)
    policy = hub.get("anonymousConnectPolicy", "deny")
    if policy not in ANONYMOUS_POLICIES:
        raise HubSettingsError(f"{where}.anonymousConnectPolicy: must be 'deny' or 'allow'")
    handlers = hub.get("eventHandlers", [])
    if not isinstance(handlers, list):
        raise HubSettingsError(f"{where}.eventHandlers: must be a list")
    parsed = tuple(_handler(f"{where}.eventHandlers[{i}]", handler) for i, handler in enumerate(handlers))
    return HubSettings(event_handlers=parsed, allow_anonymous=policy == "allow")


def _handler(where: str, handler: Any) -> EventHandlerSettings:
    if not isinstance(handler, dict):
        raise HubSettingsError(f"{where}: must be an object")
    _no_unknown_fields(where, handler, HANDLER_FIELDS)
    template = handler.get("urlTemplate")
    if not isinstance(template, str):
        raise HubSettingsError(f"{where}.urlTemplate: required, a string")
    _check_template(f"{where}.urlTemplate", template)
    pattern = handler.get("userEventPattern", "")
    if not isinstance(pattern, str) or any(not name.strip() for name in pattern.split(",") if pattern):
        raise HubSettingsError(f"{where}.userEventPattern: '*', a comma list of event names, or empty")
    events = handler.get("systemEvents", [])
    if not isinstance(events, list) or any(event not in SYSTEM_EVENTS for event in events):
        raise HubSettingsError(f"{where}.systemEvents: a list of {', '.join(SYSTEM_EVENTS)}")
    presence = _presence(f"{where}.groupPresenceEvents", handler.get("groupPresenceEvents"))
    return EventHandlerSettings(template, pattern.strip(), frozenset(events), presence)


def _presence(where: str, presence: Any) -> GroupPresenceFilter:
    if presence is None:
        return GroupPresenceFilter()
    if not isinstance(presence, dict):
        raise HubSettingsError(f"{where}: must be an object with eventNames and groupFilters")
    _no_unknown_fields(where, presence, PRESENCE_FIELDS)
    names = presence.get("eventNames") or []
    if not isinstance(names, list) or any(name not in PRESENCE_EVENTS for name in names):
        raise HubSettingsError(f"{where}.eventNames: a list of {', '.join(PRESENCE_EVENTS)}")
    filters = presence.get("groupFilters") or []
    if not isinstance(filters, list) or any(not _valid_group_filter(pattern) for pattern in filters):
        raise HubSettingsError(
            f"{where}.groupFilters: a list of group names, each a name or a prefix ending in '*' (no other '*')"
        )
    return GroupPresenceFilter(frozenset(names), tuple(filters))


def _valid_group_filter(pattern: Any) -> bool:
    return isinstance(pattern, str) and bool(pattern.strip()) and "*" not in pattern[:-1] and len(pattern) <= 1024


def _check_template(where: str, template: str) -> None:
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in template):
        raise HubSettingsError(f"{where}: white space and control characters are not allowed (percent-encode them)")
    rest = template
    for placeholder in PLACEHOLDERS:
        rest = rest.replace(placeholder, "")
    if "{" in rest or "}" in rest:
        raise HubSettingsError(f"{where}: only {{hub}} and {{event}} may appear in braces")
    try:
        parts = urlsplit(template.replace("{hub}", "hub").replace("{event}", "event"))
    except ValueError as error:  # e.g. an unclosed IPv6 bracket
        raise HubSettingsError(f"{where}: not a URL ({error})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HubSettingsError(f"{where}: must be an absolute http or https URL")
    if "{event}" in urlsplit(template).netloc:
        raise HubSettingsError(f"{where}: {{event}} is not allowed in the host")
    if parts.username or parts.password:
        raise HubSettingsError(f"{where}: credentials in the URL are not supported")
    try:
        _ = parts.port
    except ValueError:
        raise HubSettingsError(f"{where}: the port is not a number from 0 to 65535") from None


def _no_unknown_fields(where: str, value: dict[str, Any], known: tuple[str, ...]) -> None:
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise HubSettingsError(f"{where}: unknown field {unknown[0]!r} (known: {', '.join(known)})")

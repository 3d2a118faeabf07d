"""``OPTIONS|POST /api/events``: the hub's event handler, called by Web PubSub only.

Reads top-down:

* ``OPTIONS``, the service's abuse protection: ``WebHook-Allowed-Origin`` is answered only for
  the host of the Web PubSub endpoint the app is configured for (never ``*``), else 403;
* ``POST``: prove the caller is the service (:mod:`shared.events.caller`, 401 otherwise) → parse
  the event (:mod:`shared.events.cloudevents`, 400) → check the connection state it carries
  (:mod:`shared.events.state`) → decide (:func:`decide`) → answer (:mod:`shared.events.answers`).

What it does, each part off until its setting is set (:mod:`shared.events.settings`): ``connect``
accepts (refusing clients with no user id under ``EventsRequireUser``); group joins and leaves
become presence messages (:mod:`shared.events.presence`); user events named in
``EventsQueueEvents`` go to the Storage queue (:mod:`shared.events.queue`); ``EventsPerMinute``
and ``EventsMaxBytes`` limit each connection. Your own event logic goes in :func:`decide`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import azure.functions as func

from shared.errors import (
    BadRequest,
    ConfigurationError,
    Forbidden,
    PayloadTooLarge,
    QueueUnavailable,
    TooManyRequests,
    Unauthorized,
)
from shared.events.answers import Accept, EventAnswer, Refuse, render
from shared.events.caller import authenticate
from shared.events.cloudevents import (
    ConnectEvent,
    Event,
    GroupEvent,
    UserEvent,
    parse_event,
    request_headers,
)
from shared.events.presence import announces, publish_presence
from shared.events.settings import PER_MINUTE, STATE_KEY, EventsSettings, load_events_settings
from shared.events.state import ConnectionState, full_bucket, read_state, spend, state_keys, write_state
from shared.invocation import Incoming
from shared.responses import NO_STORE, Answer, LogFields
from shared.settings import Settings

ORIGIN_HEADER = "webhook-request-origin"
# The service's own subprotocols; a connect answer names the first one the client offered, so the
# client gets the protocol it asked for whatever the service does when a handler names none.
WEB_PUBSUB_SUBPROTOCOLS = (
    "json.webpubsub.azure.v1",
    "json.reliable.webpubsub.azure.v1",
    "protobuf.webpubsub.azure.v1",
    "protobuf.reliable.webpubsub.azure.v1",
)


@dataclass(frozen=True)
class EventsContext:
    """What deciding an event needs besides the event: both settings and the state's keys."""

    settings: Settings
    events: EventsSettings
    keys: tuple[bytes, ...]  # for the connection state; empty when nothing reads or signs it

    def signed(self, state: ConnectionState, connection_id: str) -> str | None:
        return write_state(state, connection_id, self.keys[0]) if self.keys else None


async def handle_events(incoming: Incoming) -> Answer:
    headers = request_headers(incoming.req)
    if incoming.req.method.upper() == "OPTIONS":
        return abuse_protection(headers, incoming.settings)
    events = load_events_settings()
    access_keys = _access_keys(incoming.settings, events)
    await authenticate(headers, access_keys, events.identity)
    event = parse_event(headers, incoming.req.get_body())
    hub = incoming.settings.hubs.resolve(event.context.hub)
    keys = state_keys(events.state_key, access_keys) if events.limits.rate_limited else ()
    if events.limits.rate_limited and not keys:
        raise ConfigurationError(f"{PER_MINUTE} needs {STATE_KEY} when the app reaches Web PubSub by identity.")
    answer = await decide(event, hub, EventsContext(incoming.settings, events, keys))
    fields = LogFields(
        hub=hub,
        target=_kind(event),
        bytes=len(event.data) if isinstance(event, UserEvent) else None,
        error=answer.error.code if isinstance(answer, Refuse) else None,
    )
    return Answer(render(answer), fields)


def abuse_protection(headers: Mapping[str, str], settings: Settings) -> Answer:
    """Allow delivery only from the configured Web PubSub host (CloudEvents webhook validation)."""
    origin = (headers.get(ORIGIN_HEADER) or "").strip()
    if not origin:
        raise BadRequest("WebHook-Request-Origin is required.")
    allowed = urlsplit(settings.service.endpoint).hostname or ""
    if origin.lower() != allowed.lower():
        raise Forbidden("This event handler accepts events only from the Web PubSub resource the app is set for.")
    response = func.HttpResponse(status_code=200, headers={**NO_STORE, "WebHook-Allowed-Origin": allowed})
    return Answer(response, LogFields(target="validate"))


async def decide(event: Event, hub: str, context: EventsContext) -> EventAnswer:
    """The app's answer to one event. Add your own logic here (see docs/events.md)."""
    if isinstance(event, ConnectEvent):
        return _connect(event, context)
    if isinstance(event, GroupEvent):
        if announces(context.events.presence_groups, event):
            await publish_presence(context.settings.service, hub, event)
        return Accept()
    if isinstance(event, UserEvent):
        return await _user_event(event, hub, context)
    return Accept()  # connected, disconnected: nothing to do


def _connect(event: ConnectEvent, context: EventsContext) -> EventAnswer:
    user_id = event.context.user_id
    if context.events.require_user and not user_id:
        return Refuse(Unauthorized("This hub accepts only clients with a user id."))
    subprotocol = next((name for name in event.subprotocols if name.lower() in WEB_PUBSUB_SUBPROTOCOLS), None)
    state = None
    if context.events.limits.per_minute is not None:
        bucket = full_bucket(user_id, context.events.limits.per_minute, time.time())
        state = context.signed(bucket, event.context.connection_id)
    return Accept(subprotocol=subprotocol, state=state)


async def _user_event(event: UserEvent, hub: str, context: EventsContext) -> EventAnswer:
    """Within the limits, queued if its name is listed; a refusal (too large, too fast, the queue
    down) is the client's error ack, returned so that the log line keeps the event's fields."""
    limits = context.events.limits
    if limits.max_bytes is not None and len(event.data) > limits.max_bytes:
        return Refuse(PayloadTooLarge(f"The event is larger than {limits.max_bytes} bytes; nothing was queued."))
    try:
        state = None
        if limits.per_minute is not None:
            bucket = _current_bucket(event, context, limits.per_minute)
            state = context.signed(spend(bucket, limits.per_minute, time.time()), event.context.connection_id)
        if context.events.queue is not None and context.events.queues(event.name):
            from shared.events.queue import encoded_envelope, envelope, queue_sender

            message = encoded_envelope(envelope(event, datetime.now(tz=UTC)))
            await queue_sender(context.events.queue).send(message)
    except (TooManyRequests, PayloadTooLarge, QueueUnavailable) as refusal:
        return Refuse(refusal)
    return Accept(state=state)


def _current_bucket(event: UserEvent, context: EventsContext, per_minute: int) -> ConnectionState:
    """The bucket the state carries; a connection that has none (accepted before the limit was
    set, or by another handler) starts with a full one."""
    if event.context.state is None:
        return full_bucket(event.context.user_id, per_minute, time.time())
    return read_state(event.context.state, event.context.connection_id, event.context.user_id, context.keys)


def _access_keys(settings: Settings, events: EventsSettings) -> tuple[str, ...]:
    primary = settings.service.connection.access_key if settings.service.connection else None
    return tuple(key for key in (primary, events.secondary_key) if key)


def _kind(event: Event) -> str:
    if isinstance(event, UserEvent):
        return "user"
    if isinstance(event, GroupEvent):
        return "joined" if event.joined else "left"
    return type(event).__name__.removesuffix("Event").lower()

"""Delivering upstream events over HTTP: abuse protection, bounds, and per-connection order.

:mod:`emulator.upstream` builds the requests and reads the answers; this module sends them
with one aiohttp ``ClientSession``. The bounds:

* each handler (one ``eventHandlers`` entry of one hub) has at most
  :data:`HANDLER_CONCURRENCY` requests in flight; more wait their turn;
* every event, including its wait for a free slot and its retries, ends after ``timeout``
  seconds (30 by default); a ``connect`` that runs out of time refuses the handshake with 500, a
  user event answers with an error, ``connected``/``disconnected`` are logged and dropped;
* every event (``connect``, user events, ``connected``, ``disconnected``, ``joined``, ``left``) whose handler answers
  408 or 5xx, or cannot be reached, is tried again after 1, 3 and 5 seconds (``retry_delays``),
  at most four attempts, and only while a retry can start before the timeout. Other answers,
  a failed abuse-protection check, an answer over the size limit and a timeout are not retried.
  A waiting retry holds no handler slot and delays only its own connection's later events;
* each connection's events go out one after the other, in the order they happened, from one
  worker task per connection; at most :data:`MAX_PENDING_EVENTS` user and group presence events
  and :data:`MAX_PENDING_BYTES` of their data wait behind the one in flight, further user events
  are answered with an error at once, further presence events are dropped and logged (a client
  that joins and leaves in a loop behind a slow handler cannot grow the queue);
* across all connections, at most :data:`MAX_HELD_EVENTS` user and presence events and
  :data:`MAX_HELD_BYTES` of their data are held for delivery (waiting or in flight); past
  either, a new user event is answered with an error at once and a presence event is dropped
  and logged. Without this bound every
  connection could hold its own 16 MiB. Measured behind a hung handler, eight clients that each
  sent 17 events of 1 MiB and stayed open took the emulator from 47 MB to 190 MB, and each more
  client added 16 MiB; with the bound, 124 MB however many clients there are;
* when a connection ends, its user events still waiting are dropped (nobody is left to answer)
  and ``disconnected`` goes out at once: after ``connected`` and the ``joined``/``left`` events
  still on their way (its leaves included), never behind a user event (one already in flight
  finishes on its own, within the timeout). Eight
  rounds of connect, 17 events of 1 MiB, close, behind a hung handler: 47 MB to 181 MB before
  (the events stayed, and went out one timeout after another), 47 MB to 57 MB now.

Group presence events (``joined``/``left``, for handlers with ``groupPresenceEvents``) are
asynchronous like ``connected``: :meth:`EventHandlers.group_changed` queues one for each join and
leave the model reports, in order with the connection's other events, and nobody waits for them.

So a handler that hangs or is down holds up only the events bound for it, never a client's
socket, the fan-out of messages, or other handlers. A hub without handlers costs nothing: its
connections get no worker.

Abuse protection: every handler URL is checked when the emulator starts (``OPTIONS`` with
``{event}`` = ``validate``; a 404 is asked again with ``GET``, as Microsoft's emulator does).
A handler that failed the check is checked again when an event needs it, at most once a
second; until it passes, its events fail and the log says why. A handler that passed stays
trusted.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from emulator.hub_settings import NO_SETTINGS, EventHandlerSettings, HubSettings
from emulator.upstream import (
    ConnectDecision,
    ConnectionFacts,
    EventAnswer,
    UpstreamEvent,
    UpstreamRequest,
    connect_decision,
    connect_failure,
    connected_event,
    disconnected_event,
    event_answer,
    event_failure,
    event_request,
    presence_event,
    presence_name,
    valid_event_name,
    validation_allows,
    validation_request,
)

logger = logging.getLogger("emulator.events")

DEFAULT_TIMEOUT_SECONDS = 30.0
DEFAULT_RETRY_DELAYS = (1.0, 3.0, 5.0)  # as Microsoft's emulator: at most four attempts
VALIDATION_TIMEOUT_SECONDS = 10.0
REVALIDATE_SECONDS = 1.0
HANDLER_CONCURRENCY = 32
MAX_PENDING_EVENTS = 1000
MAX_PENDING_BYTES = 16 * 1024 * 1024  # a client may send 1 MiB events: 1,000 of them would be 1 GiB
MAX_HELD_EVENTS = 10_000  # across all connections, waiting or in flight
MAX_HELD_BYTES = 64 * 1024 * 1024
MAX_RESPONSE_BYTES = 1024 * 1024 + 1024
SHUTDOWN_SECONDS = 2.0

Answered = Callable[[EventAnswer], None]


class HandlerRefused(Exception):
    """The handler cannot take events (abuse protection failed); the message says why."""


@dataclass
class _Check:
    """The abuse-protection state of one handler URL."""

    task: asyncio.Task[bool] | None = None
    allowed: bool = False
    checked_at: float = 0.0


@dataclass
class _Pending:
    event: UpstreamEvent
    answered: Answered | None


@dataclass
class ConnectionEvents:
    """The upstream side of one connection: its state, its event ids and its ordered queue."""

    hub: str
    connection_id: str
    user_id: str | None
    subprotocol: str | None
    state: str | None
    queue: deque[_Pending] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))  # 0 was connect
    closed: bool = False
    waiting_held_events: int = 0  # user and presence events, see UpstreamEvent.held
    waiting_bytes: int = 0
    current: _Pending | None = None  # the event in flight

    def facts(self) -> ConnectionFacts:
        return ConnectionFacts(self.hub, self.connection_id, self.user_id, self.subprotocol, self.state)

    def put(self, pending: _Pending) -> None:
        self.queue.append(pending)
        self.waiting_held_events += pending.event.held
        self.waiting_bytes += len(pending.event.body)
        self.wake.set()

    def take(self) -> _Pending:
        pending = self.queue.popleft()
        self.waiting_held_events -= pending.event.held
        self.waiting_bytes -= len(pending.event.body)
        return pending

    def drop_user_events(self) -> list[_Pending]:
        """Take the waiting user events out of the queue (system and presence events stay, in order)."""
        dropped = [pending for pending in self.queue if pending.event.user]
        self.queue = deque(pending for pending in self.queue if not pending.event.user)
        self.waiting_held_events = sum(pending.event.held for pending in self.queue)
        self.waiting_bytes = sum(len(pending.event.body) for pending in self.queue)
        return dropped


class EventHandlers:
    """The event handlers of every configured hub, and the deliveries in flight."""

    def __init__(
        self,
        hubs: dict[str, HubSettings],
        access_keys: Sequence[str],
        *,
        origin: str,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
    ) -> None:
        """``timeout`` bounds each event, retries included; ``retry_delays`` are the waits before
        each retry (1, 3 and 5 s by default, as Microsoft's emulator; tests shorten them)."""
        self.hubs = hubs
        self.access_keys = tuple(access_keys)
        self.origin = origin
        self.timeout = timeout
        self.retry_delays = tuple(retry_delays)
        self._session: aiohttp.ClientSession | None = None
        self._slots: dict[tuple[str, int], asyncio.Semaphore] = {}
        self._checks: dict[tuple[str, int], _Check] = {}
        self._connections: dict[str, ConnectionEvents] = {}
        self._workers: set[asyncio.Task[None]] = set()  # also those of connections that ended
        self.held_events = 0  # user and presence events waiting or in flight, across all connections
        self.held_bytes = 0

    def settings(self, hub: str) -> HubSettings:
        return self.hubs.get(hub.lower(), NO_SETTINGS)

    def handles(self, hub: str, event: str, *, system: bool) -> bool:
        return self.settings(hub).handler_for(event, system=system) is not None

    def handler_of(self, hub: str, event: UpstreamEvent) -> EventHandlerSettings | None:
        if event.group is not None:
            return self.settings(hub).presence_handler_for(event.name, event.group)
        return self.settings(hub).handler_for(event.name, system=not event.user)

    # -- lifetime ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the HTTP session and start checking every handler (without waiting for them)."""
        if not any(settings.event_handlers for settings in self.hubs.values()):
            return
        self._session = aiohttp.ClientSession(auto_decompress=True, cookie_jar=aiohttp.DummyCookieJar())
        for hub, settings in self.hubs.items():
            for handler in settings.event_handlers:
                self._validate(hub, handler)

    async def close(self) -> None:
        """Let queued events go out for up to :data:`SHUTDOWN_SECONDS`, then cut the rest."""
        for connection in self._connections.values():
            connection.closed = True
            connection.wake.set()
        if self._workers:
            _, late = await asyncio.wait(set(self._workers), timeout=SHUTDOWN_SECONDS)
            for worker in late:
                worker.cancel()
        for check in self._checks.values():
            if check.task is not None:
                check.task.cancel()
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- connect ----------------------------------------------------------------------------------

    async def connect(self, facts: ConnectionFacts, event: UpstreamEvent) -> ConnectDecision | None:
        """The ``connect`` handler's decision, or None when the hub has no ``connect`` handler."""
        handler = self.settings(facts.hub).handler_for("connect", system=True)
        if handler is None:
            return None
        try:
            status, headers, body = await self._send(facts.hub, handler, event, facts, event_id=0)
        except HandlerRefused as refused:
            logger.warning("connect of %s refused with 500: %s", facts.connection_id, refused)
            return connect_failure(str(refused))
        decision = connect_decision(status, headers, body)
        if not decision.accepted:
            logger.info("connect of %s refused with %d: %s", facts.connection_id, decision.status, decision.reason)
        return decision

    # -- events of an open connection -------------------------------------------------------------

    def open(self, facts: ConnectionFacts) -> ConnectionEvents | None:
        """Start the ordered queue of a connection whose hub has handlers; fires ``connected``."""
        if not self.settings(facts.hub).event_handlers:
            return None
        events = ConnectionEvents(facts.hub, facts.connection_id, facts.user_id, facts.subprotocol, facts.state)
        self._connections[facts.connection_id] = events
        self._spawn(self._work(events))
        if self.handles(facts.hub, "connected", system=True):
            events.put(_Pending(connected_event(), None))
        return events

    def user_event(self, connection_id: str, event: UpstreamEvent, answered: Answered) -> bool:
        """Queue a user event; False when no handler takes it (the caller keeps its old rule)."""
        events = self._connections.get(connection_id)
        if events is None or events.closed or not self.handles(events.hub, event.name, system=False):
            return False
        if not valid_event_name(event.name):
            answered(event_failure("The event name cannot reach an event handler."))
            return True
        if not self._hold(events, event):
            answered(event_failure("Too many events are waiting for the event handler."))
            return True
        events.put(_Pending(event, answered))
        return True

    def group_changed(self, connection_id: str, group: str, joined: bool) -> None:
        """The connection joined or left ``group``: queue ``joined``/``left`` for the handler whose
        ``groupPresenceEvents`` take it (none: nothing). Over the bounds it is dropped and logged."""
        events = self._connections.get(connection_id)
        name = presence_name(joined)
        if events is None or events.closed or self.settings(events.hub).presence_handler_for(name, group) is None:
            return
        event = presence_event(joined, group)
        if not self._hold(events, event):
            logger.warning("%s event of %s dropped: too many events are waiting", event.name, connection_id)
            return
        events.put(_Pending(event, None))

    def _hold(self, events: ConnectionEvents, event: UpstreamEvent) -> bool:
        """Count a user or presence event against the bounds; False when it is over one of them."""
        size = len(event.body)
        if (
            events.waiting_held_events >= MAX_PENDING_EVENTS
            or events.waiting_bytes + size > MAX_PENDING_BYTES
            or self.held_events >= MAX_HELD_EVENTS
            or self.held_bytes + size > MAX_HELD_BYTES
        ):
            return False
        self.held_events += 1
        self.held_bytes += size
        return True

    def disconnect(self, connection_id: str, reason: str) -> None:
        """Drop the connection's waiting user events and send ``disconnected`` without waiting
        behind a user event in flight; the worker then ends."""
        events = self._connections.pop(connection_id, None)
        if events is None:
            return
        events.closed = True
        for pending in events.drop_user_events():
            self._release(pending)
        if self.handles(events.hub, "disconnected", system=True):
            farewell = _Pending(disconnected_event(reason), None)
            if events.current is not None and events.current.event.user:
                # the worker waits on that event: what is left (joins, leaves) and then
                # disconnected go out now, in their order, from a task of their own
                rest = [events.take() for _ in range(len(events.queue))]
                self._spawn(self._deliver_in_order(events, [*rest, farewell]))
            else:  # nothing in flight, or a system or presence event: disconnected comes after the queue
                events.put(farewell)
        events.wake.set()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._workers.add(task)
        task.add_done_callback(self._workers.discard)

    def _release(self, pending: _Pending) -> None:
        """A user or presence event is delivered or dropped: it no longer counts against the global bound."""
        if pending.event.held:
            self.held_events -= 1
            self.held_bytes -= len(pending.event.body)

    async def _work(self, events: ConnectionEvents) -> None:
        while True:
            await events.wake.wait()
            events.wake.clear()
            while events.queue:
                events.current = events.take()
                await self._deliver_safely(events, events.current)
                events.current = None
            if events.closed:
                return

    async def _deliver_in_order(self, events: ConnectionEvents, pendings: list[_Pending]) -> None:
        for pending in pendings:
            await self._deliver_safely(events, pending)

    async def _deliver_safely(self, events: ConnectionEvents, pending: _Pending) -> None:
        try:
            await self._deliver(events, pending)
        except Exception:  # one broken event must not stop the connection's later ones
            logger.exception("%s event of %s could not be delivered", pending.event.name, events.connection_id)
            if pending.answered is not None:
                pending.answered(event_failure("The event could not be delivered."))
        finally:
            self._release(pending)

    async def _deliver(self, events: ConnectionEvents, pending: _Pending) -> None:
        event = pending.event
        handler = self.handler_of(events.hub, event)
        if handler is None:
            return
        try:
            status, headers, body = await self._send(events.hub, handler, event, events.facts(), next(events.ids))
        except HandlerRefused as refused:
            answer = event_failure(str(refused))
        else:
            answer = event_answer(status, headers, body)
        if answer.state is not None and pending.answered is not None:  # only blocking events set state
            events.state = answer.state
        if not answer.ok:
            logger.warning("%s event of %s failed: %s", event.name, events.connection_id, answer.error)
        if pending.answered is not None:
            pending.answered(answer)

    # -- HTTP -------------------------------------------------------------------------------------

    async def _send(
        self, hub: str, handler: EventHandlerSettings, event: UpstreamEvent, facts: ConnectionFacts, event_id: int
    ) -> tuple[int, Any, bytes]:
        """Status, headers and body of the handler's (last) answer; :class:`HandlerRefused` otherwise.

        An answer of 408 or 5xx, or a network error, is tried again after each of ``retry_delays``
        (the same request, ``ce-id`` included), as long as the retry starts before the event's
        timeout; the slot is given back while waiting, so a retry delays only this connection's
        later events, never another connection's.
        """
        url = _safe(handler.url(hub, event.name))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        try:
            request = event_request(
                handler, event, facts, event_id=event_id, origin=self.origin, access_keys=self.access_keys
            )
            async with asyncio.timeout_at(deadline):
                for delay in (*self.retry_delays, None):
                    failure: aiohttp.ClientError | OSError | None = None
                    try:
                        answer = await self._attempt(hub, handler, request, url)
                    except (aiohttp.ClientError, OSError) as error:
                        failure = error
                    final = delay is None or loop.time() + delay >= deadline
                    if failure is None and (final or not retryable(answer[0])):
                        return answer
                    if failure is not None and final:
                        raise failure
                    why = (
                        f"answered {answer[0]}"
                        if failure is None
                        else f"could not be reached ({type(failure).__name__})"
                    )
                    logger.info("%s %s; trying again in %g s", url, why, delay)
                    await asyncio.sleep(delay or 0)
                raise AssertionError("unreachable: the last attempt returns or raises")
        except TimeoutError:
            raise HandlerRefused(f"{url} did not answer within {self.timeout:g} s") from None
        except (aiohttp.ClientError, OSError, ValueError) as error:  # ValueError: a header that cannot be sent
            raise HandlerRefused(f"{url} could not be reached ({type(error).__name__})") from None

    async def _attempt(
        self, hub: str, handler: EventHandlerSettings, request: UpstreamRequest, url: str
    ) -> tuple[int, Any, bytes]:
        if not await self._allowed(hub, handler):
            raise HandlerRefused(f"{url} did not pass abuse protection")
        async with self._slot(hub, handler):
            return await self._exchange(request)

    def _key(self, hub: str, handler: EventHandlerSettings) -> tuple[str, int]:
        """One handler entry of one hub: its slots and its abuse-protection check are its own."""
        return (hub, self.settings(hub).event_handlers.index(handler))

    def _slot(self, hub: str, handler: EventHandlerSettings) -> asyncio.Semaphore:
        key = self._key(hub, handler)
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = asyncio.Semaphore(HANDLER_CONCURRENCY)
        return slot

    async def _exchange(self, request: UpstreamRequest) -> tuple[int, Any, bytes]:
        if self._session is None or self._session.closed:  # shutting down
            raise aiohttp.ClientConnectionError("the emulator is not running")
        async with self._session.request(
            request.method, request.url, headers=request.headers, data=request.body, allow_redirects=False
        ) as response:
            body = await _read_limited(response)
            return response.status, response.headers, body

    # -- abuse protection -------------------------------------------------------------------------

    async def _allowed(self, hub: str, handler: EventHandlerSettings) -> bool:
        check = self._checks.get(self._key(hub, handler))
        if check is None or (
            check.task is not None
            and check.task.done()
            and not check.allowed
            and time.monotonic() - check.checked_at >= REVALIDATE_SECONDS
        ):
            check = self._validate(hub, handler)
        if check.allowed:
            return True
        assert check.task is not None
        return await asyncio.shield(check.task)

    def _validate(self, hub: str, handler: EventHandlerSettings) -> _Check:
        check = self._checks.setdefault(self._key(hub, handler), _Check())
        check.task = asyncio.get_running_loop().create_task(self._run_check(check, hub, handler))
        return check

    async def _run_check(self, check: _Check, hub: str, handler: EventHandlerSettings) -> bool:
        request = validation_request(handler, hub, self.origin)
        try:
            async with asyncio.timeout(VALIDATION_TIMEOUT_SECONDS):
                status, allowed_origins = await self._probe("OPTIONS", request)
                if status == 404:  # a handler without OPTIONS: ask with GET, as Microsoft's emulator does
                    status, allowed_origins = await self._probe("GET", request)
                check.allowed = validation_allows(status, allowed_origins, self.origin)
                why = f"answered {status} with WebHook-Allowed-Origin {allowed_origins or 'missing'}"
        except TimeoutError:
            check.allowed, why = False, f"did not answer within {VALIDATION_TIMEOUT_SECONDS:g} s"
        except (aiohttp.ClientError, OSError, ValueError) as error:
            check.allowed, why = False, f"could not be reached ({type(error).__name__})"
        check.checked_at = time.monotonic()
        if check.allowed:
            logger.info("event handler %s allows origin %s", _safe(request.url), self.origin)
        else:
            logger.warning(
                "event handler %s failed abuse protection for origin %s: it %s; events for it fail until it passes",
                _safe(request.url),
                self.origin,
                why,
            )
        return check.allowed

    async def _probe(self, method: str, request: UpstreamRequest) -> tuple[int, list[str]]:
        """One validation request: the status and the ``WebHook-Allowed-Origin`` values."""
        if self._session is None or self._session.closed:
            raise aiohttp.ClientConnectionError("the emulator is not running")
        async with self._session.request(method, request.url, headers=request.headers, allow_redirects=False) as reply:
            return reply.status, reply.headers.getall("WebHook-Allowed-Origin", [])


async def _read_limited(response: aiohttp.ClientResponse) -> bytes:
    """The body, or ``ValueError`` past :data:`MAX_RESPONSE_BYTES` (a handler cannot flood memory)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_any():
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise ValueError("the answer is too large")
        chunks.append(chunk)
    return b"".join(chunks)


def retryable(status: int) -> bool:
    """408 and 5xx are worth another try, as Microsoft's emulator retries them; other 4xx are answers."""
    return status == 408 or status >= 500


def _safe(url: str) -> str:
    """The URL without its query, which may carry a function key (``?code=``)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"

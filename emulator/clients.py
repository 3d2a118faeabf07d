"""WebSocket clients: the handshake, the read loop and one writer task per connection.

The handshake checks the token before upgrading, so a bad token is an HTTP 401 rather than a
WebSocket that closes. The reader hands each frame to :mod:`emulator.client_protocol`.
Frames go straight to the socket while its buffer stays under :data:`SOCKET_BUFFER_LIMIT`;
past that they wait in the connection's bounded outbox, which one writer task per connection
drains, so a stalled client only ever holds up its own writer. A reliable connection whose
socket drops without a close frame is kept for 30 seconds and can be recovered with
``awps_connection_id`` + ``awps_reconnection_token``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from emulator.auth import TokenRejected, claim_list, verify_client_token
from emulator.client_protocol import (
    CLOSE_INTERNAL_ERROR,
    CLOSE_UNSUPPORTED_DATA,
    ProtocolViolation,
    answer_event,
    handle_json_request,
)
from emulator.events import EventHandlers
from emulator.messages import PLAIN, RELIABLE, SUBPROTOCOLS, Frame, connected_frame
from emulator.model import CLOSE_POLICY, Connection, Hub, Service, new_connection_id
from emulator.upstream import ConnectDecision, ConnectionFacts, EventAnswer, connect_event, user_event
from emulator.validation import MAX_BODY_BYTES, valid_group, valid_hub

logger = logging.getLogger("emulator.clients")

CLIENT_PATH_PREFIX = "/client/hubs/"
CLOSE_FLUSH_SECONDS = 5.0
SOCKET_BUFFER_LIMIT = 1024 * 1024  # bytes the kernel-side buffer may hold before frames queue
DRAIN_POLL_SECONDS = 0.005
SHUTDOWN_SECONDS = 2.0
# The handshake answer, acks and pongs go out a few milliseconds after the request, as they would
# over a real network. The sync client of azure-messaging-webpubsubclient 1.1.0 starts waiting for
# them only after it has sent its request, so a reply that beats it to its wait is missed and the
# call stalls for its 30 s timeout (seen in about one call in three with instant replies here).
REPLY_DELAY_SECONDS = 0.01


@dataclass(frozen=True)
class Identity:
    """Who a client is at the handshake: from its token, then as the connect handler decided."""

    user_id: str | None
    roles: frozenset[str]
    groups: tuple[str, ...]
    claims: dict[str, Any]

    def accepted_by(self, decision: ConnectDecision) -> Identity:
        """The handler's ``userId`` replaces the token's; its roles and groups are added."""
        return Identity(
            decision.user_id or self.user_id,
            self.roles | frozenset(decision.roles),
            self.groups + tuple(g for g in decision.groups if g not in self.groups),
            self.claims,
        )


class ClientEndpoint:
    def __init__(self, service: Service, access_key: str, events: EventHandlers) -> None:
        self.service = service
        self.access_key = access_key
        self.events = events
        self.sockets: dict[str, web.WebSocketResponse] = {}
        self.transports: dict[str, asyncio.BaseTransport] = {}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        hub_name = request.match_info.get("hub") or request.query.get("hub", "")
        if not valid_hub(hub_name):
            return _reject(400, "Invalid hub name.")
        hub = self.service.hub(hub_name)
        settings = self.events.settings(hub.name)
        offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        decides = settings.handler_for("connect", system=True) is not None
        if offered and not any(p in SUBPROTOCOLS for p in offered) and not decides:
            return _reject(400, "Subprotocols offered are not supported by the emulator.")
        if "awps_connection_id" in request.query:
            return await self._recover(request, hub)
        try:
            identity = self._authorize(request, hub, allow_anonymous=settings.allow_anonymous)
        except TokenRejected:
            return web.Response(status=401)
        except ValueError as error:
            return _reject(400, str(error))
        connection_id = new_connection_id()
        selected = next((p for p in offered if p in SUBPROTOCOLS), None)
        decision = await self.events.connect(
            ConnectionFacts(hub.name, connection_id, identity.user_id, None),
            connect_event(identity.claims, list(request.query.items()), list(request.headers.items()), offered),
        )
        state = None
        if decision is not None:
            if not decision.accepted:
                return web.Response(status=decision.status)
            if decision.subprotocol is not None and decision.subprotocol not in offered:
                logger.warning("connect handler chose subprotocol %r, not one the client offered", decision.subprotocol)
                return web.Response(status=500)
            identity = identity.accepted_by(decision)
            selected, state = decision.subprotocol or selected, decision.state
        protocol = selected if selected in SUBPROTOCOLS else PLAIN
        connection = Connection(
            id=connection_id, hub=hub.name, user_id=identity.user_id, protocol=protocol, roles=identity.roles
        )
        ws = await _upgrade(request, self._socket(protocol, selected))
        hub.add(connection)
        for group in identity.groups:  # groups of the token and the connect handler are joined at connect
            hub.join(connection, group)
        if connection.is_json:
            connection.send(connected_frame(connection.id, connection.user_id, connection.reconnection_token))
        if self.events.open(ConnectionFacts(hub.name, connection.id, connection.user_id, selected, state)):
            connection.user_event = self._event_sender(connection)
        return await self._serve(ws, hub, connection, request.transport)

    def _authorize(self, request: web.Request, hub: Hub, *, allow_anonymous: bool) -> Identity:
        """Who a valid token says the client is; no token is anonymous only where the hub allows it."""
        token = request.query.get("access_token") or _bearer(request.headers.get("Authorization"))
        if not token:
            if allow_anonymous:
                return Identity(None, frozenset(), (), {})
            raise TokenRejected("no token")
        claims = verify_client_token(token, self.access_key, request.host, hub.name, CLIENT_PATH_PREFIX)
        groups = claim_list(claims, "webpubsub.group")
        if not all(valid_group(g) for g in groups):
            raise ValueError("The token names an invalid group.")
        user_id = claims.get("sub") if isinstance(claims.get("sub"), str) else None
        return Identity(user_id, frozenset(claim_list(claims, "role")), tuple(groups), claims)

    def _event_sender(self, connection: Connection) -> Callable[[str, bytes, str, int | None], bool]:
        """What the connection calls with a user event; the answer comes back after the reply delay."""

        def send(event: str, data: bytes, data_type: str, ack_id: int | None) -> bool:
            def answered(answer: EventAnswer) -> None:
                asyncio.get_running_loop().call_later(REPLY_DELAY_SECONDS, answer_event, connection, ack_id, answer)

            return self.events.user_event(connection.id, user_event(event, data, data_type), answered)

        return send

    async def _recover(self, request: web.Request, hub: Hub) -> web.StreamResponse:
        connection = hub.connections.get(request.query.get("awps_connection_id", ""))
        token = request.query.get("awps_reconnection_token", "")
        ws = await _upgrade(request, self._socket(RELIABLE))
        if connection is None or not connection.recoverable(token, time.monotonic()):
            await ws.close(code=CLOSE_POLICY, message=b"The connection cannot be recovered.")
            return ws
        old = self.transports.get(connection.id)
        self.sockets[connection.id] = ws  # from now on the old socket's reader leaves the connection alone
        if isinstance(old, asyncio.WriteTransport):
            old.abort()
        return await self._serve(ws, hub, connection, request.transport, recovered=True)

    def _socket(self, protocol: str, selected: str | None = None) -> web.WebSocketResponse:
        """``selected`` is a subprotocol the connect handler chose for a plain client (echoed only)."""
        protocols = (protocol,) if protocol != PLAIN else (selected,) if selected else ()
        return web.WebSocketResponse(protocols=protocols, max_msg_size=MAX_BODY_BYTES, autoping=True, compress=False)

    async def _serve(
        self,
        ws: web.WebSocketResponse,
        hub: Hub,
        connection: Connection,
        transport: asyncio.BaseTransport | None,
        *,
        recovered: bool = False,
    ) -> web.WebSocketResponse:
        wake = asyncio.Event()
        transmit = _transmitter(transport)
        if recovered:
            connection.reattach(transmit, wake.set)
        else:
            connection.transmit, connection.wake = transmit, wake.set
            wake.set()
        self.sockets[connection.id] = ws
        if transport is not None:
            self.transports[connection.id] = transport
        writer = asyncio.create_task(_drain(ws, transport, connection, wake))
        clean_close = False
        try:
            clean_close = await self._read(ws, hub, connection)
            if connection.close_request is not None:
                # Let the writer send what is queued and the close frame with its code.
                await asyncio.wait([writer], timeout=CLOSE_FLUSH_SECONDS)
        finally:
            writer.cancel()
            if self.sockets.get(connection.id) is ws:
                del self.sockets[connection.id]
                self.transports.pop(connection.id, None)
                self._release(hub, connection, clean_close)
        return ws

    async def _read(self, ws: web.WebSocketResponse, hub: Hub, connection: Connection) -> bool:
        """Returns True when the client closed on purpose (a close frame), False on a drop."""
        async for frame in ws:
            try:
                if frame.type == WSMsgType.TEXT and connection.is_json:
                    reply = handle_json_request(hub, connection, frame.data)
                    if reply is not None:
                        asyncio.get_running_loop().call_later(REPLY_DELAY_SECONDS, connection.send, reply)
                elif frame.type == WSMsgType.BINARY and connection.is_json:
                    raise ProtocolViolation(CLOSE_UNSUPPORTED_DATA, "Binary frames are not part of the JSON protocol.")
                elif frame.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    data, data_type = (
                        (frame.data.encode("utf-8"), "text") if frame.type == WSMsgType.TEXT else (frame.data, "binary")
                    )
                    if connection.user_event is None or not connection.user_event("message", data, data_type, None):
                        raise ProtocolViolation(CLOSE_INTERNAL_ERROR, "No event handler is configured in the emulator.")
            except ProtocolViolation as violation:
                connection.request_close(violation.code, violation.reason)
                return True
            if frame.type == WSMsgType.ERROR:
                return False
        return ws.close_code is not None and connection.close_request is None and _client_closed(ws)

    def _release(self, hub: Hub, connection: Connection, clean_close: bool) -> None:
        if connection.protocol == RELIABLE and not clean_close and connection.reconnection_token:
            connection.detach()  # kept for recovery; Service.expire_detached drops it later
        else:
            hub.remove(connection)
            self.events.disconnect(connection.id, _disconnect_reason(connection, clean_close))

    def drop(self, connection_id: str) -> bool:
        """Abort a socket without a close frame, as a network failure would (for tests)."""
        transport = self.transports.get(connection_id)
        if transport is None:
            return False
        transport.abort()  # type: ignore[attr-defined]
        return True

    async def close_all(self) -> None:
        """Say goodbye (1001) to every client, then cut whoever has not answered within 2 s."""
        closes = [ws.close(code=1001, message=b"The emulator is shutting down.") for ws in self.sockets.values()]
        if closes:
            await asyncio.wait([asyncio.ensure_future(close) for close in closes], timeout=SHUTDOWN_SECONDS)
        for transport in list(self.transports.values()):
            if isinstance(transport, asyncio.WriteTransport):
                transport.abort()


def _disconnect_reason(connection: Connection, clean_close: bool) -> str:
    if connection.close_request is not None:
        return connection.close_request[1]
    return "The client closed the connection." if clean_close else "The connection was lost."


def _client_closed(ws: web.WebSocketResponse) -> bool:
    return ws.close_code not in (1006, None)


async def _upgrade(request: web.Request, ws: web.WebSocketResponse) -> web.WebSocketResponse:
    await asyncio.sleep(REPLY_DELAY_SECONDS)
    await ws.prepare(request)
    return ws


def _transmitter(transport: asyncio.BaseTransport | None) -> Callable[[Frame], bool]:
    """Write a frame at once unless the socket is backed up (then the caller queues it)."""
    if not isinstance(transport, asyncio.WriteTransport):
        return lambda frame: False

    def transmit(frame: Frame) -> bool:
        if transport.is_closing():
            return True  # the socket is gone; the reader will notice and release the connection
        if transport.get_write_buffer_size() > SOCKET_BUFFER_LIMIT:
            return False
        transport.write(frame)
        return True

    return transmit


async def _drain(
    ws: web.WebSocketResponse, transport: asyncio.BaseTransport | None, connection: Connection, wake: asyncio.Event
) -> None:
    """Move queued frames to the socket as it drains; then close, if asked.

    A connection asked to close while its socket is backed up is not waited for: its client is
    not reading, so the close frame gets :data:`CLOSE_FLUSH_SECONDS`, then the socket is cut.
    """
    transmit = _transmitter(transport)
    try:
        while True:
            await wake.wait()
            wake.clear()
            while connection.outbox:
                if transmit(connection.outbox[0]):
                    connection.next_frame()
                elif connection.close_request is not None:
                    break
                else:
                    await asyncio.sleep(DRAIN_POLL_SECONDS)
            if connection.close_request is not None:
                await _close(ws, transport, *connection.close_request)
                return
    except (ConnectionResetError, RuntimeError):
        return
    except Exception:
        logger.debug("writer of %s stopped", connection.id, exc_info=True)


async def _close(ws: web.WebSocketResponse, transport: asyncio.BaseTransport | None, code: int, reason: str) -> None:
    try:
        await asyncio.wait_for(ws.close(code=code, message=reason.encode("utf-8")[:120]), CLOSE_FLUSH_SECONDS)
    except TimeoutError:
        if isinstance(transport, asyncio.WriteTransport):
            transport.abort()


def _bearer(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def _reject(status: int, message: str) -> web.Response:
    return web.json_response({"code": "Error.BadRequest", "message": message}, status=status)

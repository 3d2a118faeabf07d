"""WebSocket clients: the handshake, the read loop and one writer task per connection.

The handshake checks the token before upgrading, so a bad token is an HTTP 401 rather than a
WebSocket that closes. A connection is registered in its hub, groups and user only once the
upgrade has succeeded. The reader hands each frame to :mod:`emulator.client_protocol` (plain and
JSON clients) or :mod:`emulator.protobuf_protocol` (protobuf clients).
Frames go straight to the socket while its buffer stays under :data:`SOCKET_BUFFER_LIMIT`;
past that they wait in the connection's bounded outbox, which one writer task per connection
drains, so a stalled client only ever holds up its own writer. Every socket is pinged each
``keepalive_seconds`` (the service's default is 20) and dropped when it does not answer, so a
half-open socket does not stay connected. A reliable connection whose socket drops, or whose
client closes with any code but 1000, is kept for 30 seconds and can be recovered with
``awps_connection_id`` + ``awps_reconnection_token``; a recovery while the old socket is still
open takes the connection over and cuts the old socket.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from emulator.auth import TokenRejected, bearer_token, claim_list, verify_client_token
from emulator.client_protocol import (
    CLOSE_UNSUPPORTED_DATA,
    ProtocolViolation,
    answer_event,
    handle_json_request,
    handle_plain_frame,
    negotiate,
)
from emulator.errors import RestError, error_response
from emulator.events import EventHandlers
from emulator.messages import PLAIN, Frame
from emulator.model import (
    CLOSE_NORMAL,
    CLOSE_POLICY,
    MAX_GROUPS_PER_CONNECTION,
    Connection,
    Hub,
    Service,
    new_connection_id,
)
from emulator.permissions import Roles
from emulator.protobuf_protocol import handle_protobuf_request
from emulator.upstream import ConnectDecision, ConnectionFacts, EventAnswer, connect_event, user_event
from emulator.validation import MAX_BODY_BYTES, encodable, valid_group, valid_hub

logger = logging.getLogger("emulator.clients")

CLIENT_PATH_PREFIX = "/client/hubs/"
CLOSE_FLUSH_SECONDS = 5.0
KEEPALIVE_SECONDS = 20.0  # the service's default webSocketKeepAliveIntervalInSeconds
MAX_CLOSE_REASON_BYTES = 123  # RFC 6455: a close frame's payload is at most 125 bytes with the code
SOCKET_BUFFER_LIMIT = 1024 * 1024  # bytes the kernel-side buffer may hold before frames queue
DRAIN_POLL_SECONDS = 0.005
SHUTDOWN_SECONDS = 2.0
# The handshake answer, acks and pongs go out a few milliseconds after the request, as they would
# over a real network. The sync client of azure-messaging-webpubsubclient 1.1.0 starts waiting for
# them only after it has sent its request, so a reply that beats it to its wait is missed and the
# call stalls for its ack timeout (1 of 400 calls with instant replies here, 0 of 200 with the delay).
REPLY_DELAY_SECONDS = 0.01


@dataclass
class Link:
    """The socket currently serving a connection, and its writer task."""

    ws: web.WebSocketResponse
    transport: asyncio.BaseTransport | None
    writer: asyncio.Task[None] | None = None

    def cut(self) -> None:
        """Stop writing and abort the socket without a close frame."""
        if self.writer is not None:
            self.writer.cancel()
        if isinstance(self.transport, asyncio.WriteTransport):
            self.transport.abort()


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
            tuple(dict.fromkeys(self.groups + decision.groups)),
            self.claims,
        )


class ClientEndpoint:
    def __init__(
        self,
        service: Service,
        access_key: str,
        events: EventHandlers,
        *,
        keepalive_seconds: float = KEEPALIVE_SECONDS,
    ) -> None:
        self.service = service
        self.access_key = access_key
        self.events = events
        self.keepalive_seconds = keepalive_seconds
        self.links: dict[str, Link] = {}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        hub_name = request.match_info.get("hub") or request.query.get("hub", "")
        if not valid_hub(hub_name):
            return _reject(400, "Invalid hub name.")
        hub = self.service.hub(hub_name)
        offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        protocol, echoed = negotiate(offered)
        if "awps_connection_id" in request.query:
            return await self._recover(request, hub, echoed)
        try:
            identity = self._authorize(request, hub, allow_anonymous=self.events.settings(hub.name).allow_anonymous)
            plain_mode = _plain_mode(request) if protocol == PLAIN else (None, False)
        except TokenRejected:
            return web.Response(status=401)
        except ValueError as error:
            return _reject(400, str(error))
        return await self._connect(request, hub, identity, plain_mode, offered, (protocol, echoed))

    async def _connect(
        self,
        request: web.Request,
        hub: Hub,
        identity: Identity,
        plain_mode: tuple[str | None, bool],
        offered: list[str],
        negotiated: tuple[str, str | None],
    ) -> web.StreamResponse:
        """Ask the connect handler (if any), then upgrade; its answer can refuse, pick the subprotocol, add roles."""
        protocol, echoed = negotiated
        connection_id = new_connection_id()
        decision = await self.events.connect(
            ConnectionFacts(hub.name, connection_id, identity.user_id, None),
            connect_event(identity.claims, list(request.query.items()), list(request.headers.items()), offered),
        )
        state = None
        if decision is not None:
            if not decision.accepted:
                return web.Response(status=decision.status)
            if decision.subprotocol is not None:
                if decision.subprotocol not in offered:
                    logger.warning(
                        "connect handler chose subprotocol %r, not one the client offered", decision.subprotocol
                    )
                    return web.Response(status=500)
                protocol, echoed = negotiate([decision.subprotocol])[0], decision.subprotocol
            identity, state = identity.accepted_by(decision), decision.state
        try:
            connection = _connection(connection_id, hub, identity, protocol, plain_mode)
        except ValueError as error:  # from the connect handler's answer, if not from the token
            return _reject(400 if decision is None else 500, str(error))
        ws = await _upgrade(request, self._socket(echoed))
        self._admit(hub, connection, identity.groups, echoed, state)
        return await self._serve(ws, hub, connection, request.transport)

    def _admit(
        self, hub: Hub, connection: Connection, groups: tuple[str, ...], echoed: str | None, state: str | None
    ) -> None:
        """Add the upgraded connection to its hub: only now, so a handshake that failed leaves no trace."""
        hub.add(connection)
        if self.events.open(ConnectionFacts(hub.name, connection.id, connection.user_id, echoed, state)):
            connection.user_event = self._event_sender(connection)
            connection.ended = functools.partial(self.events.disconnect, connection.id)
            connection.group_changed = functools.partial(self.events.group_changed, connection.id)
        for group in groups:  # the token's and connect handler's groups: joined after connected
            hub.join(connection, group)
        if connection.is_pubsub:
            connection.send(
                connection.codec.connected(connection.id, connection.user_id, connection.reconnection_token)
            )

    def _authorize(self, request: web.Request, hub: Hub, *, allow_anonymous: bool) -> Identity:
        """Who a valid token says the client is; no token is anonymous only where the hub allows it."""
        token = request.query.get("access_token") or bearer_token(request.headers.get("Authorization"))
        if not token:
            if allow_anonymous:
                return Identity(None, frozenset(), (), {})
            raise TokenRejected("no token")
        claims = verify_client_token(token, self.access_key, request.host, hub.name, CLIENT_PATH_PREFIX)
        groups = tuple(dict.fromkeys(claim_list(claims, "webpubsub.group")))
        if not all(valid_group(g) for g in groups):
            raise ValueError("The token names an invalid group.")
        user_id = claims.get("sub") if isinstance(claims.get("sub"), str) else None
        return Identity(user_id, frozenset(claim_list(claims, "role")), groups, claims)

    def _event_sender(self, connection: Connection) -> Callable[[str, bytes, str, int | None], bool]:
        """What the connection calls with a user event; the answer comes back after the reply delay."""

        def send(event: str, data: bytes, data_type: str, ack_id: int | None) -> bool:
            def answered(answer: EventAnswer) -> None:
                asyncio.get_running_loop().call_later(REPLY_DELAY_SECONDS, answer_event, connection, ack_id, answer)

            return self.events.user_event(connection.id, user_event(event, data, data_type), answered)

        return send

    async def _recover(self, request: web.Request, hub: Hub, echoed: str | None) -> web.StreamResponse:
        connection = hub.connections.get(request.query.get("awps_connection_id", ""))
        token = request.query.get("awps_reconnection_token", "")
        ws = await _upgrade(request, self._socket(echoed))
        if connection is None or not connection.recoverable(token, time.monotonic()):
            await ws.close(code=CLOSE_POLICY, message=b"The connection cannot be recovered.")
            return ws
        old = self.links.pop(connection.id, None)
        if old is not None:  # the client noticed a dead link before the emulator did
            old.cut()
        return await self._serve(ws, hub, connection, request.transport, recovered=True)

    def _socket(self, subprotocol: str | None) -> web.WebSocketResponse:
        return web.WebSocketResponse(
            protocols=(subprotocol,) if subprotocol else (),
            max_msg_size=MAX_BODY_BYTES + 1,  # aiohttp refuses a message of exactly max_msg_size bytes
            autoping=True,
            heartbeat=self.keepalive_seconds,
            compress=False,
        )

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
        link = self.links[connection.id] = Link(ws, transport)
        link.writer = asyncio.create_task(_drain(ws, transport, connection, wake))
        ended = False
        try:
            ended = await self._read(ws, hub, connection)
            if connection.close_request is not None:
                # Let the writer send what is queued and the close frame with its code.
                await asyncio.wait([link.writer], timeout=CLOSE_FLUSH_SECONDS)
        finally:
            link.writer.cancel()
            if self.links.get(connection.id) is link:  # not taken over by a recovery
                del self.links[connection.id]
                self._release(hub, connection, ended)
        return ws

    async def _read(self, ws: web.WebSocketResponse, hub: Hub, connection: Connection) -> bool:
        """True when the connection is over: closed by the client with 1000, or by the emulator.

        A drop, a missed keep-alive or any other close code leaves a reliable connection
        recoverable.
        """
        async for frame in ws:
            try:
                reply = self._handle_frame(hub, connection, frame.type, frame.data)
                if reply is not None:
                    asyncio.get_running_loop().call_later(REPLY_DELAY_SECONDS, connection.send, reply)
            except ProtocolViolation as violation:
                connection.request_close(violation.code, violation.reason)
                return True
            if frame.type == WSMsgType.ERROR:
                return False
        return connection.close_request is not None or ws.close_code == CLOSE_NORMAL

    @staticmethod
    def _handle_frame(hub: Hub, connection: Connection, kind: WSMsgType, data: Any) -> Frame | None:
        """A data frame to the protocol core; the reply for the sender, if any."""
        if kind not in (WSMsgType.TEXT, WSMsgType.BINARY):
            return None
        if not connection.is_pubsub:
            handle_plain_frame(hub, connection, data)
            return None
        if connection.is_json:
            if kind == WSMsgType.BINARY:
                raise ProtocolViolation(CLOSE_UNSUPPORTED_DATA, "Binary frames are not part of the JSON protocol.")
            return handle_json_request(hub, connection, data)
        if kind == WSMsgType.TEXT:
            raise ProtocolViolation(CLOSE_UNSUPPORTED_DATA, "Text frames are not part of the protobuf protocol.")
        return handle_protobuf_request(hub, connection, data)

    def _release(self, hub: Hub, connection: Connection, ended: bool) -> None:
        if connection.reconnection_token and not ended and connection.close_request is None:
            connection.detach()  # kept for recovery; Service.expire_detached drops it later
        else:
            hub.remove(connection, _disconnect_reason(connection, ended))

    def drop(self, connection_id: str) -> bool:
        """Abort a socket without a close frame, as a network failure would (for tests)."""
        link = self.links.get(connection_id)
        if link is None or not isinstance(link.transport, asyncio.WriteTransport):
            return False
        link.transport.abort()
        return True

    async def close_all(self) -> None:
        """Say goodbye (1001) to every client, then cut whoever has not answered within 2 s."""
        links = list(self.links.values())
        closes = [link.ws.close(code=1001, message=b"The emulator is shutting down.") for link in links]
        if closes:
            await asyncio.wait([asyncio.ensure_future(close) for close in closes], timeout=SHUTDOWN_SECONDS)
        for link in links:
            if isinstance(link.transport, asyncio.WriteTransport):
                link.transport.abort()


def _connection(
    connection_id: str, hub: Hub, identity: Identity, protocol: str, plain_mode: tuple[str | None, bool]
) -> Connection:
    """The connection an accepted identity becomes; ``ValueError`` when it cannot be one."""
    if len(identity.groups) > MAX_GROUPS_PER_CONNECTION:
        raise ValueError(f"A connection can be in at most {MAX_GROUPS_PER_CONNECTION} groups.")
    if identity.user_id is not None and not encodable(identity.user_id):
        raise ValueError("The user id is not valid text.")
    connection = Connection(
        id=connection_id, hub=hub.name, user_id=identity.user_id, protocol=protocol, roles=Roles.parse(identity.roles)
    )
    if protocol == PLAIN:
        connection.send_to_group, connection.no_echo = plain_mode
    return connection


def _disconnect_reason(connection: Connection, ended: bool) -> str:
    if connection.close_request is not None:
        return connection.close_request[1]
    return "The client closed the connection." if ended else "The connection was lost."


def _plain_mode(request: web.Request) -> tuple[str | None, bool]:
    """``webpubsub_mode=sendToGroup&group=<g>`` makes a plain client publish to ``<g>``."""
    mode = request.query.get("webpubsub_mode", "sendEvent").lower()
    if mode == "sendevent":
        return None, False
    if mode != "sendtogroup":
        raise ValueError("webpubsub_mode must be sendEvent or sendToGroup.")
    group = request.query.get("group", "")
    if not valid_group(group):
        raise ValueError("sendToGroup mode needs a valid group.")
    return group, request.query.get("noEcho", "").lower() == "true"


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
            while (frame := connection.first_live_frame(time.monotonic())) is not None:  # drops expired ones
                if transmit(frame):
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
        await asyncio.wait_for(ws.close(code=code, message=close_reason(reason)), CLOSE_FLUSH_SECONDS)
    except TimeoutError:
        if isinstance(transport, asyncio.WriteTransport):
            transport.abort()


def close_reason(reason: str) -> bytes:
    """The reason as UTF-8, cut to what a close frame holds, never inside a character."""
    return reason.encode("utf-8")[:MAX_CLOSE_REASON_BYTES].decode("utf-8", "ignore").encode("utf-8")


def _reject(status: int, message: str) -> web.Response:
    return error_response(RestError(status, "Error.BadRequest", message))

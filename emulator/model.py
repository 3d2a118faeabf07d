"""Hubs, connections, groups and permissions: the emulator's state, with no I/O.

Nothing here touches a socket. The I/O layer (:mod:`emulator.clients`) gives each
:class:`Connection` a ``transmit`` callable that writes a frame at once if the socket keeps up
and returns False if it is backed up. Frames that cannot go out at once wait in a bounded
outbox, and ``wake`` tells the I/O layer to drain it; a client that falls too far behind is
closed instead of buffered forever.

Bounds (per connection):

* outbox: :data:`MAX_OUTBOX_FRAMES` frames or :data:`MAX_OUTBOX_BYTES` bytes, whichever
  comes first, on top of what the socket itself buffers (see ``clients.SOCKET_BUFFER_LIMIT``);
  past either, the connection is closed with 1008 and a reason;
* message TTL: a message sent with ``messageTtlSeconds`` that is still waiting in the outbox
  when its time is up has expired: it is dropped, never written (a frame already handed to the
  socket is written; a reliable client's replay after recovery skips expired messages too), and
  a full outbox drops its expired frames before it closes the connection;
* reliable replay buffer: :data:`MAX_UNACKED` messages or :data:`MAX_UNACKED_BYTES`, whichever
  comes first (the service's own limits); past either, closed and not recoverable;
* remembered ``ackId`` values for de-duplication: the last :data:`ACK_WINDOW`;
* groups: :data:`MAX_GROUPS_PER_CONNECTION` (a join past it raises :class:`TooManyGroups`).
"""

from __future__ import annotations

import math
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from emulator.codecs import CODECS, JSON_PROTOCOLS, RELIABLE_PROTOCOLS, Codec
from emulator.messages import PLAIN, Frame, Message
from emulator.permissions import Roles

MAX_OUTBOX_FRAMES = 1000
MAX_OUTBOX_BYTES = 4 * 1024 * 1024
MAX_UNACKED = 1000
MAX_UNACKED_BYTES = 16 * 1024 * 1024
MAX_GROUPS_PER_CONNECTION = 1000
ACK_WINDOW = 4096
RECOVERY_SECONDS = 30.0

NOT_RECOVERED = "The connection was not recovered in time."

CLOSE_NORMAL = 1000
CLOSE_POLICY = 1008


class TooManyGroups(Exception):
    """A join would put a connection in more than :data:`MAX_GROUPS_PER_CONNECTION` groups."""


def new_connection_id() -> str:
    return secrets.token_hex(16)


@dataclass
class Connection:
    """One client connection; ``transmit`` and ``wake`` are set by the I/O layer."""

    id: str
    hub: str
    user_id: str | None
    protocol: str
    roles: Roles = field(default_factory=Roles)
    groups: set[str] = field(default_factory=set)
    granted: set[tuple[str, str | None]] = field(default_factory=set)
    send_to_group: str | None = None  # plain clients in webpubsub_mode=sendToGroup publish here
    no_echo: bool = False
    transmit: Callable[[Frame], bool] = lambda frame: False
    wake: Callable[[], None] = lambda: None
    # set by the I/O layer when the hub has event handlers: (event, data, dataType, ackId) -> taken
    user_event: Callable[[str, bytes, str, int | None], bool] | None = None
    # set by the I/O layer too: told once, with the reason, when the connection leaves its hub
    ended: Callable[[str], None] = lambda reason: None
    # set by the I/O layer too: told (group, joined) after each join or leave that changed the
    # connection's groups, however it came (token, connect handler, client request, REST, the end)
    group_changed: Callable[[str, bool], None] = lambda group, joined: None
    outbox: deque[Frame] = field(default_factory=deque)
    outbox_expiry: deque[float] = field(default_factory=deque)  # per frame, time.monotonic(); inf: never
    outbox_bytes: int = 0
    expired_frames: int = 0
    close_request: tuple[int, str] | None = None
    # json protocols: ackIds already processed, oldest first
    seen_acks: set[int] = field(default_factory=set)
    seen_ack_order: deque[int] = field(default_factory=deque)
    # reliable protocol
    reconnection_token: str | None = None
    next_sequence_id: int = 1
    unacked: deque[tuple[int, Frame, float]] = field(default_factory=deque)  # sequence id, frame, expiry
    unacked_bytes: int = 0
    detached_since: float | None = None
    codec: Codec = field(init=False, repr=False)  # how this connection's protocol spells its frames

    def __post_init__(self) -> None:
        self.codec = CODECS[self.protocol]
        if self.is_reliable:
            self.reconnection_token = secrets.token_urlsafe(24)

    @property
    def is_pubsub(self) -> bool:
        """Speaks one of the service's subprotocols (JSON or protobuf): acks, system messages."""
        return self.protocol != PLAIN

    @property
    def is_json(self) -> bool:
        return self.protocol in JSON_PROTOCOLS

    @property
    def is_reliable(self) -> bool:
        return self.protocol in RELIABLE_PROTOCOLS

    @property
    def attached(self) -> bool:
        return self.detached_since is None

    def filter_context(self) -> dict[str, object]:
        return {"userId": self.user_id, "connectionId": self.id, "groups": self.groups}

    # -- sending ---------------------------------------------------------------------------

    def send(self, frame: Frame, expires_at: float | None = None) -> None:
        """Write now if the socket keeps up, else queue (until ``expires_at``, if given); too far
        behind means closed."""
        if self.close_request is not None or not self.attached:
            return
        if not self.outbox and self.transmit(frame):
            return
        if self._full(len(frame)):
            self.drop_expired(time.monotonic())
            if self._full(len(frame)):
                self.request_close(CLOSE_POLICY, "The client is reading too slowly; its send queue is full.")
                return
        self._queue(frame, math.inf if expires_at is None else expires_at)
        self.wake()

    def _full(self, size: int) -> bool:
        return len(self.outbox) >= MAX_OUTBOX_FRAMES or self.outbox_bytes + size > MAX_OUTBOX_BYTES

    def _queue(self, frame: Frame, expires_at: float) -> None:
        self.outbox.append(frame)
        self.outbox_expiry.append(expires_at)
        self.outbox_bytes += len(frame)

    def deliver(self, message: Message) -> None:
        """Send a data message; reliable clients also keep it until the client acks it."""
        if not self.is_reliable:
            self.send(self.codec.data(message, None), message.expires_at)
            return
        if self.close_request is not None:
            return
        sequence_id = self.next_sequence_id
        self.next_sequence_id += 1
        frame = self.codec.data(message, sequence_id)
        self.unacked.append((sequence_id, frame, math.inf if message.expires_at is None else message.expires_at))
        self.unacked_bytes += len(frame)
        if len(self.unacked) > MAX_UNACKED or self.unacked_bytes > MAX_UNACKED_BYTES:
            self.reconnection_token = None  # not recoverable any more
            self.request_close(CLOSE_POLICY, "Too many unacknowledged messages.")
            return
        self.send(frame, message.expires_at)

    def take_frames(self) -> list[Frame]:
        frames = list(self.outbox)
        self._clear_outbox()
        return frames

    def _clear_outbox(self) -> None:
        self.outbox.clear()
        self.outbox_expiry.clear()
        self.outbox_bytes = 0

    def first_live_frame(self, now: float) -> Frame | None:
        """The next frame to write, once the expired ones ahead of it are dropped; None when the
        outbox is empty."""
        while self.outbox and self.outbox_expiry[0] <= now:
            self.next_frame()
            self.expired_frames += 1
        return self.outbox[0] if self.outbox else None

    def next_frame(self) -> Frame:
        frame = self.outbox.popleft()
        self.outbox_expiry.popleft()
        self.outbox_bytes -= len(frame)
        return frame

    def drop_expired(self, now: float) -> None:
        """Drop every expired frame of the outbox, wherever it waits."""
        if all(expiry > now for expiry in self.outbox_expiry):
            return
        kept = [(frame, expiry) for frame, expiry in zip(self.outbox, self.outbox_expiry, strict=True) if expiry > now]
        self.expired_frames += len(self.outbox) - len(kept)
        self._clear_outbox()
        for frame, expiry in kept:
            self._queue(frame, expiry)

    def request_close(self, code: int, reason: str) -> None:
        if self.close_request is None:
            if self.is_pubsub and self.attached:
                self._queue(self.codec.disconnected(reason), math.inf)
            self.close_request = (code, reason)
            self.wake()

    # -- json protocols --------------------------------------------------------------------

    def ack_done(self, ack_id: int) -> bool:
        """Whether a request with this ``ackId`` already succeeded (a resend is a duplicate)."""
        return ack_id in self.seen_acks

    def remember_ack(self, ack_id: int) -> None:
        """Record a succeeded ``ackId``; a failed one stays free, so a resend runs again."""
        self.seen_acks.add(ack_id)
        self.seen_ack_order.append(ack_id)
        if len(self.seen_ack_order) > ACK_WINDOW:
            self.seen_acks.discard(self.seen_ack_order.popleft())

    def acknowledge_sequence(self, sequence_id: int) -> None:
        while self.unacked and self.unacked[0][0] <= sequence_id:
            self.unacked_bytes -= len(self.unacked.popleft()[1])

    # -- reliable recovery -------------------------------------------------------------------

    def detach(self) -> None:
        self.detached_since = time.monotonic()
        self.transmit = lambda frame: False
        self._clear_outbox()

    def reattach(self, transmit: Callable[[Frame], bool], wake: Callable[[], None]) -> None:
        """A recovered socket takes over; every unacked message is replayed, in order.

        What the old socket had queued is dropped: its data messages are all in ``unacked``.
        Messages whose TTL ran out meanwhile are not replayed.
        """
        self.detached_since = None
        self.close_request = None
        self.transmit = transmit
        self.wake = wake
        self._clear_outbox()
        now = time.monotonic()
        for _, frame, expires_at in self.unacked:
            if expires_at > now:
                self._queue(frame, expires_at)
        self.wake()

    def recoverable(self, token: str, now: float) -> bool:
        """The token matches and the connection is within its recovery window.

        A socket the emulator still holds counts too: the client may notice a dead link first,
        and its new socket then takes over (the caller cuts the old one).
        """
        return (
            self.reconnection_token is not None
            and secrets.compare_digest(token.encode("utf-8", "surrogatepass"), self.reconnection_token.encode())
            and (self.detached_since is None or now - self.detached_since <= RECOVERY_SECONDS)
        )

    # -- permissions ------------------------------------------------------------------------

    def may(self, permission: str, group: str | None = None) -> bool:
        """Token roles (literal or wildcard) or REST grants; ``group=None`` asks for every group."""
        return (
            self.roles.allow(permission, group)
            or (permission, None) in self.granted
            or (group is not None and (permission, group) in self.granted)
        )


class Hub:
    """The connections of one hub, indexed by id, group and user."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.connections: dict[str, Connection] = {}
        self.groups: dict[str, dict[str, Connection]] = {}
        self.users: dict[str, dict[str, Connection]] = {}

    def add(self, connection: Connection) -> None:
        self.connections[connection.id] = connection
        if connection.user_id is not None:
            self.users.setdefault(connection.user_id, {})[connection.id] = connection

    def remove(self, connection: Connection, reason: str) -> None:
        """The connection is over, for ``reason``; whoever ends it (its socket, REST, the recovery
        window), this is the one place that tells :attr:`Connection.ended` (once), after it has
        left each of its groups (so the leaves are told first)."""
        present = self.connections.pop(connection.id, None) is not None
        for group in list(connection.groups):
            self.leave(connection, group)
        if connection.user_id is not None:
            members = self.users.get(connection.user_id, {})
            members.pop(connection.id, None)
            if not members:
                self.users.pop(connection.user_id, None)
        if present:
            connection.ended(reason)

    def join(self, connection: Connection, group: str) -> bool:
        """True when the connection was not in the group yet (then :attr:`Connection.group_changed`
        is told); joining a group twice changes nothing."""
        if group in connection.groups:
            return False
        if len(connection.groups) >= MAX_GROUPS_PER_CONNECTION:
            raise TooManyGroups(f"A connection can be in at most {MAX_GROUPS_PER_CONNECTION} groups.")
        connection.groups.add(group)
        self.groups.setdefault(group, {})[connection.id] = connection
        connection.group_changed(group, True)
        return True

    def leave(self, connection: Connection, group: str) -> bool:
        """True when the connection was in the group (then :attr:`Connection.group_changed` is told)."""
        if group not in connection.groups:
            return False
        connection.groups.discard(group)
        members = self.groups.get(group)
        if members is not None:
            members.pop(connection.id, None)
            if not members:
                del self.groups[group]
        connection.group_changed(group, False)
        return True

    def group_members(self, group: str) -> Iterable[Connection]:
        return self.groups.get(group, {}).values()

    def user_connections(self, user_id: str) -> Iterable[Connection]:
        return self.users.get(user_id, {}).values()

    def publish(self, message: Message, recipients: Iterable[Connection]) -> None:
        """Deliver to each recipient, iterating over a snapshot of them."""
        for connection in list(recipients):
            connection.deliver(message)


class Service:
    """All hubs; hub names are case-insensitive, as the service lower-cases them."""

    def __init__(self) -> None:
        self.hubs: dict[str, Hub] = {}

    def hub(self, name: str) -> Hub:
        key = name.lower()
        hub = self.hubs.get(key)
        if hub is None:
            hub = self.hubs[key] = Hub(key)
        return hub

    def expire_detached(self, now: float) -> list[Connection]:
        """Remove reliable connections not recovered in time; returns them (they are gone now)."""
        expired = []
        for hub in self.hubs.values():
            for connection in list(hub.connections.values()):
                if connection.detached_since is not None and now - connection.detached_since > RECOVERY_SECONDS:
                    hub.remove(connection, NOT_RECOVERED)
                    expired.append(connection)
        return expired

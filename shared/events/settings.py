"""What the ``events`` function reads from app settings, apart from :class:`shared.settings.Settings`.

Read only by the ``events`` function, so that a typo in one of these never breaks negotiate or
publish. Every part is off until its setting is set:

* who may call: the ``ce-signature`` keys (the connection string's key and
  ``EventsSecondaryAccessKey``) and, for the service's managed identity, ``EventsIdentity*``;
* ``EventsRequireUser``: refuse ``connect`` without a user id;
* ``EventsPresenceGroups``: the groups whose joins and leaves are published to them;
* ``EventsQueueEvents``: the user events put on the Storage queue ``EventsQueueName``
  (``AzureWebJobsStorage``'s account, by connection string or by identity);
* ``EventsPerMinute`` and ``EventsMaxBytes``: the per-connection limits;
* ``EventsStateKey``: signs the connection state (else a key derived from the access key).
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from shared.errors import ConfigurationError
from shared.grants import checked_allowed_groups
from shared.settings import read_bool, read_csv, read_int
from shared.storage_account import (
    WEBJOBS_STORAGE,
    WEBJOBS_STORAGE_ACCOUNT,
    WEBJOBS_STORAGE_QUEUE_URI,
    storage_connection_string,
    storage_endpoint,
)
from shared.validation import is_secure_url

SECONDARY_ACCESS_KEY = "EventsSecondaryAccessKey"
IDENTITY_ISSUER = "EventsIdentityIssuer"
IDENTITY_AUDIENCE = "EventsIdentityAudience"
IDENTITY_OBJECT_ID = "EventsIdentityObjectId"
IDENTITY_JWKS_URL = "EventsIdentityJwksUrl"
REQUIRE_USER = "EventsRequireUser"
PRESENCE_GROUPS = "EventsPresenceGroups"
QUEUE_EVENTS = "EventsQueueEvents"
QUEUE_NAME = "EventsQueueName"
PER_MINUTE = "EventsPerMinute"
MAX_BYTES = "EventsMaxBytes"
STATE_KEY = "EventsStateKey"

EVENTS_SETTING_NAMES = (
    SECONDARY_ACCESS_KEY,
    IDENTITY_ISSUER,
    IDENTITY_AUDIENCE,
    IDENTITY_OBJECT_ID,
    IDENTITY_JWKS_URL,
    REQUIRE_USER,
    PRESENCE_GROUPS,
    QUEUE_EVENTS,
    QUEUE_NAME,
    PER_MINUTE,
    MAX_BYTES,
    STATE_KEY,
    WEBJOBS_STORAGE,
    WEBJOBS_STORAGE_ACCOUNT,
    WEBJOBS_STORAGE_QUEUE_URI,
)

DEFAULT_QUEUE_NAME = "client-events"
MAX_PER_MINUTE = 60_000
MAX_EVENT_BYTES = 1024 * 1024  # the service's own limit on a client frame
MIN_STATE_KEY_CHARS = 32
# Storage queue names: 3-63 lower-case letters, digits and single hyphens, not at either end.
QUEUE_NAME_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}")
EVENT_NAME_PATTERN = re.compile(r"[^,\s]+")


@dataclass(frozen=True)
class ServiceIdentity:
    """The Web PubSub resource's managed identity, as its Entra tokens name it."""

    issuer: str  # https://login.microsoftonline.com/<tenant>/v2.0 or https://sts.windows.net/<tenant>/
    audience: str
    object_id: str
    jwks_url: str | None = None


@dataclass(frozen=True)
class QueueTarget:
    """Where queued events go: a connection string, or an account URL reached by identity."""

    name: str
    connection_string: str | None = field(default=None, repr=False)
    account_url: str | None = None


@dataclass(frozen=True)
class EventLimits:
    per_minute: int | None = None
    max_bytes: int | None = None

    @property
    def rate_limited(self) -> bool:
        return self.per_minute is not None


@dataclass(frozen=True)
class EventsSettings:
    secondary_key: str | None = field(default=None, repr=False)
    identity: ServiceIdentity | None = None
    require_user: bool = False
    presence_groups: tuple[str, ...] = ()
    queue_events: tuple[str, ...] = ()  # names, or prefixes ending in "*"
    queue: QueueTarget | None = None
    limits: EventLimits = EventLimits()
    state_key: str | None = field(default=None, repr=False)

    def queues(self, event_name: str) -> bool:
        """Whether a user event of this name goes on the queue (exact, or a trailing-``*`` prefix)."""
        return any(
            event_name.startswith(pattern[:-1]) if pattern.endswith("*") else event_name == pattern
            for pattern in self.queue_events
        )


# Read on every event; the details of identity and of the queue only when their part is on.
# Each environment read costs about 2 us, and all of them were a tenth of an event's time.
SWITCHES: tuple[str, ...] = (SECONDARY_ACCESS_KEY, IDENTITY_ISSUER, REQUIRE_USER, PRESENCE_GROUPS, QUEUE_EVENTS)
SWITCHES += (PER_MINUTE, MAX_BYTES, STATE_KEY)
IDENTITY_DETAILS = (IDENTITY_AUDIENCE, IDENTITY_OBJECT_ID, IDENTITY_JWKS_URL)
QUEUE_DETAILS = (QUEUE_NAME, WEBJOBS_STORAGE, WEBJOBS_STORAGE_ACCOUNT, WEBJOBS_STORAGE_QUEUE_URI)


def load_events_settings(environ: Mapping[str, str] | None = None) -> EventsSettings:
    env = os.environ if environ is None else environ
    switches = tuple(env.get(name, "") for name in SWITCHES)
    details = (IDENTITY_DETAILS if switches[1].strip() else ()) + (QUEUE_DETAILS if switches[4].strip() else ())
    return _parse(SWITCHES + details, switches + tuple(env.get(name, "") for name in details))


@functools.lru_cache(maxsize=16)
def _parse(names: tuple[str, ...], values: tuple[str, ...]) -> EventsSettings:
    """Parsing costs tens of microseconds; the same values always give the same settings."""
    env = {name: "" for name in EVENTS_SETTING_NAMES} | dict(zip(names, values, strict=True))
    queue_events = read_csv(env, QUEUE_EVENTS)
    if any(not EVENT_NAME_PATTERN.fullmatch(name) for name in queue_events):
        raise ConfigurationError(f"{QUEUE_EVENTS} is a comma list of event names (a trailing '*' is a prefix).")
    state_key = env[STATE_KEY].strip() or None
    if state_key is not None and len(state_key) < MIN_STATE_KEY_CHARS:
        raise ConfigurationError(f"{STATE_KEY} must be at least {MIN_STATE_KEY_CHARS} characters.")
    return EventsSettings(
        secondary_key=env[SECONDARY_ACCESS_KEY].strip() or None,
        identity=_identity(env),
        require_user=read_bool(env, REQUIRE_USER),
        presence_groups=checked_allowed_groups(read_csv(env, PRESENCE_GROUPS), setting=PRESENCE_GROUPS),
        queue_events=queue_events,
        queue=_queue(env) if queue_events else None,
        limits=EventLimits(
            per_minute=read_int(env, PER_MINUTE, 0, 1, MAX_PER_MINUTE) or None,
            max_bytes=read_int(env, MAX_BYTES, 0, 1, MAX_EVENT_BYTES) or None,
        ),
        state_key=state_key,
    )


def _identity(env: Mapping[str, str]) -> ServiceIdentity | None:
    issuer = env[IDENTITY_ISSUER].strip()
    audience = env[IDENTITY_AUDIENCE].strip()
    object_id = env[IDENTITY_OBJECT_ID].strip()
    if not issuer:
        return None
    if not (audience and object_id):
        raise ConfigurationError(
            f"Set all of {IDENTITY_ISSUER}, {IDENTITY_AUDIENCE} and {IDENTITY_OBJECT_ID}, or none."
        )
    jwks_url = env[IDENTITY_JWKS_URL].strip() or None
    for name, url in ((IDENTITY_ISSUER, issuer), (IDENTITY_JWKS_URL, jwks_url)):
        if url is not None and not is_secure_url(url):
            raise ConfigurationError(f"{name} must be an https:// URL (http:// only for localhost).")
    return ServiceIdentity(issuer, audience, object_id, jwks_url)


def _queue(env: Mapping[str, str]) -> QueueTarget:
    name = env[QUEUE_NAME].strip() or DEFAULT_QUEUE_NAME
    if not QUEUE_NAME_PATTERN.fullmatch(name):
        raise ConfigurationError(f"{QUEUE_NAME} must be 3 to 63 lower-case letters, digits and single hyphens.")
    connection_string = storage_connection_string(env)
    if connection_string:
        return QueueTarget(name, connection_string=connection_string)
    url = storage_endpoint(env, "queue")
    if not url:
        raise ConfigurationError(
            f"{QUEUE_EVENTS} needs a storage account: set {WEBJOBS_STORAGE} or {WEBJOBS_STORAGE_ACCOUNT}."
        )
    return QueueTarget(name, account_url=url)

"""App settings, read from the environment (Azure app settings or ``local.settings.json`` Values).

The environment is read on every invocation, so a changed app setting takes effect without a
restart; it is parsed again only when one of its values changed. Each malformed value raises
:class:`ConfigurationError` naming the setting, never echoing its value.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from shared.connection_string import ConnectionInfo, normalize_endpoint, parse_connection_string
from shared.errors import ConfigurationError, NotFound
from shared.validation import is_secure_url, validate_group, validate_hub

CONNECTION_STRING = "WebPubSubConnectionString"
ENDPOINT = "WebPubSubEndpoint"
HUB = "WebPubSubHub"
ALLOWED_HUBS = "WebPubSubAllowedHubs"
TOKEN_MINUTES = "NegotiateTokenMinutes"
ALLOW_CLIENT_USER_ID = "NegotiateAllowClientUserId"
TRUST_APP_SERVICE_AUTH = "NegotiateTrustAppServiceAuth"
REQUIRE_USER = "NegotiateRequireUser"
ROLES = "NegotiateRoles"
ALLOWED_GROUPS = "NegotiateAllowedGroups"
ACTIONS_DEADLINE = "ActionsDeadlineSeconds"

# -- Sign-in with bearer tokens from the app's own identity provider (negotiate) ----------------
JWT_ISSUER = "NegotiateJwtIssuer"
JWT_AUDIENCE = "NegotiateJwtAudience"
JWKS_URL = "NegotiateJwksUrl"
JWT_ALGORITHMS = "NegotiateJwtAlgorithms"
USER_ID_CLAIM = "NegotiateUserIdClaim"
GROUPS_CLAIM = "NegotiateGroupsClaim"
SIGN_IN_SETTING_NAMES = (JWT_ISSUER, JWT_AUDIENCE, JWKS_URL, JWT_ALGORITHMS, USER_ID_CLAIM, GROUPS_CLAIM)
DEFAULT_JWT_ALGORITHMS = ("RS256", "ES256")
# Asymmetric only: with HS* the "key" would be a shared secret, and "none" is no signature at all.
ASYMMETRIC_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
DEFAULT_USER_ID_CLAIM = "sub"
USER_PLACEHOLDER = "{userId}"
# The service's wildcard group roles: ``?`` and ``*`` match, ``\`` escapes ``\ * ?``.
PATTERN_ROLE_PREFIXES = ("webpubsub.joinLeaveGroups.", "webpubsub.sendToGroups.")

DEFAULT_TOKEN_MINUTES = 60
MAX_TOKEN_MINUTES = 1440
# Each call ends within the service client's 5 s deadline; a batch must answer well before the
# platform's 230 s HTTP limit, so items not started by then are not run. The running lease of an
# Idempotency-Key (shared.idempotency) is derived from the maximum, so no batch outlives its claim.
DEFAULT_ACTIONS_DEADLINE_SECONDS = 60
MAX_ACTIONS_DEADLINE_SECONDS = 100


@dataclass(frozen=True)
class ServiceAccess:
    """How to reach Web PubSub: with an access key, or with an identity (``credential``)."""

    endpoint: str
    connection: ConnectionInfo | None = field(default=None, repr=False)


@dataclass(frozen=True)
class BearerSettings:
    """Which bearer tokens negotiate believes: signed by ``issuer``'s keys, for one of ``audiences``."""

    issuer: str
    audiences: tuple[str, ...]
    jwks_url: str | None  # None: found by OIDC discovery
    algorithms: tuple[str, ...]
    user_id_claim: str = DEFAULT_USER_ID_CLAIM


@dataclass(frozen=True)
class Settings:
    service: ServiceAccess
    default_hub: str
    allowed_hubs: tuple[str, ...]  # lower-cased; hubs are case-insensitive
    token_minutes: int = DEFAULT_TOKEN_MINUTES
    allow_client_user_id: bool = False
    trust_app_service_auth: bool = False
    require_user: bool = False
    roles: tuple[str, ...] = ()
    allowed_groups: tuple[str, ...] = ()
    bearer: BearerSettings | None = None
    groups_claim: str | None = None
    actions_deadline_seconds: int = DEFAULT_ACTIONS_DEADLINE_SECONDS

    def resolve_hub(self, requested: str | None) -> str:
        """The hub a caller may use: the default, or a named hub from the allow-list."""
        if requested is None:
            return self.default_hub
        hub = validate_hub(requested)
        if hub.lower() not in self.allowed_hubs:
            raise NotFound(f"Hub '{hub}' is not served here; see the {ALLOWED_HUBS} setting.")
        return hub

    def group_allowed(self, group: str, user_id: str | None = None, claimed: tuple[str, ...] = ()) -> bool:
        """Exact names, or a prefix when the allowed entry ends with ``*``; or one of the groups
        the user's groups claim (``NegotiateGroupsClaim``) grants.

        ``{userId}`` in an entry stands for the caller's user id (taken literally, even a ``*``
        in it); such an entry matches nothing when there is no user id. It is never part of a
        prefix entry (see :func:`_allowed_groups`).
        """
        if group in claimed:
            return True
        for pattern in self.allowed_groups:
            prefix = pattern.endswith("*")
            expected = _with_user(pattern[:-1] if prefix else pattern, user_id)
            if expected is not None and (group.startswith(expected) if prefix else group == expected):
                return True
        return False

    def roles_for(self, user_id: str | None) -> tuple[str, ...]:
        """``NegotiateRoles`` with ``{userId}`` filled in; a role that needs a user id is left out
        without one. Other roles, wildcard group roles included, pass through unchanged.

        In a wildcard group role the user id is escaped, so that a user named ``*`` or ``**``
        gets a role for their own groups, not for everyone's."""
        roles = (
            _with_user(role, _pattern_literal(user_id) if role.startswith(PATTERN_ROLE_PREFIXES) else user_id)
            for role in self.roles
        )
        return tuple(role for role in roles if role is not None)

    @property
    def verified_user_source(self) -> bool:
        """Whether a user can be established by something a caller cannot forge."""
        return self.bearer is not None or self.trust_app_service_auth


def _pattern_literal(text: str | None) -> str | None:
    """``text`` as a literal inside a wildcard group role."""
    if text is None:
        return None
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")


def _with_user(pattern: str, user_id: str | None) -> str | None:
    if USER_PLACEHOLDER not in pattern:
        return pattern
    return pattern.replace(USER_PLACEHOLDER, user_id) if user_id else None


SETTING_NAMES = (
    CONNECTION_STRING,
    ENDPOINT,
    HUB,
    ALLOWED_HUBS,
    TOKEN_MINUTES,
    ALLOW_CLIENT_USER_ID,
    TRUST_APP_SERVICE_AUTH,
    REQUIRE_USER,
    ROLES,
    ALLOWED_GROUPS,
    ACTIONS_DEADLINE,
    *SIGN_IN_SETTING_NAMES,
)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    return _parse_settings(tuple(env.get(name, "") for name in SETTING_NAMES))


@functools.lru_cache(maxsize=16)
def _parse_settings(values: tuple[str, ...]) -> Settings:
    """Parsing costs tens of microseconds; the same values always give the same settings."""
    env = dict(zip(SETTING_NAMES, values, strict=True))
    default_hub = _required(env, HUB)
    validate_hub(default_hub, setting=HUB)
    allowed = _csv(env, ALLOWED_HUBS)
    for hub in allowed:
        validate_hub(hub, setting=ALLOWED_HUBS)
    return Settings(
        service=_service_access(env),
        default_hub=default_hub,
        allowed_hubs=tuple(h.lower() for h in (*allowed, default_hub)),
        token_minutes=_int(env, TOKEN_MINUTES, DEFAULT_TOKEN_MINUTES, 1, MAX_TOKEN_MINUTES),
        allow_client_user_id=_bool(env, ALLOW_CLIENT_USER_ID),
        trust_app_service_auth=_bool(env, TRUST_APP_SERVICE_AUTH),
        require_user=_bool(env, REQUIRE_USER),
        roles=_csv(env, ROLES),
        allowed_groups=_allowed_groups(env),
        bearer=_bearer_settings(env),
        groups_claim=env.get(GROUPS_CLAIM, "").strip() or None,
        actions_deadline_seconds=_int(
            env, ACTIONS_DEADLINE, DEFAULT_ACTIONS_DEADLINE_SECONDS, 1, MAX_ACTIONS_DEADLINE_SECONDS
        ),
    )


def _service_access(env: Mapping[str, str]) -> ServiceAccess:
    connection_string = env.get(CONNECTION_STRING, "").strip()
    if connection_string:
        connection = parse_connection_string(connection_string, setting=CONNECTION_STRING)
        return ServiceAccess(endpoint=connection.endpoint, connection=connection)
    endpoint = env.get(ENDPOINT, "").strip()
    if endpoint:
        return ServiceAccess(endpoint=normalize_endpoint(endpoint, setting=ENDPOINT))
    raise ConfigurationError(f"Set {CONNECTION_STRING} (key-based access) or {ENDPOINT} (identity-based access).")


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"{name} is not set.")
    return value


def _csv(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in env.get(name, "").split(",") if item.strip())


def _allowed_groups(env: Mapping[str, str]) -> tuple[str, ...]:
    """``{userId}`` may not be in a prefix entry: with ``room-{userId}-*`` user ``a`` could
    join ``room-a-b-1``, a room of user ``a-b``; no split of a group name tells them apart."""
    patterns = _csv(env, ALLOWED_GROUPS)
    for pattern in patterns:
        if USER_PLACEHOLDER in pattern and pattern.endswith("*"):
            raise ConfigurationError(
                f"{ALLOWED_GROUPS}: an entry with {USER_PLACEHOLDER} cannot end with '*' "
                "(it would match other users' groups); list exact per-user groups instead."
            )
        if pattern != "*":
            validate_group(pattern.removesuffix("*") or pattern, setting=ALLOWED_GROUPS)
    return patterns


_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no", ""}


def _bool(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigurationError(f"{name} must be true or false.")


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number from {low} to {high}.") from None
    if not low <= value <= high:
        raise ConfigurationError(f"{name} must be a whole number from {low} to {high}.")
    return value


# -- idempotency keys (issue 12): read apart from Settings, only by requests that carry a key ----

IDEMPOTENCY_MINUTES = "IdempotencyMinutes"
IDEMPOTENCY_TABLE = "IdempotencyTable"
IDEMPOTENCY_MEMORY_KEYS = "IdempotencyMemoryKeys"
WEBJOBS_STORAGE = "AzureWebJobsStorage"
WEBJOBS_STORAGE_ACCOUNT = "AzureWebJobsStorage__accountName"
WEBJOBS_STORAGE_TABLE_URI = "AzureWebJobsStorage__tableServiceUri"
DEFAULT_IDEMPOTENCY_MINUTES = 60
MAX_IDEMPOTENCY_MINUTES = 7 * 24 * 60
DEFAULT_IDEMPOTENCY_TABLE = "IdempotencyKeys"
DEFAULT_MEMORY_KEYS = 100_000
MAX_MEMORY_KEYS = 10_000_000
TABLE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]{2,62}")
IDEMPOTENCY_SETTING_NAMES = (
    IDEMPOTENCY_MINUTES,
    IDEMPOTENCY_TABLE,
    IDEMPOTENCY_MEMORY_KEYS,
    WEBJOBS_STORAGE,
    WEBJOBS_STORAGE_ACCOUNT,
    WEBJOBS_STORAGE_TABLE_URI,
)


@dataclass(frozen=True)
class IdempotencySettings:
    """Where keys live: Table Storage when ``AzureWebJobsStorage`` names an account, else memory."""

    minutes: int = DEFAULT_IDEMPOTENCY_MINUTES
    table: str = DEFAULT_IDEMPOTENCY_TABLE
    connection_string: str | None = field(default=None, repr=False)
    table_endpoint: str | None = None  # identity-based access, with DefaultAzureCredential
    memory_keys: int = DEFAULT_MEMORY_KEYS  # the in-memory store's bound

    @property
    def uses_table(self) -> bool:
        return bool(self.connection_string or self.table_endpoint)


def load_idempotency_settings(environ: Mapping[str, str] | None = None) -> IdempotencySettings:
    env = os.environ if environ is None else environ
    return _parse_idempotency_settings(tuple(env.get(name, "") for name in IDEMPOTENCY_SETTING_NAMES))


@functools.lru_cache(maxsize=16)
def _parse_idempotency_settings(values: tuple[str, ...]) -> IdempotencySettings:
    env = dict(zip(IDEMPOTENCY_SETTING_NAMES, values, strict=True))
    table = env[IDEMPOTENCY_TABLE].strip() or DEFAULT_IDEMPOTENCY_TABLE
    if not TABLE_NAME.fullmatch(table):
        raise ConfigurationError(f"{IDEMPOTENCY_TABLE} must be 3 to 63 letters and digits, starting with a letter.")
    minutes = _int(env, IDEMPOTENCY_MINUTES, DEFAULT_IDEMPOTENCY_MINUTES, 1, MAX_IDEMPOTENCY_MINUTES)
    connection_string = env[WEBJOBS_STORAGE].strip() or None
    endpoint = env[WEBJOBS_STORAGE_TABLE_URI].strip()
    account = env[WEBJOBS_STORAGE_ACCOUNT].strip()
    if not endpoint and account:
        if not re.fullmatch(r"[a-z0-9]{3,24}", account):
            raise ConfigurationError(f"{WEBJOBS_STORAGE_ACCOUNT} must be a storage account name.")
        endpoint = f"https://{account}.table.core.windows.net"
    if endpoint and not connection_string:
        endpoint = normalize_endpoint(endpoint, setting=WEBJOBS_STORAGE_TABLE_URI)
    memory_keys = _int(env, IDEMPOTENCY_MEMORY_KEYS, DEFAULT_MEMORY_KEYS, 1, MAX_MEMORY_KEYS)
    return IdempotencySettings(minutes, table, connection_string, endpoint or None, memory_keys)


# -- Sign-in with bearer tokens (negotiate) ----------------------------------------------------


def _bearer_settings(env: Mapping[str, str]) -> BearerSettings | None:
    issuer = env.get(JWT_ISSUER, "").strip()
    if not issuer:
        return None
    if not is_secure_url(issuer):
        raise ConfigurationError(f"{JWT_ISSUER} must be an https:// URL (http:// only for localhost).")
    audiences = _csv(env, JWT_AUDIENCE)
    if not audiences:
        raise ConfigurationError(f"{JWT_AUDIENCE} is required when {JWT_ISSUER} is set.")
    jwks_url = env.get(JWKS_URL, "").strip() or None
    if jwks_url is not None and not is_secure_url(jwks_url):
        raise ConfigurationError(f"{JWKS_URL} must be an https:// URL (http:// only for localhost).")
    algorithms = _csv(env, JWT_ALGORITHMS) or DEFAULT_JWT_ALGORITHMS
    if any(algorithm not in ASYMMETRIC_ALGORITHMS for algorithm in algorithms):
        raise ConfigurationError(f"{JWT_ALGORITHMS} may list only {', '.join(ASYMMETRIC_ALGORITHMS)}.")
    return BearerSettings(
        issuer=issuer,
        audiences=audiences,
        jwks_url=jwks_url,
        algorithms=algorithms,
        user_id_claim=env.get(USER_ID_CLAIM, "").strip() or DEFAULT_USER_ID_CLAIM,
    )

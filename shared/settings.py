"""App settings, read from the environment (Azure app settings or ``local.settings.json`` Values).

The environment is read on every invocation, so a changed app setting takes effect without a
restart; it is parsed again only when one of its values changed. Each malformed value raises
:class:`ConfigurationError` naming the setting, never echoing its value.

:class:`Settings` is built from small frozen parts, one per concern: :class:`ServiceAccess`
(how to reach Web PubSub), :class:`HubSettings` (which hubs are served), :class:`SignInSettings`
(who a caller may be) and :class:`~shared.grants.GrantPolicy` (what a token may do). The
idempotency-key settings are read apart, only by requests that carry a key
(:mod:`shared.idempotency.settings`).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from shared.connection_string import ConnectionInfo, normalize_endpoint, parse_connection_string
from shared.errors import ConfigurationError, NotFound
from shared.grants import GrantPolicy, checked_allowed_groups
from shared.validation import is_secure_url, validate_hub

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

DEFAULT_TOKEN_MINUTES = 60
MAX_TOKEN_MINUTES = 1440
# Each call ends within the service client's 5 s deadline; a batch must answer well before the
# platform's 230 s HTTP limit, so items not started by then are not run. The running lease of an
# Idempotency-Key (shared.idempotency.store) is derived from the maximum, so no batch outlives its claim.
DEFAULT_ACTIONS_DEADLINE_SECONDS = 60
MAX_ACTIONS_DEADLINE_SECONDS = 100


@dataclass(frozen=True)
class ServiceAccess:
    """How to reach Web PubSub: with the access key of ``connection``, or, when it is None, with
    the app's identity (``DefaultAzureCredential``, see :mod:`shared.service`)."""

    endpoint: str
    connection: ConnectionInfo | None = field(default=None, repr=False)


@dataclass(frozen=True)
class HubSettings:
    """The hub used when a request names none, and the others a request may name."""

    default: str
    allowed: tuple[str, ...]  # lower-cased, the default included; hubs are case-insensitive

    def resolve(self, requested: str | None) -> str:
        """The hub a caller may use: the default, or a named hub from the allow-list."""
        if requested is None:
            return self.default
        hub = validate_hub(requested)
        if hub.lower() not in self.allowed:
            raise NotFound(f"Hub '{hub}' is not served here; see the {ALLOWED_HUBS} setting.")
        return hub


@dataclass(frozen=True)
class BearerSettings:
    """Which bearer tokens negotiate believes: signed by ``issuer``'s keys, for one of ``audiences``."""

    issuer: str
    audiences: tuple[str, ...]
    jwks_url: str | None  # None: found by OIDC discovery
    algorithms: tuple[str, ...]
    user_id_claim: str = DEFAULT_USER_ID_CLAIM


@dataclass(frozen=True)
class SignInSettings:
    """Where negotiate may learn who the caller is (see :mod:`shared.identity.user`)."""

    bearer: BearerSettings | None = None
    groups_claim: str | None = None
    trust_app_service_auth: bool = False
    allow_client_user_id: bool = False
    require_user: bool = False

    @property
    def verified_user_source(self) -> bool:
        """Whether a user can be established by something a caller cannot forge."""
        return self.bearer is not None or self.trust_app_service_auth


@dataclass(frozen=True)
class Settings:
    """Everything the functions read from app settings, except idempotency keys'."""

    service: ServiceAccess
    hubs: HubSettings
    sign_in: SignInSettings
    grants: GrantPolicy
    token_minutes: int = DEFAULT_TOKEN_MINUTES
    actions_deadline_seconds: int = DEFAULT_ACTIONS_DEADLINE_SECONDS


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
    return Settings(
        service=_service_access(env),
        hubs=_hub_settings(env),
        sign_in=SignInSettings(
            bearer=_bearer_settings(env),
            groups_claim=env.get(GROUPS_CLAIM, "").strip() or None,
            trust_app_service_auth=read_bool(env, TRUST_APP_SERVICE_AUTH),
            allow_client_user_id=read_bool(env, ALLOW_CLIENT_USER_ID),
            require_user=read_bool(env, REQUIRE_USER),
        ),
        grants=GrantPolicy(
            roles=read_csv(env, ROLES),
            allowed_groups=checked_allowed_groups(read_csv(env, ALLOWED_GROUPS), setting=ALLOWED_GROUPS),
        ),
        token_minutes=read_int(env, TOKEN_MINUTES, DEFAULT_TOKEN_MINUTES, 1, MAX_TOKEN_MINUTES),
        actions_deadline_seconds=read_int(
            env, ACTIONS_DEADLINE, DEFAULT_ACTIONS_DEADLINE_SECONDS, 1, MAX_ACTIONS_DEADLINE_SECONDS
        ),
    )


def _service_access(env: Mapping[str, str]) -> ServiceAccess:
    """The connection string wins when both it and the endpoint are set."""
    connection_string = env.get(CONNECTION_STRING, "").strip()
    if connection_string:
        connection = parse_connection_string(connection_string, setting=CONNECTION_STRING)
        return ServiceAccess(endpoint=connection.endpoint, connection=connection)
    endpoint = env.get(ENDPOINT, "").strip()
    if endpoint:
        return ServiceAccess(endpoint=normalize_endpoint(endpoint, setting=ENDPOINT))
    raise ConfigurationError(f"Set {CONNECTION_STRING} (key-based access) or {ENDPOINT} (identity-based access).")


def _hub_settings(env: Mapping[str, str]) -> HubSettings:
    default = env.get(HUB, "").strip()
    if not default:
        raise ConfigurationError(f"{HUB} is not set.")
    validate_hub(default, setting=HUB)
    allowed = read_csv(env, ALLOWED_HUBS)
    for hub in allowed:
        validate_hub(hub, setting=ALLOWED_HUBS)
    return HubSettings(default, tuple(hub.lower() for hub in (*allowed, default)))


def _bearer_settings(env: Mapping[str, str]) -> BearerSettings | None:
    issuer = env.get(JWT_ISSUER, "").strip()
    if not issuer:
        return None
    if not is_secure_url(issuer):
        raise ConfigurationError(f"{JWT_ISSUER} must be an https:// URL (http:// only for localhost).")
    audiences = read_csv(env, JWT_AUDIENCE)
    if not audiences:
        raise ConfigurationError(f"{JWT_AUDIENCE} is required when {JWT_ISSUER} is set.")
    jwks_url = env.get(JWKS_URL, "").strip() or None
    if jwks_url is not None and not is_secure_url(jwks_url):
        raise ConfigurationError(f"{JWKS_URL} must be an https:// URL (http:// only for localhost).")
    algorithms = read_csv(env, JWT_ALGORITHMS) or DEFAULT_JWT_ALGORITHMS
    if any(algorithm not in ASYMMETRIC_ALGORITHMS for algorithm in algorithms):
        raise ConfigurationError(f"{JWT_ALGORITHMS} may list only {', '.join(ASYMMETRIC_ALGORITHMS)}.")
    return BearerSettings(
        issuer=issuer,
        audiences=audiences,
        jwks_url=jwks_url,
        algorithms=algorithms,
        user_id_claim=env.get(USER_ID_CLAIM, "").strip() or DEFAULT_USER_ID_CLAIM,
    )


# -- reading one value ---------------------------------------------------------------------------

_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no", ""}


def read_csv(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in env.get(name, "").split(",") if item.strip())


def read_bool(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigurationError(f"{name} must be true or false.")


def read_int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
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

"""Typed errors, grouped by cause; :mod:`shared.responses` writes every one of them.

Callers raise by meaning (``Forbidden("...")``) and catch by cause (``except RetryLater``).
Each class declares its HTTP status and ``code``; the class that stands for a cause owns what
the cause implies: :class:`RetryLater` owns ``Retry-After``, the sign-in errors own
``WWW-Authenticate``. Messages are written for the caller and never contain keys, tokens or
connection strings.

The tree::

    AppError                          500 InternalError (the base; never raised as such)
    ├── RequestError                  the caller's request is wrong: fix it, do not retry
    │   ├── BadRequest                400
    │   │   └── UnaddressableName     400  a name with '/' the service cannot address
    │   ├── Unauthorized              401
    │   │   ├── SignInRequired        401  WWW-Authenticate: Bearer
    │   │   └── InvalidBearerToken    401  WWW-Authenticate: Bearer error="invalid_token"
    │   ├── Forbidden                 403
    │   ├── NotFound                  404
    │   ├── PayloadTooLarge           413
    │   ├── UnsupportedMediaType      415
    │   └── UnprocessableContent      422  an Idempotency-Key reused for another request
    ├── ConfigurationError            500  an app setting is wrong: the operator must fix it
    ├── UpstreamRejected              502  Web PubSub answered but refused the call
    └── RetryLater                    the same request may succeed later: Retry-After
        ├── Conflict                  409  the same Idempotency-Key is still running (1 s)
        ├── UpstreamUnavailable       503  Web PubSub could not be reached in time (5 s)
        ├── TooManyRequests           429  a connection sends events faster than EventsPerMinute (5 s)
        ├── StoreUnavailable          503  the idempotency key store could not be reached (5 s)
        ├── QueueUnavailable          503  the events queue could not be reached; nothing was queued (5 s)
        └── IdentityProviderUnavailable 503  the issuer's signing keys could not be fetched (5 s)
"""

from __future__ import annotations

from collections.abc import Mapping


class AppError(Exception):
    """Base of every error the functions answer with; carries its HTTP status and code."""

    status: int = 500
    code: str = "InternalError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def headers(self) -> Mapping[str, str]:
        """Headers the cause implies (none by default)."""
        return {}


# -- the caller's request is wrong ----------------------------------------------------------------


class RequestError(AppError):
    """The request cannot succeed as sent; the message says what to change."""

    status = 400
    code = "BadRequest"


class BadRequest(RequestError):
    status = 400
    code = "BadRequest"


class UnaddressableName(BadRequest):
    """A user id, group name or connection id the service cannot address (it holds a ``/``)."""


class Unauthorized(RequestError):
    status = 401
    code = "Unauthorized"


class SignInRequired(Unauthorized):
    """No user could be established and the settings require one (RFC 6750: sign in)."""

    @property
    def headers(self) -> Mapping[str, str]:
        return {"WWW-Authenticate": "Bearer"}


class InvalidBearerToken(Unauthorized):
    """A bearer token was presented but fails verification (RFC 6750: renew it); the message says
    why and never quotes the token."""

    @property
    def headers(self) -> Mapping[str, str]:
        return {"WWW-Authenticate": 'Bearer error="invalid_token"'}


class Forbidden(RequestError):
    status = 403
    code = "Forbidden"


class NotFound(RequestError):
    status = 404
    code = "NotFound"


class PayloadTooLarge(RequestError):
    status = 413
    code = "PayloadTooLarge"


class UnsupportedMediaType(RequestError):
    status = 415
    code = "UnsupportedMediaType"


class UnprocessableContent(RequestError):
    """The ``Idempotency-Key`` was already used for a different request."""

    status = 422
    code = "UnprocessableContent"


# -- the app's settings are wrong ------------------------------------------------------------------


class ConfigurationError(AppError):
    """An app setting is missing or malformed; the message names the setting, never its value."""

    status = 500
    code = "ConfigurationError"


# -- the service refused -----------------------------------------------------------------------------


class UpstreamRejected(AppError):
    """Web PubSub answered but refused the call (wrong key, a status the app does not expect)."""

    status = 502
    code = "UpstreamRejected"

    def __init__(self, message: str, *, upstream_status: int | None = None, request_id: str | None = None) -> None:
        super().__init__(message)
        self.upstream_status = upstream_status
        self.request_id = request_id


# -- try again later ---------------------------------------------------------------------------------


class RetryLater(AppError):
    """The same request may succeed later; ``Retry-After`` says when to try again."""

    status = 503
    code = "ServiceUnavailable"
    retry_after_seconds: int = 5

    @property
    def headers(self) -> Mapping[str, str]:
        return {"Retry-After": str(self.retry_after_seconds)}


class Conflict(RetryLater):
    """A request with the same ``Idempotency-Key`` is still running; retry in a second."""

    status = 409
    code = "Conflict"
    retry_after_seconds = 1


class UpstreamUnavailable(RetryLater):
    """Web PubSub could not be reached in time."""

    code = "UpstreamUnavailable"


class TooManyRequests(RetryLater):
    """A client connection sends events faster than its limit allows."""

    status = 429
    code = "TooManyRequests"


class QueueUnavailable(RetryLater):
    """The Storage queue for client events could not be reached; the event was not queued."""

    code = "QueueUnavailable"


class StoreUnavailable(RetryLater):
    """The idempotency key store could not be reached; nothing was executed."""

    code = "StoreUnavailable"


class IdentityProviderUnavailable(RetryLater):
    """The issuer's keys could not be fetched in time and no cached key fits."""

    code = "IdentityProviderUnavailable"

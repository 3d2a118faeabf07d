"""Typed errors raised by ``shared`` and the single place they become HTTP statuses.

Callers raise by meaning (``Forbidden("...")``); :mod:`shared.responses` turns any
:class:`AppError` into ``{"error": {"code", "message"}}`` with the status declared here.
Messages are written for the caller and must never contain keys, tokens or connection strings.
"""

from __future__ import annotations


class AppError(Exception):
    """Base of every error the functions answer with; carries its HTTP status and code."""

    status: int = 500
    code: str = "InternalError"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = dict(headers or {})


class BadRequest(AppError):
    status = 400
    code = "BadRequest"


class UnaddressableName(BadRequest):
    """A user id, group name or connection id the service cannot address (it holds a ``/``)."""


class Unauthorized(AppError):
    status = 401
    code = "Unauthorized"


class Forbidden(AppError):
    status = 403
    code = "Forbidden"


class NotFound(AppError):
    status = 404
    code = "NotFound"


class PayloadTooLarge(AppError):
    status = 413
    code = "PayloadTooLarge"


class UnsupportedMediaType(AppError):
    status = 415
    code = "UnsupportedMediaType"


class ConfigurationError(AppError):
    """An app setting is missing or malformed; the message names the setting, never its value."""

    status = 500
    code = "ConfigurationError"


class UpstreamRejected(AppError):
    """Web PubSub answered but refused the call (wrong key, bad request, ...)."""

    status = 502
    code = "UpstreamRejected"

    def __init__(self, message: str, *, upstream_status: int | None = None, request_id: str | None = None) -> None:
        super().__init__(message)
        self.upstream_status = upstream_status
        self.request_id = request_id


class UpstreamUnavailable(AppError):
    """Web PubSub could not be reached in time; the caller may retry later."""

    status = 503
    code = "UpstreamUnavailable"
    retry_after_seconds = 5

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"Retry-After": str(self.retry_after_seconds)})


# -- idempotency keys (issue 12) ----------------------------------------------------------------


class Conflict(AppError):
    """A request with the same ``Idempotency-Key`` is still running; retry in a second."""

    status = 409
    code = "Conflict"

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"Retry-After": "1"})


class UnprocessableContent(AppError):
    """The ``Idempotency-Key`` was already used for a different request."""

    status = 422
    code = "UnprocessableContent"


class StoreUnavailable(AppError):
    """The idempotency key store could not be reached; nothing was executed."""

    status = 503
    code = "StoreUnavailable"

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"Retry-After": "5"})


# -- Sign-in with a bearer token (negotiate) ---------------------------------------------------
# RFC 6750 challenges: a client learns from WWW-Authenticate whether to sign in or to renew.


class SignInRequired(Unauthorized):
    """No user could be established and the settings require one."""

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class InvalidBearerToken(Unauthorized):
    """A bearer token was presented but fails verification; the message says why, never quotes it."""

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


class IdentityProviderUnavailable(AppError):
    """The issuer's keys could not be fetched in time and no cached key fits; retry later."""

    status = 503
    code = "IdentityProviderUnavailable"
    retry_after_seconds = 5

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"Retry-After": str(self.retry_after_seconds)})

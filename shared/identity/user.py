"""Who the caller is, once established, and the rule for which user id a client token may carry.

A user is established by something a caller cannot forge (a verified bearer token,
:mod:`shared.identity.bearer`; App Service Authentication's headers when that platform feature is
trusted, :mod:`shared.identity.app_service`), or chosen by the caller (``?userId=``) only where
the settings allow it. Once a source that a caller cannot forge is configured, ``?userId=`` may
only repeat the user it established: no one can pose as someone who signs in.

User ids and group names taken from claims obey the same rules as those from the query
(:mod:`shared.validation`): no control characters, no lone surrogates, no ``/``.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared import settings as names
from shared.errors import AppError, BadRequest, Forbidden, SignInRequired, UnaddressableName
from shared.settings import SignInSettings
from shared.validation import validate_group

# What reading JSON out of a header can raise: bad base64, bad UTF-8, bad JSON, and JSON nested
# deeper than the parser's recursion limit (a few kilobytes of "[" would otherwise be a 500).
UNREADABLE_JSON = (ValueError, binascii.Error, RecursionError)


@dataclass(frozen=True)
class SignedInUser:
    """A user established by something a caller cannot forge, with the groups it grants."""

    user_id: str
    groups: tuple[str, ...] = ()
    expires_at: datetime | None = None  # the bearer token's exp; the client token may not outlive it


def decide_user_id(requested: str | None, signed_in: SignedInUser | None, sign_in: SignInSettings) -> str | None:
    """The user id the client token carries: the signed-in user's, or the requested one where the
    settings let a caller choose; ``None`` for an anonymous connection. Refusals are 401/403."""
    if signed_in is not None:
        if requested is not None and requested != signed_in.user_id:
            raise Forbidden("userId must match the signed-in user.")
        return signed_in.user_id
    if requested is not None:
        if sign_in.verified_user_source:
            raise Forbidden("userId is accepted only from a signed-in user, and must match that user.")
        if not sign_in.allow_client_user_id:
            raise Forbidden(f"Choosing a userId is not allowed; see the {names.ALLOW_CLIENT_USER_ID} setting.")
        return requested
    if sign_in.require_user:
        raise SignInRequired(f"Sign-in is required; see the {names.REQUIRE_USER} setting.")
    return None


def claimed_groups(value: Any, error: type[AppError], claim: str | None) -> tuple[str, ...]:
    """A claim holding one group name or a list of them; anything else is refused with ``error``,
    and a group the service cannot address (with ``/``) with 403."""
    if value is None:
        return ()
    values = [value] if isinstance(value, str) else value
    try:
        if isinstance(values, list) and all(isinstance(group, str) for group in values):
            return tuple(dict.fromkeys(validate_group(group) for group in values))
    except UnaddressableName as unaddressable:
        raise Forbidden(f"The '{claim}' claim: {unaddressable.message}") from None
    except BadRequest:
        pass
    raise error(f"The '{claim}' claim does not hold usable group names; see {names.GROUPS_CLAIM}.")

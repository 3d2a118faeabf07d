"""The group and role policy: which groups a user may join at connect, and which roles a token carries.

Both come from app settings (``NegotiateAllowedGroups``, ``NegotiateRoles``), read by
:mod:`shared.settings` into a :class:`GrantPolicy`. ``{userId}`` in an entry stands for the
caller's user id. Two rules keep one user from reaching another's groups:

* ``{userId}`` is never part of a prefix entry (``room-{userId}-*``): user ``a`` would match
  ``room-a-b-1``, a room of user ``a-b``, and no split of a group name tells them apart;
* in a wildcard group role (``webpubsub.joinLeaveGroups.user-{userId}*``) the user id is
  escaped, so that a user named ``*`` gets a role for their own groups, not for everyone's.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.errors import ConfigurationError
from shared.validation import validate_group

USER_PLACEHOLDER = "{userId}"
# The service's wildcard group roles: ``?`` and ``*`` match, ``\`` escapes ``\ * ?``.
PATTERN_ROLE_PREFIXES = ("webpubsub.joinLeaveGroups.", "webpubsub.sendToGroups.")


@dataclass(frozen=True)
class GrantPolicy:
    """Roles for every token and the groups a client may ask to join, from app settings."""

    roles: tuple[str, ...] = ()
    allowed_groups: tuple[str, ...] = ()  # exact names, or prefixes ending in "*"

    def group_allowed(self, group: str, user_id: str | None = None, claimed: tuple[str, ...] = ()) -> bool:
        """Exact names, or a prefix when the allowed entry ends with ``*``; or one of the groups
        the user's groups claim (``NegotiateGroupsClaim``) grants.

        ``{userId}`` in an entry stands for the caller's user id (taken literally, even a ``*``
        in it); such an entry matches nothing when there is no user id.
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
        """The roles with ``{userId}`` filled in; a role that needs a user id is left out without
        one. Other roles, wildcard group roles included, pass through unchanged."""
        roles = (
            _with_user(role, pattern_literal(user_id) if role.startswith(PATTERN_ROLE_PREFIXES) else user_id)
            for role in self.roles
        )
        return tuple(role for role in roles if role is not None)


def checked_allowed_groups(patterns: tuple[str, ...], *, setting: str) -> tuple[str, ...]:
    """The entries of ``setting``, each a valid group name or prefix, none a per-user prefix."""
    for pattern in patterns:
        if USER_PLACEHOLDER in pattern and pattern.endswith("*"):
            raise ConfigurationError(
                f"{setting}: an entry with {USER_PLACEHOLDER} cannot end with '*' "
                "(it would match other users' groups); list exact per-user groups instead."
            )
        if pattern != "*":
            validate_group(pattern.removesuffix("*") or pattern, setting=setting)
    return patterns


def pattern_literal(text: str | None) -> str | None:
    """``text`` as a literal inside a wildcard group role."""
    if text is None:
        return None
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")


def _with_user(pattern: str, user_id: str | None) -> str | None:
    if USER_PLACEHOLDER not in pattern:
        return pattern
    return pattern.replace(USER_PLACEHOLDER, user_id) if user_id else None

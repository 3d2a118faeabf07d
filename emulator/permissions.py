"""Group roles of a client token, literal and wildcard, as one rule: :class:`Roles`.

Literal roles: ``webpubsub.<permission>`` (any group) and ``webpubsub.<permission>.<group>``.
Wildcard roles (``concept-wildcard-group-roles``): ``webpubsub.joinLeaveGroups.<pattern>`` and
``webpubsub.sendToGroups.<pattern>``, where ``?`` is one character but ``.``, ``*`` any run
without ``.``, ``**`` any run including ``.``, and ``\\`` escapes ``\\``, ``*`` and ``?``. A pattern
with more than five ``*`` or a dangling ``\\`` is invalid and grants nothing. Matching is
case-sensitive, as on the service.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

PERMISSIONS = ("joinLeaveGroup", "sendToGroup")
MAX_PATTERN_STARS = 5
MAX_PATTERN_LENGTH = 1024


class InvalidPattern(ValueError):
    pass


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """The regular expression a wildcard group pattern stands for; :class:`InvalidPattern` if bad."""
    if not pattern or len(pattern) > MAX_PATTERN_LENGTH:
        raise InvalidPattern("a pattern has 1 to 1024 characters")
    parts: list[str] = []
    stars = 0
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            if index + 1 == len(pattern) or pattern[index + 1] not in "\\*?":
                raise InvalidPattern("'\\' escapes only '\\', '*' and '?'")
            parts.append(re.escape(pattern[index + 1]))
            index += 2
            continue
        if pattern.startswith("**", index):
            stars += 2
            parts.append(".*")
            index += 2
            continue
        if char == "*":
            stars += 1
            parts.append("[^.]*")
        elif char == "?":
            parts.append("[^.]")
        else:
            parts.append(re.escape(char))
        index += 1
    if stars > MAX_PATTERN_STARS:
        raise InvalidPattern(f"a pattern has at most {MAX_PATTERN_STARS} '*'")
    return re.compile("".join(parts), re.DOTALL)


@dataclass(frozen=True)
class Roles:
    """What a token's ``role`` claim allows, parsed once at connect."""

    names: frozenset[str] = frozenset()
    patterns: dict[str, tuple[re.Pattern[str], ...]] = field(default_factory=dict)

    @classmethod
    def parse(cls, names: frozenset[str]) -> Roles:
        patterns: dict[str, list[re.Pattern[str]]] = {}
        for permission in PERMISSIONS:
            prefix = f"webpubsub.{permission}s."
            for name in names:
                if name.startswith(prefix):
                    try:
                        patterns.setdefault(permission, []).append(compile_pattern(name[len(prefix) :]))
                    except InvalidPattern:
                        continue  # grants nothing, as an unknown role grants nothing
        return cls(names, {permission: tuple(found) for permission, found in patterns.items()})

    def allow(self, permission: str, group: str | None) -> bool:
        """Whether the roles give ``permission`` for ``group`` (``None``: for every group)."""
        role = f"webpubsub.{permission}"
        if role in self.names:
            return True
        if group is None:
            return False
        return f"{role}.{group}" in self.names or any(
            pattern.fullmatch(group) for pattern in self.patterns.get(permission, ())
        )

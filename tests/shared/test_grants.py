"""The group and role policy, as a pure rule: no settings read, no socket."""

import pytest

from shared.errors import ConfigurationError
from shared.grants import GrantPolicy, checked_allowed_groups


def policy(groups: str = "", roles: str = "") -> GrantPolicy:
    split = lambda text: tuple(item for item in text.split(",") if item)  # noqa: E731
    return GrantPolicy(roles=split(roles), allowed_groups=checked_allowed_groups(split(groups), setting="Groups"))


def test_group_patterns() -> None:
    grants = policy("lobby,room-*")
    assert grants.group_allowed("lobby")
    assert grants.group_allowed("room-1")
    assert not grants.group_allowed("lobby2")
    assert not grants.group_allowed("room")


def test_user_placeholder_in_groups_and_roles() -> None:
    grants = policy("user-{userId},room-*", "webpubsub.sendToGroup.user-{userId},webpubsub.joinLeaveGroups.room-*")
    assert grants.group_allowed("user-alice", "alice")
    assert not grants.group_allowed("user-bob", "alice")
    assert grants.group_allowed("room-alice-1", "alice")
    assert not grants.group_allowed("user-a", "*")  # a '*' in the user id is taken literally
    assert grants.group_allowed("user-*", "*")
    assert not grants.group_allowed("user-", None)
    assert not grants.group_allowed("user-{userId}", None)
    assert grants.group_allowed("team", "alice", claimed=("team",))
    assert grants.roles_for("alice") == ("webpubsub.sendToGroup.user-alice", "webpubsub.joinLeaveGroups.room-*")
    assert grants.roles_for(None) == ("webpubsub.joinLeaveGroups.room-*",)


@pytest.mark.parametrize("entry", ["room-{userId}-*", "{userId}*"])
def test_the_user_placeholder_is_never_part_of_a_prefix_entry(entry: str) -> None:
    """With ``room-{userId}-*`` user ``a`` would match ``room-a-b-1``, a room of user ``a-b``."""
    with pytest.raises(ConfigurationError, match=r"^Groups: "):
        policy(f"lobby,{entry}")


def test_an_exact_per_user_entry_matches_only_that_user() -> None:
    assert not policy("lobby,user-{userId}").group_allowed("user-a-b", "a")
    assert policy("lobby,user-{userId}").group_allowed("user-a-b", "a-b")


@pytest.mark.parametrize("entry", ["a/b", "room/*", "\x00", " "])
def test_allowed_group_entries_must_be_group_names(entry: str) -> None:
    with pytest.raises(ConfigurationError, match=r"^Groups: "):
        policy(entry)


def test_the_user_id_is_a_literal_in_wildcard_group_roles() -> None:
    """The service's patterns: ``?`` and ``*`` match, a backslash escapes a backslash, ``*`` or ``?``."""
    grants = policy(
        roles="webpubsub.joinLeaveGroups.user-{userId}.*,webpubsub.sendToGroups.{userId}-**,webpubsub.sendToGroup.u-{userId}"
    )
    assert grants.roles_for("*") == (
        r"webpubsub.joinLeaveGroups.user-\*.*",
        r"webpubsub.sendToGroups.\*-**",
        "webpubsub.sendToGroup.u-*",  # one exact group: nothing to escape
    )
    assert grants.roles_for(r"a\b?**") == (
        r"webpubsub.joinLeaveGroups.user-a\\b\?\*\*.*",
        r"webpubsub.sendToGroups.a\\b\?\*\*-**",
        r"webpubsub.sendToGroup.u-a\b?**",
    )

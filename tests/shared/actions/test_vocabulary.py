"""The action vocabulary as a pure rule: JSON items in, service calls (or the field at fault) out."""

import json
from typing import Any

import pytest

from shared.actions.call import MAX_URL_CHARACTERS, Read
from shared.actions.vocabulary import InvalidField, parse_action


def refused(item: Any) -> InvalidField:
    with pytest.raises(InvalidField) as raised:
        parse_action(item)
    return raised.value


def test_a_send_becomes_its_rest_call() -> None:
    action = parse_action({"actionName": "SENDTOGROUP", "group": "a b", "data": "hi", "ttl": 5})
    assert (action.name, action.method, action.path) == ("sendToGroup", "POST", "groups/a%20b/:send")
    assert (action.body, action.content_type, action.query) == (b"hi", "text/plain", (("messageTtlSeconds", "5"),))
    assert action.success_status == 202


def test_reads_say_what_they_answer() -> None:
    assert parse_action({"actionName": "userExists", "userId": "u"}).read is Read.EXISTS
    listing = parse_action({"actionName": "listConnectionsInGroup", "group": "g", "top": 3})
    assert (listing.read, listing.top, listing.success_status) == (Read.CONNECTIONS, 3, 200)


def test_an_unknown_field_is_named_even_where_a_required_one_is_missing() -> None:
    """``user`` for ``userId`` is the caller's mistake to be told about, not a missing userId."""
    error = refused({"actionName": "sendToUser", "user": "ann", "data": "x"})
    assert (error.field, error.message) == ("user", 'sendToUser takes no field named "user".')


def test_a_known_field_another_action_takes_is_refused_after_parsing() -> None:
    error = refused({"actionName": "sendToAll", "data": "x", "group": "g"})
    assert (error.field, error.message) == ("group", 'sendToAll takes no field named "group".')


def test_an_unknown_action_is_named_cut_short_and_escaped() -> None:
    assert refused({"actionName": "sendToUsr"}).message == '"sendToUsr" is not a known action.'
    long_name = "\x1b[31m" + "x" * 100
    message = refused({"actionName": long_name}).message
    assert message == json.dumps(long_name[:64]) + " is not a known action."
    assert "\x1b" not in message
    assert refused({}).message == "actionName is missing."
    assert refused({"actionName": 3}).message == "actionName must be a string."


@pytest.mark.parametrize("name", ["chec\u212aPermission", "\u017fendToAll"])
def test_names_match_ascii_case_insensitively_only(name: str) -> None:
    assert refused({"actionName": name, "data": "x"}).field == "actionName"


@pytest.mark.parametrize("field", ["dataType", "ttl", "filter", "excluded", "data"])
def test_null_is_refused_not_taken_as_absent(field: str) -> None:
    error = refused({"actionName": "sendToAll", "data": "x", field: None})
    assert (error.field, error.message) == (field, f"{field} must not be null; leave it out instead.")


def test_a_lone_surrogate_in_any_text_field_names_the_field() -> None:
    for field in ("filter", "data", "reason"):
        item = (
            {"actionName": "closeAllConnections", "reason": "r"}
            if field == "reason"
            else {"actionName": "sendToAll", "data": "x"}
        )
        assert refused({**item, field: "\ud800"}).field == field


def test_a_url_too_long_names_the_largest_part() -> None:
    error = refused({"actionName": "sendToAll", "data": "x", "excluded": ["c" * 1000] * 8})
    assert error.field == "excluded" and str(MAX_URL_CHARACTERS) in error.message


def test_a_groups_change_too_large_once_escaped_is_refused() -> None:
    assert refused({"actionName": "addConnectionsToGroups", "groups": ["\u00e9" * 1024] * 200}).field == "groups"
    fits = parse_action({"actionName": "addConnectionsToGroups", "groups": ["\u00e9" * 1024] * 150})
    assert fits.body is not None and len(fits.body) < 1024 * 1024

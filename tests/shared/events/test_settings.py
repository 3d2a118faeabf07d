"""The events settings: every part off by default, each malformed value named, never echoed."""

from __future__ import annotations

import pytest

from shared.errors import ConfigurationError
from shared.events.settings import EventsSettings, load_events_settings

STORAGE = "UseDevelopmentStorage=true"


def test_everything_is_off_out_of_the_box() -> None:
    settings = load_events_settings({})
    assert settings == EventsSettings()
    assert settings.queue is None and settings.identity is None and not settings.limits.rate_limited


def test_the_parts_read_their_settings() -> None:
    settings = load_events_settings(
        {
            "EventsRequireUser": "true",
            "EventsPresenceGroups": "lobby*,user-{userId}",
            "EventsQueueEvents": "order, audit*",
            "AzureWebJobsStorage": STORAGE,
            "EventsPerMinute": "120",
            "EventsMaxBytes": "4096",
        }
    )
    assert settings.require_user and settings.presence_groups == ("lobby*", "user-{userId}")
    assert settings.queue is not None and settings.queue.name == "client-events"
    assert settings.queues("order") and settings.queues("audit-log") and not settings.queues("orders")
    assert (settings.limits.per_minute, settings.limits.max_bytes) == (120, 4096)


def test_identity_based_storage_names_the_queue_endpoint() -> None:
    settings = load_events_settings({"EventsQueueEvents": "*", "AzureWebJobsStorage__accountName": "myaccount"})
    assert settings.queue is not None and settings.queue.account_url == "https://myaccount.queue.core.windows.net"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"EventsQueueEvents": "*"}, "AzureWebJobsStorage"),
        ({"EventsQueueEvents": "*", "AzureWebJobsStorage": STORAGE, "EventsQueueName": "Bad_Name"}, "EventsQueueName"),
        ({"EventsPerMinute": "0"}, "EventsPerMinute"),
        ({"EventsMaxBytes": "2000000"}, "EventsMaxBytes"),
        ({"EventsRequireUser": "maybe"}, "EventsRequireUser"),
        ({"EventsPresenceGroups": "room-{userId}-*"}, "EventsPresenceGroups"),
        ({"EventsIdentityIssuer": "https://login.example/t/v2.0"}, "EventsIdentityAudience"),
        (
            {
                "EventsIdentityIssuer": "http://issuer.example/t",
                "EventsIdentityAudience": "a",
                "EventsIdentityObjectId": "o",
            },
            "EventsIdentityIssuer",
        ),
        ({"EventsStateKey": "short-secret-value"}, "EventsStateKey"),
    ],
)
def test_a_malformed_setting_is_named_and_not_echoed(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        load_events_settings(env)
    assert named in raised.value.message
    assert "short-secret-value" not in raised.value.message

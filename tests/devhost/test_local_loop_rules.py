"""The pure rules behind `make run`'s whole loop, without a socket: which hubs get the `events`
function as their handler, in which shape, and when the stack starts Azurite for the app."""

from __future__ import annotations

import pytest

from devhost.hub_wiring import event_handler, hub_settings_for, served_hubs
from devhost.local_storage import wants_local_storage
from emulator.hub_settings import HubSettingsError


def test_every_hub_the_app_serves_is_wired_once_default_first() -> None:
    values = {"WebPubSubHub": "pubsub", "WebPubSubAllowedHubs": " chat, PubSub ,, news "}
    assert served_hubs(values) == ["pubsub", "chat", "news"]  # names are case-insensitive
    assert served_hubs({}) == []


def test_the_wiring_is_the_services_shape_for_every_event_and_presence() -> None:
    assert event_handler("http://localhost:7071/api/events") == {
        "urlTemplate": "http://localhost:7071/api/events",
        "userEventPattern": "*",
        "systemEvents": ["connect", "connected", "disconnected"],
        "groupPresenceEvents": {"eventNames": ["joined", "left"]},
    }
    settings = hub_settings_for(["pubsub", "Chat"], "http://localhost:7071/api/events")
    assert set(settings) == {"pubsub", "chat"}
    hub = settings["chat"]
    assert not hub.allow_anonymous  # the service's default: negotiate hands out tokens
    (handler,) = hub.event_handlers
    assert all(hub.handler_for(name, system=True) is handler for name in ("connect", "connected", "disconnected"))
    assert hub.handler_for("anything", system=False) is handler
    assert hub.presence_handler_for("joined", "any group") is handler
    assert hub.presence_handler_for("left", "demo") is handler


def test_a_hub_name_the_service_refuses_stops_the_wiring_with_the_settings_error() -> None:
    with pytest.raises(HubSettingsError, match="not a valid hub name"):
        hub_settings_for(["1bad"], "http://localhost:7071/api/events")


@pytest.mark.parametrize(
    ("values", "local"),
    [
        ({}, True),
        ({"AzureWebJobsStorage": ""}, True),
        ({"AzureWebJobsStorage": "  "}, True),
        ({"AzureWebJobsStorage": "UseDevelopmentStorage=true"}, True),
        ({"AzureWebJobsStorage": "DefaultEndpointsProtocol=https;AccountName=contoso;AccountKey=a2V5;"}, False),
        ({"AzureWebJobsStorage": "", "AzureWebJobsStorage__accountName": "contoso"}, False),
    ],
)
def test_azurite_starts_only_when_the_settings_name_no_storage_account(values: dict[str, str], local: bool) -> None:
    assert wants_local_storage(values) is local

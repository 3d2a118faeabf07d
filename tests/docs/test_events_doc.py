"""docs/events.md's hub settings agree with the code: what it says `make run` gives the emulator is
what ``devhost.hub_wiring`` builds, and Azure's handler, but for its ``auth``, is a handler the
emulator takes in ``--hub-settings``."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from devhost.hub_wiring import event_handler
from emulator.hub_settings import HubSettingsError, parse_hub_settings
from tests.support import APP_ROOT

EVENTS_DOC = APP_ROOT / "docs" / "events.md"
JSON_BLOCK = re.compile(r"```json\n(?P<text>.*?)```", re.DOTALL)
MAKE_RUN_URL = "http://localhost:7071/api/events"


def handler_blocks() -> list[dict[str, Any]]:
    """Every JSON block of docs/events.md that is an event handler (it has a ``urlTemplate``)."""
    blocks = [json.loads(match["text"]) for match in JSON_BLOCK.finditer(EVENTS_DOC.read_text())]
    return [block for block in blocks if isinstance(block, dict) and "urlTemplate" in block]


def as_hub_settings(handler: dict[str, Any]) -> dict[str, Any]:
    return {"hubs": {"pubsub": {"eventHandlers": [handler]}}}


def test_the_make_run_handler_is_the_one_the_stack_gives_the_emulator() -> None:
    local = [block for block in handler_blocks() if block["urlTemplate"] == MAKE_RUN_URL]
    assert local == [event_handler(MAKE_RUN_URL)]


def test_azures_handler_but_for_its_auth_is_one_the_emulator_takes() -> None:
    [azure] = [block for block in handler_blocks() if "azurewebsites.net" in block["urlTemplate"]]
    assert azure["auth"]["type"] == "ManagedIdentity"
    with pytest.raises(HubSettingsError, match="unknown field 'auth'"):  # as the doc says
        parse_hub_settings(as_hub_settings(azure))
    without_auth = {name: value for name, value in azure.items() if name != "auth"}
    [handler] = parse_hub_settings(as_hub_settings(without_auth))["pubsub"].event_handlers
    assert handler.group_presence.matches("joined", "lobby-1") and not handler.group_presence.matches("left", "demo")

"""The stack's pure rules, without a socket: which Web PubSub the settings name, and which
settings follow the stack to other ports."""

from __future__ import annotations

import pytest

from devhost.local_settings import SettingsError
from devhost.ports import Move, follow, strays
from devhost.web_pubsub import choose_service, with_port

KEY = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH"
LOCAL = f"Endpoint=http://localhost;Port=8080;AccessKey={KEY};Version=1.0;"
CS, EP, AZURE = "WebPubSubConnectionString", "WebPubSubEndpoint", "https://x.webpubsub.azure.com"


@pytest.mark.parametrize(
    ("values", "setting", "is_emulator", "ignored"),
    [
        ({}, None, True, None),
        ({CS: LOCAL}, CS, True, None),
        ({CS: f"Endpoint=http://127.0.0.1:9000;AccessKey={KEY}"}, CS, True, None),
        ({CS: f"endpoint={AZURE};accesskey={KEY}"}, CS, False, None),
        ({EP: AZURE}, EP, False, None),
        ({CS: " ", EP: AZURE}, EP, False, None),
        ({CS: LOCAL, EP: AZURE}, CS, True, EP),
    ],
)
def test_the_connection_string_wins_and_only_a_loopback_one_means_the_emulator(
    values: dict[str, str], setting: str | None, is_emulator: bool, ignored: str | None
) -> None:
    choice = choose_service(values)
    assert (choice.setting, choice.is_emulator, choice.ignored) == (setting, is_emulator, ignored)
    assert KEY not in repr(choice) + choice.credential() + str(choice.conflict())


def test_a_connection_string_with_no_endpoint_is_a_settings_error() -> None:
    with pytest.raises(SettingsError, match="WebPubSubConnectionString: the endpoint must be an http"):
        choose_service({"WebPubSubConnectionString": f"AccessKey={KEY}"})


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (LOCAL, f"Endpoint=http://localhost;Port=9090;AccessKey={KEY};Version=1.0;"),
        (f"Endpoint=http://localhost:8080;AccessKey={KEY}", f"Endpoint=http://localhost:9090;AccessKey={KEY}"),
        (f"Endpoint=http://[::1]:8080;AccessKey={KEY}", f"Endpoint=http://[::1]:9090;AccessKey={KEY}"),
    ],
)
def test_with_port_moves_the_port_field_else_the_url(before: str, after: str) -> None:
    assert with_port(before, 9090) == after


def test_only_the_file_settings_on_the_ports_it_names_follow() -> None:
    values = {
        "WebPubSubConnectionString": LOCAL,
        "NegotiateJwtIssuer": "http://localhost:7071/dev-identity",
        "Elsewhere": "http://localhost:70710/x https://login.example:7071/ http://localhostx:7071",
        "FromTheEnvironment": "http://127.0.0.1:7071/",
    }
    followed = follow(
        values, ("http://localhost:7071", "https://app.example"), {7071: 7072, 8080: 8081}, {"FromTheEnvironment"}
    )
    assert followed.values == {
        **values,
        "WebPubSubConnectionString": LOCAL.replace("Port=8080", "Port=8081"),
        "NegotiateJwtIssuer": "http://localhost:7072/dev-identity",
    }
    assert followed.cors_origins == ("http://localhost:7072", "https://app.example")
    assert followed.moves == (
        Move("WebPubSubConnectionString", "http://localhost:8080", "http://localhost:8081"),
        Move("NegotiateJwtIssuer", "http://localhost:7071", "http://localhost:7072"),
        Move("Host.CORS", "http://localhost:7071, https://app.example", "http://localhost:7072, https://app.example"),
    )  # fmt: skip


def test_strays_name_each_setting_once_and_never_a_whole_value() -> None:
    lines = strays(
        {
            "A": "http://localhost:9999/?code=secret-value http://127.0.0.1:9998",
            "B": "http://localhost:7072/ok",
            "C": f"Endpoint=http://localhost;Port=9997;AccessKey={KEY}",
            "D": "ws://localhost/default-port",
        },
        {7072, 8081},
    )
    assert lines == [
        "A points at http://localhost:9999, http://127.0.0.1:9998, "
        "where this stack started nothing (it listens on 7072, 8081)",
        "C points at http://localhost:9997, where this stack started nothing (it listens on 7072, 8081)",
        "D points at ws://localhost:80, where this stack started nothing (it listens on 7072, 8081)",
    ]  # fmt: skip

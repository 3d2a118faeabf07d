"""The commands users type: `make run`'s stack, `python -m emulator` and `python -m devhost`."""

from __future__ import annotations

import json
import shlex
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import websockets.sync.client

from emulator import DEFAULT_ACCESS_KEY
from tests.devhost.sample_app import write_function, write_host
from tests.e2e.stack_process import read_until, settings_file, stack_banner, start, stop, warnings_in
from tests.support import APP_ROOT, free_port, make_run_arguments

EXAMPLE_KEY = json.loads((APP_ROOT / "local.settings.example.json").read_text())["Host"]["FunctionKey"]


def test_make_run_passes_other_ports_only_when_asked() -> None:
    assert make_run_arguments() == ["--dev-identity"]
    assert make_run_arguments(PORT=7072, EMULATOR_PORT=8081) == [
        "--dev-identity",
        *("--port", "7072", "--emulator-port", "8081"),
    ]


def stack_command(port: int, emulator_port: int, *more: str) -> list[str]:
    return ["-m", "devhost.stack", "--port", str(port), "--emulator-port", str(emulator_port), *more]


def test_make_run_on_other_ports_needs_no_edit_to_the_settings(tmp_path: Path) -> None:
    """The example settings name 7071 and 8080; the stack on other ports moves them for the run."""
    host_port, emulator_port = free_port(), free_port()
    base_url = f"http://localhost:{host_port}"
    arguments = make_run_arguments(PORT=host_port, EMULATOR_PORT=emulator_port)
    process = start(["-m", "devhost.stack", *arguments, "--settings", "local.settings.example.json"], clean=True)
    try:
        banner = stack_banner(process)
        text = "\n".join(banner)
        connection_string = (
            f"Endpoint=http://localhost;Port={emulator_port};AccessKey={DEFAULT_ACCESS_KEY};Version=1.0;"
        )
        assert f"Web PubSub emulator: {connection_string}" in banner
        heading = (
            "Started on other ports than local.settings.example.json names; these settings follow, for this run only:"
        )
        moved = banner[banner.index(heading) + 1 :]
        assert moved[:4] == [
            f"    Host.LocalHttpPort: 7071 -> {host_port}",
            f"    WebPubSubConnectionString: http://localhost:8080 -> http://localhost:{emulator_port}",
            f"    NegotiateJwtIssuer: http://localhost:7071 -> http://localhost:{host_port}",
            f"    Host.CORS: http://localhost:7071, http://127.0.0.1:7071 -> {base_url}, http://127.0.0.1:{host_port}",
        ]
        assert warnings_in(banner) == []
        assert f"publish: [POST] {base_url}/api/publish" in text
        curl_line = next(line.strip() for line in banner if line.strip().startswith("curl "))
        assert EXAMPLE_KEY in curl_line

        with urlopen_json(f"{base_url}/api/negotiate") as negotiated:
            url = negotiated["url"]
        assert url.startswith(f"ws://localhost:{emulator_port}/")
        with websockets.sync.client.connect(url, open_timeout=5) as subscriber:
            result = subprocess.run(
                [*shlex.split(curl_line), "-s", "-o", "/dev/null", "-w", "%{http_code}"],
                capture_output=True,
                text=True,
                timeout=15,
            )
            assert result.stdout == "202"
            assert subscriber.recv(timeout=5) == "Hello World"
        issuer = f"{base_url}/dev-identity"
        assert f"Development identity provider: {issuer} (sign in on the demo page)" in banner
        signed_in = sign_in_and_negotiate(issuer, f"{base_url}/api/negotiate", "alice")
        with websockets.sync.client.connect(signed_in["url"], subprotocols=["json.webpubsub.azure.v1"]) as socket:
            assert json.loads(socket.recv(timeout=5))["userId"] == "alice"
        assert allowed_origin(f"{base_url}/api/negotiate", base_url) == base_url  # the page's origin, moved
    finally:
        output = stop(process)
    assert process.returncode == 0
    assert "Stopped." in output


def allowed_origin(url: str, origin: str) -> str | None:
    from urllib.request import Request, urlopen

    with urlopen(Request(url, headers={"Origin": origin}), timeout=5) as response:
        return response.headers.get("Access-Control-Allow-Origin")


def test_the_stack_names_each_setting_that_points_where_nothing_runs() -> None:
    host_port, emulator_port, nowhere = free_port(), free_port(), free_port()
    process = start(
        stack_command(host_port, emulator_port, "--settings", "local.settings.example.json"),
        env={  # set in the environment, so they win over the file and are not moved
            "NegotiateJwtIssuer": f"http://localhost:{nowhere}/dev-identity",
            "WebPubSubConnectionString": f"Endpoint=http://127.0.0.1;Port={nowhere};AccessKey={DEFAULT_ACCESS_KEY};",
        },
        clean=True,
    )
    try:
        warnings = warnings_in(stack_banner(process))
    finally:
        stop(process)
    listening = ", ".join(str(port) for port in sorted((host_port, emulator_port)))
    assert warnings == [
        f"{name} points at {origin}:{nowhere}, where this stack started nothing (it listens on {listening})"
        for name, origin in (
            ("WebPubSubConnectionString", "http://127.0.0.1"),
            ("NegotiateJwtIssuer", "http://localhost"),
        )
    ]


def test_the_stack_says_when_the_issuer_needs_the_development_identity_provider() -> None:
    host_port = free_port()
    process = start(
        stack_command(host_port, free_port(), "--settings", "local.settings.example.json"),
        clean=True,
    )
    try:
        warnings = warnings_in(stack_banner(process))
    finally:
        stop(process)
    assert warnings == [
        f"NegotiateJwtIssuer names the development identity provider (http://localhost:{host_port}/dev-identity), "
        "which runs only with --dev-identity (make run starts it): sign-in will fail"
    ]


REAL_KEY = "cmVhbC1yZXNvdXJjZS1rZXktbmV2ZXItcHJpbnRlZC0wMTIz"


@pytest.mark.parametrize(
    ("values", "credential"),
    [
        (
            {
                "WebPubSubConnectionString": f"Endpoint=https://contoso.webpubsub.azure.com;AccessKey={REAL_KEY};Version=1.0;"
            },
            "the AccessKey in WebPubSubConnectionString (signs each request)",
        ),
        (
            {"WebPubSubConnectionString": "", "WebPubSubEndpoint": "https://contoso.webpubsub.azure.com"},
            "Microsoft Entra ID through DefaultAzureCredential (WebPubSubEndpoint has no key): locally your "
            "`az login` (or AZURE_CLIENT_ID's identity); it needs the Web PubSub Service Owner role",
        ),
    ],
)
def test_settings_naming_a_real_resource_start_no_emulator(
    tmp_path: Path, values: dict[str, str], credential: str
) -> None:
    emulator_port = free_port()
    process = start(
        stack_command(
            free_port(), emulator_port, "--dev-identity", "--settings", str(settings_file(tmp_path, **values))
        ),
        clean=True,
    )
    try:
        banner = stack_banner(process)
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", emulator_port)) != 0  # nothing listens there
    finally:
        output = stop(process)
    setting = "WebPubSubConnectionString" if values["WebPubSubConnectionString"] else "WebPubSubEndpoint"
    assert (
        f"Web PubSub: https://contoso.webpubsub.azure.com, a real resource ({setting}); no emulator started" in banner
    )
    assert f"    credential: {credential}" in banner
    assert not any("emulator:" in line for line in banner)
    assert warnings_in(banner)[0] == f"--emulator-port {emulator_port} is ignored: {setting} names a real Web PubSub"
    assert REAL_KEY not in output + "\n".join(banner)


def test_with_both_settings_the_connection_string_wins_as_in_the_app(tmp_path: Path) -> None:
    host_port, emulator_port = free_port(), free_port()
    path = settings_file(tmp_path, WebPubSubEndpoint="https://contoso.webpubsub.azure.com")
    process = start(
        [
            "-m",
            "devhost.stack",
            "--port",
            str(host_port),
            "--emulator-port",
            str(emulator_port),
            "--settings",
            str(path),
        ],
        clean=True,
    )
    try:
        banner = stack_banner(process)
        assert warnings_in(banner)[0] == (
            "both WebPubSubConnectionString and WebPubSubEndpoint are set; "
            "the app uses WebPubSubConnectionString and ignores WebPubSubEndpoint"
        )
        # The app agrees: its negotiate and publish go to the emulator the connection string names.
        with urlopen_json(f"http://localhost:{host_port}/api/negotiate") as negotiated:
            assert negotiated["url"].startswith(f"ws://localhost:{emulator_port}/")
        with websockets.sync.client.connect(negotiated["url"], open_timeout=5) as subscriber:
            curl_line = next(line.strip() for line in banner if line.strip().startswith("curl "))
            result = subprocess.run(
                [*shlex.split(curl_line), "-s", "-o", "/dev/null", "-w", "%{http_code}"],
                capture_output=True,
                text=True,
                timeout=15,
            )
            assert result.stdout == "202"
            assert subscriber.recv(timeout=5) == "Hello World"
    finally:
        stop(process)


def sign_in_and_negotiate(issuer: str, negotiate_url: str, user: str) -> dict:
    """What the demo page does: a token from the development identity provider, then negotiate."""
    from urllib.parse import urlencode
    from urllib.request import Request, urlopen

    with urlopen(Request(f"{issuer}/token", data=urlencode({"username": user}).encode()), timeout=5) as response:
        token = json.loads(response.read())["access_token"]
    request = Request(f"{negotiate_url}?group=user-{user}", headers={"Authorization": f"Bearer {token}"})
    with urlopen(request, timeout=10) as response:
        return json.loads(response.read())


class urlopen_json:
    def __init__(self, url: str) -> None:
        from urllib.request import urlopen

        with urlopen(url, timeout=5) as response:
            self.value = json.loads(response.read())

    def __enter__(self) -> dict:
        return self.value

    def __exit__(self, *exc_info: object) -> None:
        return None


def test_emulator_command_prints_its_connection_string_and_stops_on_sigterm() -> None:
    port = free_port()
    process = start(["-m", "emulator", "--port", str(port)])
    lines = read_until(process, "Connection string:")
    assert lines[-1].endswith(f"Endpoint=http://localhost;Port={port};AccessKey={DEFAULT_ACCESS_KEY};Version=1.0;")
    output = stop(process, signal.SIGTERM)
    assert process.returncode == 0
    assert "stopped" in output


def test_emulator_says_loudly_when_unvalidated_entra_tokens_are_accepted() -> None:
    port = free_port()
    process = start(["-m", "emulator", "--port", str(port), "--allow-unvalidated-entra-tokens"])
    lines = read_until(process, "WARNING")
    assert "unvalidated Entra ID tokens are ACCEPTED" in lines[-1]
    stop(process)


def test_devhost_command_reports_a_malformed_function_json(tmp_path: Path) -> None:
    write_host(tmp_path)
    write_function(tmp_path, "bad", "def main(req):\n    return None\n")
    (tmp_path / "bad" / "function.json").write_text('{"bindings": [')
    result = subprocess.run(
        [sys.executable, "-m", "devhost", str(tmp_path), "--port", str(free_port())],
        cwd=APP_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "bad/function.json: not valid JSON" in result.stderr
    assert "Traceback" not in result.stderr

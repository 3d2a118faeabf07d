"""The commands users type: `make run`'s stack, `python -m emulator` and `python -m devhost`."""

from __future__ import annotations

import json
import os
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
from tests.support import APP_ROOT, read_lines

EXAMPLE_KEY = json.loads((APP_ROOT / "local.settings.example.json").read_text())["Host"]["FunctionKey"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(args: list[str], env: dict[str, str] | None = None, cwd: Path = APP_ROOT) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def read_until(process: subprocess.Popen[str], marker: str, timeout: float = 20) -> list[str]:
    assert process.stdout is not None
    lines = read_lines(process.stdout.fileno(), marker, timeout)
    if lines and marker in lines[-1]:
        return lines
    process.kill()
    pytest.fail(f"{marker!r} never appeared in:\n" + "\n".join(lines))


def stop(process: subprocess.Popen[str], signum: int = signal.SIGINT) -> str:
    process.send_signal(signum)
    output, _ = process.communicate(timeout=15)
    return output


def make_run_arguments() -> list[str]:
    """What `make run` passes to devhost.stack, read from the Makefile."""
    recipe = next(line for line in (APP_ROOT / "Makefile").read_text().splitlines() if "-m devhost.stack" in line)
    return shlex.split(recipe.split("-m devhost.stack", 1)[1])


def test_make_run_stack_serves_the_readme_curl(tmp_path: Path) -> None:
    host_port, emulator_port = free_port(), free_port()
    connection_string = f"Endpoint=http://localhost;Port={emulator_port};AccessKey={DEFAULT_ACCESS_KEY};Version=1.0;"
    example = json.loads((APP_ROOT / "local.settings.example.json").read_text())["Values"]
    issuer = example["NegotiateJwtIssuer"].replace(":7071/", f":{host_port}/")  # the same host, on a free port
    assert "--dev-identity" in make_run_arguments()
    process = start(
        [
            "-m",
            "devhost.stack",
            *make_run_arguments(),
            "--port",
            str(host_port),
            "--emulator-port",
            str(emulator_port),
            "--settings",
            "local.settings.example.json",
        ],
        # The session's own settings may be in this process's environment, and variables win over
        # the file: pass the example's negotiate settings explicitly.
        env={
            **{name: value for name, value in example.items() if name.startswith("Negotiate")},
            "WebPubSubConnectionString": connection_string,
            "NegotiateJwtIssuer": issuer,
        },
    )
    try:
        banner = read_until(process, "Press Ctrl-C")
        text = "\n".join(banner)
        assert connection_string in text
        assert f"publish: [POST] http://localhost:{host_port}/api/publish" in text
        curl_line = next(line.strip() for line in banner if line.strip().startswith("curl "))
        assert EXAMPLE_KEY in curl_line

        with urlopen_json(f"http://localhost:{host_port}/api/negotiate") as negotiated:
            url = negotiated["url"]
        with websockets.sync.client.connect(url, open_timeout=5) as subscriber:
            result = subprocess.run(
                [*shlex.split(curl_line), "-s", "-o", "/dev/null", "-w", "%{http_code}"],
                capture_output=True,
                text=True,
                timeout=15,
            )
            assert result.stdout == "202"
            assert subscriber.recv(timeout=5) == "Hello World"
        assert f"Development identity provider: {issuer}" in text
        signed_in = sign_in_and_negotiate(issuer, f"http://localhost:{host_port}/api/negotiate", "alice")
        with websockets.sync.client.connect(signed_in["url"], subprotocols=["json.webpubsub.azure.v1"]) as socket:
            assert json.loads(socket.recv(timeout=5))["userId"] == "alice"
    finally:
        output = stop(process)
    assert process.returncode == 0
    assert "Stopped." in output


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

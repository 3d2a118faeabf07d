"""`make run`'s stack and the other commands as child processes, the way a developer runs them.

Shared by the command tests (tests/e2e/test_commands.py), the whole local loop
(tests/e2e/test_local_loop.py) and the browser test of the demo page.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from devtools.azurite import ACCOUNT, ACCOUNT_KEY
from tests.support import APP_ROOT, free_port, make_run_arguments, read_lines

APP_SETTINGS = {*json.loads((APP_ROOT / "local.settings.example.json").read_text())["Values"], "WebPubSubEndpoint"}


def start(
    args: list[str], env: dict[str, str] | None = None, cwd: Path = APP_ROOT, clean: bool = False
) -> subprocess.Popen[str]:
    """``clean``: leave out the app settings this test session may have put in the environment, so
    that the command reads them from its settings file as on a developer's machine."""
    inherited = {name: value for name, value in os.environ.items() if not (clean and name in APP_SETTINGS)}
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=cwd,
        env={**inherited, **(env or {})},
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


def stack_banner(process: subprocess.Popen[str]) -> list[str]:
    return read_until(process, "Press Ctrl-C")


def warnings_in(banner: list[str]) -> list[str]:
    return [line.removeprefix("Warning: ") for line in banner if line.startswith("Warning: ")]


def settings_file(tmp_path: Path, **values: str) -> Path:
    document = json.loads((APP_ROOT / "local.settings.example.json").read_text())
    document["Values"].update(values)
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps(document))
    return path


def storage_ports(banner: list[str]) -> tuple[int, int]:
    line = next(line for line in banner if line.startswith("Storage: "))
    found = re.fullmatch(r"Storage: Azurite, queues http://127\.0\.0\.1:(\d+), tables http://127\.0\.0\.1:(\d+)", line)
    assert found, line
    return int(found[1]), int(found[2])


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@dataclass(frozen=True)
class LocalLoop:
    """A running `make run` stack: its banner, the demo page's URL, and the queue's account."""

    banner: list[str]
    base_url: str
    queue_port: int
    table_port: int

    @property
    def queue_storage(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"QueueEndpoint=http://127.0.0.1:{self.queue_port}/{ACCOUNT};"
        )

    def queued(self, *options: str) -> subprocess.CompletedProcess[str]:
        """The queue reader the banner names, on this stack's queue."""
        return subprocess.run(
            [sys.executable, "-m", "devtools.queue_peek", "--connection-string", self.queue_storage, *options],
            cwd=APP_ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )


@contextmanager
def local_loop() -> Iterator[LocalLoop]:
    """`make run`'s stack (its arguments from the Makefile, the example settings) on free ports;
    stopped with Ctrl-C at the end, which must stop Azurite too."""
    host_port, emulator_port = free_port(), free_port()
    arguments = make_run_arguments(PORT=host_port, EMULATOR_PORT=emulator_port)
    process = start(["-m", "devhost.stack", *arguments, "--settings", "local.settings.example.json"], clean=True)
    try:
        banner = stack_banner(process)
        yield LocalLoop(banner, f"http://localhost:{host_port}", *storage_ports(banner))
    finally:
        output = stop(process)
    assert process.returncode == 0, output
    queue_port, table_port = storage_ports(banner)
    assert not listening(queue_port) and not listening(table_port)  # Azurite stops with the stack

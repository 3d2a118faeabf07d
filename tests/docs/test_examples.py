"""The shell examples of the README and docs/ run as written against `make run`'s servers.

Every ```sh block runs in bash against a stack started as `make run` starts it (the Makefile's
arguments, the example settings), on free ports: the docs' ``localhost:7071`` and
``localhost:8080`` are rewritten to them, nothing else. ``curl`` fails the block on any HTTP error
(``--fail-with-body``), so an example whose call is refused fails here. A block that cannot run
locally (it needs Azure, or starts servers that run until Ctrl-C) carries the HTML comment
``<!-- not run by tests: reason -->`` on the line before it, where readers see it too.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.request import urlopen

import pytest
import websockets.sync.client

from shared.idempotency.settings import IDEMPOTENCY_SETTING_NAMES
from shared.settings import SETTING_NAMES
from tests.support import APP_ROOT, free_port, make_run_arguments

DOCUMENTS = (APP_ROOT / "README.md", *sorted((APP_ROOT / "docs").glob("*.md")))
NOT_RUN = re.compile(r"<!-- not run by tests: (?P<reason>.*\S) -->")
MARKER_LINE = re.compile(r"^<!-- not run.*$", re.MULTILINE)
FENCE = re.compile(r"```(?P<language>\S*)\s*$")
DEV_HOST_PORT, EMULATOR_PORT = 7071, 8080
# Fails the block on an HTTP error and keeps its output short; the examples' own flags still apply.
PRELUDE = 'set -eo pipefail\ncurl() { command curl --silent --show-error --fail-with-body --max-time 15 "$@"; }\n'

APP_SETTING_NAMES = frozenset(SETTING_NAMES) | frozenset(IDEMPOTENCY_SETTING_NAMES)


@dataclass(frozen=True)
class Block:
    document: Path
    line: int  # of the opening fence, 1-based
    language: str
    text: str
    not_run: str | None  # the reason given, for a block marked as not run

    @property
    def name(self) -> str:
        return f"{self.document.relative_to(APP_ROOT)}:{self.line}"


def fenced_blocks(document: Path) -> list[Block]:
    """Every fenced block of a Markdown file, with the marker on the line before it, if any."""
    blocks: list[Block] = []
    lines = document.read_text().splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        closing = next(n for n in range(index + 1, len(lines)) if lines[n].startswith("```"))
        marker = NOT_RUN.fullmatch(lines[index - 1].strip()) if index else None
        text = "\n".join(lines[index + 1 : closing]) + "\n"
        blocks.append(Block(document, index + 1, opening["language"], text, marker["reason"] if marker else None))
        index = closing + 1
    return blocks


SHELL_BLOCKS = [block for document in DOCUMENTS for block in fenced_blocks(document) if block.language == "sh"]
RUNNABLE = [block for block in SHELL_BLOCKS if block.not_run is None]


def test_the_docs_have_shell_examples_and_mark_the_ones_that_cannot_run() -> None:
    assert {block.document.name for block in RUNNABLE} >= {"README.md", "api.md"}
    markers = [line for document in DOCUMENTS for line in MARKER_LINE.findall(document.read_text())]
    assert all(NOT_RUN.fullmatch(line) for line in markers), f"a marker without a reason among {markers}"
    unrun = [block for block in SHELL_BLOCKS if block.not_run is not None]
    assert len(markers) == len(unrun), "a 'not run by tests' marker stands before something other than a sh block"


@dataclass(frozen=True)
class Stack:
    host_port: int
    emulator_port: int

    def localize(self, text: str) -> str:
        for host in ("localhost", "127.0.0.1"):
            text = text.replace(f"{host}:{DEV_HOST_PORT}", f"{host}:{self.host_port}")
            text = text.replace(f"{host}:{EMULATOR_PORT}", f"{host}:{self.emulator_port}")
        return text


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """`make run`'s stack (its arguments from the Makefile, the example settings) on free ports."""
    ports = Stack(free_port(), free_port())
    example = json.loads((APP_ROOT / "local.settings.example.json").read_text())["Values"]
    log = tmp_path_factory.mktemp("stack") / "stack.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "devhost.stack",
                *make_run_arguments(),
                "--port",
                str(ports.host_port),
                "--emulator-port",
                str(ports.emulator_port),
                "--settings",
                "local.settings.example.json",
            ],
            cwd=APP_ROOT,
            # Variables win over the file: the example's own values, moved to the free ports.
            env={
                # The session's own app settings (tests/conftest.py's stack) stay out: the stack
                # must read the example file, as `make run` does on a fresh machine.
                **{name: value for name, value in os.environ.items() if name not in APP_SETTING_NAMES},
                **{name: ports.localize(value) for name, value in example.items() if name.startswith("Negotiate")},
                "WebPubSubConnectionString": ports.localize(example["WebPubSubConnectionString"]).replace(
                    f"Port={EMULATOR_PORT};", f"Port={ports.emulator_port};"
                ),
            },
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        deadline = time.monotonic() + 30
        while "Press Ctrl-C" not in log.read_text():
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield ports
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert "Traceback" not in log.read_text()


def run_block(block: Block, stack: Stack) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", PRELUDE + stack.localize(block.text)],
        cwd=APP_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("block", RUNNABLE, ids=[block.name for block in RUNNABLE])
def test_the_example_runs(block: Block, stack: Stack) -> None:
    result = run_block(block, stack)
    assert result.returncode == 0, f"{block.name} failed:\n{result.stdout}\n{result.stderr}"


def test_the_readmes_first_curl_makes_the_message_appear(stack: Stack) -> None:
    """The README's first runnable example publishes "Hello World"; a connected client gets it."""
    first = next(block for block in RUNNABLE if block.document.name == "README.md")
    with urlopen(f"http://localhost:{stack.host_port}/api/negotiate", timeout=10) as response:
        url = json.loads(response.read())["url"]
    with websockets.sync.client.connect(url, open_timeout=5) as subscriber:
        result = run_block(first, stack)
        assert result.returncode == 0, result.stderr
        assert subscriber.recv(timeout=5) == "Hello World"
    assert json.loads(result.stdout) == {"hub": "pubsub", "target": {"type": "all", "name": None}, "bytes": 11}

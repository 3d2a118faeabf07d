"""Start servers and load generators as separate processes, and stop them, on loopback only."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port}")


class ChildEnded(RuntimeError):
    """The child process ended before it said what was awaited."""


class Child:
    """A Python child process running ``-m module args``; stopped with SIGINT, then killed."""

    def __init__(
        self,
        module: str,
        *args: str,
        env: dict[str, str] | None = None,
        unset: tuple[str, ...] = (),
        pipe: bool = False,
    ) -> None:
        environment = {name: value for name, value in os.environ.items() if name not in unset}
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=ROOT,
            env={**environment, **(env or {})},
            stdin=subprocess.PIPE if pipe else subprocess.DEVNULL,
            stdout=subprocess.PIPE if pipe else subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        if pipe:  # read on a thread: the child never blocks on a full pipe, and reads can time out
            threading.Thread(target=self._read_lines, daemon=True).start()

    def _read_lines(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _next_line(self, timeout: float | None) -> str:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"child {self.process.args!r} said nothing for {timeout} s") from None
        if line is None:
            self._lines.put(None)
            raise ChildEnded(f"child {self.process.args!r} ended early")
        return line

    def emulator_port(self, timeout: float = 20) -> int:
        """The port an emulator started with ``--port 0`` bound, from its "listening on" line."""
        line = self.wait_for_line("Web PubSub emulator listening on ", timeout)
        return int(line.strip().rsplit(":", 1)[1])

    def wait_for_line(self, prefix: str, timeout: float = 20) -> str:
        """The first line of output that starts with ``prefix`` (a server's "listening" line,
        printed once its port is bound: proof the port is its own, not another process's)."""
        deadline = time.monotonic() + timeout
        while not (line := self._next_line(max(0.0, deadline - time.monotonic()))).startswith(prefix):
            pass
        return line

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def receive(self) -> dict[str, Any]:
        return json.loads(self._next_line(timeout=None))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

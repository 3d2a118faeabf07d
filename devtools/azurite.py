"""Azurite, Microsoft's Azure Storage emulator: one service (table or queue), on a free loopback port.

The idempotency-key store writes to Table Storage and the ``events`` function to a Storage queue;
tests and benchmarks run them against the ``azurite`` npm package that ``make azurite`` installs
into ``.tools/`` (version pinned in the Makefile). ``make run`` does not need the table service:
with ``AzureWebJobsStorage`` empty, keys stay in memory.

``Azurite()`` is the table service in memory; ``Azurite("queue", location=dir)`` the queue
service keeping its data in ``dir``, so that :meth:`Azurite.restart` (on the same port) loses
nothing, as a storage outage would not.

``make run`` runs both services, each on Azurite's own default port when it is free
(``preferred_port``: 10001 for queues, 10002 for tables, so that tools that assume the
development storage find them), and gives the app one connection string for both
(:func:`connection_string_for`).
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".tools" / "node_modules" / ".bin"
EXECUTABLE = BIN / "azurite-table"
SERVICES = ("table", "queue")
DEFAULT_PORTS = {"queue": 10001, "table": 10002}  # Azurite's own defaults
# Azurite's documented, public development account (not a secret).
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
START_SECONDS = 30


class Azurite:
    """``with Azurite() as azurite:`` runs the table service; ``connection_string`` reaches it."""

    def __init__(self, service: str = "table", *, location: Path | None = None, preferred_port: int = 0) -> None:
        """``preferred_port``: the port to take when it is free (else any free port, as with 0)."""
        if service not in SERVICES:
            raise ValueError(f"service must be one of {SERVICES}")
        self.service = service
        self.executable = BIN / f"azurite-{service}"
        if not self.executable.exists():
            raise FileNotFoundError(f"{self.executable} is missing; run `make azurite` (needs npm).")
        self.location = location
        self.preferred_port = preferred_port
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def connection_string(self) -> str:
        return connection_string_for(self)

    @property
    def endpoint(self) -> str:
        """``QueueEndpoint=...`` or ``TableEndpoint=...``: this service's part of a connection string."""
        return f"{self.service.capitalize()}Endpoint=http://127.0.0.1:{self.port}/{ACCOUNT};"

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def start(self) -> None:
        for attempt in range(3):  # a port picked free can be taken before Azurite binds it
            preferred = attempt == 0 and self.preferred_port and _port_free(self.preferred_port)
            self.port = self.preferred_port if preferred else _free_port()
            if self._launch():
                return
            self.stop()
        raise RuntimeError("Azurite did not start.")

    def restart(self) -> None:
        """Stop and start again on the same port (with ``location``, the data is kept)."""
        self.stop()
        if not self._launch():
            self.stop()
            raise RuntimeError("Azurite did not start again.")

    def _launch(self) -> bool:
        storage = ("--location", str(self.location)) if self.location else ("--inMemoryPersistence",)
        self._process = subprocess.Popen(  # noqa: S603 - our own pinned executable
            [
                str(self.executable),
                *(f"--{self.service}Host", "127.0.0.1", f"--{self.service}Port", str(self.port)),
                *storage,
                *("--skipApiVersionCheck", "--disableTelemetry", "--silent"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return self._wait_until_listening()

    def _wait_until_listening(self) -> bool:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline and self._process and self._process.poll() is None:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return True
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def __enter__(self) -> Azurite:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def connection_string_for(*services: Azurite) -> str:
    """One connection string of the development account that reaches each running service."""
    endpoints = "".join(service.endpoint for service in services)
    return f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};{endpoints}"


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]

"""Shared fixtures: a real emulator and dev host on loopback, app settings that point at them,
and the session-wide audit that no secret leaves the process."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest

from devhost import DevHost, LocalSettings
from devtools.azurite import Azurite
from emulator import Emulator
from shared.idempotency.table import close_table_stores
from shared.service import close_clients
from shared.settings import SIGN_IN_SETTING_NAMES
from tests.audit import SecretAudit
from tests.support import APP_ROOT, TEST_KEY, BackgroundLoop, unique_hub


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--soak", action="store_true", help="run the reliability suite at full size (make soak)")


@pytest.fixture(scope="session", autouse=True)
def audit() -> Iterator[SecretAudit]:
    """Watches every product log line and response body of the session; fails it on a leak."""
    recorder = SecretAudit()
    handler = recorder.handler()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(min(previous, logging.INFO))
    for name in ("shared", "devhost", "emulator"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield recorder
    root.removeHandler(handler)
    root.setLevel(previous)
    leaks = recorder.violations()
    assert not leaks, "secrets left the process:\n" + "\n".join(sorted(set(leaks)))


@pytest.fixture(scope="session")
def background() -> Iterator[BackgroundLoop]:
    loop = BackgroundLoop()
    yield loop
    loop.close()


@pytest.fixture(scope="session")
def shared_emulator(background: BackgroundLoop, audit: SecretAudit) -> Iterator[Emulator]:
    """One emulator for the session, in its own thread; tests keep apart by hub name."""
    emulator = Emulator(port=0, middlewares=(audit.middleware,))
    background.run(emulator.start())
    yield emulator
    background.run(emulator.stop())


@dataclass
class Stack:
    emulator: Emulator
    host: DevHost
    hub: str

    @property
    def base_url(self) -> str:
        return f"http://localhost:{self.host.port}"


@pytest.fixture(scope="session")
def stack(background: BackgroundLoop, shared_emulator: Emulator, audit: SecretAudit) -> Iterator[Stack]:
    """The whole flow on loopback: the emulator and the dev host serving this repository's app."""
    hub = unique_hub()
    settings = {
        "WebPubSubConnectionString": shared_emulator.connection_string,
        "WebPubSubHub": hub,
        "NegotiateAllowClientUserId": "true",
        "NegotiateAllowedGroups": "lobby*",
        "NegotiateRoles": "webpubsub.joinLeaveGroup.lobby,webpubsub.sendToGroup.lobby",
    }
    saved = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    local = LocalSettings(function_key=TEST_KEY, cors_origins=("*",))
    host = DevHost(APP_ROOT, local, port=0, middlewares=(audit.middleware,))
    background.run(host.start())
    yield Stack(shared_emulator, host, hub)
    background.run(host.stop())
    background.run(close_clients())  # the app's cached service clients live on this loop
    background.run(close_table_stores())
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    """An emulator of the test's own, on the test's event loop (for async-only tests)."""
    async with Emulator(port=0) as running:
        yield running


@pytest.fixture
def hub() -> str:
    return unique_hub()


@pytest.fixture
def app_settings(monkeypatch: pytest.MonkeyPatch, shared_emulator: Emulator, hub: str) -> dict[str, str]:
    """Environment as Azure would set it, pointing the app at the shared emulator."""
    values = {
        "WebPubSubConnectionString": shared_emulator.connection_string,
        "WebPubSubHub": hub,
    }
    for name in (
        "WebPubSubEndpoint",
        "WebPubSubAllowedHubs",
        "NegotiateTokenMinutes",
        "NegotiateAllowClientUserId",
        "NegotiateTrustAppServiceAuth",
        "NegotiateRequireUser",
        "NegotiateRoles",
        "NegotiateAllowedGroups",
        *SIGN_IN_SETTING_NAMES,
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@pytest.fixture(autouse=True)
async def _close_service_clients() -> AsyncIterator[None]:
    """The app caches one SDK client per loop; close this test loop's clients at its end."""
    yield
    await close_clients()
    await close_table_stores()


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    """Azurite's table service for the session (``make azurite`` installs it)."""
    with Azurite() as running:
        yield running


class SecretWatch(logging.Handler):
    """Collects every log record of a test, so that it can assert no secret was logged."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
        if record.exc_info:
            self.lines.append(logging.Formatter().formatException(record.exc_info))


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    handler = SecretWatch()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler.lines
    root.removeHandler(handler)
    root.setLevel(previous)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """Expose each phase's report on the test item, so fixtures can react to failures."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)

"""Shared fixtures: a real emulator on loopback and app settings that point at it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import pytest

from emulator import Emulator
from shared.service import close_clients
from tests.support import BackgroundLoop, unique_hub


@pytest.fixture(scope="session")
def background() -> Iterator[BackgroundLoop]:
    loop = BackgroundLoop()
    yield loop
    loop.close()


@pytest.fixture(scope="session")
def shared_emulator(background: BackgroundLoop) -> Iterator[Emulator]:
    """One emulator for the session, in its own thread; tests keep apart by hub name."""
    emulator = Emulator(port=0)
    background.run(emulator.start())
    yield emulator
    background.run(emulator.stop())


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

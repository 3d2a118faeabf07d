"""The demo page in Debian's headless Chromium: a publish shows up in the page.

The page's Content-Security-Policy forbids ``eval``, so every ``wait_for_function`` predicate is a
function (Playwright evaluates those itself); a bare expression string would be eval'd in the page.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from azure.messaging.webpubsubservice.aio import WebPubSubServiceClient
from playwright.async_api import Browser, Page, async_playwright

from devhost import DevHost, LocalSettings
from emulator import Emulator
from tests.audit import SecretAudit
from tests.conftest import Stack
from tests.e2e.stack_process import local_loop
from tests.fakes.fault_proxy import FaultProxy
from tests.support import APP_ROOT, TEST_KEY, BackgroundLoop, unique_hub

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = APP_ROOT / "tests" / "artifacts"
SETTINGS_PATH = "/demo/settings.json"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.browser


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run `make chromium` (apt-get install chromium)"
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


class ConsoleErrors(list[str]):
    """Every console error and uncaught exception of the pages it watches: a CSP violation, a 404
    (a missing favicon), a script error. Browser tests end with none."""

    def watch(self, page: Page) -> Page:
        page.on("console", lambda message: self.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: self.append(f"uncaught: {error}"))
        return page


@pytest.fixture
def console_errors() -> Iterator[ConsoleErrors]:
    errors = ConsoleErrors()
    yield errors
    assert errors == [], "the page logged errors"


@pytest.fixture
async def page(browser: Browser, request: pytest.FixtureRequest, console_errors: ConsoleErrors) -> AsyncIterator[Page]:
    opened = console_errors.watch(await browser.new_page())
    yield opened
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        ARTIFACTS.mkdir(exist_ok=True)
        await opened.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    await opened.close()


async def publish(stack: Stack, query: str, text: str) -> None:
    await publish_to(stack.base_url, query, text)


async def publish_to(base_url: str, query: str, text: str) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{base_url}/api/publish{query}",
            data=text.encode(),
            headers={"x-functions-key": TEST_KEY, "Content-Type": "text/plain"},
        ) as response,
    ):
        assert response.status == 202, await response.text()


async def test_published_messages_appear_in_the_demo_page(stack: Stack, page: Page) -> None:
    await page.goto(f"{stack.base_url}/?userId=browser&group=lobby")
    await page.wait_for_selector("#state[data-state=connected]", timeout=15000)
    assert "user browser" in await page.inner_text("#connection")
    assert await page.inner_text("#messages-heading") == "Messages"
    assert (await page.inner_text("#no-messages")).startswith("No messages yet.")  # the empty state

    await publish(stack, "", "Hello World")
    await publish(stack, "?group=lobby", "to the lobby")
    await publish(stack, "?user=browser", "just for you")
    await page.wait_for_function("() => document.querySelectorAll('#messages li').length >= 3", timeout=10000)
    assert await page.is_hidden("#no-messages")
    assert await listed(page) == [
        ("server", "text", "Hello World"),
        ("group lobby", "text", "to the lobby"),
        ("server", "text", "just for you"),
    ]
    times = await page.locator("#messages li time").all_inner_texts()
    assert all(re.fullmatch(r"\d{2}:\d{2}:\d{2}", time) for time in times), times
    # Without a development identity provider the page stays anonymous (here: the query's user).
    assert await page.is_hidden("#sign-in-form")
    assert await page.inner_text("#who") == "browser (from the query)"
    assert await page.inner_text("#groups") == "lobby"


async def listed(page: Page) -> list[tuple[str, str, str]]:
    """Each message of the page: (source, data type, data)."""
    script = "items => items.map(i => [i.dataset.source, i.dataset.type, i.querySelector('.data').textContent])"
    return [tuple(item) for item in await page.eval_on_selector_all("#messages li", script)]


async def test_the_page_reconnects_after_the_socket_drops(stack: Stack, page: Page) -> None:
    await page.goto(f"{stack.base_url}/?userId=dropper")
    await page.wait_for_selector("#state[data-state=connected]", timeout=15000)
    first = await page.inner_text("#connection")
    async with WebPubSubServiceClient.from_connection_string(
        stack.emulator.connection_string, hub=stack.hub
    ) as service:
        await service.close_user_connections("dropper", reason="test")  # the socket drops under the page
    await page.wait_for_function(
        "(first) => document.querySelector('#state').dataset.state === 'connected'"
        " && document.querySelector('#connection').textContent !== first",
        arg=first,
        timeout=15000,
    )
    await publish(stack, "?user=dropper", "after reconnect")
    await page.wait_for_selector("#messages li", timeout=10000)
    assert await listed(page) == [("server", "text", "after reconnect")]


@pytest.fixture
def signed_in_host(
    background: BackgroundLoop, shared_emulator: Emulator, audit: SecretAudit, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A dev host with the development identity provider and the example settings, as `make run`."""
    host = DevHost(
        APP_ROOT,
        LocalSettings(function_key=TEST_KEY, cors_origins=("*",)),
        port=0,
        dev_identity=True,
        middlewares=(audit.middleware,),
    )
    background.run(host.start())
    example = json.loads((APP_ROOT / "local.settings.example.json").read_text())["Values"]
    for name, value in example.items():
        if name.startswith("Negotiate"):
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("NegotiateJwtIssuer", example["NegotiateJwtIssuer"].replace(":7071/", f":{host.port}/"))
    monkeypatch.setenv("WebPubSubConnectionString", shared_emulator.connection_string)
    monkeypatch.setenv("WebPubSubHub", unique_hub())
    yield host.base_url
    background.run(host.stop())


async def sign_in(page: Page, base_url: str, user: str) -> None:
    await page.goto(f"{base_url}/")
    await page.wait_for_selector("#state[data-state=connected]", timeout=15000)
    assert (await page.input_value("#user")).startswith("guest-")  # signed in at once, as a random guest
    assert await page.inner_text("#sign-in") == "Switch user"
    await page.fill("#user", user)
    await page.click("#sign-in")
    await page.wait_for_function(
        "(user) => document.querySelector('#state').dataset.state === 'connected'"
        " && document.querySelector('#connection').textContent.endsWith(`user ${user}`)",
        arg=user,
        timeout=15000,
    )


async def test_two_signed_in_users_in_two_tabs(
    browser: Browser, signed_in_host: str, console_errors: ConsoleErrors
) -> None:
    alice, bob = console_errors.watch(await browser.new_page()), console_errors.watch(await browser.new_page())
    try:
        await sign_in(alice, signed_in_host, "alice")
        await sign_in(bob, signed_in_host, "bob")
        assert await alice.inner_text("#who") == "alice (signed in)"
        assert await alice.inner_text("#groups") == "demo, user-alice, demo-signed-in"
        assert await bob.inner_text("#groups") == "demo, user-bob, demo-signed-in"

        await publish_to(signed_in_host, "?user=alice", "for alice only")
        await alice.wait_for_selector("#messages li", timeout=10000)
        await bob.fill("#send-text", "hello from bob")
        await bob.click("#send")
        await bob.wait_for_function(
            "() => document.querySelector('#send-status').textContent === 'sent'", timeout=10000
        )
        assert await bob.input_value("#send-text") == ""  # the box is cleared once the service acks
        for page in (alice, bob):
            await page.wait_for_selector("#messages li[data-source='group demo from bob']", timeout=10000)
        from_bob = ("group demo from bob", "text", "hello from bob")
        assert await listed(alice) == [("server", "text", "for alice only"), from_bob]
        assert await listed(bob) == [from_bob]

        await bob.fill("#send-group", "elsewhere")  # the example roles send to the demo groups only
        await bob.fill("#send-text", "not for elsewhere")
        await bob.click("#send")
        await bob.wait_for_function("() => document.querySelector('#send-status').textContent.startsWith('refused')")
        # The service's reason, from the ack's error message; the refused text stays in the box.
        assert await bob.inner_text("#send-status") == (
            "refused: Forbidden: The connection has no permission to send to group 'elsewhere'."
        )
        assert await bob.input_value("#send-text") == "not for elsewhere"
    finally:
        await alice.close()
        await bob.close()


# Names the provider refuses, and names it takes but negotiate refuses (shared/validation.py), each
# with the reason the page gives before any request.
REFUSED_NAMES = (
    ("   ", "Enter a user name."),
    ("a\u200bb", "letters, digits, spaces and symbols only"),
    (".", "cannot be . or ..: no URL path can carry it"),
    ("..", "cannot be . or ..: no URL path can carry it"),
    ("a/b", "cannot contain '/'"),
)


async def test_a_name_the_provider_or_the_app_would_refuse_is_caught_on_the_page(
    browser: Browser, signed_in_host: str, console_errors: ConsoleErrors
) -> None:
    page = console_errors.watch(await browser.new_page())
    try:
        await sign_in(page, signed_in_host, "carol")
        token_requests: list[str] = []
        page.on("request", lambda request: token_requests.append(request.url) if "/token" in request.url else None)
        for name, problem in REFUSED_NAMES:
            await page.fill("#user", name)
            await page.click("#sign-in")
            assert problem in await page.inner_text("#sign-in-status"), name
        await page.wait_for_timeout(1500)  # long enough for any retry to show
        assert token_requests == []
        assert await page.inner_text("#who") == "carol (signed in)"  # still connected as before
        assert await page.get_attribute("#state", "data-state") == "connected"
    finally:
        await page.close()


async def test_a_refused_negotiate_is_shown_once_and_not_retried(
    stack: Stack, page: Page, console_errors: ConsoleErrors
) -> None:
    negotiations: list[str] = []
    page.on("request", lambda request: negotiations.append(request.url) if "/api/negotiate" in request.url else None)
    await page.goto(f"{stack.base_url}/?userId=someone&group=..")
    await page.wait_for_selector("#state[data-state=error]", timeout=15000)
    await page.wait_for_timeout(2500)  # the first retry of a failure that can pass would come after 0.5 s
    assert len(negotiations) == 1
    state = await page.inner_text("#state")
    assert "A group name has 1 to 1024 characters" in state
    assert state.endswith("(not retried: fix the cause, then reload)")
    # The browser itself reports the 400 in the console; that one line is expected, nothing else.
    assert [error for error in console_errors if "status of 400" not in error] == []
    console_errors.clear()


async def test_the_page_retries_its_settings_after_a_network_error(
    stack: Stack, page: Page, console_errors: ConsoleErrors
) -> None:
    """The page's first request for its settings meets dropped connections; it retries, and connects."""
    proxy = FaultProxy(stack.host.port, weights={"drop": 1}, only_paths=frozenset({SETTINGS_PATH}), max_faults=2)
    await proxy.start()
    try:
        settings_requests: list[str] = []
        page.on(
            "request", lambda request: settings_requests.append(request.url) if SETTINGS_PATH in request.url else None
        )
        await page.goto(f"http://127.0.0.1:{proxy.port}/?userId=patient")
        await page.wait_for_selector("#state[data-state=connected]", timeout=15000)
        assert proxy.injected["drop"] == 2
        assert len(settings_requests) >= 2  # the browser may retry a dropped request once by itself
        assert "user patient" in await page.inner_text("#connection")
    finally:
        await proxy.stop()
    # The browser itself reports each dropped request in the console; those lines are expected, nothing else.
    assert [error for error in console_errors if "ERR_EMPTY_RESPONSE" not in error] == []
    console_errors.clear()


PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3, "is_mobile": True, "has_touch": True}

READABILITY = """() => {
  const tooSmall = [];
  for (const element of document.querySelectorAll("body *")) {
    const hasText = [...element.childNodes].some((node) => node.nodeType === 3 && node.textContent.trim());
    const visible = element.getClientRects().length > 0;
    const size = parseFloat(getComputedStyle(element).fontSize);
    if (hasText && visible && size < 12) tooSmall.push(`${element.tagName}#${element.id} ${size}px`);
  }
  return {
    layoutWidth: window.innerWidth,
    scrollWidth: document.documentElement.scrollWidth,
    tooSmall,
  };
}"""


async def test_the_page_is_readable_on_a_phone(
    browser: Browser, signed_in_host: str, console_errors: ConsoleErrors
) -> None:
    context = await browser.new_context(**PHONE)
    try:
        page = console_errors.watch(await context.new_page())
        await sign_in(page, signed_in_host, "phone-user-with-a-rather-long-name")
        await publish_to(signed_in_host, "?user=phone-user-with-a-rather-long-name", "x" * 300)  # one long word
        await page.wait_for_selector("#messages li", timeout=10000)
        measured = await page.evaluate(READABILITY)
        assert measured["layoutWidth"] == 390  # laid out for the phone, not at 980 px and scaled down
        assert measured["scrollWidth"] <= 390, "the page scrolls sideways"
        assert measured["tooSmall"] == []
    finally:
        await context.close()


async def presence_listed(page: Page) -> list[tuple[str, str, str]]:
    """Each presence line of the page: (event, user, group)."""
    script = "items => items.map(i => [i.dataset.event, i.dataset.user, i.dataset.group])"
    return [tuple(item) for item in await page.eval_on_selector_all("#presence li", script)]


async def test_the_demo_page_shows_who_comes_and_goes_and_sends_events_to_the_apps_services(
    browser: Browser, console_errors: ConsoleErrors
) -> None:
    """`make run`'s whole loop: the emulator tells the events function of each join and leave, the
    function publishes them to the demo group, and a page's event lands on Azurite's queue."""
    with local_loop() as loop:
        alice, bob = console_errors.watch(await browser.new_page()), console_errors.watch(await browser.new_page())
        try:
            await sign_in(bob, loop.base_url, "bob")
            await bob.wait_for_function(
                "() => document.querySelector('#here').textContent === 'bob'", timeout=10000
            )  # his own join, once signed in as bob (the guest he was first has left)
            await sign_in(alice, loop.base_url, "alice")
            await bob.wait_for_selector("#presence li[data-event=joined][data-user=alice]", timeout=10000)
            assert await bob.inner_text("#here") == "alice, bob"
            assert await bob.is_hidden("#no-presence")
            assert ("joined", "alice", "demo") in await presence_listed(bob)
            assert await listed(bob) == []  # presence is not listed as a message

            await alice.fill("#event-name", "note")
            await alice.fill("#event-text", "hello back end")
            await alice.click("#send-event")
            await alice.wait_for_function(
                "() => document.querySelector('#event-status').textContent.startsWith('acknowledged')", timeout=10000
            )
            assert await alice.input_value("#event-text") == ""  # cleared once acked
            await alice.close()
            await bob.wait_for_selector("#presence li[data-event=left][data-user=alice]", timeout=10000)
            assert await bob.inner_text("#here") == "bob"
            assert (await presence_listed(bob))[-1] == ("left", "alice", "demo")
        finally:
            if not alice.is_closed():
                await alice.close()
            await bob.close()
        peek = loop.queued()
        envelopes = [json.loads(line) for line in peek.stdout.splitlines()]
        assert [(e["eventName"], e["userId"], e["dataType"], e["data"]) for e in envelopes] == [
            ("note", "alice", "text", "hello back end")
        ]

"""The demo page in Debian's headless Chromium: a publish shows up in the page."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from azure.messaging.webpubsubservice.aio import WebPubSubServiceClient
from playwright.async_api import Browser, Page, async_playwright

from tests.conftest import Stack
from tests.support import APP_ROOT, TEST_KEY

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = APP_ROOT / "tests" / "artifacts"
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


@pytest.fixture
async def page(browser: Browser, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    opened = await browser.new_page()
    yield opened
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        ARTIFACTS.mkdir(exist_ok=True)
        await opened.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    await opened.close()


async def publish(stack: Stack, query: str, text: str) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{stack.base_url}/api/publish{query}",
            data=text.encode(),
            headers={"x-functions-key": TEST_KEY, "Content-Type": "text/plain"},
        ) as response,
    ):
        assert response.status == 202, await response.text()


async def test_published_messages_appear_in_the_demo_page(stack: Stack, page: Page) -> None:
    await page.goto(f"{stack.base_url}/?userId=browser&group=lobby")
    await page.wait_for_selector("#state[data-state=connected]", timeout=15000)
    assert "user browser" in await page.inner_text("#connection")

    await publish(stack, "", "Hello World")
    await publish(stack, "?group=lobby", "to the lobby")
    await publish(stack, "?user=browser", "just for you")
    await page.wait_for_function("document.querySelectorAll('#messages li').length >= 3", timeout=10000)
    items = await page.locator("#messages li").all_inner_texts()
    assert items == ["[server] Hello World", "[group lobby] to the lobby", "[server] just for you"]


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
    assert await page.locator("#messages li").all_inner_texts() == ["[server] after reconnect"]

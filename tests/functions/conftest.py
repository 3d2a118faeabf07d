"""Fixtures of the function tests: each request goes through the dev host over loopback HTTP."""

from __future__ import annotations

import pytest

from tests.conftest import Stack
from tests.support import Answer, Call, http_call


@pytest.fixture
def call(stack: Stack, app_settings: dict[str, str]) -> Call:
    """negotiate through the dev host, with this test's app settings (the functions read them per
    invocation); ``test_publish`` overrides it for publish."""

    async def request(path: str, headers: dict[str, str] | None = None, method: str = "GET") -> Answer:
        return await http_call(stack.base_url, method, path, headers=headers)

    return request

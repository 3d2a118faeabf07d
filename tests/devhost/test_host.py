"""The dev host serving a sample app over real HTTP: mapping, keys, CORS and failures."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from devhost import DevHost, LocalSettings, read_local_settings
from tests.audit import KNOWN_SECRETS
from tests.devhost.sample_app import write_sample_app

KEY = "sample-function-key"
MASTER = "sample-master-key"
KNOWN_SECRETS.update((KEY, MASTER))  # the session audit checks every log line and answer for them


@pytest.fixture
async def host(tmp_path: Path) -> AsyncIterator[DevHost]:
    write_sample_app(tmp_path)
    settings = LocalSettings(function_key=KEY, master_key=MASTER, cors_origins=("http://app.example",))
    async with DevHost(tmp_path, settings, port=0, serve_demo=False) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_request_is_shaped_as_the_worker_shapes_it(host: DevHost, http: aiohttp.ClientSession) -> None:
    url = f"http://127.0.0.1:{host.port}/api/echo/alice?a=1&a=2&empty=&b=x"
    async with http.post(url, data=b"\xffbody", headers={"X-Mixed-Case": "v"}) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/json"
        assert response.headers["X-Custom"] == "yes"
        echoed = await response.json()
    assert echoed["method"] == "POST"
    assert echoed["url"] == url
    assert echoed["headers"]["x-mixed-case"] == "v"
    assert echoed["params"] == {"a": "1,2", "b": "x"}
    assert echoed["route"] == {"name": "alice"}
    assert echoed["body"] == "\xffbody"
    assert echoed["greeting"] == "hello from the app root"  # app root is on sys.path
    assert echoed["function"] == "echo" and echoed["invocation"]


async def test_optional_route_value_is_absent(host: DevHost, http: aiohttp.ClientSession) -> None:
    async with http.get(f"http://127.0.0.1:{host.port}/api/echo") as response:
        assert (await response.json())["route"] == {}


@pytest.mark.parametrize(
    ("headers", "query", "status"),
    [
        ({}, "", 401),
        ({"x-functions-key": "wrong"}, "", 401),
        ({}, "?code=wrong", 401),
        ({"x-functions-key": KEY}, "", 201),
        ({}, f"?code={KEY}", 201),
        ({"x-functions-key": MASTER}, "", 201),
        ({"x-functions-key": "wrong"}, f"?code={KEY}", 401),  # the header wins
    ],
)
async def test_function_keys(
    host: DevHost, http: aiohttp.ClientSession, headers: dict, query: str, status: int
) -> None:
    async with http.post(f"http://127.0.0.1:{host.port}/api/keyed{query}", headers=headers) as response:
        assert response.status == status
        body = await response.read()
        if status == 401:
            assert body == b""
        else:
            assert body == b"plain text"
            assert response.headers["Content-Type"] == "text/plain; charset=utf-8"


async def test_admin_level_needs_the_master_key(host: DevHost, http: aiohttp.ClientSession) -> None:
    base = f"http://127.0.0.1:{host.port}/api/privileged"
    async with http.get(base, headers={"x-functions-key": KEY}) as response:
        assert response.status == 401
    async with http.get(base, headers={"x-functions-key": MASTER}) as response:
        assert response.status == 201


async def test_wrong_method_and_unknown_route_are_404(host: DevHost, http: aiohttp.ClientSession) -> None:
    async with http.get(f"http://127.0.0.1:{host.port}/api/keyed", headers={"x-functions-key": KEY}) as response:
        assert response.status == 404
    async with http.get(f"http://127.0.0.1:{host.port}/api/nowhere") as response:
        assert response.status == 404


async def test_return_values(host: DevHost, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture) -> None:
    base = f"http://127.0.0.1:{host.port}/api"
    async with http.get(f"{base}/nothing") as response:
        assert response.status == 204
    async with http.get(f"{base}/text") as response:
        assert (response.status, await response.text()) == (200, "a string")
    with caplog.at_level(logging.ERROR, logger="devhost"):
        async with http.get(f"{base}/broken") as response:
            assert response.status == 500
            assert await response.read() == b""
        async with http.get(f"{base}/wrongtype") as response:
            assert response.status == 500
    assert "RuntimeError" in caplog.text and "Traceback" in caplog.text


async def test_disabled_function_is_404(
    host: DevHost, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AzureWebJobs.text.Disabled", "true")
    async with http.get(f"http://127.0.0.1:{host.port}/api/text") as response:
        assert response.status == 404


async def test_cors(host: DevHost, http: aiohttp.ClientSession) -> None:
    url = f"http://127.0.0.1:{host.port}/api/keyed"
    preflight = {
        "Origin": "http://app.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-functions-key",
    }
    async with http.options(url, headers=preflight) as response:
        assert response.status == 204
        assert response.headers["Access-Control-Allow-Origin"] == "http://app.example"
        assert response.headers["Access-Control-Allow-Headers"] == "x-functions-key"
    async with http.options(url, headers={**preflight, "Origin": "http://evil.example"}) as response:
        assert "Access-Control-Allow-Origin" not in response.headers
    async with http.get(f"http://127.0.0.1:{host.port}/api/text", headers={"Origin": "http://app.example"}) as response:
        assert response.headers["Access-Control-Allow-Origin"] == "http://app.example"


async def test_wildcard_cors_never_combines_star_with_credentials(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    write_sample_app(tmp_path)
    settings = LocalSettings(cors_origins=("*",), cors_credentials=True)
    async with (
        DevHost(tmp_path, settings, port=0, serve_demo=False) as host,
        http.get(f"http://127.0.0.1:{host.port}/api/text", headers={"Origin": "http://any.example"}) as response,
    ):
        assert response.headers["Access-Control-Allow-Origin"] == "http://any.example"
        assert response.headers["Access-Control-Allow-Credentials"] == "true"


async def test_keys_are_not_checked_with_no_auth(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    write_sample_app(tmp_path)
    settings = LocalSettings(function_key=KEY)
    async with (
        DevHost(tmp_path, settings, port=0, enforce_keys=False) as host,
        http.post(f"http://127.0.0.1:{host.port}/api/keyed") as response,
    ):
        assert response.status == 201


def test_startup_lines_name_every_function(tmp_path: Path) -> None:
    write_sample_app(tmp_path)
    host = DevHost(tmp_path, LocalSettings(), port=7071)
    host.load()
    lines = host.describe()
    assert "echo: [ALL] http://localhost:7071/api/echo/{name?}" in lines
    assert "keyed: [POST] http://localhost:7071/api/keyed" in lines


def refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "devhost" and r.getMessage().startswith("401 ")]


@pytest.mark.parametrize(
    ("headers", "query", "reason"),
    [
        ({}, "", "no function key was sent (x-functions-key header or ?code=)"),
        ({"x-functions-key": "not-the-key-value"}, "", "the function key sent is wrong for authLevel function"),
        ({}, "?code=not-the-key-value", "the function key sent is wrong for authLevel function"),
    ],
)
async def test_each_401_is_one_log_line_saying_why_and_where_the_key_is(
    host: DevHost, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture, headers: dict, query: str, reason: str
) -> None:
    with caplog.at_level(logging.INFO, logger="devhost"):
        async with http.post(f"http://127.0.0.1:{host.port}/api/keyed{query}", headers=headers) as response:
            assert (response.status, await response.read()) == (401, b"")
    [line] = refusals(caplog)
    assert line.startswith("401 for POST /api/keyed (Functions.keyed): ")
    assert reason in line
    assert "the right key is Host.FunctionKey (or Host.MasterKey) in local.settings.json" in line
    for secret in (KEY, MASTER, "not-the-key-value"):
        assert secret not in caplog.text


async def test_an_admin_401_names_the_master_key(
    host: DevHost, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="devhost"):
        async with http.get(f"http://127.0.0.1:{host.port}/api/privileged", headers={"x-functions-key": KEY}) as r:
            assert r.status == 401
    [line] = refusals(caplog)
    assert "wrong for authLevel admin; the right key is Host.MasterKey in local.settings.json" in line
    assert KEY not in caplog.text


async def test_a_401_with_no_key_set_says_which_file_to_set_it_in(
    tmp_path: Path, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    write_sample_app(tmp_path)
    settings_file = tmp_path / "team.settings.json"
    settings_file.write_text('{"Values": {}, "Host": {}}')
    settings = read_local_settings(settings_file)
    with caplog.at_level(logging.INFO, logger="devhost"):
        async with (
            DevHost(tmp_path, settings, port=0, serve_demo=False) as running,
            http.post(f"http://127.0.0.1:{running.port}/api/keyed") as response,
        ):
            assert response.status == 401
    [line] = refusals(caplog)
    assert f"no key is set: add Host.FunctionKey to {settings_file}, or start with --no-auth" in line

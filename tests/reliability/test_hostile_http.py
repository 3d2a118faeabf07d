"""Both dev servers (the emulator and the dev host) against hostile HTTP, over raw sockets:
forged ``Host`` headers, odd function keys, slowloris heads and trickled bodies."""

from __future__ import annotations

import asyncio
import socket
import time

import jwt
import pytest

from devhost import DevHost, LocalSettings
from emulator import DEFAULT_ACCESS_KEY, Emulator
from tests.conftest import Stack
from tests.reliability.rawhttp import raw_request
from tests.support import APP_ROOT, TEST_KEY, read_lines

HOSTILE_HOSTS = [
    "evil/?userId=admin#",
    "evil?code=x",
    "evil#frag",
    "localhost:99999",
    "localhost:0",
    "localhost:8080:1",
    "localhost:port",
    "bücher.example",
    "evil\\x",
    "user@localhost",
    "",
]


def _ports(stack: Stack) -> dict[str, tuple[int, str]]:
    """A path on each server that answers 2xx/4xx for a good request."""
    return {"emulator": (stack.emulator.port, "/api/health"), "dev host": (stack.host.port, "/api/negotiate")}


@pytest.mark.parametrize("host", HOSTILE_HOSTS)
@pytest.mark.parametrize("server", ["emulator", "dev host"])
def test_a_host_header_that_is_not_host_and_port_is_400(stack: Stack, server: str, host: str) -> None:
    port, path = _ports(stack)[server]
    assert raw_request(port, "GET", path).status == 200
    assert raw_request(port, "GET", path, {"Host": host}).status == 400


@pytest.mark.parametrize("key", ["\udcff\udcfe", "clé", TEST_KEY + "\udce9"])
def test_a_function_key_with_odd_bytes_is_401(stack: Stack, key: str) -> None:
    response = raw_request(stack.host.port, "POST", "/api/publish", {"x-functions-key": key}, b"x")
    assert response.status == 401


@pytest.mark.parametrize("name", ["code", "Code", "CODE"])
def test_the_code_query_parameter_is_found_in_any_case(stack: Stack, name: str) -> None:
    path = f"/api/publish?{name}={TEST_KEY}"
    response = raw_request(stack.host.port, "POST", path, {"Content-Type": "text/plain"}, b"hello")
    assert response.status == 202


async def _slowloris(port: int, path: str, trickle_body: bool, authorization: str = "") -> bytes:
    """Send a request whose head (or body) trickles in a byte at a time; what the server sent
    before it hung up (``b""`` when it just closed the connection)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = f"POST {path} HTTP/1.1\r\nHost: localhost:{port}\r\n"
    if authorization:
        head += f"Authorization: {authorization}\r\n"
    if trickle_body:
        head += "Content-Type: text/plain\r\nContent-Length: 100000\r\n\r\n"
    writer.write(head.encode())
    try:
        for byte in b"z" * 1000 if trickle_body else b"X-Slow: " + b"y" * 1000:
            writer.write(bytes([byte]))
            await writer.drain()
            try:
                return await asyncio.wait_for(reader.read(65536), 0.2)
            except TimeoutError:
                continue
        return b"still open"
    except ConnectionError:
        return b""
    finally:
        writer.close()


def _bearer(emulator: Emulator, path: str) -> str:
    """A valid REST token for ``path``, so that the body is what the emulator waits for."""
    claims = {"aud": f"{emulator.endpoint}{path}", "exp": int(time.time()) + 600}
    return "Bearer " + jwt.encode(claims, DEFAULT_ACCESS_KEY, algorithm="HS256")


async def test_slowloris_heads_are_cut_after_the_header_timeout() -> None:
    settings = LocalSettings(function_key=TEST_KEY, cors_origins=())
    async with (
        Emulator(port=0, header_timeout=1.0) as emulator,
        DevHost(APP_ROOT, settings, port=0, header_timeout=1.0) as host,
    ):
        answers = await asyncio.gather(
            _slowloris(emulator.port, "/api/health", False), _slowloris(host.port, "/api/negotiate", False)
        )
    assert answers == [b"", b""]


async def test_trickled_bodies_get_408(emulator: Emulator) -> None:
    settings = LocalSettings(function_key=TEST_KEY, cors_origins=())
    async with DevHost(APP_ROOT, settings, port=0) as host:
        answers = await asyncio.gather(
            _slowloris(emulator.port, "/api/hubs/slow/:send", True, _bearer(emulator, "/api/hubs/slow/:send")),
            _slowloris(host.port, f"/api/publish?code={TEST_KEY}", True),
        )
    assert [answer.split(b"\r\n", 1)[0] for answer in answers] == [b"HTTP/1.1 408 Request Timeout"] * 2


def test_running_out_of_file_descriptors_is_reported_once(tmp_path: object) -> None:
    """An emulator limited to 64 descriptors, flooded with connections, logs the failure once."""
    import subprocess
    import sys

    script = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))\n"
        "from emulator.__main__ import main\n"
        "main(['--port', sys.argv[1]])\n"
    )
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(port)], cwd=APP_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    held: list[socket.socket] = []
    try:
        assert child.stdout is not None
        banner = read_lines(child.stdout.fileno(), 1, timeout=30)
        assert banner and banner[0].startswith("Web PubSub emulator listening"), banner
        for _ in range(120):
            held.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        time.sleep(3.5)  # asyncio retries accept every second; each failure used to be logged
    finally:
        for connection in held:
            connection.close()
        child.terminate()
        _, errors = child.communicate(timeout=10)
    reports = errors.decode().count("out of system resource")
    assert reports == 1, errors.decode()[-2000:]


SECRET = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXBheWxvYWQ.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    "bad_line",
    [
        f"Authorization: Bearer {SECRET}\x01".encode(),  # a control byte in a value
        f"Authorization Bearer: {SECRET}".encode(),  # a space in a header name
        f"Authorization: Bearer x\r\n {SECRET}".encode(),  # obsolete line folding
    ],
)
@pytest.mark.parametrize("server", ["emulator", "dev host"])
async def test_a_request_head_the_parser_refuses_gets_an_empty_400_that_quotes_nothing(
    stack: Stack, server: str, bad_line: bytes
) -> None:
    """aiohttp's own answer quotes the refused header line, bearer token and all; Kestrel (in front
    of the Functions host and of Web PubSub) answers with the status alone, and so do both."""
    port, path = _ports(stack)[server]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n".encode() + bad_line + b"\r\n\r\n")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split(b" ")[1] == b"400"
    assert rest.partition(b"\r\n\r\n")[2] == b""
    assert SECRET.encode() not in answer

"""One structured log line per invocation, useful on call and free of secrets."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pytest

from actions import main as actions
from emulator import Emulator
from negotiate import main as negotiate
from publish import main as publish
from tests.support import function_request

KEY = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH"
SECRET_MESSAGE = f"Endpoint=https://x.webpubsub.azure.com;AccessKey={KEY};"


@dataclass
class FakeContext:
    invocation_id: str = "inv-123"
    function_name: str = "publish"
    function_directory: str = "/app/publish"


def invocation_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "shared.invocation"]


async def test_publish_logs_one_line_with_every_field(
    app_settings: dict, hub: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    request = function_request("POST", "/api/publish?group=g", body=b"12345", headers={"Content-Type": "text/plain"})
    response = await publish(request, FakeContext())
    assert response.status_code == 202
    [record] = invocation_records(caplog)
    message = record.getMessage()
    for part in ("function=publish", f"hub={hub}", "target=group", "bytes=5", "status=202", "invocation_id=inv-123"):
        assert part in message
    assert "duration_ms=" in message
    dimensions = record.custom_dimensions  # type: ignore[attr-defined]
    assert dimensions["function"] == "publish" and dimensions["status"] == 202
    assert dimensions["invocation_id"] == "inv-123" and dimensions["duration_ms"] >= 0


async def test_negotiate_logs_hub_and_status(app_settings: dict, hub: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    await negotiate(function_request("GET", "/api/negotiate"))
    [record] = invocation_records(caplog)
    assert f"function=negotiate hub={hub} status=200" in record.getMessage()
    assert record.levelno == logging.INFO


async def test_upstream_failure_carries_its_status_and_no_secret(
    app_settings: dict, monkeypatch: pytest.MonkeyPatch, shared_emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "Z" * 44
    monkeypatch.setenv(
        "WebPubSubConnectionString", f"Endpoint=http://localhost;Port={shared_emulator.port};AccessKey={wrong};"
    )
    response = await publish(
        function_request("POST", "/api/publish", body=b"x", headers={"Content-Type": "text/plain"})
    )
    assert response.status_code == 502
    [record] = invocation_records(caplog)
    assert "status=502 error=UpstreamRejected upstream_status=401" in record.getMessage()
    assert record.levelno == logging.WARNING
    assert wrong not in caplog.text and "Bearer " not in caplog.text


async def test_unexpected_errors_log_frames_but_not_messages(
    app_settings: dict, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    class Exploding:
        """A request whose URL raises with a secret in the message: the log must not repeat it."""

        headers: dict = {}

        @property
        def url(self) -> str:
            raise RuntimeError(SECRET_MESSAGE)

    response = await negotiate(Exploding())  # type: ignore[arg-type]
    assert response.status_code == 500
    assert b'"InternalError"' in response.get_body()
    assert KEY not in caplog.text
    assert "RuntimeError" in caplog.text


async def test_actions_log_count_failures_and_hub_but_no_key_or_body(
    app_settings: dict, hub: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret_key, secret_data = "idem-key-7f3a9c", "body-text-5e1d"
    body = (
        f'[{{"actionName":"sendToAll","data":"{secret_data}"}},'
        '{"actionName":"addConnectionToGroup","connectionId":"gone","group":"g"},'
        '{"actionName":"userExists","userId":"u"}]'
    ).encode()
    headers = {"Content-Type": "application/json", "Idempotency-Key": secret_key}
    response = await actions(function_request("POST", "/api/actions", body=body, headers=headers), FakeContext())
    assert response.status_code == 207
    [record] = invocation_records(caplog)
    assert f"function=actions hub={hub} actions=3 failed=1 idempotency=first status=207" in record.getMessage()
    assert record.custom_dimensions["failed"] == 1  # type: ignore[attr-defined]
    assert secret_key not in caplog.text and secret_data not in caplog.text

"""REST details the SDKs rely on: paging that survives membership changes, strict
``:addToGroups``/``:removeFromGroups`` bodies and ``x-ms-error-code`` on errors."""

from __future__ import annotations

import pytest
from azure.core.rest import HttpRequest
from azure.messaging.webpubsubservice import WebPubSubServiceClient

from emulator import Emulator
from tests.emulator.sdk_clients import _sockets, join, service_client  # noqa: F401  (fixtures)


def test_paging_neither_skips_nor_repeats_when_the_group_changes(
    service: WebPubSubServiceClient,
) -> None:
    members = dict(join(service, user_id=f"u{i}", groups=["paged"])[::-1] for i in range(7))
    ids = sorted(members)
    pages = service.list_connections(group="paged", maxpagesize=2).by_page()
    seen = [m.connection_id for m in next(pages)]
    leaving = next(cid for cid in ids if cid not in seen)  # not listed yet: leaves before its page
    service.remove_connection_from_group("paged", leaving)
    service.remove_connection_from_group("paged", seen[0])  # already listed: must not shift the rest
    for page in pages:
        seen.extend(m.connection_id for m in page)
    assert len(seen) == len(set(seen))  # nobody twice
    assert sorted(seen) == sorted(cid for cid in ids if cid != leaving)  # nobody who stayed is skipped


def test_next_link_is_absolute_with_an_opaque_cursor(
    service: WebPubSubServiceClient,
    shared_emulator: Emulator,
    hub: str,
) -> None:
    for i in range(3):
        join(service, user_id=f"n{i}", groups=["linked"])
    first = service.send_request(HttpRequest("GET", f"/api/hubs/{hub}/groups/linked/connections?maxpagesize=2"))
    next_link = first.json()["nextLink"]
    assert next_link.startswith(f"{shared_emulator.endpoint}/api/hubs/{hub}/groups/linked/connections?")
    second = service.send_request(HttpRequest("GET", next_link))
    assert second.status_code == 200 and len(second.json()["value"]) == 1 and "nextLink" not in second.json()
    forged = service.send_request(HttpRequest("GET", f"/api/hubs/{hub}/groups/linked/connections?continuationToken=2"))
    assert forged.status_code == 400


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b'{"groups": []}', "application/json", 400),
        (b'{"groups": ["a"], "extra": 1}', "application/json", 400),
        (b'{"groups": ["a"], "filter": 5}', "application/json", 400),
        (b"groups=a", "application/json", 400),
        (b'{"groups": ["a"], "n": NaN}', "application/json", 400),
        (b'{"groups": ["a"]}', "text/plain", 415),
    ],
)
@pytest.mark.parametrize("operation", [":addToGroups", ":removeFromGroups"])
def test_group_bodies_are_checked_and_errors_carry_x_ms_error_code(
    service: WebPubSubServiceClient,
    hub: str,
    operation: str,
    body: bytes,
    content_type: str,
    status: int,
) -> None:
    response = service.send_request(
        HttpRequest("POST", f"/api/hubs/{hub}/{operation}", content=body, headers={"Content-Type": content_type})
    )
    assert response.status_code == status
    assert response.headers["x-ms-error-code"] == response.json()["code"]


def test_handshake_errors_carry_x_ms_error_code(shared_emulator: Emulator) -> None:
    import requests

    response = requests.get(f"{shared_emulator.endpoint}/client/hubs/9bad", timeout=5)
    assert response.status_code == 400
    assert response.headers["x-ms-error-code"] == response.json()["code"]

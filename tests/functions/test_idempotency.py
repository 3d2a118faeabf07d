"""Idempotency-Key on publish and actions, on both stores: memory, and Table Storage (Azurite)."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Iterator
from contextlib import AsyncExitStack

import aiohttp
import pytest

from devtools.azurite import Azurite
from emulator import DEFAULT_ACCESS_KEY, Emulator
from shared.errors import StoreUnavailable
from shared.idempotency.memory import MemoryKeyStore
from shared.idempotency.settings import load_idempotency_settings
from shared.idempotency.store import RUNNING_LEASE_SECONDS, Outcome
from shared.idempotency.table import table_store
from tests.conftest import Stack
from tests.fakes.fault_proxy import FaultProxy
from tests.functions.clients import Client, clients
from tests.support import TEST_KEY

KEY = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH"
STORAGE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@pytest.fixture(params=["memory", "azurite"])
def store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The dev host reads app settings per invocation: empty AzureWebJobsStorage means memory."""
    value = request.getfixturevalue("azurite").connection_string if request.param == "azurite" else ""
    monkeypatch.setenv("AzureWebJobsStorage", value)
    yield request.param


async def post(
    http: aiohttp.ClientSession,
    stack: Stack,
    path: str,
    body: bytes,
    key: str | None,
    content_type: str = "text/plain",
) -> tuple[int, bytes, dict[str, str]]:
    headers = {"x-functions-key": TEST_KEY, "Content-Type": content_type}
    if key is not None:
        headers["Idempotency-Key"] = key
    async with http.post(f"{stack.base_url}{path}", data=body, headers=headers) as response:
        return response.status, await response.read(), dict(response.headers)


async def count_arrivals(client: Client) -> int:
    count = 0
    try:
        while True:
            await asyncio.wait_for(client.socket.recv(), 0.5)
            count += 1
    except TimeoutError:
        return count


def new_key() -> str:
    return f"key-{uuid.uuid4()}"


async def test_a_repeat_is_answered_from_the_store_and_not_sent_again(stack: Stack, store: str) -> None:
    user, key = f"u-{uuid.uuid4().hex[:6]}", new_key()
    async with clients(stack, user) as [client], aiohttp.ClientSession() as http:
        first = await post(http, stack, f"/api/publish?user={user}", b"once", key)
        again = await post(http, stack, f"/api/publish?user={user}", b"once", key)
        assert first[0] == again[0] == 202
        assert first[1] == again[1]
        assert "Idempotent-Replayed" not in first[2]
        assert again[2]["Idempotent-Replayed"] == "true"
        assert await count_arrivals(client) == 1


async def test_actions_replay_their_per_item_results(stack: Stack, store: str) -> None:
    user, key = f"u-{uuid.uuid4().hex[:6]}", new_key()
    batch = json.dumps(
        [
            {"actionName": "sendToUser", "userId": user, "data": "a"},
            {"actionName": "addConnectionToGroup", "connectionId": "gone", "group": "g"},
        ]
    ).encode()
    async with clients(stack, user) as [client], aiohttp.ClientSession() as http:
        first = await post(http, stack, "/api/actions", batch, key, "application/json")
        again = await post(http, stack, "/api/actions", batch, key, "application/json")
        assert first[0] == again[0] == 207  # a 4xx item inside is kept, as the whole answer is
        assert first[1] == again[1] and again[2]["Idempotent-Replayed"] == "true"
        assert await count_arrivals(client) == 1


async def test_the_same_key_for_another_request_is_422(stack: Stack, store: str) -> None:
    key = new_key()
    async with aiohttp.ClientSession() as http:
        assert (await post(http, stack, "/api/publish", b"one", key))[0] == 202
        status, body, _ = await post(http, stack, "/api/publish", b"two", key)
        assert status == 422 and json.loads(body)["error"]["code"] == "UnprocessableContent"
        status, _, _ = await post(http, stack, "/api/publish?ttl=5", b"one", key)
        assert status == 422


async def test_the_function_key_is_not_part_of_the_fingerprint(stack: Stack, store: str) -> None:
    """A retry may authenticate another way (or after a key rotation); it is still the same request."""
    user, key = f"u-{uuid.uuid4().hex[:6]}", new_key()
    async with clients(stack, user) as [client], aiohttp.ClientSession() as http:
        headers = {"Content-Type": "text/plain", "Idempotency-Key": key}
        url = f"{stack.base_url}/api/publish?user={user}&CODE={TEST_KEY}"
        async with http.post(url, data=b"once", headers=headers) as response:
            assert response.status == 202
        status, _, headers = await post(http, stack, f"/api/publish?user={user}", b"once", key)
        assert status == 202 and headers["Idempotent-Replayed"] == "true"
        assert await count_arrivals(client) == 1


async def test_keys_are_scoped_per_function(stack: Stack, store: str) -> None:
    key = new_key()
    async with aiohttp.ClientSession() as http:
        assert (await post(http, stack, "/api/publish", b"x", key))[0] == 202
        action = b'{"actionName":"userExists","userId":"nobody"}'
        assert (await post(http, stack, "/api/actions", action, key, "application/json"))[0] == 200


async def test_keys_are_scoped_per_hub(stack: Stack, store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    other_hub, key = f"other_{uuid.uuid4().hex[:8]}", new_key()
    monkeypatch.setenv("WebPubSubAllowedHubs", other_hub)
    async with aiohttp.ClientSession() as http:
        assert (await post(http, stack, "/api/publish", b"x", key))[0] == 202
        status, _, headers = await post(http, stack, f"/api/publish?hub={other_hub}", b"x", key)
        assert status == 202 and "Idempotent-Replayed" not in headers
        status, _, headers = await post(http, stack, f"/api/publish?hub={other_hub.upper()}", b"x", key)
        assert status == 422  # hubs are case-insensitive: the same hub, another query


async def test_twenty_concurrent_requests_with_one_key_run_once(
    stack: Stack, store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    user, key = f"u-{uuid.uuid4().hex[:6]}", new_key()
    slow = FaultProxy(stack.emulator.port, weights={"delay": 1})  # the first request holds its key for 2 s
    await slow.start()
    monkeypatch.setenv(
        "WebPubSubConnectionString", f"Endpoint=http://localhost;Port={slow.port};AccessKey={DEFAULT_ACCESS_KEY};"
    )
    async with AsyncExitStack() as exits, clients(stack, user) as [client], aiohttp.ClientSession() as http:
        exits.push_async_callback(slow.stop)
        answers = await asyncio.gather(
            *(post(http, stack, f"/api/publish?user={user}", b"concurrent", key) for _ in range(20))
        )
        firsts = [a for a in answers if a[0] == 202 and "Idempotent-Replayed" not in a[2]]
        replays = [a for a in answers if a[0] == 202 and a[2].get("Idempotent-Replayed") == "true"]
        conflicts = [a for a in answers if a[0] == 409]
        assert len(firsts) == 1
        assert len(firsts) + len(replays) + len(conflicts) == 20
        assert conflicts, "no request found the key still running"
        assert all(a[2]["Retry-After"] == "1" and json.loads(a[1])["error"]["code"] == "Conflict" for a in conflicts)
        assert await count_arrivals(client) == 1


async def test_a_503_releases_the_key_so_a_retry_runs(
    stack: Stack, store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    user, key = f"u-{uuid.uuid4().hex[:6]}", new_key()
    async with clients(stack, user) as [client], aiohttp.ClientSession() as http:
        async with Emulator(port=0) as doomed:
            port = doomed.port
        monkeypatch.setenv("WebPubSubConnectionString", f"Endpoint=http://127.0.0.1;Port={port};AccessKey={KEY};")
        assert (await post(http, stack, f"/api/publish?user={user}", b"retry me", key))[0] == 503
        monkeypatch.setenv("WebPubSubConnectionString", stack.emulator.connection_string)
        status, _, headers = await post(http, stack, f"/api/publish?user={user}", b"retry me", key)
        assert status == 202 and "Idempotent-Replayed" not in headers
        assert json.loads(await client.socket.recv())["data"] == "retry me"


@pytest.mark.parametrize(
    "bad_key",
    ["", "k" * 256, "schlüssel", "tab\there"],
)
async def test_keys_outside_printable_ascii_are_400(stack: Stack, bad_key: str) -> None:
    async with aiohttp.ClientSession() as http:
        headers = {"x-functions-key": TEST_KEY, "Content-Type": "text/plain", "Idempotency-Key": bad_key}
        async with http.post(f"{stack.base_url}/api/publish", data=b"x", headers=headers) as response:
            if response.status != 400:
                pytest.fail(f"{response.status} for {bad_key!r}")
            assert (await response.json())["error"]["code"] == "BadRequest"


async def test_expired_keys_count_as_absent_in_memory() -> None:
    store = MemoryKeyStore()
    claim = await store.claim("k", "fp", 60)
    await store.complete("k", claim.token, 202, b"{}", keep_seconds=0)
    assert (await store.claim("k", "other", 60)).outcome is Outcome.PROCEED


async def test_a_full_memory_store_never_forgets_a_live_key() -> None:
    """Forgetting a running or kept key would let its retry run a second time."""
    store = MemoryKeyStore(capacity=2)
    running = await store.claim("running", "fp", 60)
    kept = await store.claim("kept", "fp", 60)
    await store.complete("kept", kept.token, 202, b"{}", keep_seconds=60)
    with pytest.raises(StoreUnavailable):
        await store.claim("new", "fp", 60)
    assert (await store.claim("running", "fp", 60)).outcome is Outcome.RUNNING
    assert (await store.claim("kept", "fp", 60)).outcome is Outcome.REPLAY
    await store.release("running", running.token)
    assert (await store.claim("new", "fp", 60)).outcome is Outcome.PROCEED


async def test_a_full_memory_store_makes_room_by_dropping_expired_keys() -> None:
    now = [0.0]
    store = MemoryKeyStore(capacity=2, clock=lambda: now[0])
    for key in ("a", "b"):
        claim = await store.claim(key, "fp", 60)
        await store.complete(key, claim.token, 202, b"{}", keep_seconds=10)
    now[0] = 11.0
    assert (await store.claim("c", "fp", 60)).outcome is Outcome.PROCEED
    assert (await store.claim("d", "fp", 60)).outcome is Outcome.PROCEED


async def test_the_memory_store_keeps_answers_within_its_byte_budget() -> None:
    now = [0.0]
    store = MemoryKeyStore(budget=10, clock=lambda: now[0])
    first = await store.claim("a", "fp", 60)
    await store.complete("a", first.token, 202, b"x" * 10, keep_seconds=60)
    second = await store.claim("b", "fp", 60)
    with pytest.raises(StoreUnavailable):
        await store.complete("b", second.token, 202, b"y", keep_seconds=60)
    await store.release("b", second.token)
    now[0] = 61.0  # "a" expired: its bytes are freed for another key's answer
    third = await store.claim("c", "fp", 60)
    await store.complete("c", third.token, 202, b"z" * 10, keep_seconds=60)
    assert (await store.claim("c", "fp", 60)).body == b"z" * 10


async def test_a_full_memory_store_answers_503_and_sends_nothing(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    user = f"u-{uuid.uuid4().hex[:6]}"
    monkeypatch.setenv("AzureWebJobsStorage", "")
    monkeypatch.setenv("IdempotencyMemoryKeys", "1")
    async with clients(stack, user) as [client], aiohttp.ClientSession() as http:
        kept = new_key()
        assert (await post(http, stack, f"/api/publish?user={user}", b"kept", kept))[0] == 202
        status, body, headers = await post(http, stack, f"/api/publish?user={user}", b"refused", new_key())
        assert (status, json.loads(body)["error"]["code"]) == (503, "StoreUnavailable")
        assert int(headers["Retry-After"]) > 0
        _, _, headers = await post(http, stack, f"/api/publish?user={user}", b"kept", kept)
        assert headers["Idempotent-Replayed"] == "true"
        assert [json.loads(await client.socket.recv())["data"]] == ["kept"] and await client.quiet()


async def test_a_full_publish_store_leaves_actions_keys_alone(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """A caller holding only the publish key cannot make keyed actions answer 503 (issue 19)."""
    user = f"u-{uuid.uuid4().hex[:6]}"
    monkeypatch.setenv("AzureWebJobsStorage", "")
    monkeypatch.setenv("IdempotencyMemoryKeys", "3")  # a bound of its own: a new store, empty
    async with clients(stack, user) as [client], aiohttp.ClientSession() as http:
        for _ in range(3):
            assert (await post(http, stack, f"/api/publish?user={user}", b"p", new_key()))[0] == 202
        assert (await post(http, stack, f"/api/publish?user={user}", b"p", new_key()))[0] == 503
        batch = json.dumps({"actionName": "sendToUser", "userId": user, "data": "a"}).encode()
        status, body, _ = await post(http, stack, "/api/actions", batch, new_key(), "application/json")
        assert status == 200, body
        assert [json.loads(await client.socket.recv())["data"] for _ in range(4)] == ["p", "p", "p", "a"]


async def test_a_bound_that_changes_back_starts_an_empty_store(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README promises a new, empty store when IdempotencyMemoryKeys changes, also back again."""
    user = f"u-{uuid.uuid4().hex[:6]}"
    monkeypatch.setenv("AzureWebJobsStorage", "")
    key = new_key()
    async with clients(stack, user) as [client], aiohttp.ClientSession() as http:
        for bound in ("5", "6", "5"):  # each change of the bound starts an empty store: the key runs each time
            monkeypatch.setenv("IdempotencyMemoryKeys", bound)
            status, _, headers = await post(http, stack, f"/api/publish?user={user}", b"one", key)
            assert (status, headers.get("Idempotent-Replayed")) == (202, None), bound
        assert [json.loads(await client.socket.recv())["data"] for _ in range(3)] == ["one"] * 3


async def test_a_claim_whose_owner_died_frees_itself_after_its_lease() -> None:
    """A first request that never completes or releases (its process died) must not hold the key forever."""
    now = [0.0]
    memory = MemoryKeyStore(clock=lambda: now[0])
    await memory.claim("k", "fp", RUNNING_LEASE_SECONDS)
    assert (await memory.claim("k", "fp", RUNNING_LEASE_SECONDS)).outcome is Outcome.RUNNING
    now[0] = RUNNING_LEASE_SECONDS + 0.1
    assert (await memory.claim("k", "fp", RUNNING_LEASE_SECONDS)).outcome is Outcome.PROCEED


async def test_a_table_claim_whose_owner_died_frees_itself_after_its_lease(azurite: Azurite) -> None:
    store = table_store(load_idempotency_settings({"AzureWebJobsStorage": azurite.connection_string}))
    key = uuid.uuid4().hex
    assert (await store.claim(key, "fp", 0)).outcome is Outcome.PROCEED  # never completed nor released
    taken = await store.claim(key, "fp", 60)
    assert taken.outcome is Outcome.PROCEED
    assert (await store.claim(key, "fp", 60)).outcome is Outcome.RUNNING


async def test_table_rows_expire_and_only_the_owner_completes(azurite: Azurite) -> None:
    store = table_store(load_idempotency_settings({"AzureWebJobsStorage": azurite.connection_string}))
    key = uuid.uuid4().hex
    first = await store.claim(key, "fp", 60)
    assert first.outcome is Outcome.PROCEED
    assert (await store.claim(key, "fp", 60)).outcome is Outcome.RUNNING
    assert (await store.claim(key, "other", 60)).outcome is Outcome.MISMATCH
    big = bytes(range(256)) * 1000  # 256 kB: more than one 64 KiB property
    await store.complete(key, first.token, 207, big, keep_seconds=0)
    taken = await store.claim(key, "other", 60)  # expired: counts as absent, taken over by ETag
    assert taken.outcome is Outcome.PROCEED
    await store.complete(key, first.token, 202, b"stale owner", keep_seconds=60)  # refused: not its row any more
    await store.complete(key, taken.token, 202, big, keep_seconds=60)
    replay = await store.claim(key, "other", 60)
    assert (replay.outcome, replay.status, replay.body) == (Outcome.REPLAY, 202, big)


class TableBeingDeleted:
    """Azure's answers while a deleted table is still being deleted (40 s or more): creating the
    table is a 409, inserting into it a 404. Azurite deletes at once, so this edge is faked."""

    def __init__(self) -> None:
        self.inserts = 0

    async def create_table(self) -> None:
        from azure.core.exceptions import ResourceExistsError

        raise ResourceExistsError("TableBeingDeleted")

    async def create_entity(self, entity: dict) -> dict:
        from azure.core.exceptions import ResourceNotFoundError

        self.inserts += 1
        raise ResourceNotFoundError("TableNotFound")


async def test_a_table_still_being_deleted_is_a_503_not_a_claim_still_running() -> None:
    from shared.idempotency.table import TableKeyStore

    table = TableBeingDeleted()
    with pytest.raises(StoreUnavailable):
        await TableKeyStore(table).claim("k", "fp", 60)  # type: ignore[arg-type]
    assert table.inserts == 2  # once, then once more after creating the table again


async def test_the_sweep_deletes_expired_rows_and_keeps_live_ones(azurite: Azurite) -> None:
    """Table Storage has no expiry: without the sweep, every key ever used would stay forever."""
    from azure.data.tables.aio import TableClient

    table = f"Keys{uuid.uuid4().hex[:12]}"
    settings = load_idempotency_settings({"AzureWebJobsStorage": azurite.connection_string, "IdempotencyTable": table})
    store = table_store(settings)
    expired, live, running = [uuid.uuid4().hex for _ in range(3)], uuid.uuid4().hex, uuid.uuid4().hex
    for key in [*expired, live]:
        claim = await store.claim(key, "fp", 60)
        await store.complete(key, claim.token, 202, b"x", keep_seconds=0 if key in expired else 600)
    await store.claim(running, "fp", 600)  # still running: its lease has not run out
    assert await store.sweep_expired() == 3
    async with TableClient.from_connection_string(azurite.connection_string, table) as rows:
        left = sorted([row["PartitionKey"] async for row in rows.list_entities()])
    assert left == sorted([live, running])
    assert (await store.claim(live, "fp", 60)).outcome is Outcome.REPLAY


async def test_a_deleted_table_is_created_again_on_the_next_claim(azurite: Azurite) -> None:
    """Someone deleted the table while the app ran: keys must not fail with 500 until a restart."""
    from azure.data.tables.aio import TableServiceClient

    table = f"Keys{uuid.uuid4().hex[:12]}"
    settings = load_idempotency_settings({"AzureWebJobsStorage": azurite.connection_string, "IdempotencyTable": table})
    store = table_store(settings)
    assert (await store.claim(uuid.uuid4().hex, "fp", 60)).outcome is Outcome.PROCEED
    async with TableServiceClient.from_connection_string(azurite.connection_string) as service:
        await service.delete_table(table)
    key = uuid.uuid4().hex
    first = await store.claim(key, "fp", 60)
    assert first.outcome is Outcome.PROCEED
    await store.complete(key, first.token, 202, b"kept", keep_seconds=60)
    replay = await store.claim(key, "fp", 60)
    assert (replay.outcome, replay.body) == (Outcome.REPLAY, b"kept")


@pytest.mark.parametrize(
    "value",
    [
        "garbage",
        "AccountName=x",
        "DefaultEndpointsProtocol=http;AccountKey=abc=",
        f"AccountName=a;AccountKey={STORAGE_KEY};TableEndpoint=http://127.0.0.1:99999/a",
        f"AccountName=a;AccountKey={STORAGE_KEY};TableEndpoint=http://127.0.0.1:80x/a",
        f"AccountName=a;AccountKey={STORAGE_KEY};TableEndpoint=http://exa mple/a",
        f"DefaultEndpointsProtocol=https;AccountName=a;AccountKey={STORAGE_KEY};EndpointSuffix=core.windows.net:0",
        "AccountName=a;AccountKey=not*base64;TableEndpoint=http://127.0.0.1:1/a",
    ],
)
async def test_a_malformed_storage_connection_string_is_a_configuration_error(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("AzureWebJobsStorage", value)
    async with aiohttp.ClientSession() as http:
        status, body, _ = await post(http, stack, "/api/publish", b"x", new_key())
    error = json.loads(body)["error"]
    assert (status, error["code"]) == (500, "ConfigurationError")
    assert "AzureWebJobsStorage" in error["message"]
    assert STORAGE_KEY.encode() not in body and b"base64;" not in body


async def test_an_unreachable_key_store_is_a_503_and_nothing_is_sent(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, azurite: Azurite
) -> None:
    user = f"u-{uuid.uuid4().hex[:6]}"
    async with Emulator(port=0) as doomed:
        closed_port = doomed.port
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string.replace(str(azurite.port), str(closed_port)))
    async with clients(stack, user) as [client], aiohttp.ClientSession() as http:
        status, body, headers = await post(http, stack, f"/api/publish?user={user}", b"x", new_key())
        assert (status, json.loads(body)["error"]["code"]) == (503, "StoreUnavailable")
        assert int(headers["Retry-After"]) > 0
        assert await client.quiet()


async def test_an_answer_the_store_fails_to_keep_never_lets_a_retry_run_again(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, azurite: Azurite
) -> None:
    """The claim is stored, saving the answer fails (every PATCH is a 503): the publish ran, so its
    key must stay claimed; a retry gets 409 rather than a second delivery."""
    user, key = f"u-{uuid.uuid4().hex[:6]}", new_key()
    failing_saves = FaultProxy(azurite.port, weights={"503": 1}, only_methods=frozenset({"PATCH"}))
    await failing_saves.start()
    storage = azurite.connection_string.replace(f":{azurite.port}/", f":{failing_saves.port}/")
    monkeypatch.setenv("AzureWebJobsStorage", storage)
    async with AsyncExitStack() as exits, clients(stack, user) as [client], aiohttp.ClientSession() as http:
        exits.push_async_callback(failing_saves.stop)
        assert (await post(http, stack, f"/api/publish?user={user}", b"once", key))[0] == 202
        assert failing_saves.injected["503"] >= 1
        status, body, headers = await post(http, stack, f"/api/publish?user={user}", b"once", key)
        assert (status, json.loads(body)["error"]["code"], headers["Retry-After"]) == (409, "Conflict", "1")
        assert [json.loads(await client.socket.recv())["data"]] == ["once"] and await client.quiet()


async def test_keys_and_bodies_reach_no_log_line(stack: Stack, store: str, caplog: pytest.LogCaptureFixture) -> None:
    """Every outcome (first, replay, 422, 503-and-release) at DEBUG, the SDKs' loggers included."""
    key, body = f"secret-key-{uuid.uuid4().hex}", f"secret-body-{uuid.uuid4().hex}".encode()
    caplog.set_level(logging.DEBUG)
    async with aiohttp.ClientSession() as http:
        assert (await post(http, stack, "/api/publish", body, key))[0] == 202
        assert (await post(http, stack, "/api/publish", body, key))[0] == 202
        assert (await post(http, stack, "/api/publish", body + b"!", key))[0] == 422
        action = json.dumps({"actionName": "sendToAll", "data": body.decode()}).encode()
        assert (await post(http, stack, "/api/actions", action, key, "application/json"))[0] == 200
    logged = "\n".join(f"{record.name}: {record.getMessage()}" for record in caplog.records)
    assert "Idempotency" in logged or "idempotency" in logged  # the outcome is logged, by word
    assert key not in logged and body.decode() not in logged

"""actions through the dev host, each action's effect seen by real WebSocket clients of the emulator."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from emulator import DEFAULT_ACCESS_KEY as KEY
from tests.conftest import Stack
from tests.fakes.black_hole import start_black_hole
from tests.fakes.loopback import serve_on_loopback
from tests.functions.clients import clients
from tests.support import TEST_KEY, BackgroundLoop, http_call

SEND = {"actionName": "sendToAll", "data": "x"}


async def post_actions(
    stack: Stack,
    payload: Any,
    *,
    query: str = "",
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
    answer_headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """Status and JSON body; the answer's headers go into ``answer_headers`` when given."""
    sent = {"x-functions-key": TEST_KEY, "Content-Type": "application/json", **(headers or {})}
    body = raw if raw is not None else json.dumps(payload).encode()
    status, answer, received_headers = await http_call(stack.base_url, "POST", f"/api/actions{query}", body, sent)
    if answer_headers is not None:
        answer_headers.update(received_headers)
    return status, answer


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def statuses(body: dict[str, Any]) -> list[int]:
    return [result["status"] for result in body["results"]]


async def test_sends_arrive_in_array_order_with_their_data_types(stack: Stack) -> None:
    group = unique("g")
    async with clients(stack, "ann", groups=(group,)) as [ann]:
        binary = b"\x00\xff\x10binary"
        actions = [
            {"actionName": "sendToAll", "data": "one"},
            {"actionName": "SENDTOGROUP", "group": group, "data": '{"n":2}', "dataType": "json"},
            {
                "actionName": "sendToUser",
                "userId": "ann",
                "data": base64.b64encode(binary).decode(),
                "dataType": "binary",
            },
            {"actionName": "sendToConnection", "connectionId": ann.id, "data": "four", "ttl": 30},
        ] + [{"actionName": "sendToGroup", "group": group, "data": f"n{i}"} for i in range(20)]
        status, body = await post_actions(stack, actions)
        assert status == 200
        assert body["hub"] == stack.hub
        assert body["results"][0] == {"index": 0, "action": "sendToAll", "status": 202}
        assert [r["action"] for r in body["results"][:4]] == [
            "sendToAll",
            "sendToGroup",
            "sendToUser",
            "sendToConnection",
        ]
        assert statuses(body) == [202] * 24
        got = [await ann.next() for _ in range(24)]
        assert [(m["dataType"], m["data"]) for m in got[:4]] == [
            ("text", "one"),
            ("json", {"n": 2}),
            ("binary", base64.b64encode(binary).decode()),
            ("text", "four"),
        ]
        assert [m["data"] for m in got[4:]] == [f"n{i}" for i in range(20)]


async def test_a_single_action_object_is_a_batch_of_one(stack: Stack) -> None:
    async with clients(stack, "solo") as [solo]:
        status, body = await post_actions(stack, {"actionName": "sendToUser", "userId": "solo", "data": "hi"})
        assert (status, statuses(body)) == (200, [202])
        assert (await solo.next())["data"] == "hi"


async def test_excluded_and_filter_narrow_a_send(stack: Stack) -> None:
    group = unique("g")
    async with clients(stack, "a", "b", groups=(group,)) as [a, b]:
        actions = [
            {"actionName": "sendToGroup", "group": group, "data": "not a", "excluded": [a.id]},
            {"actionName": "sendToAll", "data": "only a", "filter": f"connectionId eq '{a.id}'"},
        ]
        assert (await post_actions(stack, actions))[0] == 200
        assert (await b.next())["data"] == "not a"
        assert (await a.next())["data"] == "only a"
        assert await a.quiet() and await b.quiet()


async def test_membership_actions_change_what_clients_receive(stack: Stack) -> None:
    g1, g2 = unique("g"), unique("g")
    user = unique("u")
    async with clients(stack, user, "other") as [member, other]:

        async def send_to_groups() -> None:
            batch = [{"actionName": "sendToGroup", "group": g, "data": g} for g in (g1, g2)]
            assert (await post_actions(stack, batch))[0] == 200

        assert (await post_actions(stack, {"actionName": "addUserToGroup", "userId": user, "group": g1}))[0] == 200
        await send_to_groups()
        assert (await member.next())["data"] == g1
        assert await member.quiet() and await other.quiet()

        batch = [
            {"actionName": "removeUserFromGroup", "userId": user, "group": g1},
            {"actionName": "addConnectionToGroup", "connectionId": member.id, "group": g2},
        ]
        assert (await post_actions(stack, batch))[0] == 200
        await send_to_groups()
        assert (await member.next())["data"] == g2
        assert await member.quiet()

        batch = [{"actionName": "removeConnectionFromGroup", "connectionId": member.id, "group": g2}]
        assert (await post_actions(stack, batch))[0] == 200
        await send_to_groups()
        assert await member.quiet()

        batch = [
            {"actionName": "addConnectionsToGroups", "groups": [g1, g2], "filter": f"userId eq '{user}'"},
        ]
        assert (await post_actions(stack, batch))[0] == 200
        await send_to_groups()
        assert [(await member.next())["data"] for _ in range(2)] == [g1, g2]
        assert await other.quiet()

        batch = [{"actionName": "removeConnectionsFromGroups", "groups": [g1], "filter": f"userId eq '{user}'"}]
        assert (await post_actions(stack, batch))[0] == 200
        await send_to_groups()
        assert (await member.next())["data"] == g2
        assert await member.quiet()

        assert (await post_actions(stack, {"actionName": "removeConnectionFromAllGroups", "connectionId": member.id}))[
            0
        ] == 200
        await send_to_groups()
        assert await member.quiet()

        assert (await post_actions(stack, {"actionName": "addUserToGroup", "userId": user, "group": g1}))[0] == 200
        assert (await post_actions(stack, {"actionName": "removeUserFromAllGroups", "userId": user}))[0] == 200
        await send_to_groups()
        assert await member.quiet()


async def test_close_actions_close_the_right_connections(stack: Stack) -> None:
    group, user = unique("g"), unique("u")
    async with clients(stack, "c1", "c2", user, user, "keep", groups=(group,)) as [c1, c2, u1, u2, keep]:
        batch = [
            {"actionName": "closeClientConnection", "connectionId": c1.id, "reason": "bye"},
            {"actionName": "closeUserConnections", "userId": user, "excluded": [u2.id]},
        ]
        status, body = await post_actions(stack, batch)
        assert (status, statuses(body)) == (200, [200, 200])
        assert await c1.closed() and await u1.closed()
        assert await u2.quiet() and await c2.quiet()

        batch = [{"actionName": "closeGroupConnections", "group": group, "excluded": [keep.id], "reason": "group"}]
        assert (await post_actions(stack, batch))[0] == 200
        assert await c2.closed() and await u2.closed()
        assert await keep.quiet()

    async with clients(stack, "x", "y") as [x, y]:
        assert (await post_actions(stack, {"actionName": "closeAllConnections", "excluded": [y.id]}))[0] == 200
        assert await x.closed()
        assert await y.quiet()


async def test_permissions_let_a_client_join_and_send(stack: Stack) -> None:
    group = unique("g")
    async with clients(stack, "p", "listener", groups=()) as [p, listener]:
        join = {"type": "joinGroup", "group": group, "ackId": 1}
        assert (await p.request(join))["success"] is False

        check = {
            "actionName": "checkPermission",
            "connectionId": p.id,
            "permission": "joinLeaveGroup",
            "targetName": group,
        }
        grant = {**check, "actionName": "grantPermission"}
        status, body = await post_actions(stack, [check, grant, check])
        assert status == 200
        assert [(r["status"], r.get("value")) for r in body["results"]] == [(200, False), (200, None), (200, True)]
        assert (await p.request({**join, "ackId": 2}))["success"] is True

        send = {"type": "sendToGroup", "group": group, "data": "from p", "ackId": 3}
        assert (await p.request(send))["success"] is False
        grant_send = {"actionName": "grantPermission", "connectionId": p.id, "permission": "sendToGroup"}
        add_listener = {"actionName": "addConnectionToGroup", "connectionId": listener.id, "group": group}
        assert (await post_actions(stack, [grant_send, add_listener]))[0] == 200
        assert (await p.request({**send, "ackId": 4}))["success"] is True
        assert (await listener.next())["data"] == "from p"

        revoke = {**grant_send, "actionName": "revokePermission"}
        status, body = await post_actions(stack, [revoke, {**grant_send, "actionName": "checkPermission"}])
        assert body["results"][1]["value"] is False
        assert (await p.request({**send, "ackId": 5}))["success"] is False


async def test_reads_answer_true_and_false_with_200(stack: Stack) -> None:
    group, user = unique("g"), unique("u")
    async with clients(stack, user, groups=(group,)) as [client]:
        batch = [
            {"actionName": "connectionExists", "connectionId": client.id},
            {"actionName": "connectionExists", "connectionId": "nobody"},
            {"actionName": "userExists", "userId": user},
            {"actionName": "userExists", "userId": unique("u")},
            {"actionName": "groupExists", "group": group},
            {"actionName": "groupExists", "group": unique("g")},
            {"actionName": "listConnectionsInGroup", "group": group},
        ]
        status, body = await post_actions(stack, batch)
        assert status == 200
        assert [r["value"] for r in body["results"][:6]] == [True, False, True, False, True, False]
        assert statuses(body) == [200] * 7
        assert body["results"][6]["value"] == [{"connectionId": client.id, "userId": user}]


async def test_list_connections_follows_the_service_paging_and_top(stack: Stack) -> None:
    group = unique("big")
    count = 205  # the service (and emulator) answers 200 connections per page
    async with clients(stack, *[f"u{i}" for i in range(count)], groups=(group,)) as connected:
        batch = [
            {"actionName": "listConnectionsInGroup", "group": group},
            {"actionName": "listConnectionsInGroup", "group": group, "top": 3},
        ]
        status, body = await post_actions(stack, batch)
        assert status == 200
        listed = body["results"][0]["value"]
        assert sorted(item["connectionId"] for item in listed) == sorted(c.id for c in connected)
        assert len(body["results"][1]["value"]) == 3


async def test_a_bad_item_means_nothing_runs(stack: Stack) -> None:
    async with clients(stack, "victim") as [victim]:
        batch = [{"actionName": "sendToUser", "userId": "victim", "data": f"m{i}"} for i in range(5)]
        batch.append({"actionName": "sendToGroup", "group": "", "data": "x"})
        status, body = await post_actions(stack, batch)
        assert status == 400
        assert body["error"]["code"] == "BadRequest"
        assert "Action 5" in body["error"]["message"] and "group" in body["error"]["message"]
        assert await victim.quiet()


async def test_a_failing_item_does_not_stop_the_others(stack: Stack) -> None:
    async with clients(stack, "f") as [client]:
        batch = [
            {"actionName": "sendToUser", "userId": "f", "data": "before"},
            {"actionName": "addConnectionToGroup", "connectionId": "gone", "group": "g"},
            {"actionName": "sendToAll", "data": "x", "filter": "userId eq"},
            {"actionName": "sendToUser", "userId": "f", "data": "after"},
        ]
        answer_headers: dict[str, str] = {}
        status, body = await post_actions(stack, batch, answer_headers=answer_headers)
        assert status == 207 and "Retry-After" not in answer_headers  # nothing here gets better by waiting
        failed = body["results"][1]
        assert (failed["status"], failed["error"]["code"]) == (404, "NotFound")
        assert (body["results"][2]["status"], body["results"][2]["error"]["code"]) == (400, "BadRequest")
        assert [body["results"][i]["status"] for i in (0, 3)] == [202, 202]
        assert [(await client.next())["data"] for _ in range(2)] == ["before", "after"]


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "words"),
    [
        (b"[]", "application/json", 400, "1 to 100"),
        (json.dumps([{"actionName": "userExists", "userId": "u"}] * 101).encode(), "application/json", 400, "1 to 100"),
        (b'{"actionName":"sendToAll","data":"x"}', "text/plain", 415, "application/json"),
        (b"x" * (1024 * 1024 + 1), "application/json", 413, "1 MiB"),
        (b'[{"actionName":"sendToAll","data":"x","ttl":NaN}]', "application/json", 400, "NaN"),
        (b'{"actionName":"sendToAll","data":"x","ttl":Infinity}', "application/json", 400, "JSON"),
        (b'{"actionName":"sendToAll","data":"[-Infinity]","dataType":"json"}', "application/json", 400, "data"),
        (b'{"actionName":"fly"}', "application/json", 400, "actionName"),
        (
            b'[{"actionName":"sendToAll","data":"first"},{"actionName":"sendToAll","dataType":"json","data":"[1e999]"}]',
            "application/json",
            400,
            "Action 1, field data",
        ),
        (b'{"actionName":"sendToAll","actionName":"groupExists","group":"g"}', "application/json", 400, "name once"),
        (
            json.dumps([{"actionName": "sendToAll", "data": "x"}, {**SEND, "excluded": ["c" * 40] * 200}]).encode(),
            "application/json",
            400,
            "Action 1, field excluded: The action's excluded makes its service URL too long",
        ),
        (
            json.dumps({**SEND, "filter": "userId eq '" + "é" * 2000 + "'"}).encode(),
            "application/json",
            400,
            "field filter: The action's filter makes its service URL too long",
        ),
        (
            json.dumps({"actionName": "sendToGroup", "group": "🙂" * 1024, "data": "x"}).encode(),
            "application/json",
            400,
            "field group: The action's group makes its service URL too long",
        ),
        (b'{"actionName":"sendToUser","userId":"u","data":"x","excluded":["c"]}', "application/json", 400, "excluded"),
        (b'{"actionName":"sendToAll","data":"***","dataType":"binary"}', "application/json", 400, "base64"),
        (b'{"actionName":"sendToAll","data":"QUJD====","dataType":"binary"}', "application/json", 400, "base64"),
        (b'{"actionName":"sendToAll","data":"QR==","dataType":"binary"}', "application/json", 400, "base64"),
        (b'{"actionName":"sendToAll","data":"x","ttl":301}', "application/json", 400, "ttl"),
        (
            b'{"actionName":"grantPermission","connectionId":"c","permission":"all"}',
            "application/json",
            400,
            "permission",
        ),
        (b'{"actionName":"listConnectionsInGroup","group":"g","top":0}', "application/json", 400, "top"),
    ],
)
async def test_bad_requests_name_what_is_wrong(
    stack: Stack, raw: bytes, content_type: str, status: int, words: str
) -> None:
    got_status, body = await post_actions(stack, None, raw=raw, headers={"Content-Type": content_type})
    assert got_status == status
    assert body["error"]["code"] and words in body["error"]["message"]


async def test_unknown_hub_and_missing_key(stack: Stack) -> None:
    status, body = await post_actions(stack, {"actionName": "userExists", "userId": "u"}, query="?hub=elsewhere")
    assert (status, body["error"]["code"]) == (404, "NotFound")
    async with aiohttp.ClientSession() as http, http.post(f"{stack.base_url}/api/actions", data=b"{}") as response:
        assert response.status == 401


async def start_answers_once_then_silent() -> tuple[web.AppRunner, int, list[bytes], asyncio.Event]:
    """A service that accepts the first call and leaves the later ones unanswered until released:
    an outage mid-batch."""
    bodies: list[bytes] = []
    released = asyncio.Event()

    async def answer(request: web.Request) -> web.Response:
        bodies.append(await request.read())
        if len(bodies) > 1:
            await released.wait()
        return web.Response(status=202)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner, port = await serve_on_loopback(app)
    return runner, port, bodies, released


async def test_items_not_started_before_the_batch_deadline_are_not_run(
    stack: Stack, background: BackgroundLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 1 waits out the client's 5 s deadline; item 2, due after the 3 s batch deadline, is not sent."""
    runner, port, bodies, released = background.run(start_answers_once_then_silent())
    monkeypatch.setenv("WebPubSubConnectionString", f"Endpoint=http://127.0.0.1;Port={port};AccessKey={KEY};")
    monkeypatch.setenv("ActionsDeadlineSeconds", "3")
    try:
        batch = [{"actionName": "sendToAll", "data": str(i)} for i in range(3)]
        status, body = await post_actions(stack, batch)
    finally:
        background.call(released.set)
        background.run(runner.cleanup())
    assert status == 207
    assert statuses(body) == [202, 503, 503]
    assert [r["error"]["message"].startswith("Not run") for r in body["results"][1:]] == [False, True]
    assert b"2" not in bodies and bodies[:2] == [b"0", b"1"]


async def test_a_batch_that_did_nothing_for_want_of_the_service_is_503_and_its_key_runs_again(
    stack: Stack, background: BackgroundLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not a 207 replayed for an hour: nothing ran, so the answer is 503 and the key is free again."""
    group, key = unique("g"), f"key-{uuid.uuid4()}"
    batch = [{"actionName": "sendToGroup", "group": group, "data": "once"}]
    server = background.run(start_black_hole())
    port = server.sockets[0].getsockname()[1]
    with monkeypatch.context() as outage:
        outage.setenv("WebPubSubConnectionString", f"Endpoint=http://127.0.0.1;Port={port};AccessKey={KEY};")
        try:
            status, body = await post_actions(stack, batch, headers={"Idempotency-Key": key})
        finally:
            background.call(server.close)
    assert (status, body["error"]["code"]) == (503, "UpstreamUnavailable")
    async with clients(stack, "ann", groups=(group,)) as [ann]:
        status, body = await post_actions(stack, batch, headers={"Idempotency-Key": key})
        assert (status, statuses(body)) == (200, [202])
        assert (await ann.next())["data"] == "once"


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"actionName": "sendToGroup", "group": "..", "data": "to the whole hub?"}, "group"),
        ({"actionName": "sendToUser", "userId": "..", "data": "to the whole hub?"}, "userId"),
        ({"actionName": "removeConnectionFromGroup", "group": "..", "connectionId": "c"}, "group"),
        ({"actionName": "closeClientConnection", "connectionId": "."}, "connectionId"),
    ],
)
async def test_dot_segment_names_are_400_and_never_reach_another_path(
    stack: Stack, item: dict[str, str], field: str
) -> None:
    """``groups/../:send`` is ``/:send`` once a client normalises the path: a send to the whole hub."""
    async with clients(stack, "bystander") as [bystander]:
        status, body = await post_actions(stack, [{"actionName": "userExists", "userId": "u"}, item])
        assert status == 400
        assert f"Action 1, field {field}" in body["error"]["message"]
        assert await bystander.quiet()


@pytest.mark.parametrize("query", ["group=..", "user=..", "connectionId=.", "group=%2E%2E"])
async def test_publish_refuses_dot_segment_targets(stack: Stack, query: str) -> None:
    async with clients(stack, "bystander") as [bystander], aiohttp.ClientSession() as http:
        headers = {"x-functions-key": TEST_KEY, "Content-Type": "text/plain"}
        async with http.post(f"{stack.base_url}/api/publish?{query}", data=b"x", headers=headers) as response:
            assert response.status == 400
            assert (await response.json())["error"]["code"] == "BadRequest"
        assert await bystander.quiet()


async def test_a_json_typo_is_answered_with_its_line_and_column(stack: Stack) -> None:
    status, body = await post_actions(stack, None, raw=b'[\n  {"actionName": "sendToAll",\n   "data": "x",}\n]')
    assert status == 400
    assert body["error"]["message"] == (
        "The body is not valid JSON: Expecting property name enclosed in double quotes at line 3, column 16."
    )


async def test_an_unknown_field_is_named_as_unknown(stack: Stack) -> None:
    status, body = await post_actions(stack, [SEND, {"actionName": "sendToUser", "user": "ann", "data": "x"}])
    assert (status, body["error"]["message"]) == (400, 'Action 1, field user: sendToUser takes no field named "user".')
    status, body = await post_actions(stack, [{"actionName": "sendToUsers", "userId": "ann", "data": "x"}])
    assert body["error"]["message"] == 'Action 0, field actionName: "sendToUsers" is not a known action.'

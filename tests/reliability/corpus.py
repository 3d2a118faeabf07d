"""Hand-written bad input for negotiate, publish and the emulator's REST API.

Each case is a request a careless or hostile caller could send. The values are written out
by hand; some lists are crossed (every bad hub with both functions, every bad body with every
content type) to reach the corners where two rules meet.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import quote


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str  # with query, already encoded
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    host_level: bool = False  # answered by the host (404 route/method, 414 URL) rather than our code


def q(value: str) -> str:
    return quote(value, safe="")


DEEP_JSON = ("[" * 10_000 + "]" * 10_000).encode()
DEEP_OBJECT = ('{"a":' * 10_000 + "1" + "}" * 10_000).encode()
INVALID_UTF8 = b"\xff\xfe\xfa not utf-8 \xc3\x28"

BAD_HUBS = [
    "",
    " ",
    "1hub",
    "_hub",
    "a" * 129,
    "ü",
    "hub/other",
    "hub%2Fother",
    "hub\x00",
    "hub\r\nX-Evil: 1",
    "../../etc/passwd",
    "hub?x=1",
    "hub name",
    "hub-dash",
    "<script>",
    "%",
    "UNKNOWN",
    "a" * 128,
]
BAD_GROUPS = [
    "",
    " ",
    "\t\n",
    "g" * 1025,
    "g\x00",
    "g\r\nSet-Cookie: a=b",
    "g\x7f",
    "\u2028" * 3,
]
ODD_GROUPS = ["g" * 1024, "lobby%2Fsub", "lobby%252F", "ü-ñ-€", "lobby+plus", "lobby,comma", "lobby\u200b"]
# A '/' in a name: the service keeps an encoded '/' literal, so x/y would reach the user x%2Fy (issue 19).
# Each is sent percent-encoded once more by the corpus (q()), so "x%2Fy" here arrives as x%2Fy.
SLASH_NAMES = ["x/y", "/", "//", "x/", "/x", "x/%2Fy", "x%2F/y", "x/%252Fy", "lobby/sub"]
# Names that are URL dot-segments: clients normalise them away, so "groups/../:send" is "/:send".
DOT_NAMES = [".", "..", "%2E%2E"]
BAD_USERS = ["", " ", "u" * 1025, "u\x00", "u\r\nx", "\x1b[31m"]
ODD_USERS = ["ü", "a%2Fb", "admin@contoso.com", "u" * 1024, "' or 1=1 --", "null"]
BAD_TTLS = ["-1", "301", "1e2", "0x10", " 5", "5 ", "5.0", "", "9" * 40, "٣", "¹", "²⁰"]  # ¹: found by the fuzzer
CONTENT_TYPES = [
    None,
    "",
    "text/html",
    "application/xml",
    "multipart/form-data; boundary=x",
    "text/plain;;;",
    "application/json; charset=latin-1",
    'text/plain; charset="iso-8859-1"',
    "text/plain; charset=",
    "text/plain; charset=utf-8; charset=latin-1",
    "text/plain; CHARSET=UTF-8",
    "TEXT/PLAIN",
    "application/octet-stream; x=y",
    "*/*",
    "text/*",
    "application/x-www-form-urlencoded",
    "text/plain\x00",
    "application/jsonx",
    "image/png",
]
BAD_BODIES_FOR_JSON = [
    b"NaN",
    b"[Infinity]",
    b'{"n": -Infinity}',
    b"1e999",
    b"",
    b"{",
    b"[1,2",
    b"nul",
    b'"unterminated',
    DEEP_JSON,
    DEEP_OBJECT,
    INVALID_UTF8,
    b"NaN{}",
    b"\xef\xbb\xbf{}",
    b"{'single': 'quotes'}",
    b"1 2",
]
ODD_BODIES = [
    b"x",
    b"\x00",
    INVALID_UTF8,
    b" ",
    b"\r\n",
    "🙂".encode(),
    b"x" * 1024 * 1024,
    json.dumps({"deep": [[[[[[[[[[1]]]]]]]]]]}).encode(),
]
BAD_FILTERS = [
    # operand types that do not fit (the service answers 400)
    "userId gt 1",
    "tolower(1) eq 'a'",
    "startswith(groups,'a')",
    "1 in userId",
    "groups eq groups",
    "concat(userId, 1) eq 'a'",
    "((((",
    "userId eq",
    "userId eq 'x",
    "foo eq 'x'",
    "'x' in",
    "not",
    "userId eq 'x' or",
    ")" * 50,
    "(" * 200 + "true" + ")" * 200,
    "not " * 5000 + "true",
    "userId eq '" + "x" * 5000 + "'",
    "length()",
    "userId ~ 1",
    "\x00",
    "userId eq 'ü'",
    "substring(userId, 'a')",
]


def negotiate_cases() -> list[Case]:
    cases = [Case(f"negotiate bad hub {h!r}", "GET", f"/api/negotiate?hub={q(h)}") for h in BAD_HUBS]
    cases += [Case(f"negotiate bad group {g!r}", "GET", f"/api/negotiate?group={q(g)}") for g in BAD_GROUPS]
    cases += [Case(f"negotiate odd group {g!r}", "GET", f"/api/negotiate?group={q(g)}") for g in ODD_GROUPS]
    cases += [Case(f"negotiate bad user {u!r}", "GET", f"/api/negotiate?userId={q(u)}") for u in BAD_USERS]
    cases += [Case(f"negotiate odd user {u!r}", "GET", f"/api/negotiate?userId={q(u)}") for u in ODD_USERS]
    cases += [Case(f"negotiate slash user {u!r}", "GET", f"/api/negotiate?userId={q(u)}") for u in SLASH_NAMES]
    cases += [Case(f"negotiate slash group {g!r}", "GET", f"/api/negotiate?group={q(g)}") for g in SLASH_NAMES]
    cases += [
        Case("negotiate repeated hub", "GET", "/api/negotiate?hub=a&hub=b"),
        Case("negotiate conflicting hub case", "GET", "/api/negotiate?hub=Chat&HUB=chat"),
        Case("negotiate repeated userId", "GET", "/api/negotiate?userId=a&userId=b"),
        Case("negotiate 60 groups", "GET", "/api/negotiate?" + "&".join(f"group=lobby{i}" for i in range(60))),
        Case("negotiate unknown protocol", "GET", "/api/negotiate?protocol=socketio"),
        Case("negotiate empty protocol", "GET", "/api/negotiate?protocol="),
        Case("negotiate protocol with nul", "GET", "/api/negotiate?protocol=default%00"),
        Case("negotiate repeated protocol", "GET", "/api/negotiate?protocol=default&protocol=mqtt"),
        Case("negotiate query over 4 KB", "GET", "/api/negotiate?pad=" + "x" * 4200, host_level=True),
        Case("negotiate query just under 4 KB", "GET", "/api/negotiate?pad=" + "x" * 3900),
        Case("negotiate invalid percent escape", "GET", "/api/negotiate?userId=%zz"),
        Case("negotiate invalid utf-8 in query", "GET", "/api/negotiate?userId=%ff%fe"),
        Case("negotiate bare ampersands", "GET", "/api/negotiate?&&&="),
        Case("negotiate POST with junk body", "POST", "/api/negotiate", INVALID_UTF8, {"Content-Type": "text/html"}),
        Case(
            "negotiate POST with deep JSON", "POST", "/api/negotiate", DEEP_JSON, {"Content-Type": "application/json"}
        ),
        Case("negotiate forged principal", "GET", "/api/negotiate", headers={"x-ms-client-principal-id": "admin"}),
        Case(
            "negotiate forged principal blob",
            "GET",
            "/api/negotiate",
            headers={"x-ms-client-principal": "e30=", "x-ms-client-principal-name": "root"},
        ),
        Case(
            "negotiate header injection attempt",
            "GET",
            "/api/negotiate",
            headers={"X-Forwarded-Host": "evil.example", "Host": "evil.example"},
        ),
        Case("negotiate huge header", "GET", "/api/negotiate", headers={"X-Big": "b" * 7000}),
        Case("negotiate trailing slash", "GET", "/api/negotiate/"),
        Case("negotiate upper-case path", "GET", "/API/NEGOTIATE"),
    ]
    for method in ("PUT", "DELETE", "PATCH", "TRACE"):
        cases.append(Case(f"negotiate method {method}", method, "/api/negotiate", host_level=True))
    return cases


def publish_cases() -> list[Case]:
    text = {"Content-Type": "text/plain"}
    cases = [Case(f"publish bad hub {h!r}", "POST", f"/api/publish?hub={q(h)}", b"x", text) for h in BAD_HUBS]
    cases += [Case(f"publish bad group {g!r}", "POST", f"/api/publish?group={q(g)}", b"x", text) for g in BAD_GROUPS]
    cases += [Case(f"publish odd group {g!r}", "POST", f"/api/publish?group={q(g)}", b"x", text) for g in ODD_GROUPS]
    cases += [Case(f"publish bad user {u!r}", "POST", f"/api/publish?user={q(u)}", b"x", text) for u in BAD_USERS]
    cases += [
        Case(f"publish dot-segment {target} {d!r}", "POST", f"/api/publish?{target}={q(d)}", b"x", text)
        for target in ("group", "user", "connectionId")
        for d in DOT_NAMES
    ]
    cases += [Case(f"publish odd user {u!r}", "POST", f"/api/publish?user={q(u)}", b"x", text) for u in ODD_USERS]
    cases += [
        Case(f"publish slash {target} {v!r}", "POST", f"/api/publish?{target}={q(v)}", b"x", text)
        for target in ("user", "group", "connectionId")
        for v in SLASH_NAMES
    ]
    cases += [Case(f"publish bad ttl {t!r}", "POST", f"/api/publish?ttl={q(t)}", b"x", text) for t in BAD_TTLS]
    cases += [
        Case(f"publish bad filter {f[:20]!r}", "POST", path, b"x", text, host_level=len(path) > 4096)
        for f in BAD_FILTERS
        for path in [f"/api/publish?filter={q(f)}"]
    ]
    cases += [
        Case(
            f"publish content type {c!r}",
            "POST",
            "/api/publish",
            b"hello",
            {"Content-Type": c} if c is not None else {},
            host_level="\x00" in (c or ""),
        )  # a NUL in a header is malformed HTTP: the host's parser refuses it
        for c in CONTENT_TYPES
    ]
    cases += [
        Case(f"publish JSON body {b[:12]!r}", "POST", "/api/publish", b, {"Content-Type": "application/json"})
        for b in BAD_BODIES_FOR_JSON
    ]
    for content_type in ("text/plain", "application/octet-stream", "application/json"):
        cases += [
            Case(
                f"publish {content_type} odd body {b[:8]!r}", "POST", "/api/publish", b, {"Content-Type": content_type}
            )
            for b in ODD_BODIES
        ]
    cases += [
        Case("publish empty body", "POST", "/api/publish", b"", text),
        Case("publish 1 MiB + 1", "POST", "/api/publish", b"x" * (1024 * 1024 + 1), text),
        Case("publish 3 MiB", "POST", "/api/publish", b"x" * (3 * 1024 * 1024), text),
        Case("publish group and user", "POST", "/api/publish?group=g&user=u", b"x", text),
        Case("publish user and connection", "POST", "/api/publish?user=u&connectionId=c", b"x", text),
        Case("publish all three targets", "POST", "/api/publish?group=g&user=u&connectionId=c", b"x", text),
        Case("publish repeated group", "POST", "/api/publish?group=a&group=b", b"x", text),
        Case("publish repeated ttl", "POST", "/api/publish?ttl=1&ttl=2", b"x", text),
        Case("publish empty excluded", "POST", "/api/publish?excluded=", b"x", text),
        Case("publish excluded with user", "POST", "/api/publish?user=u&excluded=c", b"x", text),
        Case(
            "publish filter with connection",
            "POST",
            "/api/publish?connectionId=c&filter=userId%20eq%20%27a%27",
            b"x",
            text,
        ),
        Case(
            "publish 200 excluded", "POST", "/api/publish?" + "&".join(f"excluded=c{i}" for i in range(200)), b"x", text
        ),
        Case("publish connectionId 2000 chars", "POST", "/api/publish?connectionId=" + "c" * 2000, b"x", text),
        Case("publish query over 4 KB", "POST", "/api/publish?pad=" + "x" * 4200, b"x", text, host_level=True),
        Case("publish invalid utf-8 in query", "POST", "/api/publish?group=%ff%fe", b"x", text),
        Case("publish invalid percent escape", "POST", "/api/publish?group=%zz", b"x", text),
        Case(
            "publish Content-Length with Transfer-Encoding",
            "POST",
            "/api/publish",
            b"x",
            {**text, "Transfer-Encoding": "identity"},
            host_level=True,
        ),  # request smuggling shape: the parser refuses
        Case("publish charset param", "POST", "/api/publish", b"x", {"Content-Type": "text/plain; charset=utf-16"}),
        Case(
            "publish Latin-1 bytes as text",
            "POST",
            "/api/publish",
            "é".encode("latin-1"),
            {"Content-Type": "text/plain"},
        ),
        Case(
            "publish UTF-16 bytes as text",
            "POST",
            "/api/publish",
            "hi".encode("utf-16"),
            {"Content-Type": "text/plain"},
        ),
    ]
    for method in ("GET", "PUT", "DELETE", "PATCH"):
        cases.append(Case(f"publish method {method}", method, "/api/publish", b"x", text, host_level=True))
    return cases


def emulator_rest_cases(hub: str) -> list[Case]:
    base = f"/api/hubs/{hub}"
    text = {"Content-Type": "text/plain"}
    cases = [Case(f"emulator bad hub {h!r}", "POST", f"/api/hubs/{q(h)}/:send", b"x", text) for h in BAD_HUBS if h]
    cases += [
        Case(f"emulator bad group {g!r}", "POST", f"{base}/groups/{q(g)}/:send", b"x", text) for g in BAD_GROUPS if g
    ]
    cases += [
        Case(f"emulator bad ttl {t!r}", "POST", f"{base}/:send?messageTtlSeconds={q(t)}", b"x", text) for t in BAD_TTLS
    ]
    cases += [
        Case(f"emulator bad filter {f[:20]!r}", "POST", f"{base}/:send?filter={q(f)}", b"x", text) for f in BAD_FILTERS
    ]
    cases += [
        Case(
            f"emulator content type {c!r}",
            "POST",
            f"{base}/:send",
            b"x",
            {"Content-Type": c} if c is not None else {},
            host_level="\x00" in (c or ""),
        )
        for c in CONTENT_TYPES
    ]
    cases += [
        Case(f"emulator JSON body {b[:12]!r}", "POST", f"{base}/:send", b, {"Content-Type": "application/json"})
        for b in BAD_BODIES_FOR_JSON
    ]
    cases += [
        Case("emulator body over 1 MiB", "POST", f"{base}/:send", b"x" * (1024 * 1024 + 1), text),
        Case("emulator unknown api-version", "POST", f"{base}/:send?api-version=2099-01-01", b"x", text),
        Case("emulator unknown route", "POST", f"{base}/:explode", b"x", text),
        Case("emulator wrong method", "GET", f"{base}/:send"),
        Case("emulator bad permission", "PUT", f"{base}/permissions/rule/connections/c1"),
        Case("emulator bad targetName", "HEAD", f"{base}/permissions/sendToGroup/connections/c1?targetName="),
        Case("emulator bad maxpagesize", "GET", f"{base}/groups/g/connections?maxpagesize=0"),
        Case("emulator huge maxpagesize", "GET", f"{base}/groups/g/connections?maxpagesize=999999999999"),
        Case("emulator bad top", "GET", f"{base}/groups/g/connections?top=-1"),
        Case("emulator bad continuation", "GET", f"{base}/groups/g/connections?continuationToken=abc"),
        Case("emulator bad minutesToExpire", "POST", f"{base}/:generateToken?minutesToExpire=0"),
        Case("emulator bad clientType", "POST", f"{base}/:generateToken?clientType=Telnet"),
        Case("emulator bad token group", "POST", f"{base}/:generateToken?group=%20"),
        Case("emulator addToGroups no body", "POST", f"{base}/:addToGroups", b"", {"Content-Type": "application/json"}),
        Case(
            "emulator addToGroups not a list",
            "POST",
            f"{base}/:addToGroups",
            b'{"groups":"g"}',
            {"Content-Type": "application/json"},
        ),
        Case(
            "emulator addToGroups bad filter",
            "POST",
            f"{base}/:addToGroups",
            b'{"groups":["g"],"filter":"(("}',
            {"Content-Type": "application/json"},
        ),
        Case(
            "emulator addToGroups deep JSON",
            "POST",
            f"{base}/:addToGroups",
            DEEP_JSON,
            {"Content-Type": "application/json"},
        ),
        Case(
            "emulator removeFromGroups array",
            "POST",
            f"{base}/:removeFromGroups",
            b"[]",
            {"Content-Type": "application/json"},
        ),
        *(
            Case(f"emulator groups body {body[:24]!r}", "POST", f"{base}/{op}", body, {"Content-Type": kind})
            for op in (":addToGroups", ":removeFromGroups")
            for body, kind in (
                (b'{"groups":[]}', "application/json"),
                (b'{"groups":["g"],"extra":true}', "application/json"),
                (b'{"groups":["g"],"filter":["x"]}', "application/json"),
                (b'{"groups":["\\ud800"]}', "application/json"),
                (b'{"groups":["g"],"filter":"userId gt 1"}', "application/json"),
                (b'{"groups":["g"]}', "text/plain"),
                (b"groups=g", "application/x-www-form-urlencoded"),
            )
        ),
        Case("emulator forged continuation", "GET", f"{base}/groups/g/connections?continuationToken=eyJhZnRlciI6MX0"),
        Case("emulator continuation not base64", "GET", f"{base}/groups/g/connections?continuationToken=%%%"),
        Case("emulator surrogate bytes in a group", "POST", f"{base}/groups/%ED%A0%80/:send", b"x", text),
        Case("emulator surrogate bytes in a user", "POST", f"{base}/users/%ED%A0%80/:send", b"x", text),
        Case("emulator surrogate bytes in a token user", "POST", f"{base}/:generateToken?userId=%ED%A0%80"),
        Case("emulator surrogate bytes in a reason", "DELETE", f"{base}/connections/c1?reason=%ED%A0%80"),
        Case("emulator group with nul", "PUT", f"{base}/groups/a%00b/connections/c1"),
        Case("emulator user send odd", "POST", f"{base}/users/{q('a/b')}/:send", b"x", text),
        Case("emulator connection close reason huge", "DELETE", f"{base}/connections/c1?reason=" + "r" * 3000),
    ]
    return cases


ACTION_NAMES = [
    "sendToAll",
    "sendToGroup",
    "sendToUser",
    "sendToConnection",
    "addUserToGroup",
    "removeUserFromGroup",
    "removeUserFromAllGroups",
    "addConnectionToGroup",
    "removeConnectionFromGroup",
    "removeConnectionFromAllGroups",
    "addConnectionsToGroups",
    "removeConnectionsFromGroups",
    "closeAllConnections",
    "closeClientConnection",
    "closeGroupConnections",
    "closeUserConnections",
    "grantPermission",
    "revokePermission",
    "checkPermission",
    "connectionExists",
    "userExists",
    "groupExists",
    "listConnectionsInGroup",
]
BAD_FIELD_VALUES = [None, 1, -1, 1.5, True, [], {}, ["x"], "", " ", "\x00", "x" * 1025, 2**70]
BAD_BASE64 = ["***", "YQ", "YQ=", "Y Q==", "YQ==\n", "\u00e9", "=", "YQ==YQ==", "YWJj====", "YR==", "-_-_"]
BAD_KEYS = ["", " ", "k" * 256, "\t", "schl\u00fcssel", "k\x7f", "\u2028", "a\x01b"]


def actions_cases() -> list[Case]:
    """Hostile bodies, fields and Idempotency-Keys for /api/actions (and keys for publish)."""
    json_type = {"Content-Type": "application/json"}

    def body(value: object) -> bytes:
        return json.dumps(value).encode()

    def case(name: str, payload: object, path: str = "/api/actions", headers: dict | None = None) -> Case:
        raw = payload if isinstance(payload, bytes) else body(payload)
        return Case(f"actions {name}", "POST", path, raw, {**json_type, **(headers or {})})

    send = {"actionName": "sendToAll", "data": "x"}
    cases = [case(f"bad hub {h!r}", send, f"/api/actions?hub={q(h)}") for h in BAD_HUBS]
    cases += [case(f"{name} without fields", {"actionName": name}) for name in ACTION_NAMES]
    cases += [case(f"{name} in odd case", {"actionName": name.upper(), "group": "g"}) for name in ACTION_NAMES[:4]]
    cases += [
        case(f"sendToGroup bad group {g!r}", {**send, "actionName": "sendToGroup", "group": g}) for g in BAD_GROUPS
    ]
    cases += [case(f"sendToUser bad user {u!r}", {**send, "actionName": "sendToUser", "userId": u}) for u in BAD_USERS]
    cases += [
        case(f"{item['actionName']} dot-segment {d!r}", {**item, field: d})
        for d in DOT_NAMES
        for item, field in (
            ({**send, "actionName": "sendToGroup", "group": "g"}, "group"),
            ({**send, "actionName": "sendToUser", "userId": "u"}, "userId"),
            ({**send, "actionName": "sendToConnection", "connectionId": "c"}, "connectionId"),
            ({"actionName": "removeConnectionFromGroup", "group": "g", "connectionId": "c"}, "group"),
            ({"actionName": "removeConnectionFromGroup", "group": "g", "connectionId": "c"}, "connectionId"),
            ({"actionName": "removeUserFromAllGroups", "userId": "u"}, "userId"),
            ({"actionName": "closeClientConnection", "connectionId": "c"}, "connectionId"),
            ({"actionName": "grantPermission", "permission": "sendToGroup", "connectionId": "c"}, "connectionId"),
        )
    ]
    cases += [
        case(f"closeClientConnection odd id {u!r}", {"actionName": "closeClientConnection", "connectionId": u})
        for u in ODD_USERS
    ]
    cases += [case(f"data {v!r:.20}", {**send, "data": v}) for v in BAD_FIELD_VALUES]
    cases += [case(f"dataType {v!r:.20}", {**send, "dataType": v}) for v in [*BAD_FIELD_VALUES, "xml", "JSON"]]
    cases += [case(f"ttl {v!r:.20}", {**send, "ttl": v}) for v in [*BAD_FIELD_VALUES, 301, "5"]]
    cases += [
        case(f"excluded {v!r:.20}", {**send, "excluded": v})
        for v in [*BAD_FIELD_VALUES, [""], [1], ["c"] * 1001, ["c" * 1000] * 1000, ["%/?#&" * 200] * 100]
    ]
    cases += [case(f"binary data {v!r}", {**send, "dataType": "binary", "data": v}) for v in BAD_BASE64]
    cases += [
        case(f"json data {b[:12]!r}", {**send, "dataType": "json", "data": b.decode("utf-8", "replace")})
        for b in BAD_BODIES_FOR_JSON
    ]
    cases += [
        case(f"json data {v}", {**send, "dataType": "json", "data": v})
        for v in ["NaN", "[Infinity]", '{"a": -Infinity}', "[1e999]", '{"a": 1, "a": 2}', "\ud800", ""]
    ]
    cases += [case(f"filter {f[:20]!r}", {**send, "filter": f}) for f in BAD_FILTERS]
    cases += [
        case(f"{name} filter with a lone surrogate {f!r}", {**send, "actionName": name, field: "n", "filter": f})
        for name, field in (("sendToAll", "data"), ("sendToGroup", "group"), ("sendToUser", "userId"))
        for f in ("\ud800", "userId eq '\udfff'", "a\udbff\udc00\ud800")
    ]
    cases += [
        case(f"{field} null", {**send, field: None}) for field in ("dataType", "ttl", "filter", "excluded", "data")
    ]
    cases += [
        case(f"Kelvin sign in {n!r}", {**send, "actionName": n}) for n in ("chec\u212aPermission", "\u017fendToAll")
    ]
    cases += [
        case(f"{name} slash {field} {v!r}", {**item, field: v})
        for v in SLASH_NAMES
        for name, item, field in (
            ("sendToUser", {**send, "actionName": "sendToUser"}, "userId"),
            ("sendToGroup", {**send, "actionName": "sendToGroup"}, "group"),
            ("userExists", {"actionName": "userExists"}, "userId"),
            ("closeUserConnections", {"actionName": "closeUserConnections"}, "userId"),
            ("sendToConnection", {**send, "actionName": "sendToConnection"}, "connectionId"),
        )
    ]
    cases += [
        case(
            f"{name} with non-ASCII groups over 1 MiB once escaped",
            json.dumps({"actionName": name, "groups": [g * 1024] * 200}, ensure_ascii=False).encode(),
        )
        for name in ("addConnectionsToGroups", "removeConnectionsFromGroups")
        for g in ("\u00e9", "\U0001f642")
    ]
    permission = {"actionName": "grantPermission", "connectionId": "c"}
    cases += [case(f"permission {v!r:.20}", {**permission, "permission": v}) for v in [*BAD_FIELD_VALUES, "admin"]]
    cases += [
        case(f"targetName {v!r:.20}", {**permission, "permission": "sendToGroup", "targetName": v})
        for v in BAD_FIELD_VALUES
    ]
    listing = {"actionName": "listConnectionsInGroup", "group": "g"}
    cases += [case(f"top {v!r:.20}", {**listing, "top": v}) for v in [*BAD_FIELD_VALUES, 0, 2**31]]
    groups = {"actionName": "addConnectionsToGroups"}
    cases += [case(f"groups {v!r:.20}", {**groups, "groups": v}) for v in [*BAD_FIELD_VALUES, [""], ["g"] * 1001]]
    cases += [case(f"reason {v!r:.20}", {"actionName": "closeAllConnections", "reason": v}) for v in BAD_FIELD_VALUES]
    cases += [case(f"body {b[:12]!r}", b) for b in BAD_BODIES_FOR_JSON]
    cases += [
        case("empty array", []),
        case("101 actions", [{"actionName": "userExists", "userId": "u"}] * 101),
        case("100 actions, the last bad", [{"actionName": "userExists", "userId": "u"}] * 99 + [{"actionName": "x"}]),
        case("nested array", [[send]]),
        case("null", None),
        case("string", "sendToAll"),
        case("number", 1),
        case("empty object", {}),
        case("actionName null", {"actionName": None}),
        case("actionName number", {"actionName": 7}),
        case("actionName list", {"actionName": ["sendToAll"]}),
        case("actionName with nul", {"actionName": "sendToAll\x00"}),
        case("unknown field", {**send, "evil": True}),
        case("field in other case", {"actionName": "sendToAll", "Data": "x"}),
        case("__proto__ field", {**send, "__proto__": {"admin": True}}),
        case("duplicate keys", b'{"actionName":"sendToAll","data":"x","data":"y"}'),
        case("NaN ttl", b'{"actionName":"sendToAll","data":"x","ttl":NaN}'),
        case("huge exponent ttl", b'{"actionName":"sendToAll","data":"x","ttl":1e400}'),
        case("10,000-digit number", b'{"actionName":"sendToAll","data":"x","ttl":' + b"9" * 10_000 + b"}"),
        case("data over 1 MiB", {**send, "data": "x" * (1024 * 1024)}),
        case("body over 1 MiB", b"[" + b" " * (1024 * 1024) + b"]"),
        case("body 3 MiB", b"x" * (3 * 1024 * 1024)),
        case("utf-16 body", json.dumps(send).encode("utf-16")),
    ]
    cases += [
        Case(
            f"actions content type {c!r}",
            "POST",
            "/api/actions",
            body(send),
            {"Content-Type": c} if c is not None else {},
            host_level="\x00" in (c or ""),
        )
        for c in CONTENT_TYPES
    ]
    for function, payload, content_type in (
        ("actions", body({"actionName": "userExists", "userId": "u"}), "application/json"),
        ("publish", b"x", "text/plain"),
    ):
        cases += [
            Case(
                f"{function} Idempotency-Key {k!r}",
                "POST",
                f"/api/{function}",
                payload,
                {"Content-Type": content_type, "Idempotency-Key": k},
                host_level=any(ch in k for ch in "\x01\x7f"),  # the HTTP parser refuses these
            )
            for k in BAD_KEYS
        ]
        cases.append(
            Case(
                f"{function} two Idempotency-Keys",
                "POST",
                f"/api/{function}",
                payload,
                {"Content-Type": content_type, "Idempotency-Key": "a", "idempotency-key": "b"},
            )
        )
    for method in ("GET", "PUT", "DELETE"):
        cases.append(Case(f"actions method {method}", method, "/api/actions", body(send), json_type, host_level=True))
    return cases

"""``POST /api/publish``: turn an HTTP request into one Web PubSub send, checked before sending.

Reads top-down: parse the request into a :class:`PublishRequest` (every rule checked, no I/O),
send it (:mod:`shared.service`), answer 202. A publish names at most one target (``group``,
``user`` or ``connectionId``; none means the whole hub). The body is forwarded byte for byte with
its content type, so subscribers receive exactly what the publisher sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.actions.call import Action, send_action
from shared.errors import AppError, BadRequest
from shared.invocation import Incoming
from shared.query import Query
from shared.responses import Answer, LogFields, error_answer, json_response
from shared.service import perform
from shared.strict_json import parse_json_body
from shared.validation import (
    check_message_size,
    check_utf8,
    parse_content_type,
    parse_ttl,
    validate_group,
    validate_identifier,
)

TARGET_PARAMETERS = {"group": "group", "user": "user", "connectionId": "connection"}


@dataclass(frozen=True)
class Target:
    """Who receives a publish: ``all``, or a named group, user or connection."""

    type: str  # "all" | "group" | "user" | "connection"
    name: str | None = None

    def to_json(self) -> dict[str, str | None]:
        return {"type": self.type, "name": self.name}


@dataclass(frozen=True)
class PublishRequest:
    hub: str
    target: Target
    action: Action  # the one send that performs it


def parse_publish_request(query: Query, content_type_header: str | None, body: bytes, hub: str) -> PublishRequest:
    target = _target(query)
    content_type = parse_content_type(content_type_header)
    check_message_size(body)
    if content_type == "application/json":
        parse_json_body(body)
    elif content_type == "text/plain":
        check_utf8(body)
    excluded = tuple(validate_identifier(c, "connection id") for c in query.many("excluded"))
    odata_filter = query.single("filter")
    if excluded and target.type in ("user", "connection"):
        raise BadRequest("excluded applies only to a publish to the hub or a group.")
    if odata_filter is not None and target.type == "connection":
        raise BadRequest("filter does not apply to a publish to one connection.")
    ttl = query.single("ttl")
    action = send_action(
        target.type,
        target.name,
        body,
        content_type,
        excluded=excluded,
        odata_filter=odata_filter,
        ttl_seconds=parse_ttl(ttl) if ttl is not None else None,
    )
    return PublishRequest(hub=hub, target=target, action=action)


def _target(query: Query) -> Target:
    named = [(kind, value) for param, kind in TARGET_PARAMETERS.items() if (value := query.single(param)) is not None]
    if len(named) > 1:
        raise BadRequest("Name at most one target: group, user or connectionId.")
    if not named:
        return Target("all")
    kind, name = named[0]
    if kind == "group":
        validate_group(name)
    else:
        validate_identifier(name, "user id" if kind == "user" else "connection id")
    return Target(kind, name)


async def handle_publish(incoming: Incoming) -> Answer:
    body = incoming.req.get_body()
    request = parse_publish_request(incoming.query, incoming.req.headers.get("content-type"), body, incoming.hub)
    fields = LogFields(target=request.target.type, bytes=len(body))
    try:
        await perform(incoming.settings.service, request.hub, request.action)
    except AppError as error:
        return error_answer(error, fields)
    payload = {"hub": request.hub, "target": request.target.to_json(), "bytes": len(body)}
    return Answer(json_response(payload, status=202), fields)

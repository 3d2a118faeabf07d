"""A Web PubSub event handler written as a classic function.json function (test app only).

It does what a handler on Azure must: answers the abuse-protection ``OPTIONS``, ignores requests
without ``WebHook-Request-Origin``, and checks ``ce-signature`` with the access key
(``EVENT_HANDLER_ACCESS_KEY``). ``connect`` renames the user and adds a group; user events are
answered with text.
"""

import hashlib
import hmac
import json
import os

import azure.functions as func


def main(req: func.HttpRequest) -> func.HttpResponse:
    origin = req.headers.get("WebHook-Request-Origin")
    if origin is None:
        return func.HttpResponse(status_code=400)
    if req.method == "OPTIONS":
        return func.HttpResponse(status_code=200, headers={"WebHook-Allowed-Origin": origin})
    if not signed_by_the_service(req):
        return func.HttpResponse(status_code=401)
    kind = req.headers.get("ce-type", "")
    if kind == "azure.webpubsub.sys.connect":
        user = json.loads(req.get_body())["claims"].get("sub", ["anonymous"])[0]
        answer = {"userId": f"{user}@functions", "groups": ["from-function"]}
        return func.HttpResponse(json.dumps(answer), mimetype="application/json")
    if kind.startswith("azure.webpubsub.sys."):
        return func.HttpResponse(status_code=204)
    return func.HttpResponse(b"function saw: " + req.get_body(), mimetype="text/plain")


def signed_by_the_service(req: func.HttpRequest) -> bool:
    key = os.environ["EVENT_HANDLER_ACCESS_KEY"].encode()
    digest = hmac.new(key, req.headers.get("ce-connectionId", "").encode(), hashlib.sha256).hexdigest()
    offered = [value.strip() for value in req.headers.get("ce-signature", "").split(",")]
    return any(hmac.compare_digest(value, f"sha256={digest}") for value in offered)

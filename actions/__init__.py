"""POST /api/actions: a batch of 1-100 Web PubSub actions, one result per action (function key)."""

import azure.functions as func

from shared.endpoints.actions import handle_actions
from shared.invocation import run_invocation


async def main(req: func.HttpRequest, context: func.Context | None = None) -> func.HttpResponse:
    return await run_invocation("actions", req, context, handle_actions, idempotent=True)

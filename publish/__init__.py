"""POST /api/publish: push one message to a hub, group, user or connection (function key)."""

import azure.functions as func

from shared.endpoints.publish import handle_publish
from shared.invocation import run_invocation


async def main(req: func.HttpRequest, context: func.Context | None = None) -> func.HttpResponse:
    return await run_invocation("publish", req, context, handle_publish, idempotent=True)

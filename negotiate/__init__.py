"""GET|POST /api/negotiate: a client access URL for a browser's WebSocket (anonymous)."""

import azure.functions as func

from shared.endpoints.negotiate import handle_negotiate
from shared.invocation import run_invocation


async def main(req: func.HttpRequest, context: func.Context | None = None) -> func.HttpResponse:
    return await run_invocation("negotiate", req, context, handle_negotiate)

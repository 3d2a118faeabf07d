"""OPTIONS|POST /api/events: the hub's event handler (anonymous: it checks the service's proof itself)."""

import azure.functions as func

from shared.endpoints.events import handle_events
from shared.invocation import run_invocation


async def main(req: func.HttpRequest, context: func.Context | None = None) -> func.HttpResponse:
    return await run_invocation("events", req, context, handle_events, hub_in_query=False)

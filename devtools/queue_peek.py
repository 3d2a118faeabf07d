"""``make queue``: what the app's back-end services would receive from the client-events queue.

``python -m devtools.queue_peek [--connection-string CS] [--queue NAME] [--take]`` prints each
envelope the ``events`` function put on the Storage queue, one JSON object per line, oldest first.
By default it only peeks (the Storage API shows at most 32 messages that way) and takes nothing,
so a real consumer still gets them all; ``--take`` receives and deletes every message, as a
back-end service would, so that the next ones come into view.

The account is ``--connection-string``, else ``AzureWebJobsStorage``, else the development
storage account on Azurite's default queue port (10001), which ``make run`` uses when it is free
(its banner prints the command to run when it is not). Messages are base64 text, as the ``events``
function writes them and a Functions queue trigger reads them; one that is not base64 JSON is
printed as ``{"undecodable": "<the text>"}`` rather than stopping the listing.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
import sys
from typing import Any

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.storage.queue import QueueClient

from devtools.azurite import ACCOUNT, ACCOUNT_KEY, DEFAULT_PORTS

DEFAULT_QUEUE = "client-events"  # the events function's default EventsQueueName
STORAGE_SETTING = "AzureWebJobsStorage"
QUEUE_SETTING = "EventsQueueName"
PEEK_LIMIT = 32  # the Storage API's most messages per peek
DEVELOPMENT_STORAGE = (
    f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
    f"QueueEndpoint=http://127.0.0.1:{DEFAULT_PORTS['queue']}/{ACCOUNT};"
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.queue_peek", description="Print the client events waiting on the queue."
    )
    parser.add_argument("--connection-string", default=None, help="default: AzureWebJobsStorage, else Azurite's")
    parser.add_argument("--queue", default=os.environ.get(QUEUE_SETTING) or DEFAULT_QUEUE)
    parser.add_argument("--take", action="store_true", help="receive and delete the messages, as a consumer does")
    return parser.parse_args(argv)


def decode(content: str) -> Any:
    """The envelope a message holds, or ``{"undecodable": content}``."""
    try:
        return json.loads(base64.b64decode(content, validate=True).decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return {"undecodable": content}


def envelopes(queue: QueueClient, *, take: bool) -> list[Any]:
    if not take:
        return [decode(message.content) for message in queue.peek_messages(max_messages=PEEK_LIMIT)]
    taken = []
    for message in queue.receive_messages(messages_per_page=PEEK_LIMIT, visibility_timeout=30):
        taken.append(decode(message.content))
        queue.delete_message(message)
    return taken


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    connection_string = args.connection_string or os.environ.get(STORAGE_SETTING) or DEVELOPMENT_STORAGE
    queue = QueueClient.from_connection_string(connection_string, args.queue, connection_timeout=5, retry_total=0)
    try:
        found = envelopes(queue, take=args.take)
        waiting = queue.get_queue_properties().approximate_message_count or 0
    except ResourceNotFoundError:
        print(f"The queue {args.queue} does not exist yet: no event has been queued.", file=sys.stderr)
        return 0
    except (AzureError, ValueError) as error:
        print(f"error: cannot read the queue {args.queue}: {type(error).__name__}", file=sys.stderr)
        return 1
    for envelope in found:
        print(json.dumps(envelope, ensure_ascii=False), flush=True)
    verb = "taken" if args.take else "waiting"
    more = "" if args.take or waiting <= len(found) else f" (peek shows {len(found)}; --take shows the rest)"
    print(f"{len(found)} {verb} on {args.queue}, about {waiting} left{more}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

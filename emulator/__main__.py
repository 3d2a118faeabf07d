"""``python -m emulator [--host 127.0.0.1] [--port 8080] [--access-key KEY] [--hub-settings FILE]
[--event-handler-timeout SECONDS] [--event-handler-retry-delays 1,3,5]``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal

from emulator.events import DEFAULT_RETRY_DELAYS, DEFAULT_TIMEOUT_SECONDS
from emulator.hub_settings import HubSettingsError, load_hub_settings
from emulator.server import DEFAULT_ACCESS_KEY, DEFAULT_PORT, Emulator, check_access_key

MAX_RETRIES = 10  # a failing handler is not to be hammered; Microsoft's emulator makes three retries


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m emulator", description="Local Azure Web PubSub emulator.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument("--access-key", default=DEFAULT_ACCESS_KEY, help="access key that signs tokens")
    parser.add_argument(
        "--allow-unvalidated-entra-tokens",
        action="store_true",
        help="DEVELOPMENT ONLY: accept any unexpired Entra ID bearer token for REST calls without checking it",
    )
    parser.add_argument(
        "--hub-settings",
        metavar="FILE",
        help='JSON {"hubs": {"<hub>": {"eventHandlers": [...], "anonymousConnectPolicy": "deny"|"allow"}}}',
    )
    parser.add_argument(
        "--event-handler-timeout",
        type=float,
        default=DEFAULT_TIMEOUT_SECONDS,
        help=f"seconds an event handler may take (default {DEFAULT_TIMEOUT_SECONDS:g})",
    )
    parser.add_argument(
        "--event-handler-retry-delays",
        metavar="SECONDS,...",
        default=",".join(f"{delay:g}" for delay in DEFAULT_RETRY_DELAYS),
        help="waits before each retry of an event the handler failed with 408/5xx or a network error "
        "(default 1,3,5: at most four attempts; empty: no retries)",
    )
    args = parser.parse_args(argv)
    if args.event_handler_timeout <= 0:
        parser.error("--event-handler-timeout must be positive")
    try:
        args.retry_delays = tuple(float(d) for d in args.event_handler_retry_delays.split(",") if d.strip())
    except ValueError:
        args.retry_delays = (-1.0,)
    if len(args.retry_delays) > MAX_RETRIES or any(not 0 <= delay <= 60 for delay in args.retry_delays):
        parser.error(f"--event-handler-retry-delays: a comma list of at most {MAX_RETRIES} waits, each 0 to 60 seconds")
    try:
        check_access_key(args.access_key)
    except ValueError as error:
        parser.error(f"--access-key: {error}")
    try:
        args.hubs = load_hub_settings(args.hub_settings) if args.hub_settings else {}
    except HubSettingsError as error:
        parser.error(f"--hub-settings: {error}")
    return args


async def serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    emulator = Emulator(
        host=args.host,
        port=args.port,
        access_key=args.access_key,
        allow_unvalidated_entra_tokens=args.allow_unvalidated_entra_tokens,
        hub_settings=args.hubs,
        event_handler_timeout=args.event_handler_timeout,
        event_handler_retry_delays=args.retry_delays,
    )
    await emulator.start()
    print(f"Web PubSub emulator listening on http://{args.host}:{emulator.port}", flush=True)
    print(f"Connection string: {emulator.connection_string}", flush=True)
    for hub, settings in args.hubs.items():
        for handler in settings.event_handlers:
            print(f"Hub {hub}: event handler {handler.url_template.split('?')[0]}", flush=True)  # no ?code=
    if args.allow_unvalidated_entra_tokens:
        print("WARNING: unvalidated Entra ID tokens are ACCEPTED (--allow-unvalidated-entra-tokens).", flush=True)
    await stop.wait()
    await emulator.stop()
    print("Web PubSub emulator stopped.", flush=True)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args))


if __name__ == "__main__":
    main()

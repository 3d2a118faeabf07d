"""``make run``: the emulator and the dev host together, in one process, stopped by Ctrl-C.

Settings come from ``local.settings.json`` (copied from the example by ``make run``), whose
``WebPubSubConnectionString`` points at the emulator on port 8080.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from devhost.functions import FunctionLoadError
from devhost.local_settings import SettingsError
from devhost.startup import build_host
from emulator import DEFAULT_PORT as EMULATOR_PORT
from emulator import Emulator


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devhost.stack", description="Emulator + dev host.")
    parser.add_argument("app_root", nargs="?", default=".")
    parser.add_argument("--port", type=int, default=None, help="dev host port (default Host.LocalHttpPort)")
    parser.add_argument("--emulator-port", type=int, default=EMULATOR_PORT)
    parser.add_argument("--settings", default=None)
    parser.add_argument("--no-auth", action="store_true")
    parser.add_argument("--dev-identity", action="store_true", help="serve the development identity provider")
    parser.add_argument("--host", default="127.0.0.1")
    return parser.parse_args(argv)


def banner(
    host_url: str, lines: list[str], connection_string: str, function_key: str | None, issuer: str | None = None
) -> str:
    key_header = f" -H 'x-functions-key: {function_key}'" if function_key else ""
    identity = [f"Development identity provider: {issuer} (sign in on the demo page)"] if issuer else []
    return "\n".join(
        [
            "",
            f"Web PubSub emulator: {connection_string}",
            "Functions:",
            *(f"    {line}" for line in lines),
            f"Demo page: {host_url}/   (open it, then publish:)",
            f"    curl -X POST '{host_url}/api/publish'{key_header} -H 'Content-Type: text/plain' -d 'Hello World'",
            *identity,
            "Press Ctrl-C to stop.",
            "",
        ]
    )


async def serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    emulator = Emulator(host=args.host, port=args.emulator_port)
    host = build_host(args)
    await emulator.start()
    try:
        await host.start()
    except BaseException:
        await emulator.stop()
        raise
    issuer = host.identity_provider.issuer if host.identity_provider is not None else None
    print(
        banner(host.base_url, host.describe(), emulator.connection_string, host.settings.function_key, issuer),
        flush=True,
    )
    await stop.wait()
    await host.stop()
    await emulator.stop()
    print("Stopped.", flush=True)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(parse_args(argv)))
    except (FunctionLoadError, SettingsError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
